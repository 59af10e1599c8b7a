"""Sandboxed, per-session Jupyter kernels for the `python` tool."""

from app.sandbox.errors import CellTimeoutError, DeadKernelError, KernelStartError, SandboxUnavailableError
from app.sandbox.files import save_upload
from app.sandbox.kernel import KernelSession
from app.sandbox.limits import KernelLimits
from app.sandbox.outputs import ExecutionResult, Output
from app.sandbox.registry import (
    get_session,
    interrupt,
    notebook_bytes,
    sandbox_warning,
    shutdown_all,
    shutdown_session,
    warm_pool,
)

__all__ = [
    "CellTimeoutError",
    "DeadKernelError",
    "ExecutionResult",
    "KernelLimits",
    "KernelSession",
    "KernelStartError",
    "Output",
    "SandboxUnavailableError",
    "get_session",
    "interrupt",
    "notebook_bytes",
    "sandbox_warning",
    "save_upload",
    "shutdown_all",
    "shutdown_session",
    "warm_pool",
]
