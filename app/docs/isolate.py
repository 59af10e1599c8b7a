"""Read an untrusted file in a child process: sandboxed, with a time limit and a memory limit.

The child (`worker`) runs under bubblewrap when it is installed and `GLM_KERNEL_SANDBOX` isn't off (the
kernel's switch): no network, a private `/tmp`, the system, the Python environment and the app's code
read-only, and nothing else (not the data directory). It gets the file over stdin and answers over a pipe
of its own. A subprocess rather than multiprocessing: a spawned multiprocessing child re-imports the
parent's `__main__` (Streamlit's CLI, pytest), which costs a second and more for nothing.

Starting Python and PyMuPDF takes a few tenths of a second, so a small pool of workers is kept loaded
ahead of need, and a replacement starts as soon as one is taken. A worker that read a file for a
conversation stays with that conversation for a few seconds, so the other files of a multi-file upload
don't each pay for a start; it never reads another conversation's file, and any error stops it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app.docs import errors
from app.docs.document import Page
from app.docs.errors import DocumentError, ParserStopped, ParseTimeout, UnsupportedDocument
from app.docs.limits import parse_memory_mb, parse_timeout_s
from app.docs.parse import Progress
from app.sandbox.limits import KernelLimits
from app.sandbox.spec import Launcher, bwrap_path, isolated_argv

_ROOT = Path(__file__).resolve().parents[2]
WORKER = ("-m", "app.docs.worker")
POOL_SIZE = 2
KEEP_S = 10.0  # how long a worker waits for its conversation's next file
KEEP_JOBS = 16  # files one worker reads at most
MAX_KEPT = 4
NOBODY = 65534  # the uid the worker runs as when the app is root
MIN_RENDER_PIXELS = 150 * 150

_pool: list[Worker] = []
_kept: dict[str, Worker] = {}  # by owner (the conversation's cache folder)
_pool_lock = threading.Lock()
_launcher = Launcher("doc-parser-launcher")


def sandboxed() -> bool:
    """Whether workers run under bubblewrap: it's installed and `GLM_KERNEL_SANDBOX` isn't off."""
    return KernelLimits.from_env().sandbox and bwrap_path() is not None


def worker_env() -> dict[str, str]:
    """The worker's whole environment: it reads hostile files, so nothing of the app's (keys, GLM_*)."""
    return {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": str(_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }


def python_command(args: Sequence[str], read_only: Sequence[str] = ()) -> list[str]:
    """`python *args` as the worker runs: inside the sandbox when it's on (pass `worker_env()` to Popen),
    which sees the app's code and `read_only` (say, a model's folder) besides the system and Python."""
    command = [sys.executable, *args]
    if not sandboxed():
        return command
    code = [str(_ROOT / "app"), str(_ROOT / "models"), *read_only]
    uid = NOBODY if os.geteuid() == 0 else None
    return isolated_argv(command, read_only=code, env=worker_env(), uid=uid)


@dataclass
class Worker:
    """One child process: jobs one at a time, for one owner, until an error or `stop()`.

    `start(program)` runs `python *program FD`, FD being the write end of its answer channel; the
    default program is the worker module, anything else speaks its protocol (tests probe the sandbox so).
    """

    proc: subprocess.Popen
    channel: IO[bytes]
    lines: queue.Queue[bytes] = field(default_factory=queue.Queue, repr=False)
    jobs: int = 0
    idle_since: float = field(default_factory=time.monotonic, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        threading.Thread(target=self._drain, daemon=True).start()

    @classmethod
    def start(cls, program: Sequence[str] = WORKER, read_only: Sequence[str] = ()) -> Worker:
        read, write = os.pipe()
        try:
            proc = _launcher.run(
                subprocess.Popen,
                python_command([*program, str(write)], read_only),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write,),
                env=worker_env(),
                cwd=_ROOT,
            )
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        return cls(proc, os.fdopen(read, "rb"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self,
        job: dict[str, Any],
        data: bytes,
        timeout: float,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        keep: bool = False,
    ) -> dict[str, Any]:
        """Send the job and the bytes; `progress` and `pages` records go to `on_record`, the last is returned.

        The worker is stopped when this raises (a timeout, an error, its death), and when it returns
        unless `keep` asks for it to wait for its owner's next job.
        """
        name = job["name"]
        self.jobs += 1
        header = json.dumps({**job, "size": len(data)}).encode() + b"\n"
        threading.Thread(target=self._feed, args=(header, data), daemon=True).start()
        deadline = time.monotonic() + timeout
        answered = False
        try:
            while True:
                try:  # past the deadline, even an answer that is already there is too late
                    line = self.lines.get(timeout=_left(deadline))
                except queue.Empty:
                    raise ParseTimeout(
                        name, f"reading it took longer than {timeout:g} s, so it was stopped"
                    ) from None
                if not line:
                    raise ParserStopped(name, self._death_reason(job["memory_mb"]))
                record = _decode(name, line)
                if "error" in record:
                    error_class = getattr(errors, str(record["error"]), None)
                    if not (isinstance(error_class, type) and issubclass(error_class, DocumentError)):
                        error_class = UnsupportedDocument
                    raise error_class(
                        name,
                        str(record.get("reason", "the file could not be read")),
                        record.get("key"),
                        record.get("values"),
                    )
                if "progress" in record or "pages" in record:
                    if on_record is not None:
                        on_record(record)
                    continue
                answered = True
                return record
        finally:
            self.idle_since = time.monotonic()
            if not (keep and answered):
                self.stop()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.channel):
            with contextlib.suppress(OSError):
                stream.close()

    def _feed(self, header: bytes, data: bytes) -> None:
        try:
            self.proc.stdin.write(header)
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the child died or was killed; the reader reports why

    def _drain(self) -> None:
        try:
            for line in self.channel:
                self.lines.put(line)
        except (ValueError, OSError):
            pass
        self.lines.put(b"")

    def _death_reason(self, memory_mb: int) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        # Killed by a signal: a negative code, or 128 + the signal through bubblewrap.
        number = -code if code is not None and code < 0 else code - 128 if code and code > 128 else None
        if number is not None:
            try:
                cause = signal.Signals(number).name
            except ValueError:
                cause = f"signal {number}"
            return f"the parser was stopped by {cause} (over the {memory_mb} MiB memory limit or out of time)"
        return f"the parser stopped unexpectedly (exit code {code}); the file may be damaged or too large"


def _left(deadline: float) -> float:
    """Seconds left before `deadline`; `queue.Empty` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise queue.Empty
    return left


def _decode(name: str, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise UnsupportedDocument(name, "the parser's answer was garbled; the file may be damaged")
    return record


def run_job(
    task: str,
    name: str,
    data: bytes,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    owner: str | None = None,
    cpu_s: int | None = None,
) -> dict[str, Any]:
    """One task ("parse", "count", "render") on a file in a worker from the pool; its final answer.

    With an `owner` (a conversation), the worker is kept for that owner's next file for `KEEP_S` seconds.
    `timeout` limits the wall time; `cpu_s` the CPU time the worker may spend on this file (by default
    the timeout's, rounded down, plus one second).
    """
    timeout = timeout if timeout is not None else parse_timeout_s()
    memory_mb = memory_mb if memory_mb is not None else parse_memory_mb()
    cpu_s = cpu_s if cpu_s is not None else int(timeout) + 1
    job = {"task": task, "name": name, "memory_mb": memory_mb, "cpu_s": cpu_s, **(params or {})}
    worker = _take_worker(owner)
    record = worker.run(job, data, timeout, on_record, keep=owner is not None and worker.jobs < KEEP_JOBS)
    if owner is not None and worker.alive():
        _keep(owner, worker)
    return record


def parse_isolated(
    name: str,
    data: bytes,
    progress: Progress | None = None,
    on_pages: Callable[[list[Page]], None] | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    owner: str | None = None,
    cpu_s: int | None = None,
) -> tuple[str, list[Page]]:
    """`parse.parse_bytes` in a worker: the file's kind and pages, or a `DocumentError`.

    `on_pages` gets the pages in batches as the worker reads them, to index while it reads on; `owner`
    and `cpu_s` as for `run_job`.
    """
    pages: list[Page] = []

    def take(record: dict[str, Any]) -> None:
        if "progress" in record and progress is not None:
            progress(*record["progress"])
        if "pages" in record:
            batch = [Page(n, label, text) for n, label, text in record["pages"]]
            pages.extend(batch)
            if on_pages is not None:
                on_pages(batch)

    final = run_job(
        "parse", name, data, timeout=timeout, memory_mb=memory_mb, on_record=take, owner=owner, cpu_s=cpu_s
    )
    return final["kind"], pages


def pdf_page_count(data: bytes, name: str) -> int:
    """How many pages a PDF has; a `DocumentError` for a damaged or encrypted file."""
    return int(run_job("count", name, data)["count"])


def render_pdf_page(data: bytes, page: int, name: str, max_pixels: int) -> bytes:
    """Page `page` (1-based) of a PDF as PNG bytes, at up to 144 DPI and at most `max_pixels` pixels.

    The aspect ratio is kept; a `DocumentError` for a damaged or encrypted PDF, a page that doesn't exist,
    or a page more than 150 times longer than it is wide (or the reverse).
    """
    if max_pixels < MIN_RENDER_PIXELS:
        raise ValueError(f"max_pixels must be at least {MIN_RENDER_PIXELS}")
    record = run_job("render", name, data, {"page": page, "max_pixels": max_pixels})
    return base64.b64decode(record["png"])


def prepare_image(data: bytes, name: str, max_pixels: int, owner: str | None = None) -> tuple[bytes, str]:
    """An untrusted image decoded, checked and resized in a worker (`raster.prepare`): bytes and MIME type.

    A `DocumentError` whose reason is the user's sentence when the image is refused or can't be read.
    """
    record = run_job("image", name, data, {"max_pixels": max_pixels}, owner=owner)
    return base64.b64decode(record["image"]), str(record["mime"])


def prestart() -> None:
    """Have `POOL_SIZE` workers loaded and waiting, so files don't wait for Python and PyMuPDF to start."""
    with _pool_lock:
        _stop_stale()
        _pool[:] = [w for w in _pool if w.alive()]
        while len(_pool) < POOL_SIZE:
            _pool.append(Worker.start())


def shutdown() -> None:
    """Stop the waiting and kept workers (they also exit by themselves when this process does)."""
    with _pool_lock:
        idle = [*_pool, *_kept.values()]
        _pool.clear()
        _kept.clear()
    for worker in idle:
        worker.stop()


atexit.register(shutdown)


def _take_worker(owner: str | None) -> Worker:
    """The owner's kept worker, else a loaded one if one is waiting (its replacement starts loading at
    once, while it reads), else a new one."""
    with _pool_lock:
        _stop_stale()
        kept = _kept.pop(owner, None) if owner is not None else None
        if kept is not None and kept.alive():
            return kept
        worker = next((w for w in _pool if w.alive()), None)
        if worker is not None:
            _pool.remove(worker)
    if worker is None:
        worker = Worker.start()
    prestart()
    return worker


def _keep(owner: str, worker: Worker) -> None:
    with _pool_lock:
        previous = _kept.pop(owner, None)
        _kept[owner] = worker
        while len(_kept) > MAX_KEPT:
            _kept.pop(next(iter(_kept))).stop()
    if previous is not None and previous is not worker:
        previous.stop()


def _stop_stale() -> None:
    """Stop kept workers whose owner sent nothing for `KEEP_S` seconds (called with the lock held)."""
    now = time.monotonic()
    for owner, worker in list(_kept.items()):
        if now - worker.idle_since > KEEP_S or not worker.alive():
            del _kept[owner]
            worker.stop()
