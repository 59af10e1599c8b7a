"""The Long document page with semantic search: off (says keyword search only), building (questions use
keywords and say so), ready (keyword + semantic), against an embeddings server over real HTTP."""

from __future__ import annotations

import time

from app.docs import embeddings
from tests.embeddings_server import EmbeddingsServer
from tests.test_docs_page import conversation_id, open_page, server, uploader, vault_pdf  # noqa: F401

QUESTION = "Which code opens the Draco vault?"


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def ask(at) -> str:
    at.chat_input(key="documents-input").set_value(QUESTION).run()
    assert not at.exception
    return " ".join(c.value for c in at.chat_message[-1].caption)


def test_without_an_embedding_model_the_page_says_search_is_by_keywords(server, monkeypatch) -> None:  # noqa: F811
    monkeypatch.delenv("GLM_EMBED_MODEL", raising=False)
    monkeypatch.delenv("GLM_EMBED_API_BASE", raising=False)
    at = open_page()
    uploader(at).upload("vaults.pdf", vault_pdf(), "application/pdf")
    at.run()
    assert any("Keyword search (BM25) only" in c for c in captions(at))
    shown = ask(at)
    assert "best passages retrieved" in shown and "semantic" not in shown


def test_questions_use_keywords_until_the_semantic_index_is_ready(server, monkeypatch) -> None:  # noqa: F811
    with EmbeddingsServer() as api:
        monkeypatch.setenv("GLM_EMBED_API_BASE", api.base_url)
        monkeypatch.setenv("GLM_EMBED_API_MODEL", "embedding-3")
        api.open.clear()  # the embeddings are being made
        at = open_page()
        uploader(at).upload("vaults.pdf", vault_pdf(), "application/pdf")
        at.run()
        shown = ask(at)
        assert "keyword search only (the semantic index was still being built)" in shown
        assert "3318-ZT" in at.chat_message[-1].markdown[0].value

        api.open.set()
        at = open_page(conversation_id(at))
        deadline = time.monotonic() + 120
        while not any("Semantic search ready (embedding-3" in c for c in captions(at)):
            assert not at.exception
            assert time.monotonic() < deadline, captions(at)
            time.sleep(1)
            at.run()
        assert "keyword + semantic search" in ask(at)
        assert any(r["model"] == "embedding-3" for r in api.requests)
    embeddings.shutdown()
