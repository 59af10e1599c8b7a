"""Uploaded images and PDF pages become safe, upright, model-sized image attachments."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pymupdf
import pytest
from PIL import Image

from app.images import MAX_SOURCE_PIXELS, ImageError, pdf_page_count, prepare_image, render_pdf_page

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


def test_oversized_files_are_refused() -> None:
    with pytest.raises(ImageError, match="MB"):
        prepare_image(b"\0" * (41 * 1024 * 1024), "big.bmp")


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


def test_pdf_errors_are_clear(pdf_bytes: bytes) -> None:
    with pytest.raises(ImageError, match="has 2 pages; page 3"):
        render_pdf_page(pdf_bytes, 3, "report.pdf")
    with pytest.raises(ImageError, match="not a readable PDF"):
        render_pdf_page(b"%PDF-1.7 nonsense", 1, "broken.pdf")
    document = pymupdf.open(stream=pdf_bytes, filetype="pdf")
    locked = document.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    with pytest.raises(ImageError, match="password"):
        pdf_page_count(locked, "locked.pdf")
