"""Fit or retrieve on generated files: planted facts found with their pages, prompts inside the budget."""

from __future__ import annotations

import io
import random

import docx
import pymupdf
import pytest

from app.docs.context import (
    INSTRUCTIONS,
    build_context,
    build_messages,
    context_window,
    document_budget,
    prepare_turn,
    prompt_tokens,
)
from app.docs.errors import DocumentError
from app.docs.store import clear_memory_cache, load_document
from app.docs.tokens import search_terms
from models.messages import Message
from models.tokens import estimate_tokens

ANSWER_TOKENS = 512
SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vu", "po", "sel", "dar", "ni", "qu", "bem", "tor", "ix", "fa"]
FACTS = {  # page (1-based) -> (vault, code); pages at different depths of a 300-page file
    2: ("Orion", "4471-KX"),
    71: ("Lyra", "9902-QM"),
    150: ("Draco", "3318-ZT"),
    233: ("Cygnus", "7045-HB"),
    300: ("Pegasus", "5526-WR"),
}


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GLM_MAX_CONTEXT", raising=False)
    clear_memory_cache()


def filler(rng: random.Random, words: int) -> str:
    made = ("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(words))
    return " ".join(made) + "."


def facts_pdf() -> bytes:
    rng = random.Random(5)
    doc = pymupdf.open()
    for n in range(1, 301):
        text = filler(rng, 120)
        if n in FACTS:
            vault, code = FACTS[n]
            text += f"\nThe access code for the {vault} vault is {code}.\n" + filler(rng, 60)
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 560, 800), text, fontsize=9)
    return doc.tobytes()


def within_budget(history, question, ctx, count, window):
    return prompt_tokens(build_messages(history, question, ctx), count) + ANSWER_TOKENS <= window


@pytest.fixture(scope="module")
def facts_doc(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GLM_DATA_DIR", str(tmp_path_factory.mktemp("facts")))
    try:
        yield load_document("vaults.pdf", facts_pdf())
    finally:
        mp.undo()


@pytest.mark.parametrize("page", sorted(FACTS))
def test_planted_fact_is_retrieved_with_its_page(facts_doc, page):
    vault, code = FACTS[page]
    question = f"What is the access code for the {vault} vault?"
    history = [Message("user", "Hello"), Message("assistant", "Hi, ask me about the documents.")]
    window = 4096
    budget = document_budget(window, history, question, estimate_tokens, ANSWER_TOKENS)
    ctx = build_context(question, [facts_doc], estimate_tokens, budget)
    assert ctx.strategy == "retrieved"
    assert ctx.sources[0].file == "vaults.pdf" and ctx.sources[0].page == f"p. {page}"
    assert code in ctx.sources[0].text
    label = f"[vaults.pdf, p. {page}]\n"
    assert code in ctx.text.split(label, 1)[1].split("\n[vaults.pdf", 1)[0]
    assert 0 < ctx.tokens <= budget
    assert within_budget(history, question, ctx, estimate_tokens, window)


def test_whole_when_it_fits_retrieved_when_not_same_counter_both_times(facts_doc):
    small = load_document("memo.txt", b"The cafeteria closes at 3 pm on Fridays.\nParking is in lot B.")
    question = "When does the cafeteria close?"
    for count in (estimate_tokens, len):  # any counter: the budget is kept with the counter given
        window = 2000
        budget = document_budget(window, [], question, count, ANSWER_TOKENS)
        whole = build_context(question, [small], count, budget)
        assert whole.strategy == "whole"
        assert "[memo.txt, lines 1-2]\nThe cafeteria closes at 3 pm" in whole.text
        assert [(s.file, s.page, s.sha256, s.index) for s in whole.sources] == [
            ("memo.txt", "lines 1-2", small.sha256, 0)
        ]
        assert whole.tokens == count(whole.text) and within_budget([], question, whole, count, window)

        retrieved = build_context(question, [small, facts_doc], count, budget)
        assert retrieved.strategy == "retrieved"
        assert retrieved.sources[0].file == "memo.txt" and "3 pm" in retrieved.sources[0].text
        assert retrieved.tokens == count(retrieved.text) and within_budget(
            [], question, retrieved, count, window
        )


def test_everything_goes_whole_with_a_big_window(facts_doc):
    window = 200_000
    budget = document_budget(window, [], "Summarise the file", estimate_tokens, ANSWER_TOKENS)
    ctx = build_context("Summarise the file", [facts_doc], estimate_tokens, budget)
    assert ctx.strategy == "whole"
    assert len(ctx.sources) == 300 and ctx.sources[149].page == "p. 150"
    assert all(code in ctx.text for _, code in FACTS.values())
    assert within_budget([], "Summarise the file", ctx, estimate_tokens, window)


def test_answer_in_a_docx_table_cell_is_retrieved():
    rng = random.Random(1)
    document = docx.Document()
    for _ in range(150):
        document.add_paragraph(filler(rng, 60))
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Launch code", "ZEBRA-7781"
    table.cell(1, 0).text, table.cell(1, 1).text = "Mission owner", "Dana Whitfield"
    for _ in range(150):
        document.add_paragraph(filler(rng, 60))
    out = io.BytesIO()
    document.save(out)
    doc = load_document("plan.docx", out.getvalue())
    assert len(doc.pages) > 10  # no page breaks in the file: cut into parts of a bounded size
    part = next(p for p in doc.pages if "ZEBRA-7781" in p.text)
    ctx = build_context("What is the launch code?", [doc], estimate_tokens, 600)
    assert ctx.strategy == "retrieved"
    assert "Launch code | ZEBRA-7781" in ctx.sources[0].text
    assert ctx.sources[0].page == part.label != "part 1" and ctx.tokens <= 600


def test_chinese_question_finds_chinese_passage():
    rng = random.Random(2)
    topics = [
        "天气晴朗，气温适中。",
        "市场价格稳定，交易量平稳。",
        "学校组织了运动会。",
        "图书馆新增了很多书。",
    ]
    lines = [rng.choice(topics) * 3 for _ in range(600)]
    lines[420] = "关键事实：青龙项目的负责人是李明，预算为三百万元。"
    doc = load_document("报告.txt", "\n".join(lines).encode("gb18030"))
    ctx = build_context("青龙项目的负责人是谁？", [doc], estimate_tokens, 1000)
    assert ctx.strategy == "retrieved"
    assert "李明" in ctx.sources[0].text
    first, last = (int(x) for x in ctx.sources[0].page.removeprefix("lines ").split("-"))
    assert first <= 421 <= last


def test_broken_files_leave_the_conversation_working(facts_doc):
    good, errors = [facts_doc], []
    encrypted = pymupdf.open()
    encrypted.new_page().insert_text((72, 72), "secret")
    uploads = {
        "broken.pdf": b"%PDF-1.5\n1 0 obj garbage",
        "locked.pdf": encrypted.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y"),
        "notes.md": b"# Notes\nThe Draco vault was moved to building 9.",
    }
    for name, data in uploads.items():
        try:
            good.append(load_document(name, data))
        except DocumentError as exc:
            errors.append(str(exc))
    assert [e.split(":")[0] for e in errors] == ["broken.pdf", "locked.pdf"]
    assert "password-protected" in errors[1]
    ctx = build_context("Where is the Draco vault and what is its code?", good, estimate_tokens, 1500)
    assert {s.file for s in ctx.sources} >= {"vaults.pdf", "notes.md"}
    assert any("3318-ZT" in s.text for s in ctx.sources) and any("building 9" in s.text for s in ctx.sources)


def test_a_question_with_no_matching_words_gets_the_beginning(facts_doc):
    ctx = build_context("???", [facts_doc], estimate_tokens, 800)
    assert ctx.strategy == "retrieved"
    assert ctx.sources[0].page == "p. 1" and ctx.tokens <= 800


def test_messages_carry_instructions_documents_and_history():
    doc = load_document("a.txt", b"The sky is green on Mars in this story.")
    history = [
        Message("system", "You are terse."),
        Message("user", "hi"),
        Message("assistant", "print(1)", metadata="python"),
        Message("observation", "1"),
        Message("assistant", "Hello!", info={"sources": []}),
    ]
    ctx = build_context("What colour is the sky?", [doc], estimate_tokens, 500)
    messages = build_messages(history, "What colour is the sky?", ctx)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0].content
    assert system.startswith("You are terse.\n\n" + INSTRUCTIONS)
    assert "[a.txt, lines 1-1]\nThe sky is green" in system
    assert messages[-1].content == "What colour is the sky?" and messages[2].info == {}


def test_context_window_respects_glm_max_context(monkeypatch):
    assert context_window(131072) == 131072
    monkeypatch.setenv("GLM_MAX_CONTEXT", "8192")
    assert context_window(131072) == 8192
    assert context_window(4096) == 4096


def test_estimate_over_counts_chinese_and_english():
    chinese = "第三季度的营业收入为四亿两千万元，主要来自华东地区的新客户。"
    assert estimate_tokens(chinese) >= len(chinese)
    english = "The quarterly revenue increased substantially because of international expansion."
    assert estimate_tokens(english) >= 2 * len(english.split())
    assert estimate_tokens("2024-11-25 12:30") >= 16
    assert estimate_tokens("") >= 0 and estimate_tokens("a" * 3000) >= 1000


def test_search_terms_mix_words_and_cjk_bigrams():
    assert search_terms("The Orion vault, 青龙项目!") == ["orion", "vault", "青龙", "龙项", "项目"]


def test_prepare_turn_drops_the_oldest_turns_to_leave_the_documents_room(facts_doc):
    history = [Message("system", "Be brief.")]
    for n in range(40):
        history += [Message("user", f"question {n} " + "word " * 60), Message("assistant", f"answer {n}")]
    window, question = 4096, "What is the access code for the Lyra vault?"
    messages, ctx = prepare_turn(history, question, [facts_doc], estimate_tokens, window, ANSWER_TOKENS)
    assert messages[0].content.startswith("Be brief.")
    assert messages[1].role == "user" and messages[-2].content == "answer 39"
    assert 2 < len(messages) < len(history)
    assert ctx.budget >= window // 2 and "9902-QM" in ctx.sources[0].text
    assert prompt_tokens(messages, estimate_tokens) + ANSWER_TOKENS <= window


def test_no_room_for_documents_is_said_not_sent_silently(facts_doc):
    ctx = build_context("What is the access code for the Lyra vault?", [facts_doc], estimate_tokens, 0)
    assert ctx.strategy == "no room" and ctx.text == "" and not ctx.sources
    window, question = 2048, "What is the access code for the Lyra vault?"
    messages, ctx = prepare_turn([], question, [facts_doc], estimate_tokens, window, answer_tokens=2000)
    assert ctx.strategy == "no room" and ctx.prompt == prompt_tokens(messages, estimate_tokens)


def test_prompt_size_counts_the_whole_prompt_not_only_the_documents(facts_doc):
    history = [Message("user", "Hello " * 200), Message("assistant", "Hi.")]
    question = "What is the access code for the Lyra vault?"
    messages, ctx = prepare_turn(history, question, [facts_doc], estimate_tokens, 4096, ANSWER_TOKENS)
    whole = prompt_tokens(messages, estimate_tokens)
    assert ctx.tokens + 200 < ctx.prompt and abs(ctx.prompt - whole) <= 8
