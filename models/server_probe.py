"""Ask an OpenAI-compatible server what it serves (`GET /models`), for the Models page's Test connection."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

PROBE_TIMEOUT_S = 5.0
CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length")
"""Where servers report a model's context window: vLLM `max_model_len`, others one of the rest."""


class ProbeError(RuntimeError):
    """The server can't be reached or didn't answer with a model list; the message says which."""


@dataclass(frozen=True)
class ServedModel:
    id: str
    context: int | None


def served_models(api_base: str, api_key: str = "", timeout: float = PROBE_TIMEOUT_S) -> list[ServedModel]:
    """The models the server at `api_base` lists, with their context window when it says."""
    url = api_base.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ProbeError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ProbeError(f"{url}: HTTP {response.status_code}")
    try:
        entries = response.json().get("data") or []
    except (ValueError, AttributeError) as exc:
        raise ProbeError(f"{url}: not a model list") from exc
    models = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            context = next((entry[f] for f in CONTEXT_FIELDS if isinstance(entry.get(f), int)), None)
            models.append(ServedModel(entry["id"], context))
    return models
