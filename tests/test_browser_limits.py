"""The browser's limits against real HTTP servers on 127.0.0.1: one deadline however slowly a server
sends, Stop, size caps that hold for compressed bodies, bounded DNS lookups, proxy variables ignored."""

import contextlib
import gzip
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from app.tools.base import ToolContext
from app.tools.browser import make_browser_tool
from app.tools.browser.fetch import FetchError, FetchSettings, fetch

ARTICLE = (
    "<html><head><title>Compressed tomatoes</title></head><body><article>"
    + "<p>Tomatoes want warm soil, six hours of sun and deep watering twice a week.</p>" * 20
    + "</article></body></html>"
).encode()
BOMB_ZEROS = 200 * 1024 * 1024
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(BOMB_ZEROS // len(block))) + packer.flush()


@dataclass
class Site:
    port: int
    bomb: bytes
    release: threading.Event = field(default_factory=threading.Event)
    drip_closed: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, body: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/drip"):
                self._drip("application/json" if path.endswith("/search") else "text/html")
            elif path == "/big/search":
                results = [
                    {"title": f"Hit {i}", "url": site.url(f"/{i}"), "content": "x" * 250} for i in range(99)
                ]
                self._send(json.dumps({"results": results}).encode(), "application/json")
            elif path == "/ok/search":
                results = [{"title": "Tomatoes", "url": site.url("/article"), "content": "Sun."}]
                self._send(json.dumps({"results": results}).encode(), "application/json")
            elif path == "/bomb":
                self._send(site.bomb, "text/plain", {"Content-Encoding": "gzip"})
            elif path == "/gzip":
                self._send(gzip.compress(ARTICLE), "text/html", {"Content-Encoding": "gzip"})
            elif path == "/deflate":
                self._send(zlib.compress(ARTICLE), "text/html", {"Content-Encoding": "deflate"})
            elif path == "/brotli":
                self._send(b"\x1b\x03\x00", "text/html", {"Content-Encoding": "br"})
            else:
                self._send(ARTICLE, "text/html; charset=utf-8")

        def _drip(self, ctype: str) -> None:
            """A body that never ends: one byte every 0.2 s, each of which restarts a socket timeout."""
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                while not site.release.wait(0.2):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:
                site.drip_closed.set()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-body is what these tests do."""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = _QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fixture = Site(port=server.server_address[1], bomb=_gzip_bomb())
    server.RequestHandlerClass = _handler(fixture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fixture
    fixture.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def env(monkeypatch, site):
    for name in ("GLM_BROWSER_MAX_BYTES", *PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "searxng")
    monkeypatch.setenv("GLM_SEARXNG_URL", site.url("/ok"))
    monkeypatch.setenv("GLM_BROWSER_ALLOW", f"127.0.0.1:{site.port} localhost:{site.port}")
    monkeypatch.setenv("GLM_BROWSER_TIMEOUT", "1.5")
    monkeypatch.setenv("GLM_BROWSER_CONNECT_TIMEOUT", "1")
    site.drip_closed.clear()
    return monkeypatch


def _ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session_id="limits", workdir=tmp_path)


def _new_threads_left(before: set[threading.Thread]) -> list[str]:
    """Threads started since `before` that are still alive after a grace period (the servers' excepted)."""
    left = []
    for thread in set(threading.enumerate()) - before:
        if "process_request_thread" in thread.name:
            continue
        thread.join(5)
        if thread.is_alive():
            left.append(thread.name)
    return left


browser = make_browser_tool()


@pytest.mark.timeout(60)
def test_fetch_returns_at_the_total_timeout_on_a_dripping_page(env, site):
    before = set(threading.enumerate())
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 1\.5 s"):
        fetch(site.url("/drip", host="localhost"), FetchSettings.from_env())
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"fetch took {elapsed:.1f} s on a page that never ends"
    assert _new_threads_left(before) == []
    assert site.drip_closed.wait(10), "the connection to the dripping page was left open"


@pytest.mark.timeout(60)
def test_a_timed_out_page_leaves_no_thread_reading(env, site, tmp_path):
    before = set(threading.enumerate())
    result = browser.run(f"open_url({site.url('/drip')!r})", _ctx(tmp_path))
    assert result.is_error and "timed out after 1.5 s" in result.content
    assert _new_threads_left(before) == []
    assert site.drip_closed.wait(10)


@pytest.mark.timeout(60)
def test_search_has_a_total_timeout(env, site, tmp_path):
    env.setenv("GLM_SEARXNG_URL", site.url("/drip"))
    result = browser.run('search("tomatoes")', _ctx(tmp_path))
    assert result.is_error
    assert result.content == "searxng search failed: timed out after 1.5 s"


@pytest.mark.timeout(60)
def test_stop_ends_a_search(env, site, tmp_path):
    env.setenv("GLM_SEARXNG_URL", site.url("/drip"))
    env.setenv("GLM_BROWSER_TIMEOUT", "600")
    ctx = _ctx(tmp_path)
    threading.Timer(0.5, ctx.cancel.set).start()
    result = browser.run('search("tomatoes")', ctx)
    assert result.is_error and result.content == "searxng search failed: cancelled"
    assert site.drip_closed.wait(10)


def test_search_response_is_capped(env, site, tmp_path):
    env.setenv("GLM_SEARXNG_URL", site.url("/big"))
    env.setenv("GLM_BROWSER_MAX_BYTES", "10000")
    result = browser.run('search("tomatoes")', _ctx(tmp_path))
    assert result.is_error
    assert "searxng search failed: the response is larger than 10000 bytes" in result.content
    env.delenv("GLM_BROWSER_MAX_BYTES")
    assert browser.run('search("tomatoes")', _ctx(tmp_path)).content.startswith("【0†Hit 0†127.0.0.1】")


def test_gzip_bomb_stays_within_the_size_cap(env, site):
    cap = 300_000
    settings = FetchSettings(connect_timeout=5, total_timeout=30, max_bytes=cap)
    tracemalloc.start()
    try:
        fetched = fetch(site.url("/bomb"), settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(site.bomb) < 400_000
    assert fetched.truncated and fetched.data == bytes(cap)
    # Inflating a whole 64 KiB network read at once would allocate ~64 MB.
    assert peak < 10 * cap, f"peak {peak / 1e6:.1f} MB for a {cap / 1e6:.1f} MB cap"


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_compressed_pages_are_decoded(env, site, tmp_path, path):
    assert fetch(site.url(path)).data == ARTICLE
    result = browser.run(f"open_url({site.url(path)!r})", _ctx(tmp_path))
    assert result.content.startswith("【0†Compressed tomatoes†127.0.0.1】")
    assert "six hours of sun" in result.content


def test_unknown_content_encoding_is_reported(env, site, tmp_path):
    result = browser.run(f"open_url({site.url('/brotli')!r})", _ctx(tmp_path))
    assert result.is_error and "unsupported content encoding 'br'" in result.content


@pytest.mark.timeout(60)
def test_dns_lookup_is_bounded(env, site):
    """getaddrinfo has no timeout; a resolver that never answers must not hold the fetch."""
    answer = threading.Event()
    real = socket.getaddrinfo

    def unanswered(host, *args, **kwargs):
        if host == "slow-dns.test":
            answer.wait(120)
        return real(host, *args, **kwargs)

    env.setattr(socket, "getaddrinfo", unanswered)
    try:
        with pytest.raises(FetchError, match=r"looking up 'slow-dns\.test' took longer than"):
            fetch("http://slow-dns.test/", FetchSettings(connect_timeout=0.5, total_timeout=30, max_bytes=99))
        assert not answer.is_set()
    finally:
        answer.set()


class _RecordingProxy(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def _record(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_error(502, "recording proxy")

    do_GET = do_POST = do_CONNECT = _record


def test_proxy_variables_are_ignored(env, site, tmp_path):
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        for name in PROXY_VARIABLES:
            env.setenv(name, f"http://127.0.0.1:{proxy.server_address[1]}")
        env.delenv("NO_PROXY", raising=False)
        env.delenv("no_proxy", raising=False)
        ctx = _ctx(tmp_path)
        assert browser.run('search("tomatoes")', ctx).content.startswith("【0†Tomatoes†127.0.0.1】")
        assert "six hours of sun" in browser.run("mclick([0])", ctx).content
        for url, reason in [
            ("http://10.0.0.1/", "private"),
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://[fd00::1]/", "unique-local"),
        ]:
            result = browser.run(f"open_url({url!r})", ctx)
            assert result.is_error and "refused" in result.content and reason in result.content
        assert _RecordingProxy.seen == []
    finally:
        proxy.shutdown()
        proxy.server_close()
