"""Uploaded images made safe and model-sized: formats checked, EXIF orientation applied, bombs refused.

`prepare_image` turns an upload (PNG, JPEG, WebP, BMP, TIFF, GIF) into an image `Attachment` no larger
than the model takes; `render_pdf_page` does the same for one page of a PDF; `thumbnail` makes the small
preview the conversation shows, whatever the image's shape.
"""

from __future__ import annotations

import math
import warnings
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps

from app.docs import isolate
from app.docs.errors import DocumentError
from app.docs.limits import MAX_ASPECT_RATIO, max_upload_mb
from models.messages import Attachment

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"}
MAX_SOURCE_PIXELS = 50_000_000
DEFAULT_MAX_PIXELS = 2048 * 2048
THUMBNAIL_BOX = 160
THUMBNAIL_MIN_SIDE = 24
WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class ImageError(ValueError):
    """A file that can't be used as an image; the message is meant for the user."""


def _check_upload_size(data: bytes, name: str) -> None:
    limit = max_upload_mb()
    if len(data) > limit * 2**20:
        size = math.ceil(len(data) * 10 / 2**20) / 10
        raise ImageError(f"{name} is {size} MB, over the {limit} MB upload limit (GLM_MAX_UPLOAD_MB).")


def _check_shape(width: float, height: float, name: str) -> None:
    if min(width, height) <= 0:
        raise ImageError(f"{name} has no area ({width:.0f}×{height:.0f}) and can't be shown to the model.")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise ImageError(
            f"{name} is {width:.0f}×{height:.0f}, a {ratio:.0f}:1 strip; the model reads images up to "
            f"{MAX_ASPECT_RATIO}:1. Crop it into shorter pieces."
        )


def _scaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _full_scale(mode: str, peak: float) -> float:
    """The value that means white: the full range for 16-bit images; for 32-bit and float ones the
    smallest usual range (0-1 for floats, 8-bit, 16-bit) that holds their brightest pixel."""
    if mode.startswith("I;16"):
        return 65535.0
    usual = (1.0, 255.0, 65535.0) if mode == "F" else (255.0, 65535.0)
    return next((scale for scale in usual if peak <= scale), peak)


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale as 8-bit greyscale (`convert` clips instead of scaling:
    a mid-grey 16-bit PNG would turn white, a 0.5 float TIFF black)."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    white = _full_scale(image.mode, float(values.max(initial=0.0)))
    return Image.fromarray(np.clip(values * (255.0 / white), 0, 255).round().astype(np.uint8), "L")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white (models read RGB; black behind alpha misleads them)."""
    if image.mode in WIDE_MODES:
        image = _eight_bit(image)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _open(data: bytes, name: str) -> Image.Image:
    _check_upload_size(data, name)
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
    _check_shape(width, height, name)
    return image


def prepare_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Attachment:
    """Validate and normalise an uploaded image; raises `ImageError` with a message for the user.

    The result is upright (EXIF orientation applied), 8-bit RGB, the first frame of an animation, at
    most `max_pixels` pixels (scaled down keeping the aspect ratio) and no narrower than 1:150.
    JPEG uploads stay JPEG, the rest become PNG.
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


def thumbnail(data: bytes) -> bytes | None:
    """A PNG preview fitted to a 160-pixel square and padded to at least 24 pixels on its short side,
    so a thin strip still shows; None when `data` isn't a readable image."""
    try:
        with Image.open(BytesIO(data)) as source:
            image = _flatten(source)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
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
        raise ImageError(str(exc)) from exc


def render_pdf_page(
    data: bytes, page_number: int, name: str = "document.pdf", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Attachment:
    """Page `page_number` (1-based) of a PDF as a PNG attachment of at most `max_pixels` pixels,
    rendered in the isolated parser process (time and memory limits, no network, no data folder)."""
    _check_upload_size(data, name)
    try:
        png = isolate.render_pdf_page(data, page_number, name, max(max_pixels, isolate.MIN_RENDER_PIXELS))
    except DocumentError as exc:
        raise ImageError(str(exc)) from exc
    stem = name.rsplit(".", 1)[0]
    return prepare_image(png, f"{stem} p{page_number}.png", max_pixels)
