"""Sandboxed, per-session Jupyter kernels for the `python` tool."""

from app.sandbox.errors import CellTimeoutError, DeadKernelError, KernelStartError, SandboxUnavailableError
from app.sandbox.files import read_inside, save_upload
from app.sandbox.folderfs import FolderSpace
from app.sandbox.folderfs import space as folder_space
from app.sandbox.kernel import KernelSession
from app.sandbox.limits import KernelLimits
from app.sandbox.notebook import notebook_from_messages
from app.sandbox.outputs import ExecutionResult, Output
from app.sandbox.registry import (
    get_session,
    memory_note,
    python_available,
    release_folder,
    sandbox_warning,
    shutdown_all,
    shutdown_session,
    warm_pool,
    watch,
)

__all__ = [
    "CellTimeoutError",
    "DeadKernelError",
    "ExecutionResult",
    "FolderSpace",
    "KernelLimits",
    "KernelSession",
    "KernelStartError",
    "Output",
    "SandboxUnavailableError",
    "folder_space",
    "get_session",
    "memory_note",
    "notebook_from_messages",
    "python_available",
    "read_inside",
    "release_folder",
    "sandbox_warning",
    "save_upload",
    "shutdown_all",
    "shutdown_session",
    "warm_pool",
    "watch",
]
