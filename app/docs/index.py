"""BM25 ranking (bm25s) of every chunk of a set of documents for a question."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

from app.docs.document import Document
from app.docs.tokens import Terms, merge_vocabularies, search_terms

CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class _Entry:
    retriever: bm25s.BM25
    terms: tuple[Terms, ...]  # held so the ids in the key stay theirs while the entry lives
    nbytes: int


_cache: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Hit:
    document: int
    chunk: int
    score: float


def build_index(documents: list[Document]) -> bm25s.BM25:
    """One index over all the documents' chunks (scores are only comparable within one index).

    Kept for these very documents (by identity of their terms, so one conversation's index never serves
    another's), the least recently used dropped once the indexes pass `CACHE_BYTES`.
    """
    key = tuple(id(d.terms) for d in documents)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key].retriever
    vocab, ids = merge_vocabularies([d.terms for d in documents])
    retriever = bm25s.BM25()
    retriever.index(Tokenized(ids=ids, vocab=vocab), show_progress=False, create_empty_token=False)
    scores = retriever.scores
    size = sum(a.nbytes for a in (scores["data"], scores["indices"], scores["indptr"]))
    size += sum(len(t) + 100 for t in vocab)
    with _lock:
        _cache[key] = _Entry(retriever, tuple(d.terms for d in documents), size)
        while len(_cache) > 1 and sum(e.nbytes for e in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    return retriever


def rank_chunks(question: str, documents: list[Document]) -> list[Hit]:
    """Every chunk with a score above zero, best first (ties in document order)."""
    if not any(d.chunks for d in documents):
        return []
    retriever = build_index(documents)
    query = [
        retriever.vocab_dict[t] for t in dict.fromkeys(search_terms(question)) if t in retriever.vocab_dict
    ]
    if not query:
        return []
    scores = retriever.get_scores(query)
    owners = [(i, c) for i, d in enumerate(documents) for c in range(len(d.chunks))]
    order = np.argsort(-scores, kind="stable")
    return [Hit(*owners[k], float(scores[k])) for k in order if scores[k] > 0]
