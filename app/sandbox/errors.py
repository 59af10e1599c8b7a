"""The few ways the sandboxed kernel layer fails."""


class SandboxUnavailableError(RuntimeError):
    """bubblewrap is missing and `GLM_KERNEL_SANDBOX=off` was not set."""


class KernelStartError(RuntimeError):
    """A kernel process could not be started or never answered."""


class CellTimeoutError(TimeoutError):
    """A cell ran past its wall-time limit."""


class DeadKernelError(RuntimeError):
    """The kernel process died while a cell was running."""
