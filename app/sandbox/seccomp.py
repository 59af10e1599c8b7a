"""The kernel's seccomp filter: no new namespaces, no mounts, no ptrace, no kernel keyrings.

bubblewrap applies it (`--seccomp FD`) to the kernel after setting up the sandbox, so code in the
kernel can't build a user namespace of its own (`unshare -Urm`), in which it would be root with
mount rights, nor trace or read other processes, nor reach the keyrings. Refused calls fail with
EPERM. `clone3` fails with ENOSYS, so the C library falls back to `clone`, whose flags a classic
filter can see. The BPF program is compiled by libseccomp (through `pyseccomp`).
"""

from __future__ import annotations

import errno
import functools
import tempfile

REFUSED = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
)
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (NEWTIME only exists for unshare/clone3).
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


@functools.cache
def program() -> bytes | None:
    """The compiled filter, or None where libseccomp isn't available."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError):
        return None
    refuse = sc.ERRNO(errno.EPERM)
    rules = sc.SyscallFilter(sc.ALLOW)
    for name in REFUSED:
        rules.add_rule(refuse, name)
    for flag in CLONE_NEW_FLAGS:
        rules.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()
