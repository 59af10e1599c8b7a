"""Search, open pages and cite, through the page: citations render as links to what was opened."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN

ARTICLE = """<html><head><title>GLM-5 launch notes</title></head><body>
<nav>Home | Blog | Careers</nav><article><h1>GLM-5 launch notes</h1>
<p>GLM-5 was released on 3 March, with a context window of one million tokens and open weights.</p>
<p>The release also brought faster tool calling and better long-document reading.</p></article>
<footer>Copyright and cookie banner text</footer></body></html>"""


class Web(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/search":
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            query = parse_qs(url.query)["q"][0]
            results = [
                {"title": "GLM-5 launch notes", "url": f"{base}/glm5", "content": f"About {query}"},
                {"title": "Unrelated", "url": f"{base}/other", "content": "Something else"},
            ]
            body, kind = json.dumps({"results": results}).encode(), "application/json"
        else:
            body, kind = ARTICLE.encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_search_open_and_cite(web: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [
        Rule('simple_browser\nsearch("GLM-5 release, (date)", recency_days=30)', when="When was"),
        Rule("simple_browser\nmclick([0, 1])", when="【0†GLM-5 launch notes"),
        Rule(
            "\nGLM-5 came out on 3 March【2†launch notes】; see also【9†nothing】.",
            when="released on 3 March",
        ),
    ]
    with ScriptedServer(rules) as model:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the tests read the chat messages sent
        monkeypatch.setenv("GLM_API_BASE", model.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "searxng")
        monkeypatch.setenv("GLM_SEARXNG_URL", f"http://{web}")
        monkeypatch.setenv("GLM_BROWSER_ALLOW", web)
        at = AppTest.from_file(MAIN, default_timeout=60)
        at.run()
        at.chat_input[0].set_value("When was GLM-5 released?").run()
        opened = model.requests[-1]["body"]["messages"][-1]["content"]
    assert not at.exception
    assistant = at.chat_message[1]
    statuses = [c for c in assistant.children.values() if type(c).__name__ == "Status"]
    assert len(statuses) == 2
    steps = "\n".join(m.value for s in statuses for m in s.markdown).replace("\\", "")
    assert "searched: GLM-5 release, (date)" in steps
    assert f"[GLM-5 launch notes](http://{web}/glm5)" in steps
    assert "Copyright and cookie banner" not in opened and "one million tokens" in opened
    answer = assistant.markdown[-1].value.replace("\\", "")
    assert f"came out on 3 March[GLM-5 launch notes](http://{web}/glm5)" in answer
    assert "【9†nothing】" in answer
