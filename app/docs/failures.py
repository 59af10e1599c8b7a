"""A library's exception while reading a file, said in words: what is wrong and what the user can do.

The parser's worker and the Office readers call `explain` instead of showing an exception's name
("damaged or malformed (FzErrorFormat)" told nobody anything).
"""

from __future__ import annotations

import zipfile

from app.docs.errors import DocumentError, UnsafeDocument, UnsupportedDocument

_XML_OUT_OF_MEMORY = ("memory allocation failed", "huge text node", "huge input lookup", "excessive depth")


def too_big(memory_mb: int | None) -> str:
    limit = f"the parser's {memory_mb} MiB memory limit" if memory_mb else "the parser's memory limit"
    return (
        f"it is too large or too complex to read within {limit} (GLM_DOC_PARSE_MEMORY_MB); split it into "
        "smaller files, or ask whoever runs the app to raise the limit"
    )


def explain(exc: BaseException, kind: str, memory_mb: int | None = None) -> tuple[type[DocumentError], str]:
    """The error class and the reason for a file of `kind` ("pdf", "docx", …) that raised `exc`."""
    message = str(exc).lower()
    if isinstance(exc, MemoryError) or (
        type(exc).__name__ == "XMLSyntaxError" and any(s in message for s in _XML_OUT_OF_MEMORY)
    ):
        return UnsafeDocument, too_big(memory_mb)
    if kind == "pdf" and (isinstance(exc, RuntimeError) or type(exc).__name__.startswith("FzError")):
        return UnsupportedDocument, (
            "the PDF's internal structure is broken (its page tree or cross-reference table can't be "
            "followed); open it in a PDF viewer, print or save it as a new PDF, and upload that"
        )
    what = kind.upper() if kind in ("docx", "pptx") else "file"
    if type(exc).__name__ == "XMLSyntaxError":
        detail = "its XML is broken (the file is damaged or was cut short)"
    elif isinstance(exc, zipfile.BadZipFile | EOFError):
        detail = "it is cut short or damaged (its archive can't be unpacked)"
    elif isinstance(exc, KeyError):
        detail = "a part it refers to is missing (the file is damaged or was made by a faulty program)"
    else:
        detail = "it is damaged or built in a way the reader doesn't handle"
    return UnsupportedDocument, (
        f"not a readable {what}: {detail}; open it in the program that made it, save it again and upload that"
    )
