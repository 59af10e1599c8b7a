"""The browser's HTTP transport: every request vetted by the guard, every socket step within a budget.

Built on httpcore (httpx's own engine) so the network layer can be given the budget: each connect,
TLS handshake, write and read waits at most until the call's deadline, and reads notice Stop.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from app.tools.browser.budget import Budget
from app.tools.browser.guard import AllowEntry, check_url

USER_AGENT = "Mozilla/5.0 (compatible; GLM-Studio-browser/0.1)"
# Most specific first: the first match names the httpx error.
_ERRORS: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as the httpx errors callers expect (what httpx's own transport does)."""
    try:
        yield
    except Exception as exc:
        mapped = next((mine for theirs, mine in _ERRORS if isinstance(exc, theirs)), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


class _BudgetStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, budget: Budget) -> None:
        self._inner = inner
        self._budget = budget

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = self._budget.end(timeout)
        while True:
            wait = self._budget.wait_for(end, httpcore.ReadTimeout, poll=True)
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                # Nothing was read, so reading again is safe; wait_for raises once time is up.
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._budget.wait_for(self._budget.end(timeout), httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wait = self._budget.wait_for(self._budget.end(timeout), httpcore.ConnectTimeout)
        return _BudgetStream(self._inner.start_tls(ssl_context, server_hostname, wait), self._budget)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BudgetBackend(httpcore.NetworkBackend):
    def __init__(self, budget: Budget) -> None:
        self._inner = httpcore.SyncBackend()
        self._budget = budget

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._budget.wait_for(self._budget.end(timeout), httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
        return _BudgetStream(stream, self._budget)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._inner

    def close(self) -> None:
        if hasattr(self._inner, "close"):
            self._inner.close()


class GuardedTransport(httpx.BaseTransport):
    """Vets each request's host with the guard, connects to the address it vetted, within `budget`."""

    def __init__(
        self,
        extra_allow: Iterable[AllowEntry] = (),
        verify: ssl.SSLContext | bool = True,
        budget: Budget | None = None,
    ) -> None:
        self._extra_allow = tuple(extra_allow)
        self._budget = budget or Budget()
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        # No keep-alive: a pooled connection is keyed by IP and must not serve another TLS hostname.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_keepalive_connections=0, network_backend=_BudgetBackend(self._budget)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        connect_timeout = request.extensions.get("timeout", {}).get("connect")
        lookup_end = self._budget.end(connect_timeout)
        lookup_timeout = None if lookup_end is None else max(0.0, lookup_end - time.monotonic())
        target = check_url(request.url, self._extra_allow, lookup_timeout)
        headers = request.headers.copy()
        headers.setdefault("Host", request.url.netloc.decode("ascii"))
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        pinned = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=target.address.encode("ascii"),
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(pinned)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_client(
    timeout: httpx.Timeout, extra_allow: Iterable[AllowEntry] = (), budget: Budget | None = None
) -> httpx.Client:
    """A client that never follows redirects itself and ignores proxy variables (they'd bypass the guard).

    It asks for gzip or deflate only: `fetch` decompresses those a bounded piece at a time.
    """
    return httpx.Client(
        transport=GuardedTransport(extra_allow, budget=budget),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
    )
