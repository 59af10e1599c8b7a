"""Citations of document pages in an answer, found for display: which file and which page each names.

The model is told to cite with the labels it was given, `[report.pdf, p. 12]` (`context.INSTRUCTIONS`);
models also write ranges (`p. 7-8`, `pp. 7–8`), several files in one bracket (`[a.pdf, p. 2; b.docx,
part 1]`), a later page of the same file without its name (`[a.pdf, p. 2; p. 5]`), Chinese forms
(`[报告.pdf，第7页]`, `【报告.pdf，第 3 张幻灯片】`), parentheses instead of brackets, and the file's name
without its extension. A citation is found only when it names a file of the conversation and a page that
file has: anything else stays text. A range or list points at its first page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

# A bracketed group that isn't a Markdown link's text (`[x](…)`), or a group in
# 【】, （）, or () that isn't a link's destination.
_GROUP = re.compile(
    r"(?<!\\)\[(?P<square>[^\[\]\n]{3,300})\](?!\()"
    r"|【(?P<cjk>[^【】\n]{3,300})】"
    r"|（(?P<wide>[^（）\n]{3,300})）"
    r"|(?<!\])\((?P<round>[^()\n]{3,300})\)"
)
_PARTS = re.compile(r"[;；]")
_AFTER_NAME = re.compile(r"\s*[,，、:：]?\s*")
_TO = r"\s*[-–—~～至到]\s*"
# Each locator: its kind and the number it starts at. Matched at the start of what follows the name.
_LOCATORS = [
    ("p", re.compile(rf"(?:pp?\.?|pages?|pg\.?)\s*(\d+)(?:{_TO}\d+)?", re.I)),
    ("p", re.compile(rf"第\s*(\d+)\s*(?:{_TO}(?:第\s*)?\d+\s*)?页")),
    ("slide", re.compile(rf"slides?\s*(\d+)(?:{_TO}\d+)?", re.I)),
    ("slide", re.compile(r"第\s*(\d+)\s*张(?:幻灯片)?|幻灯片\s*(\d+)")),
    ("part", re.compile(rf"parts?\s*(\d+)(?:{_TO}\d+)?", re.I)),
    ("part", re.compile(r"第\s*(\d+)\s*部分")),
    ("lines", re.compile(rf"(?:lines?|ll?\.)\s*(\d+)(?:{_TO}\d+)?", re.I)),
    ("lines", re.compile(rf"第\s*(\d+)\s*(?:{_TO}\d+\s*)?行")),
]
_LABEL = re.compile(r"(?P<kind>p|slide|part)\. ?(?P<n>\d+)|(?P<kind2>p|slide|part) (?P<n2>\d+)")
_LINES = re.compile(r"lines (\d+)-(\d+)")


@dataclass(frozen=True)
class Citation:
    """`text[start:end]` cites page `index` (its position in the document, from 0) of the file `name`."""

    start: int
    end: int
    name: str
    index: int


@dataclass(frozen=True)
class _Pages:
    """One file's page labels, looked up by kind and number ("p. 7" -> ("p", 7)) or by line."""

    labelled: dict[tuple[str, int], int]
    lines: list[tuple[int, int, int]]

    @classmethod
    def of(cls, labels: Sequence[str]) -> _Pages:
        labelled: dict[tuple[str, int], int] = {}
        lines: list[tuple[int, int, int]] = []
        for i, label in enumerate(labels):
            if found := _LABEL.fullmatch(label):
                kind = found["kind"] or found["kind2"]
                labelled.setdefault((kind, int(found["n"] or found["n2"])), i)
            elif found := _LINES.fullmatch(label):
                lines.append((int(found[1]), int(found[2]), i))
        return cls(labelled, lines)

    def find(self, kind: str, n: int) -> int | None:
        if kind == "lines":
            return next((i for start, end, i in self.lines if start <= n <= end), None)
        return self.labelled.get((kind, n))


@dataclass(frozen=True)
class CitationFinder:
    """Finds citations of one set of files; built once for a stream or a page of answers (`of`)."""

    names: list[tuple[str, str]]
    pages: dict[str, _Pages]

    @classmethod
    def of(cls, documents: Mapping[str, Sequence[str]]) -> CitationFinder:
        """For `documents`: file name -> its pages' labels."""
        return cls(_names(documents), {name: _Pages.of(labels) for name, labels in documents.items()})

    def find(self, text: str) -> list[Citation]:
        """Every citation in `text` of a page of the files, in order. Each cited file-and-page of a group
        is one citation; in a group with one citation, the citation spans the whole group, brackets
        included."""
        if not self.pages:
            return []
        found: list[Citation] = []
        for group in _GROUP.finditer(text):
            kind = group.lastgroup or ""
            cited = list(_in_group(group[kind], group.start(kind), self.names, self.pages))
            if len(cited) == 1:
                cited = [Citation(group.start(), group.end(), cited[0].name, cited[0].index)]
            found += cited
        return found


def find_citations(text: str, documents: Mapping[str, Sequence[str]]) -> list[Citation]:
    """Every citation in `text` of a page of `documents` (file name -> its pages' labels), in order."""
    return CitationFinder.of(documents).find(text)


def _names(documents: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(how the model may write it, lower case; the file's name), longest first. A name without its
    extension counts when no other file shares it."""
    spelled = [(name.lower(), name) for name in documents]
    stems: dict[str, list[str]] = {}
    for name in documents:
        stem = PurePath(name).stem.lower()
        if len(stem) >= 3 and stem != name.lower():
            stems.setdefault(stem, []).append(name)
    spelled += [(stem, owners[0]) for stem, owners in stems.items() if len(owners) == 1]
    return sorted(spelled, key=lambda pair: -len(pair[0]))


def _in_group(
    inner: str, offset: int, names: list[tuple[str, str]], pages: Mapping[str, _Pages]
) -> Iterator[Citation]:
    current: str | None = None
    at = 0
    for piece in _PARTS.split(inner):
        start = at + len(piece) - len(piece.lstrip())
        at += len(piece) + 1
        body = piece.strip()
        lowered = body.lower()
        named = next((pair for pair in names if lowered.startswith(pair[0])), None)
        rest = body
        if named is not None:
            current = named[1]
            rest = body[len(named[0]) :]
            rest = rest[_AFTER_NAME.match(rest).end() :]  # type: ignore[union-attr]
        if current is None:
            continue
        index = _locate(rest, pages[current])
        if index is not None:
            yield Citation(offset + start, offset + start + len(body), current, index)


def _locate(locator: str, pages: _Pages) -> int | None:
    for kind, pattern in _LOCATORS:
        if found := pattern.match(locator):
            number = next(g for g in found.groups() if g is not None)
            return pages.find(kind, int(number))
    return None
