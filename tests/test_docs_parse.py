"""Parsing real generated files in the limited child process: formats, encodings and hostile files."""

from __future__ import annotations

import io
import zipfile

import docx
import pptx
import pymupdf
import pytest

from app.docs.errors import DocumentError, EncryptedDocument, UnsafeDocument, UnsupportedDocument
from app.docs.parse import SECTION_CHARS
from app.docs.store import load_document


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))


def make_pdf(pages: list[str], **save) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 560, 800), text, fontsize=9)
    return doc.tobytes(**save)


def make_docx() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "ACME Confidential"
    document.add_heading("Annual review", level=1)
    document.add_paragraph("The first page talks about the weather.")
    document.add_page_break()
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=3, cols=2)
    for row, (key, value) in enumerate([("Item", "Value"), ("Launch code", "ZEBRA-7781"), ("Owner", "Dana")]):
        table.cell(row, 0).text = key
        table.cell(row, 1).text = value
    document.add_paragraph("After the table.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_pdf_pages_keep_their_numbers():
    data = make_pdf([f"This is page {n}. The colour of page {n} is shade{n}." for n in range(1, 6)])
    doc = load_document("report.pdf", data)
    assert doc.kind == "pdf"
    assert [p.label for p in doc.pages] == ["p. 1", "p. 2", "p. 3", "p. 4", "p. 5"]
    assert "shade4" in doc.pages[3].text
    assert all(doc.pages[c.page].text.find(c.text.split()[0]) >= 0 for c in doc.chunks)


def test_pdf_progress_reports_pages_done():
    seen = []
    load_document("long.pdf", make_pdf([f"page {n}" for n in range(250)]), lambda d, t: seen.append((d, t)))
    assert seen[-1] == (250, 250)
    assert all(t == 250 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) > 10


def test_docx_table_cell_header_and_body_order():
    doc = load_document("review.docx", make_docx())
    assert doc.kind == "docx"
    assert [p.label for p in doc.pages] == ["p. 1", "p. 2"]
    first, second = doc.pages[0].text, doc.pages[1].text
    assert first.startswith("ACME Confidential")
    assert "weather" in first and "ZEBRA" not in first
    assert "Launch code | ZEBRA-7781" in second
    assert second.index("Before the table") < second.index("ZEBRA-7781") < second.index("After the table")


def test_pptx_slides_are_pages():
    deck = pptx.Presentation()
    for n in range(1, 4):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide title {n}"
        slide.placeholders[1].text = f"Body of slide {n} mentions kiwi{n}"
        slide.notes_slide.notes_text_frame.text = f"speaker note {n}"
    out = io.BytesIO()
    deck.save(out)
    doc = load_document("deck.pptx", out.getvalue())
    assert [p.label for p in doc.pages] == ["slide 1", "slide 2", "slide 3"]
    assert "kiwi2" in doc.pages[1].text and "Notes: speaker note 2" in doc.pages[1].text


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "utf-8-sig", "big5"])
def test_text_encodings_are_detected(encoding):
    text = (
        "第三季度的营业收入为四亿两千万元，主要来自华东地区的新客户。\n关键事实：项目代号是青龙，负责人是李明。\n"
        * 3
    )
    if encoding == "big5":
        text = "這是一個繁體中文的測試文件，內容關於臺灣的天氣和經濟。\n" * 3
    doc = load_document("notes.txt", text.encode(encoding))
    assert doc.pages[0].text == text.rstrip("\n")
    assert doc.pages[0].label == f"lines 1-{text.count(chr(10))}"


def test_long_text_splits_into_line_ranges_and_csv_repeats_its_header():
    lines = [f"{n},item{n},{n * 3}" for n in range(1, 2001)]
    doc = load_document("table.csv", ("id,name,price\n" + "\n".join(lines)).encode())
    assert len(doc.pages) > 3
    assert doc.pages[0].label.startswith("lines 2-")
    assert all(p.text.startswith("id,name,price\n") for p in doc.pages)
    last = doc.pages[-1]
    assert last.label.endswith("-2001") and "2000,item2000,6000" in last.text


def test_html_becomes_text():
    html = (
        "<html><head><title>t</title><script>var secret = 1;</script></head><body><nav>Home</nav>"
        "<article><h1>Quarterly report</h1><p>Revenue grew by 12 percent in the third quarter, "
        "driven by the new widget line that launched in July across all regions.</p>"
        "<p>The board approved a dividend of 40 cents per share for every shareholder.</p>"
        "</article></body></html>"
    )
    doc = load_document("page.html", html.encode())
    assert "Revenue grew by 12 percent" in doc.pages[0].text
    assert "secret" not in doc.pages[0].text


def test_malformed_pdf_is_a_clear_error():
    with pytest.raises(UnsupportedDocument, match=r"^broken\.pdf: .*(damaged|not a PDF|no readable)"):
        load_document("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40)


def test_encrypted_pdf_is_a_clear_error():
    data = make_pdf(["secret"], encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="owner")
    with pytest.raises(EncryptedDocument, match=r"^locked\.pdf: the PDF is password-protected"):
        load_document("locked.pdf", data)


def test_password_protected_office_file_is_a_clear_error():
    with pytest.raises(EncryptedDocument, match="password-protected"):
        load_document("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000)


def test_docx_zip_bomb_is_refused_before_opening():
    data = io.BytesIO(make_docx())
    with zipfile.ZipFile(data, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/filler.bin", b"\0" * (200 * 2**20))
    assert len(data.getvalue()) < 2**20
    with pytest.raises(
        UnsafeDocument, match=r"bomb\.docx: refused: .* would expand to 20\d MiB \(a compression bomb"
    ):
        load_document("bomb.docx", data.getvalue())


def test_upload_size_limit(monkeypatch):
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "1")
    with pytest.raises(UnsafeDocument, match=r"1\.5 MB; the upload limit is 1 MB"):
        load_document("big.txt", b"a" * (3 * 2**19))


def test_binary_junk_is_not_text():
    with pytest.raises(UnsupportedDocument, match="doesn't look like a text file"):
        load_document("blob.bin", bytes(range(256)) * 64)


def test_a_failed_file_fails_again_at_once_and_good_files_still_load():
    with pytest.raises(DocumentError) as first:
        load_document("broken.pdf", b"%PDF-1.4 garbage" * 10)
    with pytest.raises(DocumentError) as again:
        load_document("renamed.pdf", b"%PDF-1.4 garbage" * 10)
    assert type(again.value) is type(first.value)
    assert str(again.value).startswith("renamed.pdf: ")
    assert load_document("fine.txt", b"still working").pages[0].text == "still working"


def test_docx_without_page_breaks_is_cut_into_bounded_parts():
    document = docx.Document()
    for n in range(1, 301):
        document.add_paragraph(f"Paragraph {n} of the minutes. " + "The committee discussed the budget. " * 4)
    out = io.BytesIO()
    document.save(out)
    doc = load_document("minutes.docx", out.getvalue())
    assert len(doc.pages) > 5
    assert [p.label for p in doc.pages] == [f"part {n}" for n in range(1, len(doc.pages) + 1)]
    assert all(len(p.text) < 2 * SECTION_CHARS for p in doc.pages)
    where = next(p for p in doc.pages if "Paragraph 250 " in p.text)
    assert where.label != "part 1" and "Paragraph 1 " not in where.text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_text_not_nuls(encoding):
    text = "Meeting notes\nThe budget is 4,200 euros.\nNext meeting: Tuesday."
    doc = load_document("notes.txt", text.encode(encoding))
    assert doc.pages[0].text == text


def test_code_file_keeps_its_lines_and_indentation():
    code = "\n".join(
        [f"def helper_{n}(value):\n    return value * {n}\n" for n in range(1, 200)]
        + ['def launch_sequence():\n    """Start the rocket."""\n    return \'T-minus 10\'']
    )
    doc = load_document("rocket.py", code.encode())
    assert doc.kind == "text" and len(doc.pages) > 1
    assert "\n".join(p.text for p in doc.pages) == code
    last = doc.pages[-1]
    assert last.label.startswith("lines ") and last.label.endswith(f"-{code.count(chr(10)) + 1}")
    assert 'def launch_sequence():\n    """Start the rocket."""' in last.text
