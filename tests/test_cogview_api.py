"""The `cogview` tool over HTTP, against a local server speaking the OpenAI images API
(`POST /v1/images/generations`, answered with base64 or a URL): request, size limits and image checks
as for uploads, URLs fetched through the browser's address guard, errors and Stop as observations."""

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.tools.base import ToolContext
from app.tools.cogview import run_cogview

PROMPT = "A lighthouse on a cliff at dusk, waves below, oil painting."


def png(size: tuple[int, int] = (64, 48), color: str = "teal") -> bytes:
    out = BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@dataclass
class Behaviour:
    """How the images server answers: `answer(server_base) -> (status, json)`, files it serves, a delay."""

    answer: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


class ImagesServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.behaviour.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                time.sleep(outer.behaviour.delay)
                status, payload = outer.behaviour.answer(outer.base)
                self._send(status, json.dumps(payload).encode(), "application/json")

            def do_GET(self) -> None:
                data = outer.behaviour.files.get(self.path)
                if data is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, data, "image/png")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ImagesServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ImagesServer, Behaviour]]:
    behaviour = Behaviour()
    with ImagesServer(behaviour) as server:
        for name in ("GLM_IMAGE_MODEL", "GLM_BROWSER_ALLOW", "GLM_MAX_UPLOAD_MB", "GLM_IMAGE_STEPS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("GLM_IMAGE_API_BASE", f"{server.base}/v1")
        monkeypatch.setenv("GLM_IMAGE_API_KEY", "secret-key")
        monkeypatch.setenv("GLM_IMAGE_API_MODEL", "cogview-4")
        monkeypatch.setenv("GLM_IMAGE_SIZE", "64x48")
        yield server, behaviour


def b64_answer(data: bytes) -> Any:
    return lambda base: (200, {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]})


def context(tmp_path: Path) -> ToolContext:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    return ToolContext("s", folder)


def test_base64_answer_is_saved_and_described(api, tmp_path: Path) -> None:
    _, behaviour = api
    image = png()
    behaviour.answer = b64_answer(image)
    ctx = context(tmp_path)
    result = run_cogview(PROMPT, ctx)
    assert not result.is_error, result.content
    assert behaviour.requests == [
        {
            "path": "/v1/images/generations",
            "body": {"model": "cogview-4", "prompt": PROMPT, "size": "64x48"},
            "auth": "Bearer secret-key",
        }
    ]
    (attachment,) = result.attachments
    assert Image.open(BytesIO(attachment.data)).size == (64, 48)
    assert (ctx.workdir / "cogview-1.png").read_bytes() == attachment.data
    assert "cogview-4 at http://127.0.0.1" in result.content and "/mnt/data/cogview-1.png" in result.content


def test_url_answer_on_the_api_host_is_fetched(api, tmp_path: Path) -> None:
    _, behaviour = api
    behaviour.files["/files/out.png"] = png((48, 32), "orange")
    behaviour.answer = lambda base: (200, {"data": [{"url": f"{base}/files/out.png"}]})
    result = run_cogview(PROMPT, context(tmp_path))
    assert not result.is_error, result.content
    assert Image.open(BytesIO(result.attachments[0].data)).size == (48, 32)
    assert "48×32 PNG image" in result.content


def test_url_answer_elsewhere_goes_through_the_address_guard(
    api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, behaviour = api
    with ImagesServer(Behaviour(files={"/cat.png": png()})) as other:
        behaviour.answer = lambda base: (200, {"data": [{"url": f"{other.base}/cat.png"}]})
        refused = run_cogview(PROMPT, context(tmp_path))
        assert refused.is_error and "could not be fetched" in refused.content
        assert "resolves to a loopback address 127.0.0.1" in refused.content
        assert list((tmp_path / "data").iterdir()) == []

        monkeypatch.setenv("GLM_BROWSER_ALLOW", other.base.removeprefix("http://"))
        allowed = run_cogview(PROMPT, context(tmp_path))
        assert not allowed.is_error, allowed.content


def test_upload_limits_and_image_checks_apply(api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, behaviour = api
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "1")
    noise = Image.effect_noise((800, 800), 100).convert("RGB")
    big = BytesIO()
    noise.save(big, "PNG")
    assert len(big.getvalue()) > 2**20
    behaviour.files["/big.png"] = big.getvalue()
    ctx = context(tmp_path)

    behaviour.answer = b64_answer(big.getvalue())
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "is over the 1 MB upload limit (GLM_MAX_UPLOAD_MB)" in result.content

    behaviour.answer = lambda base: (200, {"data": [{"url": f"{base}/big.png"}]})
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "is over the 1 MB upload limit (GLM_MAX_UPLOAD_MB)" in result.content

    behaviour.answer = b64_answer(b"<html>no</html>")
    result = run_cogview(PROMPT, ctx)
    assert (
        result.is_error and "was refused" in result.content and "not an image we can read" in result.content
    )

    strip = png((3000, 10))
    behaviour.answer = b64_answer(strip)
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "strip" in result.content
    assert list(ctx.workdir.iterdir()) == []


def test_api_errors_are_observations(api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, behaviour = api
    ctx = context(tmp_path)
    behaviour.answer = lambda base: (400, {"error": {"code": "1301", "message": "unsafe content in prompt"}})
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "HTTP 400: unsafe content in prompt" in result.content

    behaviour.answer = lambda base: (200, {"data": []})
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "has no image" in result.content

    monkeypatch.setenv("GLM_IMAGE_API_BASE", "http://127.0.0.1:9/v1")
    result = run_cogview(PROMPT, ctx)
    assert (
        result.is_error and "the images API at http://127.0.0.1:9/v1 failed: ConnectError" in result.content
    )


def test_stop_while_the_api_draws(api, tmp_path: Path) -> None:
    _, behaviour = api
    behaviour.delay = 5
    behaviour.answer = b64_answer(png())
    ctx = context(tmp_path)
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "cancelled by the user" in result.content
    assert time.monotonic() - started < 4, "Stop did not wait for the server"
    assert list(ctx.workdir.iterdir()) == []
