"""Uploaded images made safe and model-sized: formats checked, EXIF orientation applied, bombs refused.

`prepare_image` turns an upload (PNG, JPEG, WebP, BMP, TIFF, GIF) into an image `Attachment` no larger
than the model takes; `render_pdf_page` does the same for one page of a PDF; `thumbnail` makes the small
preview the conversation shows, whatever the image's shape.
"""

from __future__ import annotations

import math
from io import BytesIO

from PIL import Image, ImageOps

from app.docs import isolate
from app.docs.errors import DocumentError
from app.docs.limits import max_upload_mb
from app.docs.raster import ACCEPTED_FORMATS, ImageError, flatten
from models.messages import Attachment

DEFAULT_MAX_PIXELS = 2048 * 2048
THUMBNAIL_BOX = 160
THUMBNAIL_MIN_SIDE = 24


def _check_upload_size(data: bytes, name: str) -> None:
    limit = max_upload_mb()
    if len(data) > limit * 2**20:
        size = math.ceil(len(data) * 10 / 2**20) / 10
        raise ImageError(
            f"{name} is {size} MB, over the {limit} MB upload limit (GLM_MAX_UPLOAD_MB).",
            "image.upload_size",
            {"name": name, "size": size, "limit": limit},
        )


def _image_error(exc: DocumentError) -> ImageError:
    """The worker's sentence as it is when it names the file, else prefixed with the file's name."""
    reason = exc.reason
    return ImageError(
        reason if reason.startswith(exc.filename) else f"{exc.filename}: {reason}", exc.key, exc.values
    )


def prepare_image(
    data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS, owner: str | None = None
) -> Attachment:
    """Validate and normalise an uploaded image; raises `ImageError` with a message for the user.

    Decoding happens in the document parser's sandboxed worker, under its memory and time limits
    (`GLM_DOC_PARSE_MEMORY_MB`, `GLM_DOC_PARSE_TIMEOUT`), never in the app: see `app.docs.raster`
    for what is checked and how transparency and wide greyscale are handled. `owner` (a
    conversation) keeps the worker for that conversation's next file, as for documents.
    """
    _check_upload_size(data, name)
    try:
        png, mime = isolate.prepare_image(data, name, max_pixels, owner)
    except DocumentError as exc:
        raise _image_error(exc) from exc
    return Attachment(kind="image", name=name, mime=mime, data=png)


def thumbnail(data: bytes) -> bytes | None:
    """A PNG preview fitted to a 160-pixel square and padded to at least 24 pixels on its short side,
    so a thin strip still shows; None when `data` isn't a readable image."""
    try:
        with Image.open(BytesIO(data), formats=ACCEPTED_FORMATS) as source:
            image = flatten(source).convert("RGB")
    except Exception:  # any unreadable preview is simply not shown
        return None
    scale = min(THUMBNAIL_BOX / image.width, THUMBNAIL_BOX / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    if min(size) < THUMBNAIL_MIN_SIDE:
        padded = (max(size[0], THUMBNAIL_MIN_SIDE), max(size[1], THUMBNAIL_MIN_SIDE))
        image = ImageOps.pad(image, padded, color=(255, 255, 255))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdf_page_count(data: bytes, name: str = "document.pdf") -> int:
    """How many pages the PDF has; PyMuPDF reads it in the isolated parser process, never in the app."""
    _check_upload_size(data, name)
    try:
        return isolate.pdf_page_count(data, name)
    except DocumentError as exc:
        raise _image_error(exc) from exc


def render_pdf_page(
    data: bytes, page_number: int, name: str = "document.pdf", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Attachment:
    """Page `page_number` (1-based) of a PDF as a PNG attachment of at most `max_pixels` pixels,
    rendered in the isolated parser process (time and memory limits, no network, no data folder)."""
    _check_upload_size(data, name)
    try:
        png = isolate.render_pdf_page(data, page_number, name, max(max_pixels, isolate.MIN_RENDER_PIXELS))
    except DocumentError as exc:
        raise _image_error(exc) from exc
    stem = name.rsplit(".", 1)[0]
    return prepare_image(png, f"{stem} p{page_number}.png", max_pixels)
