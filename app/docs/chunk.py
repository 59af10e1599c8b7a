"""Pages to passages small enough to rank and to send a few of, never crossing a page boundary."""

from __future__ import annotations

import re

from app.docs.document import Chunk, Page

CHUNK_CHARS = 1200  # weighted: a CJK character counts as three, since it carries about a token
# A sentence ends at CJK end punctuation, or at Latin end punctuation followed by white space: never inside
# "1.3", "2.6 million", "example.com/a.b" or "e.g." before a word (see `_ABBREVIATION`).
_SENTENCE_END = re.compile(r"(?<=[。！？；])\s*|(?<=[.!?;…])\s+")
_ABBREVIATION = re.compile(
    r"(?:(?:^|[\s.(])(?-i:[A-Z])|\b(?:e\.g|i\.e|etc|vs|cf|al|approx|ca|fig|figs|no|nos|vol|pp?|ch|sec|eq|ref|dr|mr|mrs|ms|"
    r"prof|st|jr|sr|inc|ltd|co|corp|dept|gen|gov|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.)$",
    re.IGNORECASE,
)
_WIDE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def weighted_size(text: str) -> int:
    """Length with each CJK character counted as three (it carries about a token)."""
    return len(text) if text.isascii() else len(text) + 2 * len(_WIDE.findall(text))


def chunk_pages(
    pages: list[Page] | tuple[Page, ...], first: int = 0, max_chars: int = CHUNK_CHARS
) -> list[Chunk]:
    """Paragraphs packed together up to `max_chars` (weighted); a longer paragraph is cut at sentence ends.

    `first` is the position of `pages[0]` in its document (chunks point at pages by position).
    """
    chunks: list[Chunk] = []
    for index, page in enumerate(pages, start=first):
        current = ""
        for piece in _pieces(page.text, max_chars):
            if current and weighted_size(current) + weighted_size(piece) + 1 > max_chars:
                chunks.append(Chunk(index, current))
                current = ""
            current = f"{current}\n{piece}" if current else piece
        if current.strip():
            chunks.append(Chunk(index, current))
    return chunks


def _pieces(text: str, max_chars: int):
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if weighted_size(paragraph) <= max_chars:
            yield paragraph
            continue
        part = ""
        for sentence in sentences(paragraph):
            limit = max_chars // 3 if _WIDE.search(sentence) else max_chars
            while weighted_size(sentence) > max_chars:  # no sentence end in sight: cut it
                if part:
                    yield part
                    part = ""
                cut = _cut_point(sentence, limit)
                yield sentence[:cut].rstrip()
                sentence = sentence[cut:].lstrip()
            if part and weighted_size(part) + weighted_size(sentence) + 1 > max_chars:
                yield part
                part = ""
            part = f"{part} {sentence}" if part else sentence
        if part:
            yield part


def sentences(text: str) -> list[str]:
    """`text` cut at its sentence ends (see `_SENTENCE_END`), not after an abbreviation such as "Dr.";
    the pieces joined with single spaces give `text` back apart from white space."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if pieces and _ABBREVIATION.search(pieces[-1]):
            pieces[-1] = f"{pieces[-1]} {piece}"
        elif piece:
            pieces.append(piece)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    """Where to cut a text with no sentence end before `limit`: the last white space, else the last place
    that is not inside a word or a number, else `limit` itself."""
    space = text.rfind(" ", limit // 2, limit + 1)
    if space > 0:
        return space
    for i in range(limit, limit // 2, -1):
        if not (text[i - 1].isalnum() and text[i].isalnum()) and text[i - 1] not in ".,":
            return i
    return limit
