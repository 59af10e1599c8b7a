"""The UI string catalogue: both languages for every key, every key the code asks for exists, no
display call with a hard-coded English string, and every workspace in Chinese (AppTest) shows no
English beyond names (models, files, tools, formats)."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message as Proto
from streamlit.testing.v1 import AppTest

from app.docs import isolate
from app.tools.registry import all_tools
from app.ui.i18n import CATALOGUE, LANGUAGE_KEY
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import PLUGIN

ROOT = Path(__file__).resolve().parent.parent
UI_SOURCES = [
    ROOT / "app" / "main.py",
    *(ROOT / "app" / "pages").glob("*.py"),
    *(ROOT / "app" / "ui").glob("*.py"),
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_entry_has_both_languages_with_the_same_placeholders() -> None:
    for key, (english, chinese) in CATALOGUE.items():
        assert english.strip() and chinese.strip(), key
        assert placeholders(english) == placeholders(chinese), key
        if re.search(r"[A-Za-z]{4,}", english) and not english.startswith("GLM_") and chinese != english:
            assert CJK.search(chinese), f"{key}: the Chinese entry is not Chinese: {chinese!r}"


def test_plural_entries_come_in_pairs() -> None:
    for key in CATALOGUE:
        if key.endswith((".one", ".other")):
            stem = key.rsplit(".", 1)[0]
            assert f"{stem}.one" in CATALOGUE and f"{stem}.other" in CATALOGUE, stem
            assert "n" in placeholders(CATALOGUE[f"{stem}.other"][0]), stem


def _literal_keys(tree: ast.AST) -> Iterator[tuple[str, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"t", "plural"}:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.func.id, first.value


def test_every_key_the_ui_asks_for_is_in_the_catalogue() -> None:
    asked = 0
    for path in [*UI_SOURCES, *(ROOT / "app").glob("*.py")]:
        for function, key in _literal_keys(ast.parse(path.read_text())):
            asked += 1
            wanted = [key] if function == "t" else [f"{key}.one", f"{key}.other"]
            for entry in wanted:
                assert entry in CATALOGUE, f"{path.name}: {entry}"
    assert asked > 50


DISPLAY_CALLS = {
    "title", "header", "subheader", "caption", "markdown", "text", "write", "button", "error", "warning",
    "info", "success", "text_input", "text_area", "selectbox", "slider", "number_input", "toggle",
    "checkbox", "radio", "expander", "status", "popover", "file_uploader", "chat_input", "download_button",
    "spinner", "progress", "form_submit_button", "segmented_control", "Page", "toast", "link_button",
    "page_link",
}  # fmt: skip
TEXT_KEYWORDS = {"label", "placeholder", "help", "text", "title", "body", "caption"}
ICON = re.compile(r":material/[a-z_]+:")


def _english_words(value: str) -> list[str]:
    return re.findall(r"[A-Za-z_]{3,}", ICON.sub("", value).replace("/", " ").replace("\\", ""))


def test_no_display_call_has_a_hard_coded_english_string() -> None:
    found = []
    for path in UI_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in DISPLAY_CALLS:
                continue
            texts = node.args[:1] if node.func.attr != "Page" else []
            texts += [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
            for text in texts:
                parts = [text] if isinstance(text, ast.Constant) else []
                if isinstance(text, ast.JoinedStr):
                    parts = [v for v in text.values if isinstance(v, ast.Constant)]
                if isinstance(text, ast.BinOp):
                    parts = [v for v in (text.left, text.right) if isinstance(v, ast.Constant)]
                for part in parts:
                    words = _english_words(part.value) if isinstance(part.value, str) else []
                    if any(word not in NAMES for word in words):
                        found.append(f"{path.name}:{node.lineno}: {part.value!r}")
    assert not found, "\n".join(found)


# Names, not words: models, tools, files, formats, units and the variables an admin sets.
NAMES = {
    "GLM", "glm", "scripted", "get_weather", "python", "simple_browser", "Top", "token", "tokens",
    "PDF", "DOCX", "PPTX", "HTML", "CSV", "Markdown", "JSON", "ipynb", "memo", "txt", "mnt", "data",
    "English", "KB", "Studio", "nothink", "CPU", "models",
}  # fmt: skip
SKIPPED_FIELDS = {
    "id", "form_id", "key", "icon", "format", "type", "tag", "default", "value", "options", "name", "avatar",
    "file_type", "accept_file", "language", "deferred_file_id", "url",
}  # fmt: skip


def shown_text(message: Proto) -> Iterator[str]:
    """Every string field of an element's protobuf (labels, bodies, placeholders, help), nested ones too."""
    for field, value in message.ListFields():
        if field.name in SKIPPED_FIELDS:
            continue
        values = value if isinstance(value, list | tuple) or hasattr(value, "append") else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif isinstance(item, Proto):
                yield from shown_text(item)


def all_shown(at: AppTest) -> list[str]:
    """What the page shows, but code blocks: they hold the model's calls and the tools' outputs."""

    def walk(node) -> Iterator[str]:  # type: ignore[no-untyped-def]
        if (proto := getattr(node, "proto", None)) is not None and node.type != "code":
            yield from shown_text(proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return list(walk(at._tree))


def english_left(at: AppTest) -> list[str]:
    """Shown strings with an English word that is not a name. Left out: admin notes about `GLM_*`
    variables (from below the UI, quoting the variables) and the tools' own descriptions (written by
    each tool's author for the model, shown as they are)."""
    descriptions = [tool.description.strip() for tool in all_tools()]
    return [
        text
        for text in all_shown(at)
        if "GLM_" not in text
        and not text.startswith("<style>")  # style rules, not shown text
        and not re.fullmatch(r"[\w./~-]+", text)  # a path or a name
        and not any(text.startswith(d) for d in descriptions)
        and any(word not in NAMES for word in _english_words(text))
    ]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [
        Rule('get_weather\n{"city": "巴黎"}', when="天气"),
        Rule("\n巴黎现在 21 度，晴。", when="21 degrees"),
        Rule("\n食堂下午三点关门。", when="食堂"),
        Rule("\n这是一张红色的图片。", when="图片"),
    ]
    with ScriptedServer(rules) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_VISION_MODEL", "glm-4-scripted")
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_TOOLS", str(plugin))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "duckduckgo")
        yield
    isolate.shutdown()


def in_chinese(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "pages" / page), default_timeout=120)
    at.session_state[LANGUAGE_KEY] = "zh"
    at.run()
    assert not at.exception
    return at


def test_all_tools_in_chinese_after_a_tool_call(env) -> None:
    at = in_chinese("chat.py")
    at.chat_input[0].set_value("巴黎天气怎么样？").run()
    assert not at.exception
    assert "巴黎现在 21 度" in at.chat_message[1].markdown[-1].value
    assert at.title[0].value == "全能工具"
    assert not english_left(at)


def test_long_document_in_chinese_after_an_answer(env) -> None:
    at = in_chinese("documents.py")
    uploader = at.file_uploader(key=f"documents-upload-{at.session_state['conversation:documents'].id}")
    uploader.upload("memo.txt", "食堂下午三点关门。\n停车在 B 区。".encode(), "text/plain")
    at.run()
    at.chat_input(key="documents-input").set_value("食堂几点关门？").run()
    assert not at.exception
    assert "三点" in at.chat_message[1].markdown[0].value
    assert not english_left(at)


def test_vision_in_chinese(env) -> None:
    at = in_chinese("vision.py")
    assert at.title[0].value == "视觉理解"
    assert not english_left(at)


def test_english_is_the_default() -> None:
    at = AppTest.from_string("from app.ui.i18n import t\nimport streamlit as st\nst.title(t('nav.chat'))")
    at.run()
    assert at.title[0].value == "All Tools"


def test_models_page_and_welcome_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.saved import KEYS

    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    models = in_chinese("models.py")
    assert models.title[0].value == "模型设置"
    assert not english_left(models)
    welcome = in_chinese("vision.py")
    assert any("欢迎使用 GLM Studio" in i.value for i in welcome.info)
    assert not english_left(welcome)
