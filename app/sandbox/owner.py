"""Whose is it: a tag naming this process (pid and start time) put on what it creates outside
itself (runtime folders, pool folders, cgroups, folder mounts), so that a later app can tell
leftovers of a dead process from the files of a live one (another app, another test suite)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

_TAG = re.compile(r"(\d+)\.(\d+)")
MOUNTS_PREFIX = "glm-mounts-"  # in the temp folder: `<dev> <inode>` of each folder image a process mounted


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name


@functools.cache
def owner_tag() -> str:
    """`<pid>.<start time>` of this process: a reused pid has another start time."""
    return f"{os.getpid()}.{_start_time(os.getpid())}"


def mounts_record() -> Path:
    """This process's record of the folder images it mounted (see folderfs.py and leftovers.py):
    kept outside the data folders, which a test run's clean-up may delete or rename meanwhile."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"{MOUNTS_PREFIX}{owner_tag()}"


def owner_alive(name: str) -> bool:
    """Whether the process whose tag is in `name` still runs (True when `name` carries no tag)."""
    match = _TAG.search(name)
    if match is None:
        return True
    pid, started = match.groups()
    return _start_time(int(pid)) == started
