"""What every GLM generation shares: the prompt prefix, the stop tokens and the stop scanner, and the
form tool calls take when tools receive them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator, Iterator
from typing import Any

STOP_TOKEN_IDS = (151329, 151336, 151338)
STOP_STRINGS = ("<|endoftext|>", "<|user|>", "<|observation|>")
PROMPT_PREFIX = "[gMASK]<sop>"
GENERATION_PROMPT = "<|assistant|>"

TextStream = Generator[str, None, str | tuple[str, dict[str, Any]]]
"""Raw model text in chunks; the generator's return value is the finish reason ("stop", "length",
"cancelled"), or the finish reason and the usage the server reported."""

_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)\n?```\s*$", re.S)
_HOLD = max(len(s) for s in STOP_STRINGS) - 1


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def keep_return(chunks: TextStream, ending: list[Any]) -> Iterator[str]:
    """Yield the chunks; put the generator's return value (the finish reason) in `ending`."""
    ending.append((yield from chunks))


def finish_and_usage(ending: list[Any]) -> tuple[str, dict[str, Any]]:
    """What `keep_return` kept: the finish reason ("stop" when none) and the usage (maybe empty)."""
    returned = ending[0] if ending else None
    finish, usage = returned if isinstance(returned, tuple) else (returned, {})
    return finish or "stop", usage


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
