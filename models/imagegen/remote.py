"""An OpenAI-compatible images API (`POST {base}/images/generations`; the Zhipu platform serves
`cogview-4` this way): one image per request, answered as base64 or as a URL to fetch.

The response is read up to a byte cap, so a runaway server can't fill the memory; fetching a URL
answer is the caller's job (the app does it through the browser's address guard).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import httpx

from models.imagegen.settings import ImageSettings

# JSON around the base64 text (the error message, a revised prompt) beyond the image itself.
ENVELOPE_BYTES = 64 * 1024


class ImageAPIError(RuntimeError):
    """The images API refused or failed; the message is fit for the user and the model."""


@dataclass(frozen=True)
class ImageReply:
    """The image's bytes (a base64 answer) or its `url`, and the prompt the service says it drew."""

    data: bytes | None = None
    url: str = ""
    revised_prompt: str = ""


def _too_big(max_image_bytes: int) -> ImageAPIError:
    return ImageAPIError(
        f"the generated image is over the {max_image_bytes / 2**20:g} MB upload limit (GLM_MAX_UPLOAD_MB)"
    )


def _read_capped(response: httpx.Response, max_image_bytes: int) -> bytes:
    """The body, refused once it is longer than a base64 image of `max_image_bytes` could make it."""
    limit = max_image_bytes * 4 // 3 + ENVELOPE_BYTES
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > limit:
            raise _too_big(max_image_bytes)
    return bytes(body)


def _error_text(status: int, body: bytes) -> str:
    try:
        payload = json.loads(body)
        error = payload.get("error") if isinstance(payload, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
    except ValueError:
        message = None
    detail = str(message) if message else body[:300].decode("utf-8", "replace").strip()
    return f"the images API answered HTTP {status}" + (f": {detail}" if detail else "")


def _reply(payload: Any, max_image_bytes: int) -> ImageReply:
    items = payload.get("data") if isinstance(payload, dict) else None
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
    if item is None:
        raise ImageAPIError("the images API's answer has no image (expected data[0].url or data[0].b64_json)")
    revised = str(item.get("revised_prompt") or "")
    if encoded := item.get("b64_json"):
        if len(encoded) * 3 // 4 > max_image_bytes + 3:
            raise _too_big(max_image_bytes)
        try:
            return ImageReply(data=base64.b64decode(encoded, validate=True), revised_prompt=revised)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ImageAPIError("the images API's b64_json is not valid base64") from exc
    if isinstance(url := item.get("url"), str) and url:
        return ImageReply(url=url, revised_prompt=revised)
    raise ImageAPIError("the images API's answer has no image (expected data[0].url or data[0].b64_json)")


def request_image(settings: ImageSettings, prompt: str, max_image_bytes: int, timeout: float) -> ImageReply:
    """Ask the API for one image of `settings.size`; `ImageAPIError` saying why when there is none."""
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    body = {"model": settings.api_model, "prompt": prompt, "size": settings.size}
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))) as client,
            client.stream("POST", f"{settings.api_base}/images/generations", json=body, headers=headers) as r,
        ):
            raw = _read_capped(r, max_image_bytes)
            status = r.status_code
    except httpx.TimeoutException as exc:
        raise ImageAPIError(f"the images API did not answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        where = settings.api_base
        raise ImageAPIError(f"the images API at {where} failed: {type(exc).__name__}: {exc}") from exc
    if status >= 400:
        raise ImageAPIError(_error_text(status, raw))
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise ImageAPIError("the images API's answer is not JSON") from exc
    return _reply(payload, max_image_bytes)
