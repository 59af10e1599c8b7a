"""The browser against real HTTP servers on 127.0.0.1: search, pages, citations, timeouts, caps, the guard."""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pymupdf
import pytest

from app.tools.base import ToolContext
from app.tools.browser import make_browser_tool, render_citations, search_setup_hint

ARTICLE = """<!doctype html><html><head><title>Growing Tomatoes</title>
<script>var tracker = "SCRIPTNOISE";</script><style>.ad { color: red } /* STYLENOISE */</style></head>
<body>
<nav><a href="/home">NAVNOISE home</a> <a href="/shop">Shop</a></nav>
<header>HEADERNOISE banner</header>
<article><h1>Growing tomatoes at home</h1>
<p>Tomatoes need at least six hours of direct sun each day and deep watering twice a week.
Mulch keeps the soil moist and prevents blight from splashing onto the lower leaves.</p>
<p>Stake or cage the plants early, before the stems grow heavy with fruit. Prune the suckers that grow
between the main stem and the branches, and feed the plants with compost every few weeks.
See the <a href="/guides/compost">compost guide</a> for details on making your own.</p>
<p>Harvest when the fruit is evenly coloured and slightly soft; ripe tomatoes keep best at room
temperature rather than in the refrigerator, which dulls their flavour.</p></article>
<footer>FOOTERNOISE copyright 2025 <a href="/privacy">Privacy</a></footer>
</body></html>"""
HUGE_BYTES = 50_000_000


@dataclass
class Site:
    """What the fixture server saw and did."""

    port: int
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    huge_sent: list[int] = field(default_factory=list)
    huge_done: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


def _pdf_bytes() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Quarterly harvest report: 42 crates of tomatoes.")
    doc.set_metadata({"title": "Harvest Report"})
    data = doc.tobytes()
    doc.close()
    return data


def _handler(site: Site, pdf: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, body: bytes, ctype: str, status: int = 200, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data):
            self._send(json.dumps(data).encode(), "application/json")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            site.requests.append(
                ("POST", self.path, {"headers": dict(self.headers), "body": json.loads(body)})
            )
            self._json(
                {"results": [{"title": "Tavily hit", "url": site.url("/article"), "content": "From T."}]}
            )

        def do_GET(self):
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            site.requests.append(("GET", split.path, {"headers": dict(self.headers), "query": query}))
            route = getattr(self, "route_" + split.path.strip("/").replace("/", "_").replace(".", "_"), None)
            if route is None:
                self._send(b"not found", "text/plain", 404)
            else:
                route(query)

        def route_search(self, query):
            results = [
                {"title": "Growing Tomatoes", "url": site.url("/article"), "content": "Sun and water."},
                {"title": "Evil](javascript:alert(1)) [x", "url": site.url("/plain"), "content": "Plain."},
                {"title": "Harvest PDF", "url": site.url("/report.pdf"), "content": "Numbers."},
                {"title": "Slow page", "url": site.url("/slow"), "content": "Never answers."},
                {"title": "Dripping page", "url": site.url("/drip"), "content": "One byte at a time."},
            ]
            self._json({"query": query["q"][0], "results": results})

        def route_brave(self, query):
            rows = [
                {"title": "<strong>Brave</strong> hit", "url": site.url("/plain"), "description": "a &amp; b"}
            ]
            self._json({"web": {"results": rows}})

        def route_article(self, query):
            self._send(ARTICLE.encode(), "text/html; charset=utf-8")

        def route_plain(self, query):
            self._send("Plain notes: water the seedlings, 日本語 too.".encode(), "text/plain; charset=utf-8")

        def route_cyrillic(self, query):
            text = "Помидоры любят солнце и тёплую погоду. " * 8
            page = f"<html><head><meta charset='windows-1251'><title>Сад</title></head><body><p>{text}</p>"
            self._send(page.encode("cp1251"), "text/html")

        def route_report_pdf(self, query):
            self._send(pdf, "application/pdf")

        def route_image(self, query):
            self._send(b"\x89PNG\r\n\x1a\n", "image/png")

        def route_slow(self, query):
            site.release.wait(30)
            with contextlib.suppress(OSError):
                self._send(b"<html><body><p>finally</p></body></html>", "text/html")

        def route_drip(self, query):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    if site.release.wait(0.1):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except OSError:
                return

        def route_huge(self, query):
            chunk = b"<p>" + b"lorem ipsum dolor sit amet " * 2400 + b"</p>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            sent = 0
            try:
                while sent < HUGE_BYTES:
                    part = chunk[: HUGE_BYTES - sent]
                    self.wfile.write(part)
                    sent += len(part)
            except OSError:
                pass
            finally:
                site.huge_sent.append(sent)
                site.huge_done.set()

        def route_redirect(self, query):
            self._send(b"", "text/plain", 302, {"Location": query["to"][0]})

        def route_loop(self, query):
            self._send(b"", "text/plain", 302, {"Location": "/loop"})

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    server.daemon_threads = True
    fixture = Site(port=server.server_address[1])
    server.RequestHandlerClass = _handler(fixture, _pdf_bytes())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fixture
    fixture.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def env(monkeypatch, site):
    for name in ("GLM_SEARCH_BACKEND", "GLM_SEARXNG_URL", "GLM_BROWSER_ALLOW", "GLM_BRAVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "searxng")
    monkeypatch.setenv("GLM_SEARXNG_URL", site.url(""))
    monkeypatch.setenv("GLM_BROWSER_ALLOW", f"127.0.0.1:{site.port}")
    monkeypatch.setenv("GLM_BROWSER_TIMEOUT", "1.5")
    monkeypatch.setenv("GLM_BROWSER_CONNECT_TIMEOUT", "1")
    return monkeypatch


def _ctx(tmp_path: Path, name: str = "c1") -> ToolContext:
    return ToolContext(session_id=name, workdir=tmp_path)


browser = make_browser_tool()


def test_search_mclick_and_cite(env, site, tmp_path):
    ctx = _ctx(tmp_path)
    query = 'tomatoes, "heirloom" (2025) 日本'
    result = browser.run(f"search({query!r}, recency_days=7)", ctx)
    assert result.metadata == "browser_result" and not result.is_error
    _, path, seen = site.requests[-1]
    assert path == "/search"
    assert seen["query"] == {"q": [query], "format": ["json"], "time_range": ["week"]}
    assert result.content.startswith("【0†Growing Tomatoes†127.0.0.1】\nSun and water.\n\n【1†Evil")
    assert "【4†Dripping page†127.0.0.1】" in result.content
    assert result.info == {"searched": [query], "opened": [], "failed": []}

    opened = browser.run("mclick([0, 1, 2])", ctx)
    assert not opened.is_error
    assert "【5†Growing Tomatoes†127.0.0.1】" in opened.content
    assert "six hours of direct sun" in opened.content
    assert "日本語" in opened.content
    assert "42 crates of tomatoes" in opened.content
    assert [(p["id"], p["title"]) for p in opened.info["opened"]] == [
        (5, "Growing Tomatoes"),
        (6, "127.0.0.1"),
        (7, "report.pdf"),
    ]
    assert opened.info["failed"] == []

    answer = "Give them six hours of sun【5†Growing Tomatoes】; yields were 42 crates【7†report】【9†nope】."
    assert render_citations(answer, ctx.state) == (
        f"Give them six hours of sun[Growing Tomatoes]({site.url('/article')}); "
        rf"yields were 42 crates[report\.pdf]({site.url('/report.pdf')})【9†nope】."
    )
    evil = render_citations("【1†x】", ctx.state)
    assert evil == rf"[Evil\]\(javascript:alert\(1\)\) \[x]({site.url('/plain')})"


def test_extraction_keeps_the_article_and_drops_noise(env, site, tmp_path):
    result = browser.run(f"open_url({site.url('/article')!r})", _ctx(tmp_path))
    assert not result.is_error
    content = result.content
    assert content.startswith(f"【0†Growing Tomatoes†127.0.0.1】\nURL: {site.url('/article')}\n")
    assert "Mulch keeps the soil moist" in content
    assert "ripe tomatoes keep best at room temperature" in " ".join(content.split())
    for noise in ("SCRIPTNOISE", "STYLENOISE", "NAVNOISE", "HEADERNOISE", "FOOTERNOISE"):
        assert noise not in content
    assert f"- compost guide: {site.url('/guides/compost')}" in content
    assert site.url("/home") not in content and site.url("/privacy") not in content


def test_page_encoding_from_meta_charset(env, site, tmp_path):
    result = browser.run(f"open_url({site.url('/cyrillic')!r})", _ctx(tmp_path))
    assert result.content.startswith("【0†Сад†127.0.0.1】")
    assert "Помидоры любят солнце" in result.content


def test_slow_pages_time_out_while_siblings_load(env, site, tmp_path):
    ctx = _ctx(tmp_path)
    browser.run('search("anything")', ctx)
    result = browser.run("mclick([3, 0, 4, 1, 42])", ctx)
    assert [p["title"] for p in result.info["opened"]] == ["Growing Tomatoes", "127.0.0.1"]
    failed = {f["id"]: f["error"] for f in result.info["failed"]}
    assert failed[42] == "unknown id"
    assert "timed out after 1.5 s" in failed[3]
    assert "timed out after 1.5 s" in failed[4]
    assert f"Result 【3】 ({site.url('/slow')}) could not be opened: timed out" in result.content
    assert "six hours of direct sun" in result.content


def test_huge_page_is_capped(env, site, tmp_path):
    env.setenv("GLM_BROWSER_MAX_BYTES", "300000")
    env.setenv("GLM_BROWSER_PAGE_CHARS", "2000")
    site.huge_done.clear()
    result = browser.run(f"open_url({site.url('/huge')!r})", _ctx(tmp_path))
    assert not result.is_error
    assert "lorem ipsum" in result.content
    assert result.content.rstrip().endswith("[page text truncated]")
    body = result.content.split("\n", 2)[2].removesuffix("[page text truncated]")
    assert len(body.strip()) <= 2000
    assert site.huge_done.wait(10)
    assert site.huge_sent[-1] < HUGE_BYTES / 2


def test_unsupported_content_type_is_reported(env, site, tmp_path):
    result = browser.run(f"open_url({site.url('/image')!r})", _ctx(tmp_path))
    assert result.is_error
    assert "unsupported content type 'image/png'" in result.content


def test_http_errors_and_redirect_loops_are_reported(env, site, tmp_path):
    ctx = _ctx(tmp_path)
    assert "HTTP 404" in browser.run(f"open_url({site.url('/missing')!r})", ctx).content
    assert "more than 5 redirects" in browser.run(f"open_url({site.url('/loop')!r})", ctx).content


BLOCKED = [
    ("http://127.0.0.1:{port}/article", "loopback"),
    ("http://localhost:{port}/article", "loopback"),
    ("http://[::1]:{port}/article", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/article", "loopback"),
    ("http://[::ffff:7f00:1]:{port}/article", "loopback"),
    ("http://2130706433:{port}/article", "loopback"),
    ("http://0x7f000001:{port}/article", "loopback"),
    ("http://0x7f.1:{port}/article", "loopback"),
    ("http://127.1:{port}/article", "loopback"),
    ("http://0177.0.0.1:{port}/article", "invalid URL: Invalid IPv4 address"),
    ("http://0177.1:{port}/article", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://3232235777/", "private"),
    ("http://[fd00::1]/", "unique-local"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[::ffff:c0a8:101]/", "private"),
    ("http://100.64.0.1/", "shared (carrier-grade NAT)"),
    ("http://0.0.0.0:{port}/", "this host on this network"),
    ("http://0/", "this host on this network"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://[64:ff9b::a00:1]/", "private"),
    ("ftp://example.com/file", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:{port}/", "only http and https"),
]


@pytest.mark.parametrize(("template", "reason"), BLOCKED)
def test_internal_addresses_are_refused(env, site, tmp_path, template, reason):
    env.delenv("GLM_BROWSER_ALLOW")
    before = len(site.requests)
    result = browser.run(f"open_url({template.format(port=site.port)!r})", _ctx(tmp_path))
    assert result.is_error
    assert "could not be opened: " in result.content
    assert reason in result.content
    assert "refused:" in result.content or "invalid URL" in result.content
    assert len(site.requests) == before


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def test_ipv6_site_opens_only_when_allowed(env, site, tmp_path):
    server = _IPv6Server(("::1", 0), _handler(site, b""))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://[::1]:{server.server_address[1]}/plain"
        assert "loopback" in browser.run(f"open_url({url!r})", _ctx(tmp_path)).content
        env.setenv("GLM_BROWSER_ALLOW", f"[::1]:{server.server_address[1]}")
        assert "Plain notes" in browser.run(f"open_url({url!r})", _ctx(tmp_path)).content
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_bad_allow_entries_are_ignored_and_reported(env, site, tmp_path):
    page = site.url("/plain")
    env.setenv("GLM_BROWSER_ALLOW", f"http://127.0.0.1:{site.port}, 127.0.0.0/8 ::1")
    result = browser.run(f"open_url({page!r})", _ctx(tmp_path))
    assert result.is_error and "loopback" in result.content
    hint = search_setup_hint()
    assert f"'http://127.0.0.1:{site.port}' is ignored: write only host or host:port, without" in hint
    assert "'127.0.0.0/8' is ignored: address ranges and paths are not supported" in hint
    assert "'::1' is ignored: write IPv6 addresses in brackets" in hint
    env.setenv("GLM_BROWSER_ALLOW", f"::1 127.0.0.1:{site.port}")
    assert "Plain notes" in browser.run(f"open_url({page!r})", _ctx(tmp_path)).content


def test_allow_list_is_exact_about_ports(env, site, tmp_path):
    env.setenv("GLM_BROWSER_ALLOW", "127.0.0.1:1, example.org")
    assert "refused" in browser.run(f"open_url({site.url('/plain')!r})", _ctx(tmp_path)).content
    env.setenv("GLM_BROWSER_ALLOW", "intranet.example 127.0.0.1")
    assert "Plain notes" in browser.run(f"open_url({site.url('/plain')!r})", _ctx(tmp_path)).content


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://localhost:{port}/article", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:10.1.2.3]/", "private"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
def test_redirect_to_a_blocked_address_is_refused(env, site, tmp_path, target, reason):
    before = len(site.requests)
    url = site.url("/redirect") + "?to=" + target.format(port=site.port)
    result = browser.run(f"open_url({url!r})", _ctx(tmp_path))
    assert result.is_error
    assert reason in result.content and "refused" in result.content
    assert site.paths[before:] == ["/redirect"]


def test_redirect_to_an_allowed_page_is_followed(env, site, tmp_path):
    url = site.url("/redirect") + "?to=/article"
    result = browser.run(f"open_url({url!r})", _ctx(tmp_path))
    assert result.info["opened"][0]["url"] == site.url("/article")
    assert "Mulch keeps the soil moist" in result.content


def test_connects_to_the_checked_address_with_one_lookup(env, site, tmp_path):
    env.setenv("GLM_BROWSER_ALLOW", f"localhost:{site.port}")
    lookups: list[str] = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):
        lookups.append(host)
        return real(host, *args, **kwargs)

    env.setattr(socket, "getaddrinfo", counting)
    result = browser.run(f"open_url({site.url('/plain', host='localhost')!r})", _ctx(tmp_path))
    assert "Plain notes" in result.content
    assert lookups.count("localhost") == 1
    assert site.requests[-1][2]["headers"]["Host"] == f"localhost:{site.port}"


def test_search_endpoint_is_trusted_but_not_opened_for_the_model(env, site, tmp_path):
    env.delenv("GLM_BROWSER_ALLOW")
    ctx = _ctx(tmp_path)
    assert "【0†Growing Tomatoes" in browser.run('search("q")', ctx).content
    result = browser.run("mclick([0])", ctx)
    assert result.is_error and "loopback" in result.content


def test_two_conversations_have_separate_citations(env, site, tmp_path):
    first, second = _ctx(tmp_path, "a"), _ctx(tmp_path, "b")
    browser.run('search("one")', first)
    browser.run('search("two")', second)
    third = browser.run('search("three")', first)
    assert third.content.startswith("【5†Growing Tomatoes")
    assert browser.run("mclick([7])", second).info["failed"] == [{"id": 7, "url": "", "error": "unknown id"}]
    assert render_citations("【7†x】", first.state) == f"[Harvest PDF]({site.url('/report.pdf')})"
    assert render_citations("【7†x】", second.state) == "【7†x】"
    assert json.loads(json.dumps(first.state)) == first.state


def test_no_backend_configured(env, tmp_path):
    env.delenv("GLM_SEARCH_BACKEND")
    result = browser.run('search("q")', _ctx(tmp_path))
    assert result.is_error and result.metadata == "system_error"
    assert "Web search is not available" in result.content and "GLM_SEARCH_BACKEND" in result.content
    assert "GLM_SEARCH_BACKEND" in search_setup_hint()
    env.setenv("GLM_SEARCH_BACKEND", "searxng")
    env.delenv("GLM_SEARXNG_URL")
    assert "GLM_SEARXNG_URL" in search_setup_hint()
    env.setenv("GLM_SEARCH_BACKEND", "bing")
    assert "Unknown GLM_SEARCH_BACKEND 'bing'" in search_setup_hint()


def test_searxng_ready_means_no_hint(env):
    assert search_setup_hint() is None


def test_brave_backend(env, site, tmp_path):
    env.setenv("GLM_SEARCH_BACKEND", "brave")
    assert "GLM_BRAVE_API_KEY" in search_setup_hint()
    env.setenv("GLM_BRAVE_API_KEY", "brave-key")
    env.setenv("GLM_BRAVE_URL", site.url("/brave"))
    result = browser.run('search("seedlings", recency_days=30)', _ctx(tmp_path))
    assert result.content == "【0†Brave hit†127.0.0.1】\na & b"
    _, _, seen = site.requests[-1]
    assert seen["headers"]["X-Subscription-Token"] == "brave-key"
    assert seen["query"] == {"q": ["seedlings"], "count": ["10"], "freshness": ["pm"]}


def test_tavily_backend(env, site, tmp_path):
    env.setenv("GLM_SEARCH_BACKEND", "tavily")
    env.setenv("GLM_TAVILY_API_KEY", "tvly-key")
    env.setenv("GLM_TAVILY_URL", site.url("/tavily"))
    result = browser.run('search("seedlings", recency_days=400)', _ctx(tmp_path))
    assert result.content == "【0†Tavily hit†127.0.0.1】\nFrom T."
    method, _, seen = site.requests[-1]
    assert method == "POST" and seen["headers"]["Authorization"] == "Bearer tvly-key"
    assert seen["body"] == {"query": "seedlings", "max_results": 10, "time_range": "year"}


def test_search_failure_is_an_observation(env, tmp_path):
    env.setenv("GLM_SEARXNG_URL", "http://127.0.0.1:9")
    result = browser.run('search("closed port")', _ctx(tmp_path))
    assert result.is_error and "searxng search failed" in result.content


def test_cancel_stops_waiting(env, site, tmp_path):
    ctx = _ctx(tmp_path)
    env.setenv("GLM_BROWSER_TIMEOUT", "20")
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    result = browser.run(f"open_url({site.url('/slow')!r})", ctx)
    assert "cancelled" in result.content
    assert time.monotonic() - started < 20
