"""The duckduckgo backend, offline: ddgs goes through a local HTTPS-intercepting proxy (DDGS_PROXY)
that answers for html.duckduckgo.com with a certificate from a test CA (trusted via PRIMP_CA_BUNDLE)."""

import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from app.tools.base import ToolContext
from app.tools.browser import make_browser_tool

DDG_HOST = "html.duckduckgo.com"
RESULT = """<div class="result results_links results_links_deep web-result">
<div class="links_main links_deep result__body">
<h2 class="result__title"><a rel="nofollow" class="result__a" href="{url}">{title}</a></h2>
<a class="result__snippet" href="{url}">{snippet}</a>
</div></div>"""
HITS = [
    ("https://example.org/tomatoes", "Growing <b>tomatoes</b>", "Tomatoes need six hours of <b>sun</b>."),
    ("https://docs.example.net/garden?id=7", "Tomatoes &amp; cages", "Stake tomatoes early, 2025 edition."),
    ("https://ja.example.jp/トマト", "トマト tomatoes", "tomatoes in Japanese gardens"),
]


@dataclass
class Proxy:
    port: int
    tunnels: list[str] = field(default_factory=list)
    forms: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _page(query: str) -> bytes:
    hits = [] if "nothing" in query else HITS
    rows = "\n".join(RESULT.format(url=u, title=t, snippet=s) for u, t, s in hits)
    return f"<html><body><div id='links' class='results'>{rows}</div></body></html>".encode()


def _duckduckgo(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class DuckDuckGo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            proxy.forms.append(form)
            body = _page(form["q"][0]) if self.path == "/html/" else b"not found"
            self.send_response(200 if self.path == "/html/" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    return DuckDuckGo


def _connect_handler(proxy: Proxy, tls: ssl.SSLContext) -> type[BaseHTTPRequestHandler]:
    inner = _duckduckgo(proxy)

    class Connect(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_CONNECT(self) -> None:
            proxy.tunnels.append(self.path)
            if self.path != f"{DDG_HOST}:443":
                self.send_error(403, "only DuckDuckGo here")
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            with tls.wrap_socket(self.connection, server_side=True) as secure:
                inner(secure, self.client_address, self.server)
            self.close_connection = True

    return Connect


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    names = ("ca.pem", "ca.key", "leaf.pem", "leaf.key", "leaf.csr")
    ca, ca_key, leaf, leaf_key, csr = (folder / name for name in names)
    ext = folder / "leaf.ext"
    ext.write_text(f"subjectAltName=DNS:{DDG_HOST}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    commands = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
         "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={DDG_HOST}",
         "-keyout", str(leaf_key), "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(leaf)],
    ]  # fmt: skip
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return ca, leaf, leaf_key


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[tuple[Proxy, Path]]:
    ca, leaf, leaf_key = _certificates(tmp_path_factory.mktemp("ddg-ca"))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(leaf, leaf_key)
    tls.set_alpn_protocols(["http/1.1"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    server.daemon_threads = True
    fixture = Proxy(port=server.server_address[1])
    server.RequestHandlerClass = _connect_handler(fixture, tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fixture, ca
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def env(monkeypatch, proxy):
    fixture, ca = proxy
    fixture.tunnels.clear()
    fixture.forms.clear()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "duckduckgo")
    monkeypatch.setenv("GLM_BROWSER_TIMEOUT", "10")
    monkeypatch.setenv("DDGS_PROXY", fixture.url)
    monkeypatch.setenv("PRIMP_CA_BUNDLE", str(ca))
    return monkeypatch


def _ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session_id="ddg", workdir=tmp_path)


browser = make_browser_tool()


def test_results_are_numbered_with_titles_and_hosts(env, proxy, tmp_path):
    fixture, _ = proxy
    ctx = _ctx(tmp_path)
    result = browser.run('search("tomatoes, sun (2025)", recency_days=7)', ctx)
    assert not result.is_error, result.content
    assert result.content == (
        "【0†Growing tomatoes†example.org】\nTomatoes need six hours of sun.\n\n"
        "【1†Tomatoes & cages†docs.example.net】\nStake tomatoes early, 2025 edition.\n\n"
        "【2†トマト tomatoes†ja.example.jp】\ntomatoes in Japanese gardens"
    )
    assert ctx.state["simple_browser"]["sources"]["1"]["url"] == "https://docs.example.net/garden?id=7"
    assert fixture.forms == [{"q": ["tomatoes, sun (2025)"], "l": ["us-en"], "df": ["w"]}]
    # Only DuckDuckGo was asked: ddgs' "auto" would also query wikipedia, brave, yahoo...
    assert fixture.tunnels == [f"{DDG_HOST}:443"]


def test_no_results_is_not_a_failure(env, proxy, tmp_path):
    result = browser.run('search("nothing at all")', _ctx(tmp_path))
    assert not result.is_error
    assert result.content == "No results for 'nothing at all'."


def test_unreachable_duckduckgo_is_an_observation(env, tmp_path):
    closed = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    env.setenv("DDGS_PROXY", f"http://127.0.0.1:{port}")
    result = browser.run('search("tomatoes")', _ctx(tmp_path))
    assert result.is_error and result.metadata == "system_error"
    assert result.content.startswith("duckduckgo search failed: ")
