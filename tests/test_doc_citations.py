"""Citations of document pages found in answers (the forms models write) and made links to the source
viewer; the labels and counts of pages by format; browser citations linked while an answer streams."""

from __future__ import annotations

import pytest

from app.docs.citations import find_citations
from app.docs.document import Document, Page
from app.tools.browser.citations import render_live_citations
from app.ui import i18n
from app.ui.doc_labels import count_label, page_label, whole_file_label
from app.ui.doc_links import citation_linker, first_cited, link_citations, requested_source, source_href
from app.ui.render import safe_markdown

DOCS = {
    "report.pdf": ["p. 1", "p. 2", "p. 7", "p. 8"],
    "notes.docx": ["part 1", "part 2"],
    "deck.pptx": ["slide 1", "slide 2", "slide 3"],
    "log.txt": ["lines 1-80", "lines 81-160"],
    "年报.pdf": ["p. 1", "p. 2", "p. 3"],
}


def cited(text: str) -> list[tuple[str, str, int]]:
    return [(text[c.start : c.end], c.name, c.index) for c in find_citations(text, DOCS)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sales rose [report.pdf, p. 7].", [("[report.pdf, p. 7]", "report.pdf", 2)]),
        ("[report.pdf, p.8]", [("[report.pdf, p.8]", "report.pdf", 3)]),
        ("[report.pdf, pp. 7-8]", [("[report.pdf, pp. 7-8]", "report.pdf", 2)]),
        ("[report.pdf, p. 7–8]", [("[report.pdf, p. 7–8]", "report.pdf", 2)]),
        ("[Report.PDF, page 2]", [("[Report.PDF, page 2]", "report.pdf", 1)]),
        ("[report, p. 1]", [("[report, p. 1]", "report.pdf", 0)]),
        ("(deck.pptx, slide 3)", [("(deck.pptx, slide 3)", "deck.pptx", 2)]),
        ("[notes.docx, part 2]", [("[notes.docx, part 2]", "notes.docx", 1)]),
        ("[log.txt, lines 90-100]", [("[log.txt, lines 90-100]", "log.txt", 1)]),
        ("【年报.pdf，第3页】", [("【年报.pdf，第3页】", "年报.pdf", 2)]),
        ("[年报.pdf，第 2-3 页]", [("[年报.pdf，第 2-3 页]", "年报.pdf", 1)]),
        ("[deck.pptx，第2张幻灯片]", [("[deck.pptx，第2张幻灯片]", "deck.pptx", 1)]),
        ("[notes.docx, 第1部分]", [("[notes.docx, 第1部分]", "notes.docx", 0)]),
        ("[log.txt，第81-90行]", [("[log.txt，第81-90行]", "log.txt", 1)]),
        (
            "[report.pdf, p. 7; notes.docx, part 1]",
            [("report.pdf, p. 7", "report.pdf", 2), ("notes.docx, part 1", "notes.docx", 0)],
        ),
        ("[report.pdf, p. 1; p. 8]", [("report.pdf, p. 1", "report.pdf", 0), ("p. 8", "report.pdf", 3)]),
    ],
)
def test_the_forms_models_write_are_found(text: str, expected: list[tuple[str, str, int]]) -> None:
    assert cited(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "[report.pdf, p. 9]",  # no such page
        "[other.pdf, p. 1]",  # not a file of the conversation
        "[notes.docx, p. 1]",  # the file has parts, not pages
        "[report.pdf, p. 7](https://example.com)",  # already a link
        "[report.pdf]",  # no page
        "[1]",
        "page 7 of report.pdf",
        "[report.pdf, p. 7",  # still streaming
    ],
)
def test_anything_else_stays_text(text: str) -> None:
    assert cited(text) == []


def test_links_keep_the_citation_as_written_and_point_at_the_page() -> None:
    text = "Up 4% [report.pdf, p. 7]; see [other.pdf, p. 2] and [notes.docx, part 1; deck.pptx, slide 2]."
    linked = link_citations(text, DOCS, lambda name, index: f"?f={name}&i={index}")
    assert linked == (
        "Up 4% [\\[report.pdf, p. 7\\]](?f=report.pdf&i=2); see [other.pdf, p. 2] and "
        "[[notes.docx, part 1](?f=notes.docx&i=0); [deck.pptx, slide 2](?f=deck.pptx&i=1)]."
    )
    assert safe_markdown(linked) == linked, "relative links pass the one rule"


def test_a_cited_name_cannot_inject_markdown() -> None:
    docs = {"**big** <b>`x`.pdf": ["p. 1"]}
    linked = link_citations("[**big** <b>`x`.pdf, p. 1]", docs, lambda n, i: "?s=1")
    assert linked == "[\\[\\*\\*big\\*\\* \\<b\\>\\`x\\`.pdf, p. 1\\]](?s=1)"


def _doc(name: str, sha: str, labels: list[str]) -> Document:
    pages = tuple(Page(n, label, f"text of {label}") for n, label in enumerate(labels, start=1))
    return Document(name, sha, "pdf", pages, (), None)  # type: ignore[arg-type]


def test_the_viewer_address_round_trips() -> None:
    report = _doc("report.pdf", "ab" * 32, DOCS["report.pdf"])
    other = _doc("other.pdf", "cd" * 32, ["p. 1"])
    href = source_href("conv1", report, 3)
    assert href == f"?c=conv1&source={'ab' * 8}&page=4"
    assert requested_source([other, report], "ab" * 8, "4") == (report, 3)
    assert requested_source([other, report], "ab" * 8, "99") == (report, 0), "out of range: its first page"
    assert requested_source([other, report], "ab" * 8, "x") == (report, 0)
    assert requested_source([other, report], "ef" * 8, "1") is None
    assert requested_source([other, report], "ab", "1") is None, "too short to tell files apart"
    assert requested_source([report], None, None) is None
    text = "[other.pdf, p. 1] then [report.pdf, p. 8] and [report.pdf, p. 2]"
    assert first_cited(text, [report, other]) == {"other.pdf": 0, "report.pdf": 3}
    linked = citation_linker("conv1", [report, other])("See [report.pdf, p. 8].")
    tip = '"Open this page in a new tab"'
    assert linked == f"See [\\[report.pdf, p. 8\\]](?c=conv1&source={'ab' * 8}&page=4 {tip})."


@pytest.mark.parametrize(
    ("labels", "english", "chinese", "whole"),
    [
        (["p. 1"], "1 page", "1 页", "whole file (1 page)"),
        (["p. 1", "p. 2"], "2 pages", "2 页", "whole file (2 pages)"),
        (["part 1"], "1 part", "1 个部分", "whole file"),
        (["part 1", "part 2"], "2 parts", "2 个部分", "whole file (2 parts)"),
        (["slide 1", "slide 2", "slide 3"], "3 slides", "3 张幻灯片", "whole file (3 slides)"),
        (["lines 1-80"], "1 section", "1 节", "whole file"),
    ],
)
def test_pages_are_counted_in_their_own_unit(labels, english, chinese, whole, monkeypatch) -> None:
    monkeypatch.setattr(i18n, "language", lambda: "en")
    assert count_label(labels) == english
    assert whole_file_label(labels) == whole
    monkeypatch.setattr(i18n, "language", lambda: "zh")
    assert count_label(labels) == chinese


SOURCES = {"simple_browser": {"sources": {"3": {"title": "Docs", "url": "https://example.com/d"}}}}


def test_browser_citations_are_links_while_streaming_and_a_cut_one_is_held_back() -> None:
    linked = "See [Docs](https://example.com/d)"
    assert render_live_citations("See 【3†source】", SOURCES) == linked
    assert render_live_citations("See 【3†source】 and 【3†so", SOURCES) == linked + " and "
    assert render_live_citations("See 【", SOURCES) == "See "
    assert render_live_citations("See 【3", SOURCES) == "See "
    assert render_live_citations("A 【note】 here", SOURCES) == "A 【note】 here", "not a citation: kept"
    assert render_live_citations("See 【9†x】", SOURCES) == "See 【9†x】", "unknown ids stay text"


@pytest.mark.parametrize(
    ("label", "english", "chinese"),
    [
        ("lines 1-1", "line 1", "第 1 行"),
        ("lines 12-12", "line 12", "第 12 行"),
        ("lines 1-12", "lines 1-12", "第 1-12 行"),
    ],
)
def test_a_single_line_is_not_a_range(label, english, chinese, monkeypatch) -> None:
    monkeypatch.setattr(i18n, "language", lambda: "en")
    assert page_label(label) == english
    monkeypatch.setattr(i18n, "language", lambda: "zh")
    assert page_label(label) == chinese
