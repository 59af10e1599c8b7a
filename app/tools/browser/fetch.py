"""Fetching one URL through the guard: bounded redirects, one deadline for the whole fetch, a size cap."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import env_float, env_int
from app.tools.browser.budget import Budget, Cancelled
from app.tools.browser.guard import AllowEntry
from app.tools.browser.transport import guarded_client

MAX_REDIRECTS = 5
_ZLIB_GZIP_OR_DEFLATE = 32 + zlib.MAX_WBITS  # zlib detects either header
_PIECE = 64 * 1024


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


def fetch(
    url: str,
    settings: FetchSettings | None = None,
    *,
    budget: Budget | None = None,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    extra_allow: Iterable[AllowEntry] = (),
) -> Fetched:
    """Request `url`, checking every redirect hop with the guard; raise `BlockedURL` or `FetchError`.

    Everything (lookups, connects, redirects, reading) ends by the budget's deadline, by default
    `total_timeout` from now, however slowly the server sends; the budget's Stop event ends it early.
    """
    settings = settings or FetchSettings.from_env()
    budget = budget or Budget.starting_now(settings.total_timeout)
    timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
    try:
        with guarded_client(timeout, extra_allow, budget) as client:
            request = client.build_request(method, url, params=params, json=json, headers=headers)
            for _ in range(MAX_REDIRECTS + 1):
                response = client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        return _read(response, settings.max_bytes)
                    request = response.next_request
                finally:
                    response.close()
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except Cancelled as exc:
        raise FetchError("cancelled") from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}") from exc
    except httpx.ConnectTimeout as exc:
        raise FetchError(f"connecting timed out ({exc})") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {settings.total_timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


class _Decoder:
    """A body's content encoding undone a bounded piece at a time.

    httpx would inflate each network read at once; a 64 KiB read of a gzip bomb becomes 64 MB. Here
    no step produces more than `_PIECE` bytes or more than the caller still has room for.
    """

    def __init__(self, content_encoding: str) -> None:
        stripped = (c.strip() for c in content_encoding.lower().split(","))
        codings = [c for c in stripped if c not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"unsupported content encoding {content_encoding!r}")
        self._inflater = zlib.decompressobj(_ZLIB_GZIP_OR_DEFLATE) if codings else None

    def decode(self, data: bytes, room: int) -> Iterator[bytes]:
        """The decoded body for `data`, at most `room` bytes (the body is full after that)."""
        if self._inflater is None:
            yield data[:room]
            return
        while data and room > 0:
            try:
                piece = self._inflater.decompress(data, min(room, _PIECE))
            except zlib.error as exc:
                raise FetchError(f"the compressed body is corrupt: {exc}") from exc
            room -= len(piece)
            data = self._inflater.unconsumed_tail
            yield piece


def _read(response: httpx.Response, max_bytes: int) -> Fetched:
    if response.status_code >= 400:
        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    for raw in response.iter_raw():
        # One byte more than the cap tells a capped body from one that is exactly max_bytes long.
        for piece in decoder.decode(raw, max_bytes + 1 - len(body)):
            body += piece
        if len(body) > max_bytes:
            break
    truncated = len(body) > max_bytes
    del body[max_bytes:]
    content_type = response.headers.get("content-type", "")
    return Fetched(
        url=str(response.url),
        content_type=content_type.split(";", 1)[0].strip().lower(),
        charset=response.charset_encoding,
        data=bytes(body),
        truncated=truncated,
    )
