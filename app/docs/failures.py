"""A library's exception while reading a file, said in words: what is wrong and what the user can do.

The parser's worker and the Office readers call `explain` instead of showing an exception's name
("damaged or malformed (FzErrorFormat)" told nobody anything).
"""

from __future__ import annotations

import zipfile

from app.docs.errors import DocumentError, UnsafeDocument, UnsupportedDocument

PDF_STRUCTURE = (
    "the PDF's internal structure is broken (its page tree or cross-reference table can't be "
    "followed); open it in a PDF viewer, print or save it as a new PDF, and upload that"
)
DETAILS = {
    "broken_xml": "its XML is broken (the file is damaged or was cut short)",
    "cut_short": "it is cut short or damaged (its archive can't be unpacked)",
    "missing_part": "a part it refers to is missing (the file is damaged or was made by a faulty program)",
    "damaged": "it is damaged or built in a way the reader doesn't handle",
}
_XML_OUT_OF_MEMORY = ("memory allocation failed", "huge text node", "huge input lookup", "excessive depth")


def too_big(memory_mb: int | None) -> str:
    limit = f"the parser's {memory_mb} MiB memory limit" if memory_mb else "the parser's memory limit"
    return (
        f"it is too large or too complex to read within {limit} (GLM_DOC_PARSE_MEMORY_MB); split it into "
        "smaller files, or ask whoever runs the app to raise the limit"
    )


def out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or lxml's way of saying the same (it reports a failed allocation as bad XML)."""
    message = str(exc).lower()
    return isinstance(exc, MemoryError) or (
        type(exc).__name__ == "XMLSyntaxError" and any(s in message for s in _XML_OUT_OF_MEMORY)
    )


def explain(name: str, exc: BaseException, kind: str, memory_mb: int | None = None) -> DocumentError:
    """The error for file `name` of `kind` ("pdf", "docx", …) that raised `exc`, in words."""
    if out_of_memory(exc):
        return UnsafeDocument(name, too_big(memory_mb), "file.too_big", {"mb": memory_mb or "?"})
    if kind == "pdf" and (isinstance(exc, RuntimeError) or type(exc).__name__.startswith("FzError")):
        return UnsupportedDocument(name, PDF_STRUCTURE, "file.pdf_structure")
    what = kind.upper() if kind in ("docx", "pptx") else "file"
    if type(exc).__name__ == "XMLSyntaxError":
        problem = "broken_xml"
    elif isinstance(exc, zipfile.BadZipFile | EOFError):
        problem = "cut_short"
    elif isinstance(exc, KeyError):
        problem = "missing_part"
    else:
        problem = "damaged"
    reason = (
        f"not a readable {what}: {DETAILS[problem]}; open it in the program that made it, save it again "
        "and upload that"
    )
    return UnsupportedDocument(name, reason, f"file.{problem}", {"what": what})
