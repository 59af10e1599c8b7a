"""Fit a conversation into the prompt budget (context window minus the tokens left for the answer).

Without it a long conversation, or one huge observation, would eventually make every request fail.
System messages and the current turn (from the last user message on) are always kept; the oldest
whole turns go first, so a tool call never loses its observation; then the longest observations are
shortened, keeping their head and tail around a note saying how much was cut.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.messages import Message
from models.protocols.glm4 import render_message

MIN_KEPT_CHARS = 200
"""An observation is never shortened below this many characters of its own text."""
FIT_NOTE = "characters cut here to fit the context window"

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class FitResult:
    messages: list[Message]
    tokens: int
    dropped_turns: int = 0
    shortened_observations: int = 0

    @property
    def trimmed(self) -> bool:
        return bool(self.dropped_turns or self.shortened_observations)


def fit_history(
    messages: Sequence[Message], budget: int, count_tokens: CountTokens, overhead: int = 0
) -> FitResult:
    """The messages to send, within `budget` tokens (with `overhead` for the prompt's fixed parts).

    The result's `tokens` may still exceed `budget` when the current turn can't be made to fit.
    """
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    costs = [_cost(m, i > last_user, count_tokens) for i, m in enumerate(messages)]
    total = overhead + sum(costs)
    if total <= budget:
        return FitResult(list(messages), total)
    keep = [True] * len(messages)
    dropped = 0
    for turn in _old_turns(messages):
        if total <= budget:
            break
        for i in turn:
            keep[i] = False
            total -= costs[i]
        dropped += 1
    kept = [i for i in range(len(messages)) if keep[i]]
    fitted = {i: messages[i] for i in kept}
    shortened = _shorten_observations(fitted, costs, total - budget, count_tokens)
    total = overhead + sum(costs[i] for i in kept)
    return FitResult([fitted[i] for i in kept], total, dropped, len(shortened))


def _cost(message: Message, current: bool, count_tokens: CountTokens) -> int:
    """A message's tokens; reasoning counts within the current turn only (GLM-4.5+ templates send
    it back there and drop it from earlier turns)."""
    cost = count_tokens(render_message(message))
    return cost + count_tokens(message.reasoning) if current and message.reasoning else cost


def _old_turns(messages: Sequence[Message]) -> list[list[int]]:
    """Indexes of each turn before the current one, oldest first, without system messages.

    A turn starts at a user message; whatever precedes the first one (a greeting) counts as a turn.
    """
    starts = [i for i, m in enumerate(messages) if m.role == "user"]
    spans = itertools.pairwise([0, *starts])
    turns = [[i for i in range(a, b) if messages[i].role != "system"] for a, b in spans]
    return [turn for turn in turns if turn]


def _shorten_observations(
    fitted: dict[int, Message], costs: list[int], excess: int, count_tokens: CountTokens
) -> set[int]:
    """Cut the longest observations until `excess` tokens are saved; updates `fitted` and `costs`."""
    originals = {i: m.content for i, m in fitted.items() if m.role == "observation"}
    kept_chars = {i: len(text) for i, text in originals.items()}
    shortened: set[int] = set()
    while excess > 0:
        open_ = [i for i in originals if kept_chars[i] > MIN_KEPT_CHARS]
        if not open_:
            break
        i = max(open_, key=lambda j: costs[j])
        share = max(0.0, (costs[i] - excess) / costs[i]) if costs[i] else 0.0
        kept_chars[i] = max(MIN_KEPT_CHARS, min(int(kept_chars[i] * share), kept_chars[i] * 3 // 4))
        message = dataclasses.replace(fitted[i], content=_cut(originals[i], kept_chars[i]))
        cost = count_tokens(render_message(message))
        excess -= costs[i] - cost
        costs[i] = cost
        fitted[i] = message
        shortened.add(i)
    return shortened


def _cut(text: str, keep: int) -> str:
    head = keep // 2
    tail = keep - head
    note = f"\n…[{len(text) - keep} {FIT_NOTE}]…\n"
    return text[:head] + note + text[len(text) - tail :]
