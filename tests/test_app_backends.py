"""The All Tools page end to end in AppTest, on the two backends a user without a GPU can run:
the tiny checkpoint in-process, and a scripted server in `completions` mode (the app renders the
GLM-4 prompt and parses the raw output itself)."""

import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from transformers import AutoTokenizer

from app.store import Store
from app.ui.render import safe_markdown
from models.threads import SMALL_MODEL_MAX_NEW_TOKENS
from models.tiny import FIRST_SPECIAL_ID, build_text_checkpoint
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN, PLUGIN


@pytest.fixture(scope="module")
def answering_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint, with a generation config that makes every output an answer.

    GLM-4 writes a tool call as `name\\n...`; a model that can't write a newline can't call a tool.
    `min_new_tokens` keeps the random model from stopping before it has said anything.
    """
    built = build_text_checkpoint(tmp_path_factory.mktemp("tiny") / "glm")
    answering = shutil.copytree(built, built.with_name("glm-answering"))
    tokenizer = AutoTokenizer.from_pretrained(answering)
    newlines = [i for i in range(FIRST_SPECIAL_ID) if "\n" in tokenizer.decode([i])]
    config_path = answering / "generation_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(suppress_tokens=newlines, min_new_tokens=4)
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return answering


@pytest.fixture
def base_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GLM_MODEL", "GLM_API_BASE", "GLM_MAX_CONTEXT", "GLM_AUTH", "GLM_TOOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    return tmp_path / "data"


def ask(question: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    if os.environ.get("GLM_BACKEND") == "transformers":
        assert at.number_input(key="chat-max-new").value == SMALL_MODEL_MAX_NEW_TOKENS < 1024, (
            "a tiny model's short default"
        )
    at.number_input(key="chat-max-new").set_value(48)
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at


def stored_messages(at: AppTest, data: Path):
    conversation_id = at.session_state["conversation:chat"].id
    return Store(data).load_conversation("local", conversation_id).messages


def test_chat_with_the_tiny_checkpoint_in_process(
    base_env: Path, answering_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_MODEL", str(answering_checkpoint))
    at = ask("Hello there")
    assert not at.error
    user, assistant = at.chat_message
    assert user.markdown[0].value == "Hello there"
    messages = stored_messages(at, base_env)
    assert [m.role for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer.content.strip(), "the model wrote an answer"
    assert answer.info["finish_reason"] in {"stop", "length"}
    assert assistant.markdown[0].value == safe_markdown(answer.content)


def test_chat_in_completions_mode_calls_a_registered_function(
    base_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [
        Rule('get_weather\n{"city": "Paris"}', when="weather"),
        Rule("\nIt is **21 degrees** in Paris.", when="21 degrees"),
    ]
    with ScriptedServer(rules) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "completions")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_TOOLS", str(plugin))
        at = ask("What's the weather in Paris?")
        requests = list(server.requests)
    assert not at.error
    assert [r["path"] for r in requests] == ["/v1/completions", "/v1/completions"]
    assert "## get_weather" in requests[0]["body"]["prompt"]
    assert requests[1]["body"]["prompt"].endswith(
        '<|assistant|>get_weather\n{"city": "Paris"}<|observation|>\nParis: 21 degrees<|assistant|>'
    )
    _, assistant = at.chat_message
    (status,) = [c for c in assistant.children.values() if type(c).__name__ == "Status"]
    assert status.label.replace("\\", "").startswith(":material/build: get_weather")
    assert [c.value for c in status.code] == ['{"city": "Paris"}', "Paris: 21 degrees"]
    assert assistant.markdown[-1].value == "It is **21 degrees** in Paris."
    messages = stored_messages(at, base_env)
    assert [m.role for m in messages] == ["user", "assistant", "observation", "assistant"]
