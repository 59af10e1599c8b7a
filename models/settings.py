"""Model settings from `GLM_*` environment variables, read when asked (tests change them per run)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelSettings:
    backend: str
    model: str
    vision_model: str
    api_base: str
    api_key: str
    api_mode: str
    trust_remote_code: bool
    max_context: int

    @classmethod
    def from_env(cls) -> ModelSettings:
        backend = env_str("GLM_BACKEND", "transformers")
        if backend not in {"transformers", "openai"}:
            raise ValueError(f"GLM_BACKEND must be 'transformers' or 'openai', got {backend!r}")
        api_mode = env_str("GLM_API_MODE", "chat")
        if api_mode not in {"chat", "completions"}:
            raise ValueError(f"GLM_API_MODE must be 'chat' or 'completions', got {api_mode!r}")
        return cls(
            backend=backend,
            model=env_str("GLM_MODEL", "THUDM/glm-4-9b-chat-hf"),
            vision_model=env_str("GLM_VISION_MODEL", "THUDM/GLM-4.1V-9B-Thinking"),
            api_base=env_str("GLM_API_BASE", "http://127.0.0.1:8000/v1"),
            api_key=env_str("GLM_API_KEY", "EMPTY"),
            api_mode=api_mode,
            trust_remote_code=env_bool("GLM_TRUST_REMOTE_CODE"),
            max_context=env_int("GLM_MAX_CONTEXT", 0),
        )
