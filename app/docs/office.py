"""DOCX and PPTX to pages, reading the XML the way Word, PowerPoint and LibreOffice write it.

A DOCX's pages are where its producer said they are: page breaks Word drew when it last laid the
document out (`w:lastRenderedPageBreak`, anywhere in a paragraph, often as its first item), page
breaks the author put in (`w:br w:type="page"`, `w:pageBreakBefore`), and section breaks that start a
new page. One break is often written twice (Word puts a rendered break right after the author's), so
breaks with no text between them count once. Body content inside content controls (`w:sdt`) and
custom XML is read; text boxes are read once (their drawing and VML fallback copies hold the same
text), after the paragraph that anchors them; deleted revisions are left out. Headers and footers of
every section go on the first page.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from app.docs.document import Page
from app.docs.errors import DocumentError
from app.docs.failures import explain, out_of_memory

Progress = Callable[[int, int], None]

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_SKIPPED = {W + "pPr", W + "rPr", W + "del", W + "moveFrom", W + "instrText", W + "delText", _MC_FALLBACK}
_NEW_PAGE_SECTIONS = {"nextPage", "oddPage", "evenPage"}
_HEADER_PARTS = (
    "header",
    "first_page_header",
    "even_page_header",
    "footer",
    "first_page_footer",
    "even_page_footer",
)


class _Pages:
    """Text blocks collected page by page as the document is walked."""

    def __init__(self) -> None:
        self.pages: list[list[str]] = [[]]
        self.line: list[str] = []
        self.breaks = 0

    def text(self, value: str) -> None:
        self.line.append(value)

    def end_block(self) -> None:
        if self.line:
            self.pages[-1].append("".join(self.line))
            self.line = []

    def block(self, value: str) -> None:
        self.end_block()
        self.pages[-1].append(value)

    def page_break(self) -> None:
        """Start a new page, unless nothing but blanks came since the last one (the same break again)."""
        self.end_block()
        if any(t.strip() for t in self.pages[-1]):
            self.pages.append([])
            self.breaks += 1


def docx_pages(name: str, data: bytes, report: Progress) -> list[Page]:
    """The DOCX's pages ("p. N"), or parts of a bounded size when it records no page breaks."""
    import docx

    from app.docs.parse import sections

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on bad XML or missing parts
        raise unreadable(name, "DOCX", exc) from exc
    out = _Pages()
    blocks = _body_blocks(document.element.body)
    starts_page = _next_section_starts_page(document.element.body, blocks)
    for i, element in enumerate(blocks, start=1):
        if element.tag == W + "p":
            _paragraph(element, out, starts_page)
        else:
            out.block(_table_text(element))
        if i % 200 == 0 or i == len(blocks):
            report(i, len(blocks))
    out.end_block()
    margins = _header_texts(document)
    if margins:
        out.pages[0].insert(0, "\n".join(margins))
    if not out.breaks:  # no page breaks recorded (a file never laid out by Word): bounded parts instead
        return sections("\n".join(t for t in out.pages[0] if t).splitlines(), "part")
    return [Page(n, f"p. {n}", "\n".join(t for t in page if t)) for n, page in enumerate(out.pages, start=1)]


def unreadable(name: str, what: str, exc: Exception) -> DocumentError:
    """The error for an Office file its library couldn't open, in words (not an exception's name).
    Running out of memory is raised as `MemoryError`, for the worker to name its limit."""
    if out_of_memory(exc):
        raise MemoryError from exc
    return explain(name, exc, what.lower())


def _body_blocks(body) -> list:
    """Paragraphs and tables of the body in order, looking inside content controls and custom XML."""
    found = []
    for child in body:
        if child.tag in (W + "p", W + "tbl"):
            found.append(child)
        elif child.tag == W + "sdt":
            content = child.find(W + "sdtContent")
            if content is not None:
                found.extend(_body_blocks(content))
        elif child.tag == W + "customXml":
            found.extend(_body_blocks(child))
    return found


def _paragraph(p, out: _Pages, starts_page: dict) -> None:
    props = p.find(W + "pPr")
    if props is not None and _on(props.find(W + "pageBreakBefore")):
        out.page_break()
    boxes: list = []
    _runs(p, out, boxes)
    out.end_block()
    for box in boxes:
        for inner in box.iter(W + "p"):
            out.block(_plain(inner))
    section = props.find(W + "sectPr") if props is not None else None
    if section is not None and starts_page.get(section):
        out.page_break()


def _next_section_starts_page(body, blocks: list) -> dict:
    """For each section's end (a paragraph's `w:sectPr`), whether the section after it starts a new page.

    A `w:sectPr` describes the section it ends, and its `w:type` says how *that* section began, so the
    break after a section is the next section's type (the body's last `w:sectPr` for the final one);
    no type means a new page. LibreOffice marks a section that follows on the same page "continuous".
    """
    ends = [
        props.find(W + "sectPr")
        for p in blocks
        if p.tag == W + "p" and (props := p.find(W + "pPr")) is not None
    ]
    ends = [end for end in ends if end is not None]
    if not ends:
        return {}
    following = [*ends[1:], body.find(W + "sectPr")]
    starts: dict = {}
    for end, after in zip(ends, following, strict=True):
        kind = after.find(W + "type") if after is not None else None
        starts[end] = (kind.get(W + "val") if kind is not None else "nextPage") in _NEW_PAGE_SECTIONS
    return starts


def _runs(element, out: _Pages, boxes: list) -> None:
    for child in element:
        tag = child.tag
        if tag in _SKIPPED or not isinstance(tag, str):
            continue
        if tag == W + "t":
            out.text(child.text or "")
        elif tag == W + "tab":
            out.text("\t")
        elif tag == W + "br":
            kind = child.get(W + "type")
            if kind == "page":
                out.page_break()
            elif kind != "column":
                out.text("\n")
        elif tag == W + "cr":
            out.text("\n")
        elif tag == W + "noBreakHyphen":
            out.text("-")
        elif tag == W + "lastRenderedPageBreak":
            out.page_break()
        elif tag == W + "txbxContent":
            boxes.append(child)
        else:
            _runs(child, out, boxes)


def _plain(element) -> str:
    """The text of a paragraph or cell without page handling (text boxes, table cells, headers)."""
    parts: list[str] = []

    def walk(node) -> None:
        for child in node:
            tag = child.tag
            if tag in _SKIPPED or not isinstance(tag, str):
                continue
            if tag == W + "t":
                parts.append(child.text or "")
            elif tag in (W + "tab",):
                parts.append("\t")
            elif tag in (W + "br", W + "cr"):
                parts.append("\n" if child.get(W + "type") not in ("page", "column") else " ")
            elif tag == W + "p" and parts:
                parts.append("\n")
                walk(child)
            elif tag == W + "tbl":
                parts.append("\n" + _table_text(child) + "\n")
            else:
                walk(child)

    walk(element)
    return "".join(parts).strip()


def _table_text(table) -> str:
    """Rows as `cell | cell` lines; a merged cell appears once, nested tables inside their cell."""
    rows = []
    for row in table.iter(W + "tr"):
        if _nearest_table(row) is not table:
            continue
        cells = [cell for cell in row.iter(W + "tc") if _nearest_table(cell) is table]
        rows.append(" | ".join(" ".join(_plain(cell).split("\n")).strip() for cell in cells))
    return "\n".join(rows)


def _nearest_table(element):
    node = element.getparent()
    while node is not None and node.tag != W + "tbl":
        node = node.getparent()
    return node


def _on(flag) -> bool:
    """A Word on/off property: present and not switched off."""
    return flag is not None and flag.get(W + "val") not in ("0", "false", "off")


def _header_texts(document) -> list[str]:
    texts: list[str] = []
    for section in document.sections:
        for part in _HEADER_PARTS:
            margin = getattr(section, part)
            if margin.is_linked_to_previous:
                continue
            text = _plain(margin._element)
            if text:
                texts.append(text)
    return list(dict.fromkeys(texts))


P14 = "{http://schemas.microsoft.com/office/powerpoint/2010/main}"


def pptx_pages(name: str, data: bytes, report: Progress) -> Iterator[Page]:
    """One page per slide ("slide N"): its text boxes, groups, tables and notes, and its section's name."""
    import pptx

    try:
        deck = pptx.Presentation(io.BytesIO(data))
    except Exception as exc:  # python-pptx raises many kinds on bad XML or missing parts
        raise unreadable(name, "PPTX", exc) from exc
    section_of = _slide_sections(deck)
    slides = list(deck.slides)
    for n, slide in enumerate(slides, start=1):
        parts = [f"Section: {section_of[slide.slide_id]}"] if slide.slide_id in section_of else []
        parts += [t for shape in slide.shapes for t in _shape_texts(shape)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Notes: {notes}")
        yield Page(n, f"slide {n}", "\n".join(parts))
        report(n, len(slides))


def _slide_sections(deck) -> dict[int, str]:
    """Slide id → the name of the section PowerPoint (or LibreOffice) put it in."""
    found: dict[int, str] = {}
    for section in deck.part._element.iter(P14 + "section"):
        for slide in section.iter(P14 + "sldId"):
            found[int(slide.get("id"))] = section.get("name", "")
    return found


def _shape_texts(shape) -> Iterator[str]:
    if getattr(shape, "shapes", None) is not None:  # a group
        for inner in shape.shapes:
            yield from _shape_texts(inner)
    if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
        yield shape.text_frame.text
    if getattr(shape, "has_table", False):
        yield "\n".join(" | ".join(c.text.strip() for c in row.cells) for row in shape.table.rows)
