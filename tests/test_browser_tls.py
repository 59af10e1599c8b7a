"""The guard's pinned connection keeps TLS right: SNI and certificate checks use the URL's host name."""

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.tools.browser.transport import GuardedTransport


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = f"host header {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[int, Path, list[str]]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_names: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert, server_names
    server.shutdown()
    server.server_close()
    thread.join(5)


def _client(cert: Path) -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(cert))
    return httpx.Client(transport=GuardedTransport(verify=verify), trust_env=False, timeout=5)


def test_pinned_https_keeps_sni_and_hostname_verification(monkeypatch, tls_server):
    port, cert, server_names = tls_server
    monkeypatch.setenv("GLM_BROWSER_ALLOW", f"localhost:{port} 127.0.0.1:{port}")
    with _client(cert) as client:
        response = client.get(f"https://localhost:{port}/")
    assert response.text == f"host header localhost:{port}"
    assert server_names[-1] == "localhost"
    with _client(cert) as client, pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.1"):
        client.get(f"https://127.0.0.1:{port}/")


def test_https_to_a_blocked_host_is_refused_before_connecting(monkeypatch, tls_server):
    port, cert, server_names = tls_server
    monkeypatch.delenv("GLM_BROWSER_ALLOW", raising=False)
    before = len(server_names)
    with _client(cert) as client, pytest.raises(ValueError, match="loopback"):
        client.get(f"https://localhost:{port}/")
    assert len(server_names) == before
