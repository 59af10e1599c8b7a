"""The parse cache (per folder, by bytes, permanent verdicts only) and a conversation's documents."""

from __future__ import annotations

import gc
import random
import shutil
import tracemalloc
from pathlib import Path

import pymupdf
import pytest

from app.docs import store as doc_store
from app.docs.errors import EncryptedDocument, ParseTimeout
from app.docs.index import build_index
from app.docs.shelf import CACHE_FOLDER, Shelf, distinct_name
from app.docs.store import cached_document, clear_memory_cache, load_document, memory_cache_bytes
from app.store import Store

USER = "alice@example.com"


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GLM_DOC_PARSE_TIMEOUT", raising=False)
    clear_memory_cache()
    yield
    clear_memory_cache()


def words_text(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ren", "tas", "vu", "po", "sel", "dar", "ni", "qu", "bem", "tor", "ix"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(14)) + "."
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines).encode()


def test_cache_is_per_folder_on_disk_and_in_memory(tmp_path, monkeypatch):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    data = b"Alpha beta gamma.\nDelta epsilon."
    first = load_document("one.txt", data, cache=mine)
    assert [p.name for p in mine.glob("*.json")] == [f"{first.sha256}.json"]
    monkeypatch.setenv("GLM_DOC_PARSE_TIMEOUT", "0")  # from here on, parsing anything fails
    again = load_document("two.txt", data, cache=mine)
    assert again.name == "two.txt" and again.pages == first.pages
    clear_memory_cache()
    from_disk = load_document("three.txt", data, cache=mine)
    assert from_disk.pages == first.pages and from_disk.chunks == first.chunks
    with pytest.raises(ParseTimeout):  # someone else's folder: no hit, so no hint that the bytes were seen
        load_document("one.txt", data, cache=theirs)
    assert cached_document(first.sha256, "x.txt", theirs) is None
    assert cached_document(first.sha256, "x.txt", mine).name == "x.txt"


def test_a_timeout_is_tried_again_but_an_encrypted_file_is_not(monkeypatch, tmp_path):
    data = b"A perfectly good file."
    monkeypatch.setenv("GLM_DOC_PARSE_TIMEOUT", "0")
    with pytest.raises(ParseTimeout):
        load_document("slow.txt", data, cache=tmp_path)
    monkeypatch.delenv("GLM_DOC_PARSE_TIMEOUT")
    assert load_document("slow.txt", data, cache=tmp_path).pages[0].text == "A perfectly good file."

    locked = pymupdf.open()
    locked.new_page().insert_text((72, 72), "secret")
    locked_bytes = locked.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    with pytest.raises(EncryptedDocument):
        load_document("locked.pdf", locked_bytes, cache=tmp_path)
    monkeypatch.setenv("GLM_DOC_PARSE_TIMEOUT", "0")  # the verdict is remembered: no parser needed
    with pytest.raises(EncryptedDocument, match=r"^renamed\.pdf: the PDF is password-protected"):
        load_document("renamed.pdf", locked_bytes, cache=tmp_path)


def test_memory_cache_is_bounded_by_bytes(monkeypatch):
    docs = [load_document(f"f{n}.txt", words_text(200_000, seed=n)) for n in range(5)]
    monkeypatch.setattr(doc_store, "MEMORY_BYTES", int(2.5 * docs[0].nbytes))
    clear_memory_cache()
    for n in range(5):
        load_document(f"f{n}.txt", words_text(200_000, seed=n))
        assert memory_cache_bytes() <= doc_store.MEMORY_BYTES
    assert cached_document(docs[4].sha256, "f4.txt") is not None
    assert cached_document(docs[0].sha256, "f0.txt") is None  # the least recently used went first


def test_a_loaded_and_indexed_file_costs_a_few_times_its_size():
    data = words_text(3 * 2**20)
    gc.collect()
    tracemalloc.start()
    try:
        doc = load_document("big.txt", data)
        build_index([doc])
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 5 * len(data)  # per-chunk tuples of term strings cost about 9 times


def test_distinct_names():
    assert distinct_name("report.txt", set()) == "report.txt"
    assert distinct_name("report.txt", {"report.txt"}) == "report (2).txt"
    assert distinct_name("report.txt", {"report.txt", "report (2).txt"}) == "report (3).txt"
    assert distinct_name("README", {"README"}) == "README (2)"


def test_conversation_keeps_originals_and_list_and_reparses_on_a_cache_miss(tmp_path):
    db = Store(tmp_path / "data")
    cid = db.create_conversation(USER, "documents")
    shelf, tool_state = Shelf(db, USER, cid), {}
    first = shelf.add(tool_state, "report.txt", b"Quarterly revenue was 12 million.")
    second = shelf.add(tool_state, "report.txt", b"A different report: costs were 3 million.")
    again = shelf.add(tool_state, "copy.txt", b"Quarterly revenue was 12 million.")
    assert (first.name, second.name, again.name) == ("report.txt", "report (2).txt", "report.txt")
    stored = db.load_conversation(USER, cid)
    assert [e["name"] for e in stored.tool_state["documents"]] == ["report.txt", "report (2).txt"]
    assert sorted(Path(d.path).read_bytes() for d in stored.documents) == sorted(
        [b"Quarterly revenue was 12 million.", b"A different report: costs were 3 million."]
    )

    cache = db.conversation_dir(USER, cid) / CACHE_FOLDER
    shutil.rmtree(cache)
    clear_memory_cache()
    progress: list[tuple[str, int, int]] = []
    reopened = Shelf(db, USER, cid)

    def progress_for(name):
        return lambda done, total: progress.append((name, done, total))

    docs, problems = reopened.open(stored.tool_state, progress_for)
    assert [d.name for d in docs] == ["report.txt", "report (2).txt"] and problems == {}
    assert "costs were 3 million" in docs[1].pages[0].text
    assert {name for name, _, _ in progress} == {"report.txt", "report (2).txt"}
    assert len(list(cache.glob("*.json"))) == 2

    shelf.remove(tool_state, second.sha256)
    assert [e["name"] for e in db.load_conversation(USER, cid).tool_state["documents"]] == ["report.txt"]

    folder = db.conversation_dir(USER, cid)
    db.delete(USER, cid)
    assert not folder.exists()  # originals and parse cache went with the conversation


def test_a_missing_original_is_said_not_dropped(tmp_path):
    db = Store(tmp_path / "data")
    cid = db.create_conversation(USER, "documents")
    shelf, tool_state = Shelf(db, USER, cid), {}
    doc = shelf.add(tool_state, "notes.txt", b"Some notes.")
    for stored in db.load_conversation(USER, cid).documents:
        Path(stored.path).unlink()
    shutil.rmtree(db.conversation_dir(USER, cid) / CACHE_FOLDER)
    clear_memory_cache()
    docs, problems = shelf.open(tool_state, lambda name: None)
    assert docs == [] and problems == {
        doc.sha256: "notes.txt: the original file is no longer stored; please upload it again"
    }


def test_the_old_shared_cache_of_all_users_is_removed(tmp_path, monkeypatch):
    shared = tmp_path / "data" / "doc_cache"
    shared.mkdir(parents=True)
    (shared / f"{'0' * 64}.json").write_text('{"format": 1, "name": "someone-elses.pdf"}')
    monkeypatch.setattr(doc_store, "_legacy_checked", False)
    load_document("mine.txt", b"My own file.", cache=tmp_path / "mine")
    assert not shared.exists()
