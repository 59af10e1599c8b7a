"""The Long document page with semantic search: off (says keyword search only), building (questions use
keywords and say so), ready (keyword + semantic), against an embeddings server over real HTTP; and the
model's search keywords (GLM_DOC_QUERY_EXPANSION) as a step of the answer."""

from __future__ import annotations

import random
import time

import pytest

from app.docs import embeddings, isolate
from app.docs.store import clear_memory_cache
from tests.embeddings_server import EmbeddingsServer
from tests.scripted_server import Rule, ScriptedServer
from tests.test_docs_page import WORDS, conversation_id, open_page, server, uploader, vault_pdf  # noqa: F401

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


def test_the_model_writes_search_keywords_that_find_a_passage_the_question_misses(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = [
        Rule("\nfreighters, lighthouse, storms, cargo ships", when="^Search keywords for:"),
        Rule("\nThey logged 2417 of them [log.txt, lines 40-40]."),
    ]
    lines = [" ".join(random.Random(n).choices(WORDS, k=40)) + "." for n in range(400)]
    lines[39] = "The lighthouse keeper logged 2417 passing freighters during the winter storms."
    clear_memory_cache()
    with ScriptedServer(rules) as scripted:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", scripted.base_url)
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the requests' messages are checked below
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_MAX_CONTEXT", "2048")
        monkeypatch.setenv("GLM_DOC_QUERY_EXPANSION", "1")
        at = open_page()
        uploader(at).upload("log.txt", "\n".join(lines).encode())
        at.run()
        at.chat_input(key="documents-input").set_value(
            "How many ships went by the beacon in bad weather?"
        ).run()
        assert not at.exception
        assistant = at.chat_message[-1]
        asked = scripted.requests[0]["body"]["messages"][-1]["content"]
        assert asked.startswith("Search keywords for: How many ships") and "excerpt" in asked
        assert "2417 passing freighters" in scripted.requests[-1]["body"]["messages"][0]["content"]
        assert any("also searched for: freighters" in c.value for c in assistant.caption)
        labels = [e.label for e in assistant.expander]
        assert len(labels) == len(set(labels)), f"each page listed once: {labels}"
    isolate.shutdown()
