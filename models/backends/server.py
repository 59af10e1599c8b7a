"""What an OpenAI-compatible server says about itself: its model, context length, endpoints, tokenizer.

`GLM_API_MODE=auto` decides from this (`choose_mode`), and the app counts tokens with the server's own
tokenizer where it offers one (`POST /tokenize`: vLLM, SGLang; llama.cpp's takes `content`), so a
prompt the app judged to fit is one the server accepts.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from models.tokens import estimate_tokens

PROBE_TIMEOUT_S = 10.0
ABSENT = (404, 405, 501)
"""Statuses that mean "no such endpoint"; any other answer (even 400 for our empty probe) means it exists."""


class ModelListError(RuntimeError):
    """The server doesn't list its models (it answers `status` on /models) and no model name was given."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"answers {status} on /models, so it can't say its models")


@dataclass(frozen=True)
class ServerInfo:
    model: str
    context: int = 0
    """The context length the server reports (vLLM's `max_model_len`), 0 when it doesn't say."""
    root: str = ""
    """What the model was loaded from, when the server says (vLLM's `root`)."""
    completions: bool = False
    """`POST /completions` exists (probed only in auto mode)."""


def served_model(client: Any, wanted: str, explicit: bool) -> ServerInfo:
    """The model name to request and what the server reports of it.

    Some hosted APIs have no `/models`: with the name given explicitly, an error answer there only
    means the context length is unknown. An unreachable server is still an error.
    """
    from openai import APIStatusError

    try:
        models = list(client.models.list())
    except APIStatusError as exc:
        if not explicit:
            raise ModelListError(exc.status_code) from exc
        return ServerInfo(wanted)
    names = [m.id for m in models]
    name = wanted if explicit or wanted in names or not names else names[0]
    for m in models:
        if m.id == name:
            root = getattr(m, "root", None)
            context = int(getattr(m, "max_model_len", 0) or 0)
            return ServerInfo(name, context, root if isinstance(root, str) else "")
    return ServerInfo(name)


def checkpoint_facts(root: str) -> tuple[str | None, str | None]:
    """The `model_type` and chat template of the checkpoint the server loaded, when that is a folder on
    this machine (a server next to the app); (None, None) otherwise."""
    folder = Path(root) if root else None
    if folder is None or not (folder / "config.json").is_file():
        return None, None
    try:
        model_type = json.loads((folder / "config.json").read_text("utf-8")).get("model_type")
        tokenizer_config = folder / "tokenizer_config.json"
        template_file = folder / "chat_template.jinja"
        template = template_file.read_text("utf-8") if template_file.is_file() else None
        if template is None and tokenizer_config.is_file():
            template = json.loads(tokenizer_config.read_text("utf-8")).get("chat_template")
    except (OSError, ValueError, AttributeError):
        return None, None
    return (model_type if isinstance(model_type, str) else None), (
        template if isinstance(template, str) else None
    )


def has_completions(http: httpx.Client, api_base: str, model: str) -> bool:
    """Whether `POST {api_base}/completions` exists, asked with a request no server generates for (no
    prompt): vLLM, SGLang and llama.cpp answer 400/422, platforms without it 404."""
    try:
        answer = http.post(f"{api_base.rstrip('/')}/completions", json={"model": model, "max_tokens": 1})
    except httpx.HTTPError:
        return False
    return answer.status_code not in ABSENT


class ServerTokenizer:
    """Counts tokens with the server's `POST /tokenize` (vLLM and SGLang take `prompt`, llama.cpp
    `content`), remembering recent answers: the agent loop counts the same history at every step.

    `count` falls back to the estimate for a text the server couldn't count (it went away).
    """

    def __init__(self, http: httpx.Client, url: str, model: str, body: str, cache_size: int = 4096) -> None:
        self.http, self.url, self.model, self.body = http, url, model, body
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def request(self, text: str) -> dict[str, Any]:
        if self.body == "content":
            return {"content": text}
        return {"model": self.model, "prompt": text, "add_special_tokens": False}

    def ask(self, text: str) -> int:
        """The server's count; raises `httpx.HTTPError` or `ValueError` when it has none."""
        answer = self.http.post(self.url, json=self.request(text))
        answer.raise_for_status()
        data = answer.json()
        if isinstance(data.get("count"), int):
            return data["count"]
        if isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        raise ValueError(f"no token count in {str(data)[:200]}")

    def count(self, text: str) -> int:
        with self._lock:
            if (known := self._cache.get(text)) is not None:
                self._cache.move_to_end(text)
                return known
        try:
            counted = self.ask(text)
        except (httpx.HTTPError, ValueError):
            return estimate_tokens(text)
        with self._lock:
            self._cache[text] = counted
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return counted


def server_tokenizer(http: httpx.Client, api_base: str, model: str) -> ServerTokenizer | None:
    """The server's tokenizer when it offers `/tokenize` (at its root, or under the API base), else None."""
    root = api_base.rstrip("/").removesuffix("/v1")
    urls = dict.fromkeys([f"{root}/tokenize", f"{api_base.rstrip('/')}/tokenize"])
    for url in urls:
        for body in ("prompt", "content"):
            counter = ServerTokenizer(http, url, model, body)
            try:
                if counter.ask("Hello, GLM") > 0:
                    return counter
            except (httpx.HTTPError, ValueError):
                continue
    return None


@dataclass(frozen=True)
class TokenCounter:
    """A backend's counter and what it is: "tokenizer" (exact: the server's or a local one) or "estimate"."""

    count: Callable[[str], int]
    source: str


def local_tokenizer(*names: str) -> Callable[[str], int] | None:
    """A tokenizer on this machine for the served model (its `root` folder, or a hub id already in the
    local cache), without downloading anything; None when there is none."""
    for name in filter(None, names):
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        except Exception:  # any failure only means "not here": the next source is tried
            continue
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return None


def token_counter(http: httpx.Client, api_base: str, info: ServerInfo) -> TokenCounter:
    """The server's tokenizer where offered, else a local one for the model, else the estimate."""
    if (served := server_tokenizer(http, api_base, info.model)) is not None:
        return TokenCounter(served.count, "tokenizer")
    if (local := local_tokenizer(info.root, info.model)) is not None:
        return TokenCounter(local, "tokenizer")
    return TokenCounter(estimate_tokens, "estimate")


def http_client(api_key: str) -> httpx.Client:
    """Plain HTTP for the endpoints the `openai` client doesn't cover (probes, `/tokenize`)."""
    headers = {"Authorization": f"Bearer {api_key or 'EMPTY'}"}
    return httpx.Client(headers=headers, timeout=PROBE_TIMEOUT_S, trust_env=False)
