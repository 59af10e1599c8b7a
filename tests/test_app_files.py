"""Files a code cell produced, offered in the conversation (AppTest): read from the conversation's own
folder only when clicked, never through a symlink or a path that leaves the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.store import Store
from models.messages import Attachment, Message
from tests.test_app_chat import MAIN


def produced(name: str, path: str) -> Attachment:
    return Attachment("file", name, "text/plain", path=path)


def test_produced_files_are_read_inside_the_conversation_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferred_downloads
) -> None:
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    for name in ["key-1.txt", "key-2.txt", "key-3.txt", "key-4.txt"]:
        (tmp_path / name).write_text("the host's private key")
    with Store(tmp_path / "data") as db:
        cid = db.create_conversation("local", "chat")
        workdir = db.conversation_workdir("local", cid)
        (workdir / "out").mkdir()
        (workdir / "out" / "report.csv").write_text("a,b\n1,2\n")
        (workdir / "escape.txt").symlink_to(tmp_path / "key-1.txt")
        (workdir / "linked").symlink_to(tmp_path)
        files = [
            produced("report.csv", "out/report.csv"),
            produced("escape.txt", "escape.txt"),
            produced("through-a-link.txt", "linked/key-2.txt"),
            produced("up.txt", "../../../../../../key-3.txt"),
            produced("absolute.txt", str(tmp_path / "key-4.txt")),
        ]
        db.append_turn(
            "local",
            cid,
            [
                Message("user", "make a report"),
                Message("assistant", "print('done')", "python", "call_1"),
                Message("observation", "done", tool_call_id="call_1", attachments=files),
                Message("assistant", "Here it is."),
            ],
        )
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["c"] = cid
    at.run()
    assert not at.exception
    named = [d for d in at.get("download_button") if d.label.replace("\\", "") in {f.name for f in files}]
    shown = [d for d in named if d.key.startswith("m")]
    assert len(shown) == len(files), "in the tool step"
    assert len([d for d in named if d.key.startswith("out")]) == len(files), "and under the answer"
    assert all(d.proto.deferred_file_id and not d.proto.url for d in shown), "nothing read while drawing"

    assert deferred_downloads["report.csv"]() == b"a,b\n1,2\n"
    for name in ["escape.txt", "key-2.txt", "key-3.txt", "key-4.txt"]:
        with pytest.raises(FileNotFoundError):
            deferred_downloads[name]()
    (workdir / "out" / "report.csv").unlink()
    with pytest.raises(FileNotFoundError):
        deferred_downloads["report.csv"]()


def test_the_uploader_states_the_folder_room_and_refuses_what_does_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", "16")
    monkeypatch.setenv("GLM_MAX_UPLOAD_MB", "50")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    uploader = at.sidebar.file_uploader(key="chat-uploads")
    assert "MB free" in uploader.help and uploader.proto.max_upload_size_mb <= 16
    uploader.set_value([("big.bin", b"\0" * (20 * 2**20), "application/octet-stream")]).run()
    assert not at.exception
    refused = [e.value for e in at.sidebar.error]
    assert any("big.bin wasn't saved" in e and "free" in e for e in refused), refused
    assert not list((tmp_path / "data").rglob("big.bin"))
