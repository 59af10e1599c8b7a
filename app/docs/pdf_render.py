"""PDF pages as PNG images, for the vision model. The parser's child process (`worker`) runs these, since they
trust PyMuPDF with untrusted bytes; the app calls `isolate.pdf_page_count` and `isolate.render_pdf_page`."""

from __future__ import annotations

import math

from app.docs.errors import DocumentError, UnsafeDocument, UnsupportedDocument
from app.docs.limits import MAX_ASPECT_RATIO
from app.docs.parse import open_pdf

DPI = 144


def count_pages(name: str, data: bytes) -> int:
    with open_pdf(name, data) as doc:
        return doc.page_count


def render_page(name: str, data: bytes, page: int, max_pixels: int) -> bytes:
    """Page `page` (1-based) as PNG at up to 144 DPI, scaled down so width × height <= `max_pixels`."""
    import pymupdf

    with open_pdf(name, data) as doc:
        if not 1 <= page <= doc.page_count:
            raise DocumentError(name, f"the PDF has {doc.page_count} pages; there is no page {page}")
        sheet = doc[page - 1]
        width, height = sheet.rect.width, sheet.rect.height
        if min(width, height) <= 0:
            raise UnsupportedDocument(name, f"page {page} has no area (the file may be damaged)")
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise UnsafeDocument(
                name,
                f"page {page} is {width:.0f} × {height:.0f} points, a shape beyond {MAX_ASPECT_RATIO}:1 "
                "that can't be shown legibly",
            )
        zoom = min(DPI / 72, math.sqrt(max_pixels / (width * height)))
        try:
            while True:  # MuPDF rounds the pixel box outwards: shrink until it fits
                pixmap = sheet.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
                if pixmap.width * pixmap.height <= max_pixels:
                    return pixmap.tobytes("png")
                zoom *= 0.995
        except (RuntimeError, pymupdf.mupdf.FzErrorBase) as exc:  # e.g. MuPDF's "Overly large image"
            raise UnsupportedDocument(name, f"page {page} can't be rendered ({exc})") from exc
