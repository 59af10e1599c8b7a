"""Uploaded images made safe and model-sized: formats checked, EXIF orientation applied, bombs refused.

`prepare_image` turns an upload (PNG, JPEG, WebP, BMP, TIFF, GIF) into an image `Attachment` no larger
than the model takes; `render_pdf_page` does the same for one page of a PDF.
"""

from __future__ import annotations

import math
import warnings
from io import BytesIO

import pymupdf
from PIL import Image, ImageOps

from models.messages import Attachment

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"}
MAX_FILE_BYTES = 40 * 1024 * 1024
MAX_SOURCE_PIXELS = 50_000_000
DEFAULT_MAX_PIXELS = 2048 * 2048
PDF_DPI = 144


class ImageError(ValueError):
    """A file that can't be used as an image; the message is meant for the user."""


def _scaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white (models read RGB; black behind alpha misleads them)."""
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _open(data: bytes, name: str) -> Image.Image:
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.0f} MB; images up to {MAX_FILE_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{name} declares an enormous size and was refused as a decompression bomb."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ImageError(f"{name} is not an image we can read (PNG, JPEG, WebP, BMP, TIFF or GIF).") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(f"{name} is a {image.format} image; use PNG, JPEG, WebP, BMP, TIFF or GIF.")
    width, height = image.size
    if width * height > MAX_SOURCE_PIXELS:
        raise ImageError(
            f"{name} is {width}×{height} pixels, more than the {MAX_SOURCE_PIXELS // 1_000_000} megapixel "
            "limit (such files can be decompression bombs)."
        )
    return image


def prepare_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Attachment:
    """Validate and normalise an uploaded image; raises `ImageError` with a message for the user.

    The result is upright (EXIF orientation applied), RGB, the first frame of an animation, and at most
    `max_pixels` pixels (scaled down keeping the aspect ratio). JPEG uploads stay JPEG, the rest become PNG.
    """
    image = _open(data, name)
    source_format = image.format
    try:
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        image.load()
        image = _flatten(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name} is damaged or truncated and can't be read.") from exc
    size = _scaled_size(*image.size, max_pixels)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = BytesIO()
    if source_format == "JPEG":
        image.save(out, "JPEG", quality=92)
        mime = "image/jpeg"
    else:
        image.save(out, "PNG")
        mime = "image/png"
    return Attachment(kind="image", name=name, mime=mime, data=out.getvalue())


def _open_pdf(data: bytes, name: str) -> pymupdf.Document:
    try:
        document = pymupdf.open(stream=data, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise ImageError(f"{name} is not a readable PDF.") from exc
    if document.needs_pass:
        document.close()
        raise ImageError(f"{name} is password-protected.")
    return document


def pdf_page_count(data: bytes, name: str = "document.pdf") -> int:
    with _open_pdf(data, name) as document:
        return document.page_count


def render_pdf_page(
    data: bytes, page_number: int, name: str = "document.pdf", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Attachment:
    """Page `page_number` (1-based) of a PDF as a PNG attachment of at most `max_pixels` pixels."""
    with _open_pdf(data, name) as document:
        if not 1 <= page_number <= document.page_count:
            raise ImageError(f"{name} has {document.page_count} pages; page {page_number} doesn't exist.")
        page = document[page_number - 1]
        zoom = PDF_DPI / 72
        width, height = page.rect.width * zoom, page.rect.height * zoom
        if width * height > max_pixels:
            zoom *= math.sqrt(max_pixels / (width * height))
        pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        png = pixmap.tobytes("png")
    stem = name.rsplit(".", 1)[0]
    return Attachment(kind="image", name=f"{stem} p{page_number}.png", mime="image/png", data=png)
