"""Fetching one URL through the guard: bounded redirects, connect and total timeouts, a size cap."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from app.config import env_float, env_int
from app.tools.browser.guard import guarded_client

MAX_REDIRECTS = 5


class FetchError(RuntimeError):
    """A page could not be fetched; the message is fit for the model."""


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float
    total_timeout: float
    max_bytes: int

    @classmethod
    def from_env(cls) -> FetchSettings:
        return cls(
            connect_timeout=env_float("GLM_BROWSER_CONNECT_TIMEOUT", 5.0),
            total_timeout=env_float("GLM_BROWSER_TIMEOUT", 15.0),
            max_bytes=env_int("GLM_BROWSER_MAX_BYTES", 5_000_000),
        )


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    charset: str | None
    data: bytes
    truncated: bool


def fetch(url: str, settings: FetchSettings | None = None) -> Fetched:
    """GET `url`, checking every redirect hop with the guard; raise `BlockedURL` or `FetchError`."""
    settings = settings or FetchSettings.from_env()
    deadline = time.monotonic() + settings.total_timeout
    timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
    try:
        with guarded_client(timeout) as client:
            request = client.build_request("GET", url)
            for _ in range(MAX_REDIRECTS + 1):
                response = client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        return _read(response, settings.max_bytes, deadline)
                    request = response.next_request
                finally:
                    response.close()
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {settings.total_timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def _read(response: httpx.Response, max_bytes: int, deadline: float) -> Fetched:
    if response.status_code >= 400:
        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
    chunks: list[bytes] = []
    size = 0
    truncated = False
    for chunk in response.iter_bytes(chunk_size=64 * 1024):
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("total timeout", request=response.request)
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            truncated = True
            break
    content_type = response.headers.get("content-type", "")
    return Fetched(
        url=str(response.url),
        content_type=content_type.split(";", 1)[0].strip().lower(),
        charset=response.charset_encoding,
        data=b"".join(chunks)[:max_bytes],
        truncated=truncated,
    )
