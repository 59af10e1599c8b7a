"""The Long document page in Streamlit's AppTest, with a scripted model over real HTTP."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pymupdf
import pytest
from streamlit.testing.v1 import AppTest

from app.docs import isolate
from app.docs.shelf import CACHE_FOLDER
from app.docs.store import clear_memory_cache
from app.store import Store
from tests.scripted_server import Rule, ScriptedServer

PAGE = str(Path(__file__).resolve().parent.parent / "app" / "pages" / "documents.py")
WORDS = ["ka", "lo", "mi", "ren", "tas", "vu", "po", "sel", "dar", "ni", "qu", "bem", "tor"]
MEMO = b"The cafeteria closes at 3 pm.\nLot B."


def vault_pdf() -> bytes:
    rng = random.Random(3)
    doc = pymupdf.open()
    for n in range(1, 201):
        text = " ".join("".join(rng.choices(WORDS, k=rng.randint(1, 3))) for _ in range(150)) + "."
        if n == 150:
            text += "\nThe access code for the Draco vault is 3318-ZT."
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 560, 800), text, fontsize=9)
    return doc.tobytes()


def small_pdf(*pages: str) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        doc.new_page().insert_text((72, 72), text)
    return doc.tobytes()


def locked_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rules = [
        Rule("\nIt closes at 3 pm [minutes.pdf, p. 2].", when="What do the minutes say"),
        Rule("\nThe Draco code is 3318-ZT [vaults.pdf, p. 150].", when="Draco"),
        Rule("\nThe cafeteria closes at 3 pm [memo.txt, lines 1-2].", when="cafeteria"),
        Rule("\nSee the documents."),
    ]
    clear_memory_cache()
    with ScriptedServer(rules) as scripted:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the tests read the chat messages sent
        monkeypatch.setenv("GLM_API_BASE", scripted.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_MAX_CONTEXT", "4096")
        yield scripted
    isolate.shutdown()
    clear_memory_cache()


def open_page(conversation: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if conversation:
        at.query_params["c"] = conversation
    at.run()
    assert not at.exception
    return at


def conversation_id(at: AppTest) -> str:
    return at.session_state["conversation:documents"].id


def uploader(at: AppTest):
    """The upload widget of the open conversation (each conversation has its own)."""
    return at.file_uploader(key=f"documents-upload-{conversation_id(at)}")


def system_prompt(server: ScriptedServer) -> str:
    messages = server.requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system"
    return messages[0]["content"]


def unescaped(markdown: str) -> str:
    """A label as the user reads it: file names are shown with their Markdown characters escaped."""
    return re.sub(r"\\(.)", r"\1", markdown)


def listed(at: AppTest) -> list[str]:
    return [
        unescaped(c.value.split("**")[1])
        for c in at.caption
        if c.value.startswith(":material/description: **")
    ]


def test_upload_ask_and_see_page_sources_while_broken_files_show_errors(server, tmp_path: Path) -> None:
    at = open_page()
    uploads = [
        ("vaults.pdf", vault_pdf(), "application/pdf"),
        ("broken.pdf", b"%PDF-1.5\n1 0 obj garbage", "application/pdf"),
        ("locked.pdf", locked_pdf(), "application/pdf"),
    ]
    uploader(at).set_value(uploads).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert [e.split(":")[0] for e in errors] == ["broken.pdf", "locked.pdf"]
    assert "password-protected" in errors[1]
    assert any("vaults.pdf" in unescaped(c.value) and "200 pages" in c.value for c in at.caption)

    at.chat_input(key="documents-input").set_value("Which code opens the Draco vault?").run()
    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == "Which code opens the Draco vault?"
    cid = conversation_id(at)
    vault = Store(tmp_path / "data").load_conversation("local", cid).tool_state["documents"][0]["sha256"]
    link = f'[\\[vaults.pdf, p. 150\\]](?c={cid}&source={vault[:16]}&page=150 "Open this page in a new tab")'
    assert f"3318-ZT {link}." in assistant.markdown[0].value, "the citation links to its page"
    assert any("best passages retrieved" in c.value for c in assistant.caption)
    assert unescaped(assistant.expander[0].label) == "vaults.pdf · p. 150"
    assert "3318-ZT" in assistant.expander[0].text[0].value
    system = system_prompt(server)
    assert "cite the file and page" in system and "[vaults.pdf, p. 150]\n" in system
    assert [e.value.split(":")[0] for e in at.error] == ["broken.pdf", "locked.pdf"]

    uploader(at).upload("memo.txt", MEMO)
    at.run()
    at.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert not at.exception
    assert len(at.chat_message) == 4
    assert "[memo.txt, lines 1-2]\nThe cafeteria closes at 3 pm." in system_prompt(server)
    assert "3 pm" in at.chat_message[3].markdown[0].value

    stored = Store(tmp_path / "data").load_conversation("local", conversation_id(at))
    assert [m.role for m in stored.messages] == ["user", "assistant", "user", "assistant"]

    viewer = AppTest.from_file(PAGE, default_timeout=120)  # the link's address, in a new tab
    viewer.query_params.update({"c": cid, "source": vault[:16], "page": "150"})
    viewer.run()
    assert not viewer.exception
    (picker,) = [s for s in viewer.selectbox if s.label == "Page"]
    assert picker.value == 149 and picker.format_func(picker.value) == "p. 150"
    assert any("access code for the Draco vault" in x.value for x in viewer.text), "the cited page's text"
    assert not [c.value for c in viewer.caption if "can't be shown" in c.value], "the page rendered"
    assert "source" not in viewer.query_params and viewer.query_params["c"] == cid
    assert [d["name"] for d in stored.tool_state["documents"]] == ["vaults.pdf", "memo.txt"]
    assert stored.messages[1].info["sources"][0]["page"] == "p. 150"


def test_the_upload_limit_is_stated_once_in_mb(server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "7")
    widget = uploader(open_page())
    assert widget.proto.max_upload_size_mb == 7  # the widget's own "Limit 7MB per file"
    assert "up to 7 MB per file" in widget.help


def test_a_small_file_goes_whole_and_its_pages_are_the_sources(server, tmp_path: Path) -> None:
    at = open_page()
    uploader(at).upload(
        "minutes.pdf", small_pdf("Opening remarks.", "The cafeteria closes at 3 pm.", "Close.")
    )
    at.run()
    at.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert not at.exception
    assistant = at.chat_message[1]
    assert any("sent whole" in c.value and "whole prompt" in c.value for c in assistant.caption)
    assert [unescaped(e.label) for e in assistant.expander] == ["minutes.pdf · whole file (3 pages)"]
    picker = assistant.selectbox[0]
    assert picker.options == ["p. 1", "p. 2", "p. 3"]
    assert assistant.expander[0].text[0].value.strip() == "Opening remarks."
    picker.set_value(1).run()
    assert at.chat_message[1].expander[0].text[0].value.strip() == "The cafeteria closes at 3 pm."
    assert "The cafeteria closes at 3 pm." in system_prompt(server)

    stored = Store(tmp_path / "data").load_conversation("local", conversation_id(at))
    sources = stored.messages[1].info["sources"]
    assert [(s["page"], s["index"]) for s in sources] == [("p. 1", 0), ("p. 2", 1), ("p. 3", 2)]
    assert all("text" not in s and len(s["sha256"]) == 64 for s in sources)


def test_a_file_sent_whole_opens_at_the_page_the_answer_cites(server) -> None:
    at = open_page()
    uploader(at).upload(
        "minutes.pdf", small_pdf("Opening remarks.", "The cafeteria closes at 3 pm.", "Close.")
    )
    at.run()
    at.chat_input(key="documents-input").set_value("What do the minutes say?").run()
    assert not at.exception
    assistant = at.chat_message[1]
    assert "(?c=" in assistant.markdown[0].value, "the citation is a link"
    assert assistant.selectbox[0].value == 1, "the sources open at p. 2"
    assert assistant.expander[0].text[0].value.strip() == "The cafeteria closes at 3 pm."


def test_documents_survive_a_reload_a_lost_cache_and_a_removal(server, tmp_path: Path) -> None:
    at = open_page()
    uploader(at).upload("memo.txt", MEMO)
    at.run()
    cid = conversation_id(at)
    assert listed(at) == ["memo.txt"] and at.query_params["c"] == cid

    reloaded = open_page(cid)  # a new browser session, right after the upload: nothing asked yet
    assert listed(reloaded) == ["memo.txt"]

    shutil.rmtree(Store(tmp_path / "data").conversation_dir("local", cid) / CACHE_FOLDER)
    clear_memory_cache()
    reparsed = open_page(cid)
    assert listed(reparsed) == ["memo.txt"]  # read again from the kept original
    reparsed.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert "The cafeteria closes at 3 pm." in system_prompt(server)

    sha = reparsed.session_state["conversation:documents"].tool_state["documents"][0]["sha256"]
    reparsed.button(key=f"documents-remove-{sha}").click().run()
    assert listed(reparsed) == []
    assert listed(open_page(cid)) == []  # the removal was saved at once


def test_new_chat_has_its_own_uploads_and_errors(server) -> None:
    at = open_page()
    uploader(at).set_value([("broken.pdf", b"%PDF-1.5\n1 0 obj garbage", "application/pdf")]).run()
    first = conversation_id(at)
    assert [e.value.split(":")[0] for e in at.error] == ["broken.pdf"]
    at.button(key="documents-new").click().run()
    assert not at.exception and conversation_id(at) != first
    assert not at.error and listed(at) == []
    assert not uploader(at).value  # a fresh widget, not the old conversation's files


def test_two_files_with_one_name_are_told_apart(server) -> None:
    at = open_page()
    uploader(at).upload("report.txt", b"The north office sold 40 bikes.")
    at.run()
    uploader(at).upload("report.txt", b"The south office sold 75 bikes.")
    at.run()
    assert listed(at) == ["report.txt", "report (2).txt"]
    at.chat_input(key="documents-input").set_value("How many bikes did each office sell?").run()
    system = system_prompt(server)
    assert "[report.txt, lines 1-1]\nThe north office" in system
    assert "[report (2).txt, lines 1-1]\nThe south office" in system


def test_no_room_for_documents_is_said(server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GLM_MAX_CONTEXT", "1100"
    )  # less than the 1,024 tokens kept for the answer plus the rest
    at = open_page()
    uploader(at).upload("memo.txt", MEMO)
    at.run()
    at.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert not at.exception
    assert any("No document text was sent" in w.value for w in at.chat_message[1].warning)
    assert "The cafeteria closes" not in system_prompt(server)


def test_a_lost_original_is_said_and_uploading_it_again_restores_it(server, tmp_path: Path) -> None:
    at = open_page()
    uploader(at).upload("memo.txt", MEMO)
    at.run()
    cid = conversation_id(at)
    db = Store(tmp_path / "data")
    for stored in db.load_conversation("local", cid).documents:
        Path(stored.path).unlink()
    shutil.rmtree(db.conversation_dir("local", cid) / CACHE_FOLDER)
    clear_memory_cache()

    reloaded = open_page(cid)
    assert listed(reloaded) == []
    assert [e.value for e in reloaded.error] == [
        "memo.txt: the original file is no longer stored; please upload it again"
    ]
    uploader(reloaded).upload("memo.txt", MEMO)
    reloaded.run()
    assert listed(reloaded) == ["memo.txt"] and not reloaded.error
    shutil.rmtree(db.conversation_dir("local", cid) / CACHE_FOLDER)
    clear_memory_cache()
    assert listed(open_page(cid)) == ["memo.txt"]  # the original is kept again
