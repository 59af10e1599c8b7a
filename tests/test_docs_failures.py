"""Files that fail say why in words and what to do, never an exception's name: a PDF whose page tree
is broken, a password, and a file too large or complex for the parser's memory limit."""

from __future__ import annotations

import io
import random
import re
import string
import zipfile

import docx
import pymupdf
import pytest

from app.docs.errors import DocumentError, EncryptedDocument, UnsafeDocument
from app.docs.isolate import parse_isolated

EXCEPTION_NAME = re.compile(r"\b(Fz\w+|[A-Z]\w*(Error|Exception))\b")


def three_page_pdf() -> bytes:
    doc = pymupdf.open()
    for n in range(3):
        doc.new_page().insert_text((72, 72), f"page {n}")
    return doc.tobytes(garbage=0, deflate=False)


def reason_of(name: str, data: bytes, **limits) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_isolated(name, data, **limits)
    assert not EXCEPTION_NAME.search(caught.value.reason), caught.value.reason
    return caught.value


def test_a_pdf_whose_page_tree_loops_says_so() -> None:
    data = three_page_pdf().replace(b"/Kids[4 0 R 8 0 R 11 0 R]", b"/Kids[2 0 R 2 0 R 2 0 R]")
    error = reason_of("loop.pdf", data)
    assert "page tree" in error.reason and "save it as a new PDF" in error.reason


def test_a_password_says_what_to_do() -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
    error = reason_of("locked.pdf", data)
    assert isinstance(error, EncryptedDocument)
    assert "password" in error.reason and "remove the password" in error.reason


def big_docx(paragraphs: int) -> bytes:
    """A real DOCX package whose body is `paragraphs` paragraphs of varied words (so it doesn't
    compress like a bomb)."""
    rng = random.Random(3)
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(5000)
    ]
    body = "".join(
        f"<w:p><w:r><w:t>{' '.join(rng.choices(words, k=60))}</w:t></w:r></w:p>" for _ in range(paragraphs)
    )
    out = io.BytesIO()
    docx.Document().save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + body.encode(), 1)
            target.writestr(item.filename, data)
    return result.getvalue()


def test_a_docx_too_big_for_the_memory_limit_says_so_not_xml_syntax() -> None:
    data = big_docx(60_000)
    error = reason_of("big.docx", data, memory_mb=250)
    assert isinstance(error, UnsafeDocument), error
    assert "too large or too complex to read within the parser's 250 MiB memory limit" in error.reason
    assert "GLM_DOC_PARSE_MEMORY_MB" in error.reason
