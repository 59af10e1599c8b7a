"""A scripted GLM-4 behind a real OpenAI-compatible HTTP server on 127.0.0.1.

Replies are written as the model's raw output (`"\\nanswer"` or `"tool_name\\ncall"`). The server
serves them on `/v1/completions` as text and on `/v1/chat/completions` as content or `tool_calls`
(a rule's `content` is sent as text before its call in the same reply, as chat servers may do).
A reply in the GLM-4.5 format (`<think>`, `<tool_call>` blocks) goes to chat clients as vLLM's
`glm45` reasoning and tool parsers send it: `reasoning_content`, `content`, and one `tool_calls`
entry per call (index 0, 1, …; string values raw, others read as JSON),
streamed as server-sent events, and records every request. When no rule matches, it answers 500:
a test whose loop and script disagree fails loudly. `list_models=False` makes `/v1/models` answer
404, like hosted APIs without that endpoint; `completions=False` does the same for `/v1/completions`
(a platform API); `tool_parser=False` refuses chat requests with `tools` as vLLM does when started
without a tool-call parser; `tokenize=True` offers vLLM's `POST /tokenize` (counting the script's
pieces); `max_model_len` is reported, and a prompt longer than it is refused with vLLM's 400.

Run standalone: `python -m tests.scripted_server --port 8765 --rules rules.json`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_NAME = "glm-4-scripted"
_TOKEN = re.compile(r"\s*\S+|\s+")


@dataclass
class Rule:
    """Reply `reply` when the last user/observation text matches `when` (a regex; "" matches all).

    `content`: chat mode only, text streamed before the tool call of `reply` in the same message.
    `cut_after`: the connection drops after that many chunks (a chunked response left unfinished, as
    when a server dies mid-answer).
    """

    reply: str
    when: str = ""
    times: int | None = None
    delay: float = 0.0
    content: str = ""
    cut_after: int | None = None


@dataclass
class Script:
    rules: list[Rule]
    list_models: bool = True
    completions: bool = True
    tool_parser: bool = True
    tokenize: bool = False
    max_model_len: int = 32768
    requests: list[dict[str, Any]] = field(default_factory=list)
    other_posts: list[str] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    disconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, last_text: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.times == 0 or not re.search(rule.when, last_text, re.S):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def last_prompt_text(prompt: str) -> str:
    """The newest user or observation turn of a raw GLM-4 prompt."""
    cut = max(prompt.rfind("<|user|>"), prompt.rfind("<|observation|>"))
    body = prompt[cut:] if cut >= 0 else prompt
    return body.split("\n", 1)[-1].removesuffix("<|assistant|>")


def split_reply(reply: str) -> tuple[str, str]:
    head, _, body = reply.partition("\n")
    return head.strip(), body


_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)


def glm45_parts(reply: str) -> tuple[str, str, list[tuple[str, dict[str, Any]]]]:
    """A GLM-4.5 reply's reasoning, answer text and calls (name, arguments), as vLLM's parsers see them."""
    think = _THINK.search(reply)
    reasoning = think.group(1).strip() if think else ""
    rest = reply[think.end() :] if think else reply
    content = rest.split("<tool_call>", 1)[0].strip()
    calls = []
    for body in _CALL.findall(rest):
        name = re.split(r"\n|<arg_key>", body.strip(), maxsplit=1)[0].strip()
        arguments = {}
        for key, value in _ARG.findall(body):
            try:
                arguments[key.strip()] = json.loads(value)
            except ValueError:
                arguments[key.strip()] = value
        calls.append((name, arguments))
    return reasoning, content, calls


def chat_arguments(tool: str, body: str, declared: list[dict[str, Any]]) -> str:
    """How a server that parsed the call would send its arguments."""
    for entry in declared:
        function = entry.get("function", {})
        if function.get("name") == tool:
            names = list(function.get("parameters", {}).get("properties", {}))
            if names in (["code"], ["command"], ["prompt"]):
                return json.dumps({names[0]: body.strip()})
    return body.strip()


class _Handler(BaseHTTPRequestHandler):
    script: Script
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.script.lock:
            self.script.gets.append(self.path)
        if self.path.rstrip("/").endswith("/models") and self.script.list_models:
            model = {"id": MODEL_NAME, "object": "model", "max_model_len": self.script.max_model_len}
            self._json({"object": "list", "data": [model]})
        else:
            self._json({"error": {"message": "not found"}}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.script.lock:
            if self.path.endswith("completions") and ("prompt" in body or "messages" in body):
                self.script.requests.append({"path": self.path, "body": body})
            else:  # probes and token counts
                self.script.other_posts.append(self.path)
        if self.path.endswith("/chat/completions"):
            if body.get("tools") and not self.script.tool_parser:
                self._refuse(
                    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
                )
                return
            last = body["messages"][-1].get("content") or ""
            if self._too_long(json.dumps(body["messages"])):
                return
            self._serve(body, last if isinstance(last, str) else json.dumps(last), chat=True)
        elif self.path.endswith("/completions") and self.script.completions:
            if not isinstance(body.get("prompt"), str):
                self._refuse("Either prompt or prompt_embeds must be provided and non-empty.")
            elif not self._too_long(body["prompt"]):
                self._serve(body, last_prompt_text(body["prompt"]), chat=False)
        elif self.path == "/tokenize" and self.script.tokenize:
            count = len(tokens(body.get("prompt", "")))
            self._json(
                {"count": count, "max_model_len": self.script.max_model_len, "tokens": list(range(count))}
            )
        else:
            self._json({"error": {"message": "not found"}}, 404)

    def _refuse(self, message: str) -> None:
        self._json({"object": "error", "message": message, "type": "BadRequestError", "code": 400}, 400)

    def _too_long(self, prompt: str) -> bool:
        """Refuse a prompt over the context length, with vLLM's words."""
        count = len(tokens(prompt))
        if count <= self.script.max_model_len:
            return False
        self._refuse(
            f"This model's maximum context length is {self.script.max_model_len} tokens. However, your "
            f"request has {count} input tokens. Please reduce the length of the input messages."
        )
        return True

    def _serve(self, body: dict[str, Any], last_text: str, chat: bool) -> None:
        rule = self.script.pick(last_text)
        if rule is None:
            self._json({"error": {"message": f"script has no reply for: {last_text[:200]!r}"}}, 500)
            return
        pieces = tokens(rule.reply)
        finish = "stop"
        limit = body.get("max_tokens")
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        if not body.get("stream"):
            self._json({"error": {"message": "the scripted server only streams"}}, 400)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        if rule.cut_after is not None:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = (
            self._chat_chunks(pieces, body, finish, rule.content)
            if chat
            else self._text_chunks(pieces, finish)
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks = self._with_usage(chunks, len(pieces))
        try:
            for sent, chunk in enumerate(chunks):
                if rule.cut_after is not None:
                    if sent == rule.cut_after:
                        self.close_connection = True
                        return  # no last chunk: the client sees the connection break off
                    data = f"data: {json.dumps(chunk)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                if rule.delay:
                    time.sleep(rule.delay)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with self.script.lock:
                self.script.disconnects += 1
        self.close_connection = True

    @staticmethod
    def _with_usage(chunks, generated: int):
        """What OpenAI-compatible servers send when asked for usage: a last chunk with no choices."""
        yield from chunks
        usage = {"prompt_tokens": 1, "completion_tokens": generated, "total_tokens": generated + 1}
        yield {
            "id": "chat-1",
            "object": "chat.completion.chunk",
            "model": MODEL_NAME,
            "choices": [],
            "usage": usage,
        }

    def _text_chunks(self, pieces: list[str], finish: str):
        base = {"id": "cmpl-1", "object": "text_completion", "created": int(time.time()), "model": MODEL_NAME}
        for piece in pieces:
            yield {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}]}
        yield {**base, "choices": [{"index": 0, "text": "", "finish_reason": finish, "logprobs": None}]}

    def _chat_chunks(self, pieces: list[str], body: dict[str, Any], finish: str, content: str):
        base = {
            "id": "chat-1",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": MODEL_NAME,
        }
        if "<think>" in "".join(pieces) or "<tool_call>" in "".join(pieces):
            yield from self._glm45_chat_chunks(base, "".join(pieces), finish)
            return
        head, call = split_reply("".join(pieces))
        if not head:
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
            for piece in tokens(call):
                yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
            return
        arguments = chat_arguments(head, call, body.get("tools", []))
        start = {"index": 0, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
        start["function"] = {"name": head, "arguments": ""}
        said = tokens(content)
        for piece in said[:-1]:
            yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        first = {"role": "assistant", "content": said[-1] if said else None, "tool_calls": [start]}
        yield {**base, "choices": [{"index": 0, "delta": first}]}
        for piece in tokens(arguments):
            part = {"index": 0, "function": {"arguments": piece}}
            yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}]}
        done = "tool_calls" if finish == "stop" else finish
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": done}]}

    @staticmethod
    def _glm45_chat_chunks(base: dict[str, Any], reply: str, finish: str):
        reasoning, content, calls = glm45_parts(reply)

        def delta(**fields: Any) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": fields, "finish_reason": None}]}

        yield delta(role="assistant", content="")
        for piece in tokens(reasoning):
            yield delta(reasoning_content=piece)
        for piece in tokens(content):
            yield delta(content=piece)
        for index, (name, arguments) in enumerate(calls):
            start = {"index": index, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
            yield delta(tool_calls=[{**start, "function": {"name": name, "arguments": ""}}])
            for piece in tokens(json.dumps(arguments, ensure_ascii=False)):
                yield delta(tool_calls=[{"index": index, "function": {"arguments": piece}}])
        done = "tool_calls" if calls and finish == "stop" else finish
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": done}]}

    def _json(self, payload: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedServer:
    """`with ScriptedServer([Rule(...)]) as server:` then point a client at `server.base_url`."""

    def __init__(self, rules: list[Rule], port: int = 0, list_models: bool = True, **options: Any) -> None:
        self.script = Script(rules, list_models, **options)
        handler = type("Handler", (_Handler,), {"script": self.script})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.script.requests

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def load_rules(path: Path) -> list[Rule]:
    return [Rule(**raw) for raw in json.loads(path.read_text(encoding="utf-8"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rules", type=Path, required=True, help="JSON list of {reply, when, times, delay}")
    args = parser.parse_args()
    server = ScriptedServer(load_rules(args.rules), args.port)
    print(f"scripted GLM-4 at {server.base_url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
