"""Pages to passages small enough to rank and to send a few of, never crossing a page boundary."""

from __future__ import annotations

import re

from app.docs.document import Chunk, Page

CHUNK_CHARS = 1200  # weighted: a CJK character counts as three, since it carries about a token
_SENTENCE_END = re.compile(r"(?<=[.!?。！？;；])\s*")
_WIDE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _size(text: str) -> int:
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
            if current and _size(current) + _size(piece) + 1 > max_chars:
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
        if _size(paragraph) <= max_chars:
            yield paragraph
            continue
        part = ""
        for sentence in _SENTENCE_END.split(paragraph):
            cut = max_chars // 3 if _WIDE.search(sentence) else max_chars
            while _size(sentence) > max_chars:  # no sentence end in sight: cut it
                if part:
                    yield part
                    part = ""
                yield sentence[:cut]
                sentence = sentence[cut:]
            if part and _size(part) + _size(sentence) + 1 > max_chars:
                yield part
                part = ""
            part = f"{part} {sentence}" if part else sentence
        if part:
            yield part
