"""Text to search terms (words for Latin scripts, character bigrams for CJK) and a safe token estimate."""

from __future__ import annotations

import math
import re

from bm25s.stopwords import STOPWORDS_EN

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TERM = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_STOP = frozenset(STOPWORDS_EN)

# For the estimate: every CJK character, digit and symbol counts as a token, a run of ASCII letters as one
# token per three letters (other scripts one per letter), whitespace with a newline or two spaces as one.
_PIECE = re.compile(rf"[{_CJK}]|[0-9]|[^\W\d_{_CJK}]+|\n\s*|\s{{2,}}|[^\s\w]|_|\s")


def search_terms(text: str) -> list[str]:
    """Lowercased words (minus English stopwords) and, for CJK runs, overlapping character pairs."""
    terms: list[str] = []
    for run in _TERM.findall(text.lower()):
        if run[0] > "\u3000" and re.match(rf"[{_CJK}]", run):
            terms.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        elif run not in _STOP:
            terms.append(run)
    return terms


def estimate_tokens(text: str) -> int:
    """An over-count of the tokens GLM-4's tokenizer (and the like) would give `text`, in any language."""
    count = 0
    for piece in _PIECE.findall(text):
        first = piece[0]
        if first == " " and len(piece) == 1:
            continue
        if first.isalpha() and len(piece) > 1:
            count += math.ceil(len(piece) / 3) if piece.isascii() else len(piece)
        else:
            count += len(piece.encode()) if ord(first) > 0xFFFF else 1
    return count + len(text) // 200 + 1
