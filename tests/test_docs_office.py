"""DOCX and PPTX pages as Word and PowerPoint write them: rendered page breaks at paragraph starts,
doubled breaks, sections, headers and footers, text boxes with their VML copies, content controls.

The body XML below is what Word 365 writes for these constructs (namespaces and run properties trimmed),
put into a python-docx package so the rest of the file (styles, settings, relationships) is ordinary.
"""

from __future__ import annotations

import io

import docx
import pptx
import pytest
from lxml import etree
from pptx.util import Inches

from app.docs.errors import UnsupportedDocument
from app.docs.office import docx_pages, pptx_pages
from app.docs.parse import parse_bytes

NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)


def word_file(body_xml: str, header: str = "", first_header: str = "", footer: str = "") -> bytes:
    document = docx.Document()
    body = document.element.body
    for child in list(body):
        if not child.tag.endswith("sectPr"):
            body.remove(child)
    wrapper = etree.fromstring(f"<w:body {NS}>{body_xml}</w:body>")
    final = body[-1]
    for child in list(wrapper):
        final.addprevious(child)
    section = document.sections[0]
    if header:
        section.header.paragraphs[0].text = header
    if footer:
        section.footer.paragraphs[0].text = footer
    if first_header:
        section.different_first_page_header_footer = True
        section.first_page_header.paragraphs[0].text = first_header
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def p(*runs: str, props: str = "") -> str:
    return f"<w:p>{f'<w:pPr>{props}</w:pPr>' if props else ''}{''.join(runs)}</w:p>"


def r(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


RENDERED = "<w:r><w:lastRenderedPageBreak/></w:r>"
HARD = '<w:r><w:br w:type="page"/></w:r>'


def pages_of(data: bytes) -> list[tuple[str, str]]:
    return [(page.label, page.text) for page in docx_pages("w.docx", data, lambda d, t: None)]


def test_a_page_that_begins_at_a_paragraph_is_a_page_not_an_error():
    """python-docx's preceding_paragraph_fragment is None here; Word writes this on most pages."""
    data = word_file(
        p(r("Page one text."))
        + p("<w:r><w:lastRenderedPageBreak/><w:t>Page two starts the paragraph.</w:t></w:r>")
        + p(r("Still page two."))
    )
    assert pages_of(data) == [
        ("p. 1", "Page one text."),
        ("p. 2", "Page two starts the paragraph.\nStill page two."),
    ]


def test_a_rendered_break_inside_a_paragraph_splits_it_and_several_breaks_all_count():
    data = word_file(
        p(r("Alpha ends page one, "), RENDERED, r("and continues on page two, "), RENDERED, r("then three."))
    )
    assert pages_of(data) == [
        ("p. 1", "Alpha ends page one, "),
        ("p. 2", "and continues on page two, "),
        ("p. 3", "then three."),
    ]


def test_an_authors_break_followed_by_words_rendered_break_counts_once():
    data = word_file(p(r("One."), HARD) + p(RENDERED, r("Two.")) + p(r("Also two.")))
    assert [label for label, _ in pages_of(data)] == ["p. 1", "p. 2"]
    assert pages_of(data)[1][1] == "Two.\nAlso two."


def test_section_breaks_follow_the_next_sections_type_and_page_break_before():
    """A `w:sectPr` ends its section; the *next* section's type says whether a page break follows."""
    next_page = '<w:sectPr><w:type w:val="nextPage"/></w:sectPr>'
    continuous = '<w:sectPr><w:type w:val="continuous"/></w:sectPr>'
    untyped = "<w:sectPr/>"  # no type: a new page, Word's default
    data = word_file(
        p(r("Chapter one."), props=next_page)
        + p(r("Still page one."), props=continuous)  # this section began on the same page
        + p(r("Chapter two."), props=untyped)  # this one on a new page
        + p(r("Chapter three."))  # the body's own section (untyped): a new page too
        + p(r("Appendix."), props="<w:pageBreakBefore/>")
    )
    assert pages_of(data) == [
        ("p. 1", "Chapter one.\nStill page one."),
        ("p. 2", "Chapter two."),
        ("p. 3", "Chapter three."),
        ("p. 4", "Appendix."),
    ]


def test_text_box_is_read_once_though_word_writes_it_twice():
    box = (
        '<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx>'
        f"<w:txbxContent>{p(r('Callout: budget is 7 million.'))}</w:txbxContent>"
        "</wps:txbx></wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>"
        f"<w:txbxContent>{p(r('Callout: budget is 7 million.'))}</w:txbxContent>"
        "</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
    )
    data = word_file(p(r("Anchor paragraph."), box) + p(RENDERED, r("Next page.")))
    (_, text), second = pages_of(data)
    assert text == "Anchor paragraph.\nCallout: budget is 7 million."
    assert second == ("p. 2", "Next page.")


def test_content_controls_revisions_tables_and_fields():
    table = (
        "<w:tbl><w:tr><w:tc>" + p(r("Item")) + "</w:tc><w:tc>" + p(r("Value")) + "</w:tc></w:tr>"
        "<w:tr><w:tc>" + p(r("Code")) + "</w:tc><w:tc>" + p(r("ZEBRA-7781")) + "</w:tc></w:tr></w:tbl>"
    )
    data = word_file(
        "<w:sdt><w:sdtPr/><w:sdtContent>"
        + p(r("Inside a content control."))
        + "</w:sdtContent></w:sdt>"
        + p(
            r("Kept "),
            '<w:del w:id="1" w:author="A"><w:r><w:delText>deleted </w:delText></w:r></w:del>',
            '<w:ins w:id="2" w:author="A">' + r("inserted") + "</w:ins>",
        )
        + p(
            '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
            + r("3")
            + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        )
        + table
        + p(RENDERED, r("Page two."))
    )
    (_, first), (_, second) = pages_of(data)
    assert first.splitlines() == [
        "Inside a content control.",
        "Kept inserted",
        "3",
        "Item | Value",
        "Code | ZEBRA-7781",
    ]
    assert second == "Page two."


def test_headers_and_footers_of_every_kind_are_on_the_first_page():
    data = word_file(
        p(r("Body one.")) + p(RENDERED, r("Body two.")),
        header="ACME Confidential",
        first_header="Cover header",
        footer="Page footer text",
    )
    (_, first), (_, second) = pages_of(data)
    assert first.splitlines() == ["ACME Confidential", "Cover header", "Page footer text", "Body one."]
    assert second == "Body two."


def test_a_docx_without_breaks_is_cut_into_parts():
    data = word_file("".join(p(r(f"Paragraph {n} " + "word " * 60)) for n in range(60)))
    pages = pages_of(data)
    assert len(pages) > 3 and all(label.startswith("part ") for label, _ in pages)
    assert "Paragraph 59" in pages[-1][1]


def test_pptx_sections_text_boxes_groups_and_tables():
    deck = pptx.Presentation()
    blank = deck.slide_layouts[6]
    first = deck.slides.add_slide(blank)
    first.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "Loose text box"
    group = first.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(3), Inches(2), Inches(1)).text_frame.text = "Grouped words"
    second = deck.slides.add_slide(blank)
    table = second.shapes.add_table(2, 2, Inches(1), Inches(1), Inches(4), Inches(2)).table
    for (row, col), value in {(0, 0): "Q", (0, 1): "Revenue", (1, 0): "Q3", (1, 1): "42"}.items():
        table.cell(row, col).text = value
    ids = [s.slide_id for s in deck.slides]
    sections = etree.fromstring(  # what PowerPoint writes in presentation.xml for two sections
        '<p:extLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
        '<p:ext uri="{521415D9-36F7-43E2-AB2F-B90AF26B5E84}">'
        '<p14:sectionLst xmlns:p14="http://schemas.microsoft.com/office/powerpoint/2010/main">'
        + "".join(
            f'<p14:section name="{title}" id="{{{n}}}"><p14:sldIdLst><p14:sldId id="{slide_id}"/>'
            "</p14:sldIdLst></p14:section>"
            for n, (title, slide_id) in enumerate(zip(["Intro", "Numbers"], ids, strict=True))
        )
        + "</p14:sectionLst></p:ext></p:extLst>"
    )
    deck.part._element.append(sections)
    out = io.BytesIO()
    deck.save(out)
    pages = list(pptx_pages("d.pptx", out.getvalue(), lambda d, t: None))
    assert [pg.label for pg in pages] == ["slide 1", "slide 2"]
    assert pages[0].text.splitlines() == ["Section: Intro", "Loose text box", "Grouped words"]
    assert pages[1].text.splitlines() == ["Section: Numbers", "Q | Revenue", "Q3 | 42"]


def test_a_docx_with_broken_xml_says_so_in_words():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(word_file(p(r("x"))))) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            if item.filename == "word/document.xml":
                body = body[: len(body) // 2]
            target.writestr(item, body)
    with pytest.raises(UnsupportedDocument) as caught:
        parse_bytes("cut.docx", buffer.getvalue())
    message = str(caught.value)
    assert "its XML is broken" in message and "save it again" in message
    assert "XMLSyntaxError" not in message
