"""What every GLM generation shares: the prompt prefix, the stop tokens and the stop scanner, and the
form tool calls take when tools receive them."""

from __future__ import annotations

import re

STOP_TOKEN_IDS = (151329, 151336, 151338)
STOP_STRINGS = ("<|endoftext|>", "<|user|>", "<|observation|>")
PROMPT_PREFIX = "[gMASK]<sop>"
GENERATION_PROMPT = "<|assistant|>"

_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)\n?```\s*$", re.S)
_HOLD = max(len(s) for s in STOP_STRINGS) - 1


def strip_code_fence(code: str) -> str:
    """`python` calls come raw or inside a ```python fence; return the bare code."""
    match = _FENCE.match(code)
    return match.group(1) if match else code.strip("\n")


def normalize_call(tool: str, text: str) -> str:
    """A call's text as tools receive it, however the model or server delivered it."""
    return strip_code_fence(text) if tool == "python" else text.strip()


class StopScanner:
    """Passes text through until a stop string appears, holding back a tail that may begin one."""

    def __init__(self) -> None:
        self._tail = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        if self.stopped:
            return ""
        if not self._tail and "<" not in chunk:
            return chunk
        text = self._tail + chunk if self._tail else chunk
        if "<|" in text:
            cut = min((i for i in (text.find(s) for s in STOP_STRINGS) if i >= 0), default=-1)
            if cut >= 0:
                self.stopped = True
                self._tail = ""
                return text[:cut]
        keep = _partial_stop_length(text)
        self._tail = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep] if keep else text

    def flush(self) -> str:
        out, self._tail = self._tail, ""
        return out


def _partial_stop_length(text: str) -> int:
    """Length of the suffix of `text` that is a proper prefix of a stop string.

    Every stop string starts with its only `<`, so only the suffix from the last `<` can qualify.
    """
    start = text.rfind("<", max(0, len(text) - _HOLD))
    if start < 0:
        return 0
    suffix = text[start:]
    return len(suffix) if any(s.startswith(suffix) for s in STOP_STRINGS) else 0
