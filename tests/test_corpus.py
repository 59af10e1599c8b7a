"""The real-producer corpus (tests/fixtures/corpus, made by its make_corpus.py with LibreOffice,
Ghostscript, matplotlib and Pillow): every file parses, with the words its source had and the pages its
producer laid out, or is refused with a clear message (no exception names), in the sandboxed worker
within its default limits."""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from app.docs.errors import DocumentError
from app.docs.isolate import parse_isolated
from app.images import ImageError, prepare_image

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text("utf-8"))
DOCS = sorted(p.name for p in (CORPUS / "docs").iterdir())
IMAGES = sorted(p.name for p in (CORPUS / "images").iterdir())
PYTHON_NAMES = re.compile(r"\b[A-Z][a-z]+(Error|Exception)\b")


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_manifest_covers_every_file() -> None:
    assert set(MANIFEST) == set(DOCS) | set(IMAGES)


@pytest.mark.parametrize("name", DOCS)
def test_each_document_parses_or_is_refused_clearly(name: str) -> None:
    expect = MANIFEST[name]
    data = (CORPUS / "docs" / name).read_bytes()
    try:
        _, pages = parse_isolated(name, data, owner="corpus")
    except DocumentError as exc:
        refusal = expect.get("refused") or expect.get("text_or_refused")
        assert refusal, f"{name} should parse but was refused: {exc}"
        assert all(word in str(exc) for word in refusal), str(exc)
        assert not PYTHON_NAMES.search(exc.reason), f"the reason should be in words: {exc.reason}"
        return
    assert "refused" not in expect, f"{name} should have been refused"
    text = squeezed("\n".join(p.text for p in pages))
    for needle in expect.get("text", []):
        assert squeezed(needle) in text, f"{needle!r} missing from {name}"
    if expect.get("pages"):
        assert len(pages) == expect["pages"], [p.label for p in pages]


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_becomes_rgb_or_is_refused_clearly(name: str) -> None:
    expect = MANIFEST[name]
    data = (CORPUS / "images" / name).read_bytes()
    try:
        attachment = prepare_image(data, name, 1024 * 1024, owner="corpus")
    except ImageError as exc:
        assert "refused" in expect, f"{name} should be read but was refused: {exc}"
        assert all(word in str(exc) for word in expect["refused"]), str(exc)
        assert not PYTHON_NAMES.search(str(exc)), str(exc)
        return
    assert "refused" not in expect, f"{name} should have been refused"
    with Image.open(BytesIO(attachment.data)) as image:
        assert image.mode == "RGB"
        width, height = expect["image"]
        if width * height <= 1024 * 1024:
            assert image.size == (width, height)
        else:
            assert image.width * image.height <= 1024 * 1024
            assert abs(image.width / image.height - width / height) < 0.01
