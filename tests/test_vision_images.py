"""Uploaded images and PDF pages become safe, upright, model-sized image attachments."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import numpy as np
import pymupdf
import pytest
from PIL import Image

from app.docs.raster import MAX_SOURCE_PIXELS
from app.images import (
    ImageError,
    pdf_page_count,
    prepare_image,
    render_pdf_page,
    thumbnail,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    return Image.open(BytesIO(data))


def close_to(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


def png_claiming_size(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header declares `width`×`height` pixels."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/png"),
        ("BMP", "image/png"),
        ("TIFF", "image/png"),
        ("GIF", "image/png"),
    ],
)
def test_every_accepted_format_keeps_size_and_colour(fmt: str, mime: str) -> None:
    attachment = prepare_image(encode(Image.new("RGB", (120, 80), RED), fmt), f"red.{fmt.lower()}")
    assert attachment.kind == "image"
    assert attachment.mime == mime
    image = decode(attachment.data)
    assert image.size == (120, 80)
    assert image.mode == "RGB"
    assert close_to(image.getpixel((60, 40)), RED)


def test_large_images_shrink_to_the_model_input_keeping_the_aspect_ratio() -> None:
    attachment = prepare_image(
        encode(Image.new("RGB", (4000, 1000), BLUE), "PNG"), "wide.png", max_pixels=250_000
    )
    width, height = decode(attachment.data).size
    assert width * height <= 250_000
    assert width > 900
    assert abs(width / height - 4.0) < 0.02


def test_small_images_are_not_enlarged() -> None:
    attachment = prepare_image(
        encode(Image.new("RGB", (30, 20), BLUE), "PNG"), "small.png", max_pixels=250_000
    )
    assert decode(attachment.data).size == (30, 20)


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    attachment = prepare_image(encode(stored, "JPEG", exif=exif.tobytes(), quality=95), "phone.jpg")
    upright = decode(attachment.data)
    assert upright.size == (20, 40)
    assert close_to(upright.getpixel((10, 5)), RED, 20)
    assert close_to(upright.getpixel((10, 35)), BLUE, 20)


def test_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)]
    out = BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = decode(prepare_image(out.getvalue(), "anim.gif").data)
    assert close_to(image.getpixel((16, 16)), RED)


def test_transparency_is_laid_over_white() -> None:
    clear = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image = decode(prepare_image(encode(clear, "PNG"), "clear.png").data)
    assert image.getpixel((5, 5)) == (255, 255, 255)


def test_a_file_that_is_not_an_image_gets_a_clear_error() -> None:
    with pytest.raises(ImageError, match=r"notes\.txt is not an image we can read"):
        prepare_image(b"just some text, not pixels", "notes.txt")


def test_a_truncated_image_gets_a_clear_error() -> None:
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    with pytest.raises(ImageError, match=r"cut\.png is damaged or truncated"):
        prepare_image(data[: len(data) // 2], "cut.png")


def test_unsupported_image_formats_are_named() -> None:
    with pytest.raises(ImageError, match="ICO"):
        prepare_image(encode(Image.new("RGB", (16, 16), RED), "ICO"), "favicon.ico")


def test_decompression_bombs_are_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match="decompression bomb"):
        prepare_image(png_claiming_size(100_000, 100_000), "bomb.png")
    side = int(MAX_SOURCE_PIXELS**0.5) + 100
    with pytest.raises(ImageError, match="megapixel limit"):
        prepare_image(png_claiming_size(side, side), "huge.png")


def test_oversized_files_are_refused_at_the_upload_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "1")
    photo = encode(Image.effect_noise((800, 800), 80).convert("RGB"), "BMP")
    assert len(photo) > 2**20
    refused = r"big\.bmp is 1\.9 MB, over the 1 MB upload limit \(GLM_MAX_UPLOAD_MB\)"
    with pytest.raises(ImageError, match=refused):
        prepare_image(photo, "big.bmp")
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "3")
    assert decode(prepare_image(photo, "big.bmp").data).size == (800, 800)


@pytest.mark.parametrize(
    ("name", "image", "fmt"),
    [
        ("16-bit PNG", Image.fromarray(np.full((20, 30), 32768, dtype=np.uint16)), "PNG"),
        ("16-bit TIFF", Image.fromarray(np.full((20, 30), 32768, dtype=np.uint16)), "TIFF"),
        ("32-bit TIFF", Image.fromarray(np.full((20, 30), 32768, dtype=np.int32)), "TIFF"),
        ("float TIFF", Image.fromarray(np.full((20, 30), 0.5, dtype=np.float32)), "TIFF"),
    ],
)
def test_wide_greyscale_images_keep_their_brightness(name: str, image: Image.Image, fmt: str) -> None:
    data = encode(image, fmt)
    assert Image.open(BytesIO(data)).mode in {"I;16", "I", "F"}
    grey = decode(prepare_image(data, f"{name}.{fmt.lower()}").data)
    assert grey.mode == "RGB"
    assert close_to(grey.getpixel((15, 10)), (128, 128, 128), 1), name


def test_a_dark_16_bit_image_stays_dark_and_a_bright_float_one_bright() -> None:
    gradient = np.tile(np.linspace(0, 4096, 64, dtype=np.uint16), (8, 1))
    dark = decode(prepare_image(encode(Image.fromarray(gradient), "PNG"), "dark.png").data)
    assert dark.getpixel((63, 4))[0] == 16
    floats = np.full((8, 8), 200.0, dtype=np.float32)
    bright = decode(prepare_image(encode(Image.fromarray(floats), "TIFF"), "scaled.tiff").data)
    assert bright.getpixel((4, 4)) == (200, 200, 200)


@pytest.mark.parametrize("size", [(6000, 20), (20, 6000), (1510, 10)])
def test_extreme_aspect_ratios_are_refused_with_the_shape(size: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", size, BLUE), "PNG")
    ratio = max(size) // min(size)
    with pytest.raises(ImageError, match=rf"strip\.png is {size[0]}×{size[1]}, a {ratio}:1 strip.*150:1"):
        prepare_image(data, "strip.png")


def test_the_longest_accepted_strip_still_fits_the_glm4v_processor() -> None:
    from transformers import Glm4vImageProcessorPil

    from models.tiny import TEMPORAL_PATCH_SIZE, VISION_MAX_PIXELS

    strip = prepare_image(encode(Image.new("RGB", (7500, 50), RED), "PNG"), "strip.png", VISION_MAX_PIXELS)
    width, height = decode(strip.data).size
    assert width / height >= 140
    processor = Glm4vImageProcessorPil(
        size={"shortest_edge": 28 * 28 * 4, "longest_edge": VISION_MAX_PIXELS * TEMPORAL_PATCH_SIZE}
    )
    grid = processor(images=[decode(strip.data)], return_tensors="np")["image_grid_thw"]
    assert grid.tolist()[0][0] == 1


@pytest.mark.parametrize("size", [(3880, 12), (12, 3880), (160, 1), (10, 10), (1000, 700)])
def test_thumbnails_fit_160_pixels_and_never_vanish(size: tuple[int, int]) -> None:
    preview = decode(thumbnail(encode(Image.new("RGB", size, RED), "PNG")))
    assert max(preview.size) == 160
    assert min(preview.size) >= 24
    assert close_to(preview.getpixel((preview.width // 2, preview.height // 2)), RED, 10)


def test_a_thumbnail_of_something_unreadable_is_none() -> None:
    assert thumbnail(b"not an image") is None


@pytest.fixture
def pdf_bytes() -> bytes:
    document = pymupdf.open()
    first = document.new_page(width=595, height=842)
    first.draw_rect(pymupdf.Rect(0, 0, 595, 842), color=(1, 0, 0), fill=(1, 0, 0))
    second = document.new_page(width=595, height=842)
    second.insert_text((72, 72), "Page two")
    data = document.tobytes()
    document.close()
    return data


def test_a_pdf_page_renders_as_an_image(pdf_bytes: bytes) -> None:
    assert pdf_page_count(pdf_bytes) == 2
    attachment = render_pdf_page(pdf_bytes, 1, "report.pdf", max_pixels=300_000)
    assert attachment.name == "report p1.png"
    assert attachment.mime == "image/png"
    image = decode(attachment.data)
    assert image.width * image.height <= 300_000 * 1.01
    assert abs(image.width / image.height - 595 / 842) < 0.01
    assert close_to(image.getpixel((image.width // 2, image.height // 2)), RED)
    second = decode(render_pdf_page(pdf_bytes, 2, "report.pdf").data)
    assert second.getpixel((second.width // 2, second.height // 2)) == (255, 255, 255)


def test_pdf_pages_of_extreme_shape_are_refused() -> None:
    document = pymupdf.open()
    document.new_page(width=3000, height=10)
    data = document.tobytes()
    with pytest.raises(ImageError, match=r"strip\.pdf: page 1 is 3000 × 10 points, a shape beyond 150:1"):
        render_pdf_page(data, 1, "strip.pdf")


def test_mupdf_failures_while_rendering_are_clear_errors() -> None:
    document = pymupdf.open()
    document.new_page(width=14400, height=14400)
    with pytest.raises(ImageError, match=r"poster\.pdf: page 1 can't be rendered \(.*large"):
        render_pdf_page(document.tobytes(), 1, "poster.pdf", max_pixels=10**10)


def test_pdfs_over_the_upload_limit_are_refused_before_parsing(
    pdf_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "1")
    padded = pdf_bytes + b"%" + b"\0" * 2**20
    with pytest.raises(ImageError, match=r"report\.pdf is 1\.1 MB, over the 1 MB upload limit"):
        pdf_page_count(padded, "report.pdf")
    with pytest.raises(ImageError, match="over the 1 MB upload limit"):
        render_pdf_page(padded, 1, "report.pdf")
    assert pdf_page_count(pdf_bytes, "report.pdf") == 2


def test_pdf_errors_are_clear(pdf_bytes: bytes) -> None:
    with pytest.raises(ImageError, match="has 2 pages; there is no page 3"):
        render_pdf_page(pdf_bytes, 3, "report.pdf")
    with pytest.raises(ImageError, match="not a readable PDF"):
        render_pdf_page(b"%PDF-1.7 nonsense", 1, "broken.pdf")
    document = pymupdf.open(stream=pdf_bytes, filetype="pdf")
    locked = document.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    with pytest.raises(ImageError, match="password"):
        pdf_page_count(locked, "locked.pdf")


def dds(fourcc: bytes = b"") -> bytes:
    """A DDS file as Pillow writes it; with `fourcc`, one whose pixel format Pillow doesn't decode."""
    data = encode(Image.new("RGBA", (8, 8), (1, 2, 3, 4)), "DDS")
    if fourcc:
        data = data[:80] + struct.pack("<I", 0x4) + fourcc + data[88:]
    return data


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("texture.dds", dds(), r"texture\.dds is a DDS image; use PNG"),
        ("odd.dds", dds(b"ZZZZ"), r"odd\.dds is not an image we can read"),  # NotImplementedError in Pillow
        ("renamed.png", dds(b"ZZZZ"), r"renamed\.png is not an image we can read"),
        ("renamed2.png", dds(), r"renamed2\.png is a DDS image"),
    ],
)
def test_dds_files_are_refused_by_name_even_when_renamed(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        prepare_image(data, name)


def test_a_png_with_an_rgb_transparency_colour_is_composited() -> None:
    """Pillow's test image shape: an RGB PNG whose tRNS chunk names one transparent colour."""
    image = Image.new("RGB", (20, 10), (0, 255, 0))
    image.paste((0, 0, 0), (0, 0, 10, 10))
    data = encode(image, "PNG", transparency=(0, 255, 0))
    assert Image.open(BytesIO(data)).info["transparency"] == (0, 255, 0)
    out = decode(prepare_image(data, "trns.png").data)
    assert out.getpixel((15, 5)) == (255, 255, 255) and out.getpixel((5, 5)) == (0, 0, 0)


def test_white_content_on_a_transparent_background_stays_visible() -> None:
    logo = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    logo.paste((255, 255, 255, 255), (16, 16, 48, 48))
    out = decode(prepare_image(encode(logo, "PNG"), "white-logo.png").data)
    inside, outside = out.getpixel((32, 32)), out.getpixel((2, 2))
    assert inside == (255, 255, 255)
    assert sum(outside) < 3 * 100, "the background must contrast with white content"
    dark = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    dark.paste((0, 0, 0, 255), (16, 16, 48, 48))
    out = decode(prepare_image(encode(dark, "PNG"), "dark-logo.png").data)
    assert out.getpixel((2, 2)) == (255, 255, 255) and out.getpixel((32, 32)) == (0, 0, 0)


def test_a_49_megapixel_16_bit_png_is_decoded_in_the_worker_within_its_limits() -> None:
    """The 95 kB file of the issue (tests/fixtures/corpus/images/huge-16bit.png, made by
    tests/fixtures/corpus/make_corpus.py), decoded under the worker's default 2 GiB address-space limit."""
    from pathlib import Path

    data = (Path(__file__).parent / "fixtures" / "corpus" / "images" / "huge-16bit.png").read_bytes()
    with Image.open(BytesIO(data)) as probe:
        assert probe.mode == "I;16" and probe.width * probe.height >= 49_000_000
    out = decode(prepare_image(data, "huge-16bit.png", 1024 * 1024).data)
    assert out.width * out.height <= 1024 * 1024 and out.mode == "RGB"
    assert out.getpixel((out.width // 2, out.height // 2))[0] > 100  # the bright disc in the middle


def test_an_image_past_the_worker_memory_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    monkeypatch.setenv("GLM_DOC_PARSE_MEMORY_MB", "250")
    data = (Path(__file__).parent / "fixtures" / "corpus" / "images" / "huge-16bit.png").read_bytes()
    with pytest.raises(ImageError, match=r"huge-16bit\.png: .*too large .* 250 MiB memory limit"):
        prepare_image(data, "huge-16bit.png")
