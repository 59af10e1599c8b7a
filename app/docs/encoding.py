"""Bytes of unknown encoding to text.

In order: a BOM; BOM-less UTF-32 and UTF-16 (told apart by where their zero bytes fall, before
UTF-8, since ASCII in UTF-16 is valid UTF-8 full of NULs); UTF-8; the 7-bit ISO-2022 and HZ
encodings (told by their escape sequences); UTF-8 with a few broken bytes (decoded with replacement
characters, counted); then charset-normalizer's first answer, kept unless it fails to decode.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE = 1 << 16
# ESC sequences that designate a double-byte set: ISO-2022-JP's and -KR's (the CN variant has no codec)
_ISO2022 = (
    (re.compile(rb"\x1b\$\)C"), ("iso2022_kr",)),
    (
        re.compile(rb"\x1b(\$[@B]|\$\(D|\$\(O|\$\(Q|\(J|\(I|\$A|\.A|\.F)"),
        ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3"),
    ),
)
_HZ = re.compile(rb"~\{[\x21-\x7e]{2}")
# Accented letters of the languages whose text fits several Latin code pages (lower case).
ALPHABETS = {
    "Polish": "ąćęłńóśźż",
    "Czech": "áčďéěíňóřšťúůýž",
    "Slovak": "áäčďéíĺľňóôŕšťúýž",
    "Hungarian": "áéíóöőúüű",
    "Slovene": "čšž",
    "Croatian": "čćđšž",
    "Romanian": "ăâîșțşţ",
    "Lithuanian": "ąčęėįšųūž",
    "Estonian": "äõöüšž",
    "Turkish": "çğıöşüâî",
    "German": "äöüß",
    "French": "àâæçéèêëîïôœùûüÿ",
    "Spanish": "áéíñóúü",
    "Portuguese": "áâãàçéêíóôõú",
    "Italian": "àèéìíîòóùú",
    "Dutch": "éëïóöü",
    "Swedish": "åäöé",
    "Finnish": "åäö",
    "Danish": "æøåé",
    "Norwegian": "æøåé",
}
_LATIN_PAGES = (
    "cp1252",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1257",
    "iso8859_13",
    "cp1254",
    "iso8859_9",
    "iso8859_16",
)
# A file with one broken byte per this many well-formed multi-byte UTF-8 characters is still UTF-8.
UTF8_EVIDENCE = 4


@dataclass(frozen=True)
class Decoded:
    """Text, the encoding it was read as, and how many characters were replaced by U+FFFD."""

    text: str
    encoding: str
    replaced: int = 0


def decode(data: bytes) -> Decoded | None:
    """The bytes as text (see the module's order), or None for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _lenient(data, encoding)
    for encoding in _wide_unicode(data):
        try:
            return Decoded(data.decode(encoding), encoding)
        except UnicodeDecodeError:
            continue
    if (b"\x1b" in data or b"~{" in data) and data.isascii() and (found := _seven_bit(data)):
        return found
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:_SAMPLE]:
        return None
    if _mostly_utf8(data):
        return _lenient(data, "utf-8")
    best = from_bytes(data).best()
    if best is None:
        return None
    text = str(best)
    language = best.language
    if language in ALPHABETS and _foreign_letters(text, language):
        return _by_alphabet(data, language) or Decoded(text, best.encoding)
    return Decoded(text, best.encoding)


def _foreign_letters(text: str, language: str) -> int:
    """How many non-ASCII letters of `text` the language's alphabet doesn't have."""
    alphabet = ALPHABETS[language]
    return sum(1 for c in text if c > "\x7f" and c.isalpha() and c.lower() not in alphabet)


def _by_alphabet(data: bytes, language: str) -> Decoded | None:
    """The Latin code page whose text has no letters foreign to the language and most of its own.

    Used only when the detector's answer has letters the language it names doesn't use (a Polish
    text read as ISO-8859-14 comes out with the Maltese 'ġ'): that is evidence against the answer.
    """
    alphabet = ALPHABETS[language]
    scored = []
    for encoding in _LATIN_PAGES:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _foreign_letters(text, language):
            scored.append((-sum(1 for c in text if c.lower() in alphabet), encoding, text))
    if not scored:
        return None
    _, encoding, text = min(scored)
    return Decoded(text, encoding)


def _lenient(data: bytes, encoding: str) -> Decoded:
    text = data.decode(encoding, errors="replace")
    clean = data.decode(encoding, errors="ignore")
    return Decoded(text, encoding, len(text) - len(clean))


def _wide_unicode(data: bytes) -> list[str]:
    """BOM-less UTF-32 or UTF-16 byte orders the zero bytes point to, likeliest first.

    UTF-32 has two zero bytes in every four for any text below U+10000 (the high half of each unit).
    UTF-16 of Latin text has a zero in every other byte; of CJK text, none at all, so a UTF-16 guess
    without zeros is made only when every unit decodes and the text is mostly letters (see `_letters`).
    """
    head = data[: _SAMPLE - _SAMPLE % 4]
    if len(head) < 4:
        return []
    found = []
    if len(data) % 4 == 0:
        units = len(head) // 4
        high_le = sum(1 for i in range(0, len(head), 4) if head[i + 2] == 0 and head[i + 3] == 0)
        high_be = sum(1 for i in range(0, len(head), 4) if head[i] == 0 and head[i + 1] == 0)
        if high_le > units * 0.9:
            found.append("utf-32-le")
        if high_be > units * 0.9:
            found.append("utf-32-be")
    if len(data) % 2 == 0:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if odd > len(head) // 8 and even < len(head) // 16:
            found.append("utf-16-le")
        elif even > len(head) // 8 and odd < len(head) // 16:
            found.append("utf-16-be")
        elif not found:
            found.extend(order for order in ("utf-16-le", "utf-16-be") if _letters(head, order))
    return found


def _letters(head: bytes, order: str) -> bool:
    """Whether `head` reads as UTF-16 made almost entirely of CJK, Hangul or kana and punctuation.

    Most 8-bit text fails this: its byte pairs land in unassigned, private-use or surrogate code
    points, or in scattered scripts, rarely in the dense East Asian blocks for hundreds of units.
    """
    try:
        text = head.decode(order)
    except UnicodeDecodeError:
        return False
    east_asian = sum(1 for c in text if "\u3000" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7a3")
    plain = sum(1 for c in text if " " <= c <= "~" or c in "\n\r\t" or "\uff00" <= c <= "\uffef")
    return len(text) >= 16 and east_asian + plain > 0.97 * len(text) and east_asian > 0.5 * len(text)


def _seven_bit(data: bytes) -> Decoded | None:
    """ISO-2022-JP/KR or HZ text, recognised by the escapes that switch to their double-byte sets."""
    head = data[:_SAMPLE]
    candidates = [encodings for pattern, encodings in _ISO2022 if pattern.search(head)]
    if _HZ.search(head) and b"~}" in head:
        candidates.append(("hz",))
    for encodings in candidates:
        for encoding in encodings:
            try:
                return Decoded(data.decode(encoding), encoding)
            except UnicodeDecodeError:
                continue
    return None


def _mostly_utf8(data: bytes) -> bool:
    """Whether invalid bytes are rare among well-formed multi-byte UTF-8 characters.

    Text in an 8-bit code page almost never forms valid multi-byte sequences by chance, so a file
    with many of them and a stray broken byte is UTF-8 with damage, not another encoding.
    """
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    wide = sum(1 for c in text if c > "\x7f") - broken
    return wide >= UTF8_EVIDENCE * broken
