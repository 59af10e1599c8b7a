"""Whose is it: a tag naming this process (pid and start time) put on what it creates outside
itself (runtime folders, pool folders, cgroups, folder mounts), so that a later app can tell
leftovers of a dead process from the files of a live one (another app, another test suite)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

_TAG = re.compile(r"(\d+)\.(\d+)")
OWNER_SUFFIX = ".fs.owner"  # beside a mounted conversation folder: the tag of the app that uses it


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


def owner_alive(name: str) -> bool:
    """Whether the process whose tag is in `name` still runs (True when `name` carries no tag)."""
    match = _TAG.search(name)
    if match is None:
        return True
    pid, started = match.groups()
    return _start_time(int(pid)) == started
