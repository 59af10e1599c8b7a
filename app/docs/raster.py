"""Untrusted image bytes to a model-sized 8-bit RGB image. Runs in the parser's worker process (with
its memory and CPU limits, under its sandbox); the app calls `app.images.prepare_image`.

Pillow is asked to open only the accepted formats (a DDS renamed to .png is refused as unknown, not
half-decoded), the pixel count is checked before decoding, 16-bit, 32-bit and float images are scaled
to 8 bits a band of rows at a time, large images are shrunk with Pillow's reducing gap (box-reduced
first, then Lanczos), and any failure of the decoder becomes a sentence naming the file.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from io import BytesIO

from app.docs.limits import MAX_ASPECT_RATIO

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
MAX_SOURCE_PIXELS = 50_000_000
WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
ROWS_PER_BAND = 256
LIGHT_CONTENT = 170  # mean luminance above which transparent content goes on a dark background
DARK_BACKGROUND = (40, 40, 40)
WHITE = (255, 255, 255)


MESSAGES = {  # English; the UI shows them in the session's language (`app/ui/i18n.py`, same keys)
    "image.no_area": "{name} has no area ({width}×{height}) and can't be shown to the model.",
    "image.strip": (
        "{name} is {width}×{height}, a {ratio}:1 strip; the model reads images up to {limit}:1. "
        "Crop it into shorter pieces."
    ),
    "image.damaged": "{name} is damaged or truncated and can't be read.",
    "image.undecodable": (
        "{name} is a {format} image Pillow can't decode (an unusual variant or a damaged file); "
        "save it again as an ordinary PNG or JPEG and upload that."
    ),
    "image.bomb": "{name} declares an enormous size and was refused as a decompression bomb.",
    "image.megapixels": (
        "{name} is {width}×{height} pixels, more than the {limit} megapixel limit "
        "(such files can be decompression bombs)."
    ),
    "image.other_format": "{name} is a {format} image; use PNG, JPEG, WebP, BMP, TIFF or GIF.",
    "image.not_image": "{name} is not an image we can read (PNG, JPEG, WebP, BMP, TIFF or GIF).",
}


class ImageError(ValueError):
    """A file that can't be used as an image; the message is meant for the user. `key` and `values`
    name the catalogue entry that says it in the session's language."""

    def __init__(self, message: str, key: str | None = None, values: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.values = values or {}


def refuse(key: str, **values: object) -> ImageError:
    return ImageError(MESSAGES[key].format(**values), key, values)


@dataclass(frozen=True)
class Prepared:
    data: bytes
    mime: str


def check_shape(width: float, height: float, name: str) -> None:
    if min(width, height) <= 0:
        raise refuse("image.no_area", name=name, width=f"{width:.0f}", height=f"{height:.0f}")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise refuse(
            "image.strip",
            name=name,
            width=f"{width:.0f}",
            height=f"{height:.0f}",
            ratio=f"{ratio:.0f}",
            limit=MAX_ASPECT_RATIO,
        )


def scaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def prepare(data: bytes, name: str, max_pixels: int) -> Prepared:
    """Validate and normalise an image; `ImageError` with a sentence for the user on any failure.

    The result is upright (EXIF orientation applied), 8-bit RGB with transparency composited so the
    content stays visible, the first frame of an animation, at most `max_pixels` pixels and no
    narrower than 1:150. JPEG stays JPEG, the rest become PNG.
    """
    from PIL import Image, ImageOps

    image = _open(data, name)
    source_format = image.format
    try:
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        image.load()
        image = flatten(image)
        size = scaled_size(*image.size, max_pixels)
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        image = image.convert("RGB")
        out = BytesIO()
        if source_format == "JPEG":
            image.save(out, "JPEG", quality=92)
            return Prepared(out.getvalue(), "image/jpeg")
        image.save(out, "PNG")
        return Prepared(out.getvalue(), "image/png")
    except MemoryError:
        raise
    except (OSError, SyntaxError, EOFError) as exc:
        raise refuse("image.damaged", name=name) from exc
    except Exception as exc:  # Pillow's decoders raise many kinds on odd files (ValueError, struct.error…)
        raise refuse("image.undecodable", name=name, format=source_format) from exc


def _open(data: bytes, name: str):
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise refuse("image.bomb", name=name) from exc
    except Exception as exc:  # UnidentifiedImageError, and whatever a header parser raises
        raise _unknown(data, name) from exc
    width, height = image.size
    if width * height > MAX_SOURCE_PIXELS:
        raise refuse(
            "image.megapixels", name=name, width=width, height=height, limit=MAX_SOURCE_PIXELS // 1_000_000
        )
    check_shape(width, height, name)
    return image


def _unknown(data: bytes, name: str) -> ImageError:
    """Why an unopenable file is refused, naming its real format when Pillow recognises it."""
    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as other:
            found = other.format
    except Exception:  # only naming the format: any failure means "unknown"
        found = None
    if found:
        return refuse("image.other_format", name=name, format=found)
    return refuse("image.not_image", name=name)


def _full_scale(mode: str, peak: float) -> float:
    """The value that means white: the full range for 16-bit images; for 32-bit and float ones the
    smallest usual range (0-1 for floats, 8-bit, 16-bit) that holds their brightest pixel."""
    if mode.startswith("I;16"):
        return 65535.0
    usual = (1.0, 255.0, 65535.0) if mode == "F" else (255.0, 65535.0)
    return next((scale for scale in usual if peak <= scale), peak)


def eight_bit(image):
    """16-bit, 32-bit and float greyscale as 8-bit greyscale (`convert` clips instead of scaling: a
    mid-grey 16-bit PNG would turn white, a 0.5 float TIFF black). Bands of rows keep the working
    memory small: a 49-megapixel 16-bit PNG needs its own 98 MB and a 49 MB result, not a float copy."""
    import numpy as np
    from PIL import Image

    width, height = image.size

    def bands():
        for top in range(0, height, ROWS_PER_BAND):
            band = np.asarray(image.crop((0, top, width, min(height, top + ROWS_PER_BAND))))
            yield top, np.nan_to_num(band.astype(np.float32)) if band.dtype.kind == "f" else band

    peak = max((float(band.max(initial=0)) for _, band in bands()), default=0.0)
    factor = 255.0 / _full_scale(image.mode, peak)
    out = np.empty((height, width), dtype=np.uint8)
    for top, band in bands():
        out[top : top + band.shape[0]] = np.clip(band.astype(np.float32) * factor, 0, 255).round()
    return Image.fromarray(out, "L")


def flatten(image):
    """RGB (L for wide greyscale); transparency (an alpha band, a palette entry or a transparent
    colour) composited over a background chosen so the content stays visible: white, or dark grey
    behind light content (white text on a transparent background would otherwise vanish)."""
    from PIL import Image

    if image.mode in WIDE_MODES:
        return eight_bit(image)  # greyscale: made RGB after resizing, at a fraction of the size
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        background = Image.new("RGB", rgba.size, _background(rgba, alpha))
        background.paste(rgba.convert("RGB"), mask=alpha)
        return background
    return image.convert("RGB")


def _background(rgba, alpha) -> tuple[int, int, int]:
    """White, unless the visible (mostly opaque) content is light on average."""
    from PIL import ImageStat

    small = rgba.reduce(max(1, max(rgba.size) // 256)) if max(rgba.size) > 256 else rgba
    visible = small.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
    stat = ImageStat.Stat(small.convert("L"), mask=visible)
    if not stat.count[0]:
        return WHITE
    return DARK_BACKGROUND if stat.mean[0] > LIGHT_CONTENT else WHITE
