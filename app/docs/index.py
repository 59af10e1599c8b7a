"""BM25 ranking (bm25s) of every chunk of a set of documents for a question."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import bm25s
import numpy as np

from app.docs.document import Document
from app.docs.tokens import search_terms

_CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, ...], bm25s.BM25] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Hit:
    document: int
    chunk: int
    score: float


def build_index(documents: list[Document]) -> bm25s.BM25:
    """One index over all the documents' chunks (scores are only comparable within one index)."""
    key = tuple(d.sha256 for d in documents)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    corpus = [list(terms) for d in documents for terms in d.terms]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    with _lock:
        _cache[key] = retriever
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return retriever


def rank_chunks(question: str, documents: list[Document]) -> list[Hit]:
    """Every chunk with a score above zero, best first (ties in document order)."""
    if not any(d.chunks for d in documents):
        return []
    retriever = build_index(documents)
    query = [t for t in dict.fromkeys(search_terms(question)) if t in retriever.vocab_dict]
    if not query:
        return []
    scores = retriever.get_scores(query)
    owners = [(i, c) for i, d in enumerate(documents) for c in range(len(d.chunks))]
    order = np.argsort(-scores, kind="stable")
    return [Hit(*owners[k], float(scores[k])) for k in order if scores[k] > 0]
