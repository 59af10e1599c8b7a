"""A token estimate for when the model's tokenizer isn't at hand (HTTP backends, documents)."""

from __future__ import annotations

import math
import re

CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# For the estimate: every CJK character, digit and symbol counts as a token, a run of ASCII letters as one
# token per three letters (other scripts one per letter), whitespace with a newline or two spaces as one.
_PIECE = re.compile(rf"[{CJK_RANGES}]|[0-9]|[^\W\d_{CJK_RANGES}]+|\n\s*|\s{{2,}}|[^\s\w]|_|\s")
# The same count for ASCII text in one C-level pass: a letter run of n gives ceil(n / 3) matches of
# up to three letters, and a lone space (which counts nothing) matches nothing.
_ASCII_PIECE = re.compile(r"[A-Za-z]{1,3}|[0-9]|\n\s*|\s{2,}|[^\s\w]|_|[^\S ]")


def estimate_tokens(text: str) -> int:
    """An over-count of the tokens GLM-4's tokenizer (and the like) would give `text`, in any language."""
    if text.isascii():
        return len(_ASCII_PIECE.findall(text)) + len(text) // 200 + 1
    return count_pieces(text) + len(text) // 200 + 1


def count_pieces(text: str) -> int:
    """The estimate's count of `_PIECE`s, for text in any script (`estimate_tokens` without its margin)."""
    count = 0
    for piece in _PIECE.findall(text):
        first = piece[0]
        if first == " " and len(piece) == 1:
            continue
        if first.isalpha() and len(piece) > 1:
            count += math.ceil(len(piece) / 3) if piece.isascii() else len(piece)
        else:
            count += len(piece.encode()) if ord(first) > 0xFFFF else 1
    return count
