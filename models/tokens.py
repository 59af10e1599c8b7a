"""A token estimate for when the model's tokenizer isn't at hand (HTTP backends)."""

from __future__ import annotations

import math
import re

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")


def estimate_tokens(text: str) -> int:
    """Over-counts on purpose: one token per CJK character, one per three other characters.

    GLM-4's tokenizer needs about 0.7 tokens per Chinese character and 0.25 per English one.
    """
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 3)
