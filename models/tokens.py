"""A token estimate for when the model's tokenizer isn't at hand (HTTP backends, documents)."""

from __future__ import annotations

import math
import re

CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# For the estimate: every CJK character, digit and symbol counts as a token, a run of ASCII letters as one
# token per three letters (other scripts one per letter), whitespace with a newline or two spaces as one.
_PIECE = re.compile(rf"[{CJK_RANGES}]|[0-9]|[^\W\d_{CJK_RANGES}]+|\n\s*|\s{{2,}}|[^\s\w]|_|\s")


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
