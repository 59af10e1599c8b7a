"""Bytes of unknown encoding to text: a BOM, BOM-less UTF-16, UTF-8, then charset-normalizer's guess."""

from __future__ import annotations

import codecs

from charset_normalizer import CharsetMatch, from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_COMMON = ["gb18030", "cp1252", "big5", "shift_jis", "cp932", "euc_jp", "cp949", "euc_kr", "cp1251", "koi8_r"]


def decode_text(data: bytes) -> str | None:
    """The text, or None when the bytes don't look like text in any encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    utf16 = _utf16_order(data)
    if utf16 is not None:  # before UTF-8: ASCII as UTF-16 is valid UTF-8 too, full of NULs
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096] and utf16 is None:
        return None
    matches = list(from_bytes(data))
    if not matches:
        return None
    return str(min(matches, key=lambda m: _rank(m, matches[0])))


def _rank(match: CharsetMatch, best: CharsetMatch) -> tuple[int, int]:
    """charset-normalizer's order, except that among near-ties the most widely used encoding wins.

    Short samples decode cleanly in many code pages; GB18030 or cp1252 is far likelier than cp949 or cp1257.
    """
    near = match.chaos <= best.chaos + 0.2 and match.coherence >= best.coherence - 0.1
    common = _COMMON.index(match.encoding) if match.encoding in _COMMON else len(_COMMON)
    return (0, common) if near else (1, 0)


def _utf16_order(data: bytes) -> str | None:
    """The byte order of BOM-less UTF-16 of mostly Latin text, or None for anything else.

    Such text has a zero in every other byte: the high bytes, in odd positions for little-endian.
    """
    head = data[: 4096 - 4096 % 2]
    if len(head) < 2 or len(data) % 2:
        return None
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > len(head) // 4 and even < len(head) // 16:
        return "utf-16-le"
    if even > len(head) // 4 and odd < len(head) // 16:
        return "utf-16-be"
    return None
