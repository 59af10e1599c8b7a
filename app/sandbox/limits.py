"""Kernel limits and sandbox switches, read from `GLM_KERNEL_*` variables when asked."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import env_bool, env_float, env_int

MIN_MEMORY_MB = 512
MIN_CPUS = 0.05


@dataclass(frozen=True)
class KernelLimits:
    """`memory_mb` bounds the memory of the kernel's whole process tree including its /tmp where a
    cgroup is available, and each process's address space (plus spec.ADDRESS_HEADROOM_MB) always;
    `cpus` the CPU time its processes together may use (in cores, a cgroup's CPU quota);
    `file_mb` is the largest file it may write, `disk_mb` the size of its working folder (see
    disk.py); `tmp_mb` the size of its private /tmp."""

    timeout_s: int = 60
    memory_mb: int = 4096
    file_mb: int = 1024
    disk_mb: int = 4096
    tmp_mb: int = 512
    max_output: int = 20_000
    max_processes: int = 128
    idle_s: int = 1800
    pool_size: int = 1
    cpus: float = 1.0
    sandbox: bool = True
    network: bool = False

    @classmethod
    def from_env(cls) -> KernelLimits:
        return cls(
            timeout_s=max(1, env_int("GLM_KERNEL_TIMEOUT", 60)),
            memory_mb=max(MIN_MEMORY_MB, env_int("GLM_KERNEL_MEMORY_MB", 4096)),
            file_mb=max(1, env_int("GLM_KERNEL_FILE_MB", 1024)),
            disk_mb=max(1, env_int("GLM_KERNEL_DISK_MB", 4096)),
            tmp_mb=max(16, env_int("GLM_KERNEL_TMP_MB", 512)),
            max_output=max(200, env_int("GLM_KERNEL_MAX_OUTPUT", 20_000)),
            max_processes=max(8, env_int("GLM_KERNEL_MAX_PROCS", 128)),
            idle_s=max(1, env_int("GLM_KERNEL_IDLE_S", 1800)),
            pool_size=max(0, env_int("GLM_KERNEL_POOL", 1)),
            cpus=max(MIN_CPUS, env_float("GLM_KERNEL_CPUS", 1.0)),
            sandbox=env_bool("GLM_KERNEL_SANDBOX", True),
            network=env_bool("GLM_KERNEL_NETWORK"),
        )
