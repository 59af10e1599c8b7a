"""The Long document page in Streamlit's AppTest, with a scripted model over real HTTP."""

from __future__ import annotations

import random
from pathlib import Path

import pymupdf
import pytest
from streamlit.testing.v1 import AppTest

from app.docs import isolate
from app.store import Store
from tests.scripted_server import Rule, ScriptedServer

PAGE = str(Path(__file__).resolve().parent.parent / "app" / "pages" / "documents.py")
WORDS = ["ka", "lo", "mi", "ren", "tas", "vu", "po", "sel", "dar", "ni", "qu", "bem", "tor"]


def vault_pdf() -> bytes:
    rng = random.Random(3)
    doc = pymupdf.open()
    for n in range(1, 201):
        text = " ".join("".join(rng.choices(WORDS, k=rng.randint(1, 3))) for _ in range(150)) + "."
        if n == 150:
            text += "\nThe access code for the Draco vault is 3318-ZT."
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 560, 800), text, fontsize=9)
    return doc.tobytes()


def locked_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rules = [
        Rule("\nThe Draco code is 3318-ZT [vaults.pdf, p. 150].", when="Draco"),
        Rule("\nThe cafeteria closes at 3 pm [memo.txt, lines 1-2].", when="cafeteria"),
    ]
    with ScriptedServer(rules) as scripted:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", scripted.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_MAX_CONTEXT", "4096")
        yield scripted
    isolate.shutdown()


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def system_prompt(server: ScriptedServer) -> str:
    messages = server.requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system"
    return messages[0]["content"]


def test_upload_ask_and_see_page_sources_while_broken_files_show_errors(server, tmp_path: Path) -> None:
    at = open_page()
    uploads = [
        ("vaults.pdf", vault_pdf(), "application/pdf"),
        ("broken.pdf", b"%PDF-1.5\n1 0 obj garbage", "application/pdf"),
        ("locked.pdf", locked_pdf(), "application/pdf"),
    ]
    at.file_uploader(key="documents-upload").set_value(uploads).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert [e.split(":")[0] for e in errors] == ["broken.pdf", "locked.pdf"]
    assert "password-protected" in errors[1]
    assert any("vaults.pdf" in c.value and "200 pages" in c.value for c in at.caption)

    at.chat_input(key="documents-input").set_value("Which code opens the Draco vault?").run()
    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == "Which code opens the Draco vault?"
    assert "3318-ZT [vaults.pdf, p. 150]" in assistant.markdown[0].value
    assert any("best passages retrieved" in c.value for c in assistant.caption)
    assert assistant.expander[0].label == "vaults.pdf · p. 150"
    assert "3318-ZT" in assistant.expander[0].text[0].value
    system = system_prompt(server)
    assert "cite the file and page" in system and "[vaults.pdf, p. 150]\n" in system
    assert [e.value.split(":")[0] for e in at.error] == ["broken.pdf", "locked.pdf"]

    at.file_uploader(key="documents-upload").upload("memo.txt", b"The cafeteria closes at 3 pm.\nLot B.")
    at.run()
    at.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert not at.exception
    assert len(at.chat_message) == 4
    assert "[memo.txt, lines 1-2]\nThe cafeteria closes at 3 pm." in system_prompt(server)
    assert "3 pm" in at.chat_message[3].markdown[0].value

    state = at.session_state["conversation:documents"]
    stored = Store(tmp_path / "data").load_conversation("local", state.id)
    assert [m.role for m in stored.messages] == ["user", "assistant", "user", "assistant"]
    assert [d["name"] for d in stored.tool_state["documents"]] == ["vaults.pdf", "memo.txt"]
    assert stored.messages[1].info["sources"][0]["page"] == "p. 150"


def test_a_small_file_goes_whole(server, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page()
    at.file_uploader(key="documents-upload").upload("memo.txt", b"The cafeteria closes at 3 pm.\nLot B.")
    at.run()
    at.chat_input(key="documents-input").set_value("When does the cafeteria close?").run()
    assert not at.exception
    assistant = at.chat_message[1]
    assert any("sent whole" in c.value for c in assistant.caption)
    assert assistant.expander[0].label == "memo.txt · whole file"
    assert "[lines 1-2]\nThe cafeteria closes at 3 pm." in assistant.expander[0].text[0].value
    assert "The cafeteria closes at 3 pm.\nLot B." in system_prompt(server)
