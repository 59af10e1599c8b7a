"""Vision over HTTP against a scripted OpenAI-compatible server on 127.0.0.1 that looks at the images."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from app.images import prepare_image
from models.events import Done, ReasoningDelta, TextDelta
from models.messages import GenerationParams, Message
from models.settings import ModelSettings
from models.vision import VisionLoadError, get_vision_backend
from models.vision.openai_chat import OpenAIVisionBackend

PARAMS = GenerationParams(temperature=0.2, top_p=0.9, max_new_tokens=64)


class VisionServer:
    """Answers each chat completion by describing the images it received: size and centre colour."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.model_lists = 0
        self.chunk_delay = 0.0
        self.chunks_sent = 0
        self.thinking = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    self.send_error(404)
                    return
                server.model_lists += 1
                listing = json.dumps({"object": "list", "data": [{"id": "glm-4v-served", "object": "model"}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(listing)))
                self.end_headers()
                self.wfile.write(listing.encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in server.reply(body):
                        self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                        self.wfile.flush()
                        server.chunks_sent += 1
                        time.sleep(server.chunk_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def images(self, body: dict[str, Any]) -> list[Image.Image]:
        found = []
        for message in body["messages"]:
            if isinstance(message["content"], list):
                for part in message["content"]:
                    if part["type"] == "image_url":
                        header, _, encoded = part["image_url"]["url"].partition(",")
                        assert header in {"data:image/png;base64", "data:image/jpeg;base64"}
                        found.append(Image.open(BytesIO(base64.b64decode(encoded))).convert("RGB"))
        return found

    def reply(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        seen = [
            f"{i.width}x{i.height} {i.getpixel((i.width // 2, i.height // 2))}" for i in self.images(body)
        ]
        words = f"I see {len(seen)} image(s): {'; '.join(seen)}.".split(" ")
        if self.thinking:
            text = f"<think>{self.thinking}</think><answer>{' '.join(words)}</answer>"
            words = [text[i : i + 5] for i in range(0, len(text), 5)]
            for piece in words:
                yield self.chunk({"content": piece}, None)
            yield self.chunk({}, "stop")
            return
        if self.chunk_delay:
            words = words + ["more"] * 200
        for word in words:
            yield self.chunk({"content": word + " "}, None)
        yield self.chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 9, "completion_tokens": len(words), "total_tokens": 9 + len(words)}
            yield {**self.chunk({}, None), "choices": [], "usage": usage}

    def chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [choice],
        }


@pytest.fixture
def server() -> Iterator[VisionServer]:
    scripted = VisionServer()
    scripted.thread.start()
    yield scripted
    scripted.httpd.shutdown()
    scripted.httpd.server_close()
    scripted.thread.join()


@pytest.fixture
def backend(server: VisionServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIVisionBackend:
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_BASE", server.base)
    monkeypatch.setenv("GLM_API_KEY", "test-key")
    monkeypatch.setenv("GLM_API_MODE", "completions")
    monkeypatch.setenv("GLM_VISION_MODEL", "glm-4v-scripted")
    loaded = get_vision_backend()
    assert isinstance(loaded, OpenAIVisionBackend)
    return loaded


def upload(color: tuple[int, int, int], size: tuple[int, int], fmt: str = "PNG", max_pixels: int = 10**7):
    out = BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return prepare_image(out.getvalue(), f"upload.{fmt.lower()}", max_pixels=max_pixels)


def run(backend: OpenAIVisionBackend, messages: list[Message], cancel: threading.Event | None = None):
    events = list(backend.stream(messages, PARAMS, cancel or threading.Event()))
    deltas = [e for e in events[:-1] if isinstance(e, TextDelta)]
    assert len(deltas) == len(events) - 1
    assert isinstance(events[-1], Done)
    return "".join(d.text for d in deltas), events[-1], len(deltas)


def test_the_image_survives_the_trip(server: VisionServer, backend: OpenAIVisionBackend) -> None:
    text, done, pieces = run(
        backend, [Message("user", "What is this?", attachments=[upload((255, 0, 0), (64, 48))])]
    )
    assert text.strip() == "I see 1 image(s): 64x48 (255, 0, 0)."
    assert pieces > 3
    assert done.finish_reason == "stop"
    request = server.requests[0]
    assert request["model"] == "glm-4v-scripted"
    assert request["stream"] is True
    assert request["max_tokens"] == 64
    parts = request["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    assert parts[1]["text"] == "What is this?"


def test_an_oversized_image_arrives_scaled_with_its_aspect_ratio(
    server: VisionServer, backend: OpenAIVisionBackend
) -> None:
    photo = upload((0, 0, 255), (4000, 3000), "JPEG", max_pixels=backend.max_pixels)
    run(backend, [Message("user", "And this?", attachments=[photo])])
    [received] = server.images(server.requests[0])
    assert received.width * received.height <= backend.max_pixels
    assert received.width > 2000
    assert abs(received.width / received.height - 4 / 3) < 0.01
    r, g, b = received.getpixel((received.width // 2, received.height // 2))
    assert r < 10 and g < 10 and b > 245
    assert server.requests[0]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg")


def test_several_images_across_turns_keep_their_order(
    server: VisionServer, backend: OpenAIVisionBackend
) -> None:
    messages = [
        Message("system", "You describe images."),
        Message("user", "First.", attachments=[upload((255, 0, 0), (10, 10))]),
        Message("assistant", "Red."),
        Message(
            "user", "Now these.", attachments=[upload((0, 255, 0), (20, 10)), upload((0, 0, 255), (10, 20))]
        ),
    ]
    text, _, _ = run(backend, messages)
    assert text.strip() == "I see 3 image(s): 10x10 (255, 0, 0); 20x10 (0, 255, 0); 10x20 (0, 0, 255)."
    sent = server.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "You describe images."
    assert sent[2]["content"] == "Red."
    assert [p["type"] for p in sent[3]["content"]] == ["image_url", "image_url", "text"]


def test_cancel_ends_the_stream_early(server: VisionServer, backend: OpenAIVisionBackend) -> None:
    server.chunk_delay = 0.01
    cancel = threading.Event()
    events = []
    for event in backend.stream([Message("user", "Talk a lot.")], PARAMS, cancel):
        events.append(event)
        if len(events) == 3:
            cancel.set()
    assert events[-1] == Done("cancelled")
    assert len(events) == 4
    assert server.chunks_sent < 100


def test_an_unreachable_server_is_a_load_error_that_names_the_setting() -> None:
    backend = OpenAIVisionBackend("http://127.0.0.1:9/v1", "k", "glm-4v")
    with pytest.raises(VisionLoadError, match=r"GLM_VISION_API_BASE=http://127\.0\.0\.1:9/v1"):
        list(backend.stream([Message("user", "hi")], PARAMS, threading.Event()))


def test_loading_checks_the_server_and_takes_the_model_it_serves(
    server: VisionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    with pytest.raises(VisionLoadError, match=r"Can't reach .* GLM_VISION_API_BASE=http://127\.0\.0\.1:9/v1"):
        get_vision_backend()
    monkeypatch.setenv("GLM_API_BASE", server.base)
    monkeypatch.delenv("GLM_VISION_MODEL", raising=False)
    assert get_vision_backend().model_name == "glm-4v-served"
    monkeypatch.setenv("GLM_VISION_MODEL", "glm-4v-named")
    assert get_vision_backend().model_name == "glm-4v-named"
    assert server.model_lists == 2
    monkeypatch.setenv("GLM_API_BASE", server.base.removesuffix("/v1"))
    monkeypatch.delenv("GLM_VISION_MODEL")
    default = ModelSettings.from_env().vision_model
    assert get_vision_backend().model_name == default, "a server without /models: the default name"


def test_a_refusing_server_is_a_load_error_with_the_status(server: VisionServer) -> None:
    backend = OpenAIVisionBackend(server.base.removesuffix("/v1"), "k", "glm-4v")
    with pytest.raises(
        VisionLoadError, match=r"refused the request for GLM_VISION_MODEL=glm-4v \(HTTP 404"
    ) as refused:
        list(backend.stream([Message("user", "hi")], PARAMS, threading.Event()))
    assert refused.value.kind == "vision_refused" and refused.value.values["status"] == 404


def test_reasoning_comes_apart_from_the_answer(server: VisionServer, backend: OpenAIVisionBackend) -> None:
    server.thinking = "The centre pixel is red, so the image is red."
    events = list(
        backend.stream(
            [Message("user", "Colour?", attachments=[upload((255, 0, 0), (40, 30))])],
            PARAMS,
            threading.Event(),
        )
    )
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert reasoning == server.thinking
    assert answer == "I see 1 image(s): 40x30 (255, 0, 0)."
    assert isinstance(events[-1], Done)


def test_the_stream_asks_for_usage_and_reports_the_servers_count(
    server: VisionServer, backend: OpenAIVisionBackend
) -> None:
    events = list(backend.stream([Message("user", "What is it?")], PARAMS, threading.Event()))
    assert server.requests[-1]["stream_options"] == {"include_usage": True}
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert events[-1] == Done("stop", {"completion_tokens": len(answer.split()), "prompt_tokens": 9})


def test_vision_can_have_its_own_server_and_key(
    server: VisionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text on one server, vision on another: GLM_VISION_* win, the text settings are the fallback."""
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GLM_API_KEY", "text-key")
    monkeypatch.delenv("GLM_VISION_MODEL", raising=False)
    settings = ModelSettings.from_env()
    assert (settings.vision_backend, settings.vision_api_base, settings.vision_api_key) == (
        "transformers",
        "http://127.0.0.1:9/v1",
        "text-key",
    )
    monkeypatch.setenv("GLM_VISION_BACKEND", "openai")
    monkeypatch.setenv("GLM_VISION_API_BASE", server.base)
    monkeypatch.setenv("GLM_VISION_API_KEY", "vision-key")
    backend = get_vision_backend()
    assert isinstance(backend, OpenAIVisionBackend)
    assert backend.model_name == "glm-4v-served" and backend.client.api_key == "vision-key"
    assert ModelSettings.from_env().backend == "transformers", "the text model stays in-process"
