"""An answer's document citations as links to the source viewer, live and on replay.

A link opens the Documents page on the same conversation (in a new tab: Streamlit opens every Markdown
link but `#anchors` there) with `source` (the file's content hash, shortened) and `page` (the page's
position, from 1) in the address; the page then shows that file at that page (`requested_source`).
Citations of files the conversation doesn't have stay text (`app.docs.citations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from urllib.parse import urlencode

from app.docs.citations import CitationFinder, find_citations
from app.docs.document import Document
from app.ui.i18n import t
from app.ui.render import plain

SOURCE_PARAM = "source"
PAGE_PARAM = "page"
SHA_CHARS = 16


def link_citations(
    text: str, documents: Mapping[str, Sequence[str]] | CitationFinder, href: Callable[[str, int], str]
) -> str:
    """`text` (Markdown) with each citation of `documents` (name -> page labels, or a finder made for
    them) made a link to `href(name, page index)`; the link's text is the citation as written."""
    finder = documents if isinstance(documents, CitationFinder) else CitationFinder.of(documents)
    out: list[str] = []
    at = 0
    for cited in finder.find(text):
        label = plain(text[cited.start : cited.end])
        out += [text[at : cited.start], f"[{label}]({href(cited.name, cited.index)})"]
        at = cited.end
    out.append(text[at:])
    return "".join(out)


def source_href(conversation_id: str, doc: Document, index: int) -> str:
    """The viewer's address for page `index` of `doc`, relative to the Documents page."""
    query = {"c": conversation_id, SOURCE_PARAM: doc.sha256[:SHA_CHARS], PAGE_PARAM: index + 1}
    return "?" + urlencode(query)


def citation_linker(conversation_id: str, docs: Sequence[Document]) -> Callable[[str], str]:
    """The function that links an answer's citations of `docs` (by their names in the conversation); a
    link's tooltip says it opens the page in a new tab."""
    by_name = {d.name: d for d in docs}
    finder = CitationFinder.of({d.name: [p.label for p in d.pages] for d in docs})

    title = t("docs.cite_opens")

    def href(name: str, index: int) -> str:
        return f'{source_href(conversation_id, by_name[name], index)} "{title}"'

    def linked(text: str) -> str:
        return link_citations(text, finder, href)

    return linked


def first_cited(text: str, docs: Iterable[Document]) -> dict[str, int]:
    """The first page `text` cites of each file of `docs` it cites (file name -> page index)."""
    labels = {d.name: [p.label for p in d.pages] for d in docs}
    first: dict[str, int] = {}
    for cited in find_citations(text, labels):
        first.setdefault(cited.name, cited.index)
    return first


def requested_source(
    docs: Sequence[Document], source: str | None, page: str | None
) -> tuple[Document, int] | None:
    """The file and page index an address asks the viewer for (`source`, `page` as `source_href` wrote
    them); None when they name no file of `docs`. A page out of range opens the file's first page."""
    if not source or len(source) < 8:
        return None
    doc = next((d for d in docs if d.sha256.startswith(source.lower())), None)
    if doc is None or not doc.pages:
        return None
    try:
        index = int(page or 1) - 1
    except ValueError:
        index = 0
    return doc, index if 0 <= index < len(doc.pages) else 0
