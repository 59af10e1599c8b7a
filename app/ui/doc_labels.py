"""How the Documents page names files, pages and counts of pages, in the session's language.

The parser labels each citable unit ("p. 7", "slide 3", "part 2" for a file with no pages of its own, such
as a DOCX never laid out by Word or an HTML page, "lines 1-80" for text); the model cites those labels. The
page shows them translated, and counts them in their own unit: "3 slides", "2 parts", never "1 pages".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.ui.i18n import plural, t

PAGE_LABELS = [
    (re.compile(r"lines (?P<start>\d+)-(?P=start)"), "docs.label_line"),  # "lines 1-1": one line
    (re.compile(r"p\. (?P<n>\d+)"), "docs.label_page"),
    (re.compile(r"lines (?P<start>\d+)-(?P<end>\d+)"), "docs.label_lines"),
    (re.compile(r"part (?P<n>\d+)"), "docs.label_part"),
    (re.compile(r"slide (?P<n>\d+)"), "docs.label_slide"),
]
UNITS = {"p": "docs.pages", "slide": "docs.slides", "part": "docs.parts", "lines": "docs.sections"}


def page_label(label: str) -> str:
    """A page's label from the parser ("p. 7", "lines 1-80", "part 2", "slide 3"), translated."""
    for pattern, key in PAGE_LABELS:
        if match := pattern.fullmatch(label):
            return t(key, **match.groupdict())
    return label


def kind_label(kind: str) -> str:
    """A file's format as listed: PDF, DOCX, …; plain text in words."""
    return t("docs.kind_text") if kind == "text" else kind.upper()


def unit_key(labels: Sequence[str]) -> str:
    """The catalogue key counting these pages: pages, slides, parts or (of text) sections."""
    first = labels[0].split(" ", 1)[0].rstrip(".") if labels else ""
    return UNITS.get(first, "docs.sections")


def count_label(labels: Sequence[str]) -> str:
    """How many of them there are, in their unit: "1 page", "3 slides", "2 parts"."""
    return plural(unit_key(labels), len(labels))


def whole_file_label(labels: Sequence[str]) -> str:
    """A file sent whole, as its sources say: "whole file (3 pages)"; a file of one part or one section of
    text (no pages of its own) is just the whole file."""
    if len(labels) == 1 and unit_key(labels) in ("docs.parts", "docs.sections"):
        return t("docs.whole_file_alone")
    return t("docs.whole_file", count=count_label(labels))
