"""Text to search terms: words for Latin scripts, character bigrams for CJK."""

from __future__ import annotations

import re

from bm25s.stopwords import STOPWORDS_EN

from models.tokens import CJK_RANGES

_TERM = re.compile(rf"[{CJK_RANGES}]+|[^\W_{CJK_RANGES}]+")
_STOP = frozenset(STOPWORDS_EN)


def search_terms(text: str) -> list[str]:
    """Lowercased words (minus English stopwords) and, for CJK runs, overlapping character pairs."""
    terms: list[str] = []
    for run in _TERM.findall(text.lower()):
        if run[0] > "\u3000" and re.match(rf"[{CJK_RANGES}]", run):
            terms.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        elif run not in _STOP:
            terms.append(run)
    return terms
