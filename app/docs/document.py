"""What a parsed file is: pages (or slides, or sections), cut into chunks for retrieval."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser's child process builds pages without loading numpy
    from app.docs.tokens import Terms


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


@dataclass(frozen=True, eq=False)
class Document:
    """A parsed and indexed file; `terms` holds each chunk's search terms, in chunk order.

    `name` is how the conversation shows it (distinct within the conversation); `sha256` is its content.
    """

    name: str
    sha256: str
    kind: str
    pages: tuple[Page, ...]
    chunks: tuple[Chunk, ...]
    terms: Terms

    @property
    def text_chars(self) -> int:
        return sum(len(p.text) for p in self.pages)

    @property
    def nbytes(self) -> int:
        """Roughly what it takes in memory: the text twice (pages and chunks) and the term ids."""
        texts = sum(sys.getsizeof(p.text) + 100 for p in self.pages)
        texts += sum(sys.getsizeof(c.text) + 100 for c in self.chunks)
        return texts + self.terms.nbytes
