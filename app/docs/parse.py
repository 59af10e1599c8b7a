"""File bytes to citable pages, one reader per format. Run it through `isolate.parse_isolated`, not directly,
for files you don't trust: these readers are only as safe as the libraries under them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING

from app.docs.document import Page
from app.docs.encoding import decode
from app.docs.errors import EncryptedDocument, UnsafeDocument, UnsupportedDocument
from app.docs.limits import MAX_UNZIPPED_BYTES, MAX_ZIP_RATIO
from app.docs.office import docx_pages, pptx_pages

if TYPE_CHECKING:  # the readers import it themselves: importing this module never loads it
    import pymupdf

Progress = Callable[[int, int], None]

SECTION_CHARS = 4000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_CSV_SUFFIXES = {".csv", ".tsv"}
SUPPORTED = "PDF, DOCX, PPTX, HTML, CSV, Markdown, plain text and code files"
# Formats people upload that aren't read, with what to save them as instead.
_OTHER_FORMATS = {
    ".odt": ("ODT", "DOCX/PDF"),
    ".doc": ("DOC", "DOCX/PDF"),
    ".rtf": ("RTF", "DOCX/PDF"),
    ".pages": ("Pages", "DOCX/PDF"),
    ".odp": ("ODP", "PPTX/PDF"),
    ".ppt": ("PPT", "PPTX/PDF"),
    ".key": ("Keynote", "PPTX/PDF"),
    ".ods": ("ODS", "CSV"),
    ".xls": ("XLS", "CSV"),
    ".xlsx": ("XLSX", "CSV"),
}


def file_kind(name: str, data: bytes) -> str:
    suffix = PurePath(name).suffix.lower()
    if suffix == ".pdf" or data.startswith(b"%PDF"):
        return "pdf"
    if suffix in {".docx", ".pptx"}:
        return suffix[1:]
    if suffix in _HTML_SUFFIXES:
        return "html"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _OTHER_FORMATS:
        return "other"
    return "text"


def parse_bytes(name: str, data: bytes, progress: Progress | None = None) -> tuple[str, list[Page]]:
    """The file's kind and its pages; raises a `DocumentError` with a message for the user."""
    kind, pages = iter_pages(name, data, progress)
    found = list(pages)
    if not found:
        raise no_text(name, kind)
    return kind, found


def iter_pages(name: str, data: bytes, progress: Progress | None = None) -> tuple[str, Iterator[Page]]:
    """Like `parse_bytes`, but the pages (blank ones left out) come as they are read."""
    report = progress or (lambda done, total: None)
    kind = file_kind(name, data)
    readers = {
        "pdf": _pdf,
        "docx": _docx,
        "pptx": _pptx,
        "html": _html,
        "csv": _csv,
        "text": _text,
        "other": _other,
    }
    return kind, (p for p in readers[kind](name, data, report) if p.text.strip())


def no_text(name: str, kind: str) -> UnsupportedDocument:
    hint = " (a scanned PDF needs OCR, which isn't supported)" if kind == "pdf" else ""
    return UnsupportedDocument(name, f"no text found in the file{hint}")


def open_pdf(name: str, data: bytes) -> pymupdf.Document:
    """The PDF as a `pymupdf.Document` (close it), refusing damaged, encrypted and page-less files."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except RuntimeError as exc:
        raise UnsupportedDocument(name, "not a readable PDF (the file is damaged or not a PDF)") from exc
    if doc.needs_pass:
        doc.close()
        raise EncryptedDocument(
            name,
            "the PDF is password-protected; remove the password and upload it again",
            "file.pdf_password",
        )
    if doc.page_count == 0:
        doc.close()
        raise UnsupportedDocument(name, "the PDF has no readable pages (the file may be damaged)")
    return doc


def _pdf(name: str, data: bytes, report: Progress) -> Iterator[Page]:
    with open_pdf(name, data) as doc:
        total = doc.page_count
        step = max(1, total // 100)
        for i, page in enumerate(doc, start=1):
            yield Page(i, f"p. {i}", page.get_text())
            if i % step == 0 or i == total:
                report(i, total)


def check_zip(name: str, data: bytes, what: str) -> None:
    """Refuse an Office file that isn't a zip, or whose entries would expand far beyond its size."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        if data.startswith(_OLE_MAGIC):
            raise EncryptedDocument(
                name,
                f"the {what} is password-protected or in an old binary format; save it as a plain {what}",
            ) from exc
        raise UnsupportedDocument(name, f"not a valid {what} file (damaged or a different format)") from exc
    unzipped = sum(e.file_size for e in entries)
    bomb = any(
        e.file_size > 10 * 2**20 and e.file_size > MAX_ZIP_RATIO * max(e.compress_size, 1) for e in entries
    )
    if bomb or unzipped > MAX_UNZIPPED_BYTES:
        raise UnsafeDocument(
            name,
            f"refused: this {len(data) / 2**20:.1f} MiB {what} would expand to {unzipped / 2**20:,.0f} MiB "
            "(a compression bomb or a damaged file)",
        )


def _docx(name: str, data: bytes, report: Progress) -> list[Page]:
    check_zip(name, data, "DOCX")
    return docx_pages(name, data, report)


def _pptx(name: str, data: bytes, report: Progress) -> Iterator[Page]:
    check_zip(name, data, "PPTX")
    return pptx_pages(name, data, report)


def _other(name: str, data: bytes, report: Progress) -> list[Page]:
    label, instead = _OTHER_FORMATS[PurePath(name).suffix.lower()]
    raise UnsupportedDocument(
        name,
        f"{label} files aren't read here; save it as {instead} in the program that made it and upload that",
        "file.other_format",
        {"label": label, "instead": instead},
    )


def _decode(name: str, data: bytes) -> tuple[str, str]:
    """The text, and a note for the top of its first page when bytes had to be replaced (else "")."""
    decoded = decode(data)
    if decoded is None:
        raise UnsupportedDocument(name, f"this doesn't look like a text file; supported: {SUPPORTED}")
    note = ""
    if decoded.replaced:
        note = (
            f"[{decoded.replaced} byte sequence{'s' if decoded.replaced > 1 else ''} of this file "
            f"could not be read as {decoded.encoding} and show as \ufffd]"
        )
    return decoded.text, note


def _noted(pages: list[Page], note: str) -> list[Page]:
    if note and pages:
        first = pages[0]
        pages[0] = Page(first.number, first.label, f"{note}\n{first.text}")
    return pages


def _text(name: str, data: bytes, report: Progress) -> list[Page]:
    text, note = _decode(name, data)
    pages = _noted(sections(text.splitlines(), "lines"), note)
    report(len(pages), len(pages))
    return pages


def _csv(name: str, data: bytes, report: Progress) -> list[Page]:
    """Like text, with the header row repeated at the top of every section so each stands alone."""
    text, note = _decode(name, data)
    lines = text.splitlines()
    pages = _noted(sections(lines[1:], "lines", first_line=2, preamble=lines[0] if lines else ""), note)
    report(len(pages), len(pages))
    return pages


def _html(name: str, data: bytes, report: Progress) -> list[Page]:
    import lxml.html
    import trafilatura

    html, note = _decode(name, data)
    text = trafilatura.extract(html, include_tables=True, include_comments=False, favor_recall=True)
    if not text and html.strip():
        text = lxml.html.fromstring(html).text_content()
    pages = _noted(sections((text or "").splitlines(), "part"), note)
    report(len(pages), len(pages))
    return pages


def sections(lines: list[str], style: str, first_line: int = 1, preamble: str = "") -> list[Page]:
    """Group lines into pages of about SECTION_CHARS, labelled by line range ("lines 1-80") or "part N"."""
    pages: list[Page] = []
    start, current, size = first_line, [], 0
    for offset, line in enumerate(lines):
        current.append(line)
        size += len(line) + 1
        if size >= SECTION_CHARS or offset == len(lines) - 1:
            end = first_line + offset
            n = len(pages) + 1
            label = f"lines {start}-{end}" if style == "lines" else f"part {n}"
            body = "\n".join(current)
            pages.append(Page(n, label, f"{preamble}\n{body}" if preamble else body))
            start, current, size = end + 1, [], 0
    return pages
