"""An OpenAI-compatible `/v1/embeddings` server on 127.0.0.1 for the tests: a stand-in embedding model
that knows a few synonyms, so a question can meet a passage that shares none of its words.

Each word maps to a concept (its synonym group, else itself), each concept to a fixed random direction;
a text is the normalised sum of its concepts' directions, words of a known group weighing ten times more
(the stand-in "understands" only those). `fail` makes every request answer HTTP 500; requests wait while
`open` is cleared.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

DIMENSIONS = 64
SYNONYMS = [
    {"ship", "ships", "freighter", "freighters", "cargo", "vessel", "vessels"},
    {"beacon", "lighthouse"},
    {"storm", "storms", "weather"},
    {"honey", "sweet", "beekeepers", "apiarists"},
]


def concept(word: str) -> tuple[str, float]:
    return next(((min(group), 1.0) for group in SYNONYMS if word in group), (word, 0.1))


def embed(text: str) -> list[float]:
    total = np.zeros(DIMENSIONS)
    for word in re.findall(r"[a-z]+", text.lower()):
        name, weight = concept(word)
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
        total += weight * np.random.default_rng(seed).standard_normal(DIMENSIONS)
    norm = np.linalg.norm(total)
    return (total / norm if norm else total).tolist()


class EmbeddingsServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        self.open = threading.Event()
        self.open.set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.open.wait(timeout=60)
                owner.requests.append(body)
                if owner.fail or self.path.rstrip("/") != "/v1/embeddings":
                    self._send(500, {"error": {"message": "the embedding model crashed"}})
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)
                ]
                usage = {"prompt_tokens": 0, "total_tokens": 0}
                self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> EmbeddingsServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
