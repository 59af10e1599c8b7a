"""Fit or retrieve: what of the documents goes to the model for one question, and the messages that carry it.

Whole documents go in when they fit the budget; otherwise the best-ranked chunks that fit (BM25, fused with
dense retrieval when it is ready: `fusion.py`), in reading order, each labelled `[file, page]` so the model
can cite it and the user can check the citation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from app.config import max_context
from app.docs.document import Document
from app.docs.fusion import Ranking, retrieval_order
from models.messages import Message
from models.tokens import estimate_tokens

CountTokens = Callable[[str], int]

MESSAGE_OVERHEAD = 4  # role token, metadata line, newline
PROMPT_OVERHEAD = 4  # [gMASK]<sop> and the generation prompt
SAFETY_MARGIN = 32  # tokenizers may count a concatenation a little differently from its parts
MAX_CHARS_PER_TOKEN = 16  # no tokenizer averages more over real text; skips counting what can't fit

INSTRUCTIONS = (
    "Answer the user's questions from the documents below. After each claim, cite the file and page it "
    "comes from, using the labels given in square brackets, for example [report.pdf, p. 12]. "
    "If the documents don't contain the answer, say so."
)
RETRIEVED_NOTE = "Only the passages most relevant to the question were selected from the documents."


@dataclass(frozen=True)
class Source:
    """A passage the model was given, for the UI to show under the answer.

    `sha256` and `index` (the page's position in the document) find the page again, whatever the name.
    """

    file: str
    page: str
    text: str
    score: float | None = None
    sha256: str = ""
    index: int = 0


@dataclass(frozen=True)
class DocContext:
    """What of the documents one prompt carries. "no room": there are documents, but the history, the
    question and the answer's room left no tokens for them. `prompt` is the whole prompt's tokens."""

    strategy: Literal["none", "whole", "retrieved", "no room"]
    text: str
    sources: tuple[Source, ...] = field(default_factory=tuple)
    tokens: int = 0
    budget: int = 0
    prompt: int = 0


def context_window(backend_window: int) -> int:
    """The backend's window, capped by `GLM_MAX_CONTEXT` when that is set."""
    cap = max_context()
    return min(cap, backend_window) if cap > 0 and backend_window > 0 else cap or backend_window


def prompt_tokens(messages: Sequence[Message], count_tokens: CountTokens) -> int:
    """Tokens a prompt made of these messages takes, with the chat template's own tokens."""
    body = sum(count_tokens(m.content) + count_tokens(m.metadata) + MESSAGE_OVERHEAD for m in messages)
    return body + PROMPT_OVERHEAD


def document_budget(
    window: int, history: Sequence[Message], question: str, count_tokens: CountTokens, answer_tokens: int
) -> int:
    """Tokens left for documents once the history, the question, the instructions and the answer have room."""
    skeleton = build_messages(history, question, DocContext("retrieved", ""))
    used = prompt_tokens(skeleton, count_tokens) + answer_tokens + SAFETY_MARGIN
    return max(0, window - used)


def build_context(
    question: str,
    documents: Sequence[Document],
    count_tokens: CountTokens = estimate_tokens,
    budget: int = 0,
    rankings: Sequence[Ranking] = (),
) -> DocContext:
    """Everything if it fits in `budget` tokens, else the best-ranked chunks that do (BM25 fused with
    `rankings`, then their neighbours and the rest, until the budget is full)."""
    documents = [d for d in documents if d.pages]
    if not documents:
        return DocContext("none", "", budget=budget)
    whole = "\n\n".join(_render(d.name, [(p.label, p.text) for p in d.pages]) for d in documents)
    if len(whole) <= budget * MAX_CHARS_PER_TOKEN:
        tokens = count_tokens(whole)
        if tokens <= budget:
            sources = tuple(
                Source(d.name, p.label, p.text, None, d.sha256, i)
                for d in documents
                for i, p in enumerate(d.pages)
            )
            return DocContext("whole", whole, sources, tokens, budget)
    return _retrieve(question, documents, count_tokens, budget, rankings)


def _retrieve(
    question: str,
    documents: list[Document],
    count_tokens: CountTokens,
    budget: int,
    rankings: Sequence[Ranking],
) -> DocContext:
    hits = retrieval_order(question, documents, rankings)
    chosen: list[tuple[int, int, float]] = []
    used, opened, misses = 0, set(), 0
    for i, c, score in hits:
        cost = count_tokens(_label_block(documents[i], c)) + 2
        if i not in opened:
            cost += count_tokens(_render(documents[i].name, []))
        if used + cost > budget:
            misses += 1
            if misses > 50:  # the budget is as full as it will get
                break
            continue
        chosen.append((i, c, score))
        opened.add(i)
        used += cost
    while True:
        text = _render_chosen(documents, chosen)
        tokens = count_tokens(text) if chosen else 0
        if tokens <= budget:
            break
        chosen.pop()  # the lowest-ranked: counted as parts, the whole came out a little larger
    if not chosen:
        return DocContext("no room", "", budget=budget)
    sources = tuple(_source(documents[i], c, s) for i, c, s in chosen)
    return DocContext("retrieved", text, sources, tokens, budget)


def _source(document: Document, chunk: int, score: float) -> Source:
    part = document.chunks[chunk]
    page = document.pages[part.page]
    return Source(document.name, page.label, part.text, score, document.sha256, part.page)


def _label_block(document: Document, chunk: int) -> str:
    part = document.chunks[chunk]
    return f"[{document.name}, {document.pages[part.page].label}]\n{part.text}"


def _render(name: str, passages: list[tuple[str, str]]) -> str:
    body = "\n\n".join(f"[{name}, {label}]\n{text}" for label, text in passages)
    return f'<document name="{name}">\n{body}\n</document>'


def _render_chosen(documents: list[Document], chosen: list[tuple[int, int, float]]) -> str:
    """The chosen chunks grouped by file, in reading order."""
    blocks = []
    for i, d in enumerate(documents):
        mine = sorted(c for j, c, _ in chosen if j == i)
        if mine:
            blocks.append(
                _render(d.name, [(d.pages[d.chunks[c].page].label, d.chunks[c].text) for c in mine])
            )
    return "\n\n".join(blocks)


def prepare_turn(
    history: Sequence[Message],
    question: str,
    documents: Sequence[Document],
    count_tokens: CountTokens,
    window: int,
    answer_tokens: int,
    rankings: Sequence[Ranking] = (),
) -> tuple[list[Message], DocContext]:
    """The messages for one question and what of the documents they carry (`rankings` as for
    `build_context`).

    The oldest turns are left out while the history would leave the documents less than half the window.
    """
    system = list(history[:1]) if history and history[0].role == "system" else []
    turns = list(history[len(system) :])
    budget = document_budget(window, [*system, *turns], question, count_tokens, answer_tokens)
    while turns and budget < window // 2:
        cut = next((i for i in range(1, len(turns)) if turns[i].role == "user"), len(turns))
        turns = turns[cut:]
        budget = document_budget(window, [*system, *turns], question, count_tokens, answer_tokens)
    ctx = build_context(question, documents, count_tokens, budget, rankings)
    skeleton = prompt_tokens(build_messages([*system, *turns], question, replace(ctx, text="")), count_tokens)
    return build_messages([*system, *turns], question, ctx), replace(ctx, prompt=skeleton + ctx.tokens)


def build_messages(history: Sequence[Message], question: str, ctx: DocContext) -> list[Message]:
    """The prompt: one system message with the instructions and the documents, the chat so far, the question.

    A system message at the head of `history` is kept, ahead of the instructions; tool calls, observations
    and display-only `info` are left out.
    """
    system = [m.content for m in history[:1] if m.role == "system" and m.content]
    system.append(INSTRUCTIONS)
    if ctx.strategy == "retrieved":
        system.append(RETRIEVED_NOTE)
    if ctx.text:
        system.append(ctx.text)
    turns = [
        Message(m.role, m.content) for m in history if m.role in ("user", "assistant") and not m.is_tool_call
    ]
    return [Message("system", "\n\n".join(system)), *turns, Message("user", question)]
