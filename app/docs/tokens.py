"""Text to search terms: stemmed words for Latin scripts, character bigrams for CJK; kept as compact term ids.

Words are reduced to their Snowball (English) stems, the same for the chunks and the question, so
"harvesting" meets "harvested". Stopwords go before stemming. Other scripts pass through unchanged.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from models.tokens import CJK_RANGES

_TERM = re.compile(rf"[{CJK_RANGES}]+|[^\W_{CJK_RANGES}]+")
_ASCII_TERM = re.compile(r"[a-z0-9]+")  # what _TERM finds in lowercased ASCII text, found faster
_STOP = frozenset(STOPWORDS_EN)
_stemmers = threading.local()  # a Stemmer (and its cache of stems) is not safe to share between threads


def _stem(words: list[str]) -> list[str]:
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = Stemmer.Stemmer("english", 100_000)
    return stemmer.stemWords(words)


def search_terms(text: str) -> list[str]:
    """Lowercased, stemmed words (minus English stopwords) and, for CJK runs, overlapping character pairs."""
    return _stem(_unstemmed_terms(text))


def _unstemmed_terms(text: str) -> list[str]:
    """`search_terms` before stemming (which leaves CJK pairs and numbers as they are)."""
    text = text.lower()
    if text.isascii():
        return [word for word in _ASCII_TERM.findall(text) if word not in _STOP]
    terms: list[str] = []
    for run in _TERM.findall(text):
        if run[0] > "\u3000" and re.match(rf"[{CJK_RANGES}]", run):
            terms.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        elif run not in _STOP:
            terms.append(run)
    return terms


@dataclass(frozen=True, eq=False)
class Terms:
    """Every chunk's search terms as ids into `vocab`, in one flat array.

    Chunk i is `ids[starts[i]:starts[i+1]]`.

    About 4 bytes a term, where a tuple of strings per chunk costs some 60.
    """

    vocab: tuple[str, ...]
    ids: np.ndarray
    starts: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.starts.nbytes + sum(len(t) + 57 for t in self.vocab)


class TermsBuilder:
    """Collects the terms of chunks as they come (batch by batch while the parser reads on)."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._ids_of: dict[str, int] = {}  # an unstemmed term's id: each distinct word is stemmed once
        self._ids = array("i")
        self._starts = array("q", [0])

    def add(self, text: str) -> None:
        terms = _unstemmed_terms(text)
        ids_of = self._ids_of
        new = [term for term in dict.fromkeys(terms) if term not in ids_of]
        for term, stem in zip(new, _stem(new), strict=True):
            ids_of[term] = self._vocab.setdefault(stem, len(self._vocab))
        self._ids.extend([ids_of[term] for term in terms])
        self._starts.append(len(self._ids))

    def build(self) -> Terms:
        ids = np.frombuffer(self._ids, dtype=np.int32).copy()
        starts = np.frombuffer(self._starts, dtype=np.int64).copy()
        return Terms(tuple(self._vocab), ids, starts)


class ChunkIds(Sequence[list[int]]):
    """Several documents' term ids in one numbering, a chunk at a time (for bm25s, without a copy of all)."""

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._parts = parts  # (ids already renumbered, starts) per document
        self._owners = [(p, c) for p, (_, starts) in enumerate(parts) for c in range(len(starts) - 1)]

    def __len__(self) -> int:
        return len(self._owners)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        part, chunk = self._owners[index]
        ids, starts = self._parts[part]
        return ids[starts[chunk] : starts[chunk + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for ids, starts in self._parts:
            for chunk in range(len(starts) - 1):
                yield ids[starts[chunk] : starts[chunk + 1]].tolist()


def merge_vocabularies(all_terms: Sequence[Terms]) -> tuple[dict[str, int], ChunkIds]:
    """One vocabulary for several documents, and their chunks' ids renumbered into it."""
    vocab: dict[str, int] = {}
    parts = []
    for terms in all_terms:
        mapping = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in terms.vocab), dtype=np.int32, count=len(terms.vocab)
        )
        parts.append((mapping[terms.ids] if len(terms.ids) else terms.ids, terms.starts))
    return vocab, ChunkIds(parts)
