"""Model settings from `GLM_*` environment variables, read when asked (tests change them per run).

Every reader raises `ConfigError` (a `ValueError`) naming the variable, the bad value and what is
accepted; an unset or empty variable means the default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from models.errors import ConfigError
from models.saved import read_saved

BACKENDS = ("transformers", "openai")
API_MODES = ("auto", "chat", "completions")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _raw(name: str) -> str:
    """The variable from the environment, else as saved from the Models page (`models.saved`)."""
    return os.environ.get(name, "").strip() or read_saved().get(name, "")


def env_str(name: str, default: str = "") -> str:
    return _raw(name) or default


def env_int(name: str, default: int, minimum: int | None = None, accepted: str = "") -> int:
    """A whole number, at least `minimum`; `accepted` describes it in the error (a default one otherwise)."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum):
        at_least = f" ≥ {minimum}" if minimum is not None else ""
        raise ConfigError(name, raw, accepted or f"a whole number{at_least}, such as {default} (the default)")
    return value


def env_float(name: str, default: float) -> float:
    raw = _raw(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(name, raw, f"a number, such as {default} (the default)") from None


def env_bool(name: str, default: bool = False) -> bool:
    raw = _raw(name).lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise ConfigError(name, raw, f"on or off ({'/'.join(_TRUE)} or {'/'.join(_FALSE)})")
    return raw in _TRUE


def env_choice(name: str, choices: Sequence[str], default: str = "") -> str:
    """One of `choices` (compared in lower case)."""
    raw = _raw(name).lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(name, raw, "one of " + ", ".join(choices))
    return raw


def env_url(name: str, default: str = "") -> str:
    """An http(s) URL."""
    raw = _raw(name)
    if raw and not raw.lower().startswith(("http://", "https://")):
        raise ConfigError(name, raw, "an http:// or https:// URL, such as http://127.0.0.1:8000/v1")
    return raw or default


def max_context() -> int:
    """`GLM_MAX_CONTEXT`: 0 when unset, meaning the model's own window."""
    return env_int(
        "GLM_MAX_CONTEXT", 0, 0, "a whole number of tokens such as 8192 (0 or unset: the model's own window)"
    )


@dataclass(frozen=True)
class ModelSettings:
    """The text model's settings, and the vision model's: `GLM_VISION_BACKEND`, `GLM_VISION_API_BASE` and
    `GLM_VISION_API_KEY` fall back to `GLM_BACKEND`, `GLM_API_BASE` and `GLM_API_KEY`, so text and vision
    can be one server or two (one vLLM process serves one model)."""

    backend: str
    model: str
    vision_model: str
    api_base: str
    api_key: str
    api_mode: str
    trust_remote_code: bool
    max_context: int
    vision_backend: str = "transformers"
    vision_api_base: str = "http://127.0.0.1:8000/v1"
    vision_api_key: str = "EMPTY"

    @classmethod
    def from_env(cls) -> ModelSettings:
        backend = env_choice("GLM_BACKEND", BACKENDS, "transformers")
        api_base = env_url("GLM_API_BASE", "http://127.0.0.1:8000/v1")
        api_key = env_str("GLM_API_KEY", "EMPTY")
        return cls(
            backend=backend,
            model=env_str("GLM_MODEL", "THUDM/glm-4-9b-chat-hf"),
            vision_model=env_str("GLM_VISION_MODEL", "zai-org/GLM-4.1V-9B-Thinking"),
            api_base=api_base,
            api_key=api_key,
            api_mode=env_choice("GLM_API_MODE", API_MODES, "auto"),
            trust_remote_code=env_bool("GLM_TRUST_REMOTE_CODE"),
            max_context=max_context(),
            vision_backend=env_choice("GLM_VISION_BACKEND", BACKENDS, backend),
            vision_api_base=env_url("GLM_VISION_API_BASE", api_base),
            vision_api_key=env_str("GLM_VISION_API_KEY", api_key),
        )
