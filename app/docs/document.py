"""What a parsed file is: pages (or slides, or sections), cut into chunks for retrieval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """One citable unit. `label` is how an answer names it: "p. 12", "slide 3", "lines 1-120"."""

    number: int
    label: str
    text: str


@dataclass(frozen=True)
class Chunk:
    """A passage of one page; `page` is the page's position in `Document.pages` (0-based)."""

    page: int
    text: str


@dataclass(frozen=True)
class Document:
    """A parsed and indexed file. `terms` holds each chunk's search terms, in chunk order."""

    name: str
    sha256: str
    kind: str
    pages: tuple[Page, ...]
    chunks: tuple[Chunk, ...]
    terms: tuple[tuple[str, ...], ...]

    @property
    def text_chars(self) -> int:
        return sum(len(p.text) for p in self.pages)
