"""Why a file was refused, in both languages: each keyed message the parser or the image checks raise
has a catalogue entry whose English is exactly the raised text and whose Chinese has the same
placeholders (so the UI can say it in the session's language)."""

from __future__ import annotations

import string
import zipfile
from io import BytesIO

import pytest
from lxml import etree
from PIL import Image

from app.docs.errors import DocumentError
from app.docs.failures import explain
from app.docs.parse import parse_bytes
from app.docs.raster import MESSAGES, ImageError, prepare
from app.images import prepare_image
from app.ui.i18n import CATALOGUE


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = BytesIO()
    image.save(out, fmt)
    return out.getvalue()


_NOISE = _encoded(Image.effect_noise((120, 120), 60).convert("RGB"), "PNG")
TRUNCATED_PNG = _NOISE[: len(_NOISE) // 2]
DDS = _encoded(Image.new("RGBA", (8, 8)), "DDS")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def english(error: DocumentError | ImageError) -> str:
    return CATALOGUE[error.key][0].format(**error.values)


@pytest.mark.parametrize("key", sorted(k for k in CATALOGUE if k.startswith(("file.", "image."))))
def test_both_languages_have_the_same_placeholders(key: str) -> None:
    en, zh = CATALOGUE[key]
    assert fields(en) == fields(zh)


def test_the_image_messages_are_the_catalogues() -> None:
    for key, text in MESSAGES.items():
        assert CATALOGUE[key][0] == text, key


def explained() -> list[DocumentError]:
    xml = etree.XMLSyntaxError("bad", None, 1, 1, "x")
    return [
        explain("a.pdf", RuntimeError("cycle in page tree"), "pdf"),
        explain("a.docx", xml, "docx"),
        explain("a.docx", zipfile.BadZipFile("cut"), "docx"),
        explain("a.pptx", KeyError("ppt/slides/slide9.xml"), "pptx"),
        explain("a.docx", ValueError("odd"), "docx"),
        explain("a.docx", MemoryError(), "docx", 512),
    ]


@pytest.mark.parametrize("error", explained(), ids=lambda e: e.key)
def test_each_explained_failure_is_the_catalogues_english(error: DocumentError) -> None:
    assert english(error) == str(error)
    assert "Error" not in str(error)


def test_other_formats_and_passwords_are_the_catalogues_english() -> None:
    with pytest.raises(DocumentError) as other:
        parse_bytes("notes.odt", b"PK\x03\x04")
    assert other.value.key == "file.other_format" and english(other.value) == str(other.value)


@pytest.mark.parametrize(
    ("data", "name", "key"),
    [
        (b"not an image", "notes.txt", "image.not_image"),
        (TRUNCATED_PNG, "cut.png", "image.damaged"),
        (DDS, "texture.png", "image.other_format"),
    ],
)
def test_image_refusals_carry_their_key(data: bytes, name: str, key: str) -> None:
    with pytest.raises(ImageError) as caught:
        prepare(data, name, 1024)
    assert caught.value.key == key
    assert CATALOGUE[caught.value.key][0].format(**caught.value.values) == str(caught.value)


def test_an_image_refused_in_the_worker_keeps_its_key() -> None:
    with pytest.raises(ImageError) as caught:
        prepare_image(b"just text", "notes.txt")
    assert caught.value.key == "image.not_image"
    assert (
        CATALOGUE["image.not_image"][1].format(**caught.value.values)
        == "notes.txt 不是可读取的图像（支持 PNG、JPEG、WebP、BMP、TIFF 或 GIF）。"
    )
