"""Parse an untrusted file in a child process with a time limit and a memory limit.

A subprocess rather than multiprocessing: a spawned multiprocessing child re-imports the parent's
`__main__` (Streamlit's CLI, pytest), which costs a second and more for nothing. Loading Python and
PyMuPDF takes about as long as reading a 1,000-page PDF, so `prestart` keeps one worker loaded ahead of
need (`store` calls it once a file is indexed, so its loading doesn't compete with the indexing); each
worker still reads only one file, under limits set before it sees the bytes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.docs import errors
from app.docs.document import Page
from app.docs.errors import DocumentError, ParseTimeout, UnsafeDocument, UnsupportedDocument
from app.docs.limits import parse_memory_mb, parse_timeout_s
from app.docs.parse import Progress

_ROOT = Path(__file__).resolve().parents[2]
_standby: subprocess.Popen | None = None
_standby_lock = threading.Lock()


def parse_isolated(
    name: str,
    data: bytes,
    progress: Progress | None = None,
    on_pages: Callable[[list[Page]], None] | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
) -> tuple[str, list[Page]]:
    """`parse.parse_bytes` in a limited child; the child is killed on timeout and never outlives the call.

    `on_pages` gets the pages in batches as the child reads them, to index while it reads on.
    """
    timeout = timeout if timeout is not None else parse_timeout_s()
    memory_mb = memory_mb if memory_mb is not None else parse_memory_mb()
    proc = _take_worker()
    header = {"name": name, "memory_mb": memory_mb, "cpu_s": int(timeout) + 1}
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(
        target=_feed, args=(proc, json.dumps(header).encode() + b"\n", data), daemon=True
    ).start()
    threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    pages: list[Page] = []
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ParseTimeout(
                    name, f"reading it took longer than {timeout:g} s, so it was stopped"
                ) from None
            if not line:
                raise UnsafeDocument(name, _death_reason(proc, memory_mb))
            record = json.loads(line)
            if "pages" in record:
                batch = [Page(n, label, text) for n, label, text in record["pages"]]
                pages.extend(batch)
                if on_pages is not None:
                    on_pages(batch)
                continue
            if "progress" in record:
                if progress is not None:
                    progress(*record["progress"])
                continue
            if "error" in record:
                error_class = getattr(errors, record["error"], None)
                if not (isinstance(error_class, type) and issubclass(error_class, DocumentError)):
                    error_class = UnsupportedDocument
                raise error_class(name, record["reason"])
            return record["kind"], pages
    finally:
        _stop(proc)


def prestart() -> None:
    """Have a worker loaded and waiting, so the next file doesn't wait for Python and PyMuPDF to start."""
    global _standby
    with _standby_lock:
        if _standby is None or _standby.poll() is not None:
            _standby = _spawn()


def shutdown() -> None:
    """Stop the waiting worker (it also exits by itself when this process does)."""
    global _standby
    with _standby_lock:
        proc, _standby = _standby, None
    if proc is not None:
        _stop(proc)


atexit.register(shutdown)


def _spawn() -> subprocess.Popen:
    """A parser process with an environment of its own: it reads hostile files, so no secrets."""
    path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": path, "LANG": "C.UTF-8"}
    return subprocess.Popen(
        [sys.executable, "-m", "app.docs.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=_ROOT,
    )


def _take_worker() -> subprocess.Popen:
    global _standby
    with _standby_lock:
        proc, _standby = _standby, None
    if proc is None or proc.poll() is not None:
        proc = _spawn()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            stream.close()


def _feed(proc: subprocess.Popen, header: bytes, data: bytes) -> None:
    try:
        proc.stdin.write(header)
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the child died or was killed; the reader reports why


def _drain(proc: subprocess.Popen, lines: queue.Queue[bytes]) -> None:
    try:
        for line in proc.stdout:
            lines.put(line)
    except (ValueError, OSError):
        pass
    lines.put(b"")


def _death_reason(proc: subprocess.Popen, memory_mb: int) -> str:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    if code is not None and code < 0:
        return (
            f"the parser was stopped by signal {-code} (over the {memory_mb} MiB memory limit or out of time)"
        )
    return f"the parser stopped unexpectedly (exit code {code}); the file may be damaged or too large"
