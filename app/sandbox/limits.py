"""Kernel limits and sandbox switches, read from `GLM_KERNEL_*` variables when asked."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import env_bool, env_int, env_str


@dataclass(frozen=True)
class KernelLimits:
    timeout_s: int = 60
    memory_mb: int = 4096
    max_output: int = 20_000
    max_processes: int = 128
    idle_s: int = 1800
    pool_size: int = 1
    sandbox: bool = True
    network: bool = False

    @classmethod
    def from_env(cls) -> KernelLimits:
        mode = env_str("GLM_KERNEL_SANDBOX", "on").lower()
        if mode not in {"on", "off", "1", "0", "true", "false", "yes", "no"}:
            raise ValueError(f"GLM_KERNEL_SANDBOX must be 'on' or 'off', got {mode!r}")
        return cls(
            timeout_s=max(1, env_int("GLM_KERNEL_TIMEOUT", 60)),
            memory_mb=max(256, env_int("GLM_KERNEL_MEMORY_MB", 4096)),
            max_output=max(200, env_int("GLM_KERNEL_MAX_OUTPUT", 20_000)),
            max_processes=max(8, env_int("GLM_KERNEL_MAX_PROCS", 128)),
            idle_s=max(1, env_int("GLM_KERNEL_IDLE_S", 1800)),
            pool_size=max(0, env_int("GLM_KERNEL_POOL", 1)),
            sandbox=mode not in {"off", "0", "false", "no"},
            network=env_bool("GLM_KERNEL_NETWORK"),
        )
