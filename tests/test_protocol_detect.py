"""Which GLM prompt format a model speaks, from its config, its template, its served name or GLM_PROTOCOL."""

from pathlib import Path

import pytest

from models.errors import ConfigError
from models.protocols import detect_protocol

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("model_type", "expected"),
    [("glm", "glm4"), ("glm4", "glm4"), ("chatglm", "glm4"), ("glm4_moe", "glm45"), ("llama", None)],
)
def test_config_model_type(model_type: str, expected: str | None) -> None:
    assert detect_protocol(model_type=model_type) == expected


def test_model_type_wins_over_the_name() -> None:
    assert detect_protocol(model_type="glm4_moe", model_name="glm-4-9b-chat") == "glm45"


def test_published_templates() -> None:
    glm4 = (FIXTURES / "glm-4-9b-chat.chat_template.jinja").read_text(encoding="utf-8")
    assert detect_protocol(chat_template=glm4) == "glm4"
    assert detect_protocol(chat_template="{{ '<tool_call>' + tc.name }}<arg_key>k</arg_key>") == "glm45"
    assert detect_protocol(chat_template="{% for m in messages %}{{ m.content }}{% endfor %}") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("glm-4.5", "glm45"),
        ("GLM-4.5-Air", "glm45"),
        ("zai-org/GLM-4.6", "glm45"),
        ("glm-4.6-fp8", "glm45"),
        ("zai-org/GLM-4.7", "glm47"),
        ("GLM-4.7-Flash", "glm47"),
        ("/models/GLM-4.5-Air-FP8/", "glm45"),
        ("THUDM/glm-4-9b-chat", "glm4"),
        ("THUDM/glm-4-9b-chat-hf", "glm4"),
        ("glm-4-0414", "glm4"),
        ("THUDM/GLM-4-32B-0414", "glm4"),
        ("glm4-9b", "glm4"),
        ("THUDM/glm-4v-9b", None),
        ("zai-org/GLM-4.1V-9B-Thinking", None),
        ("Qwen/Qwen3-8B", None),
        ("tiny", None),
    ],
)
def test_served_model_names(name: str, expected: str | None) -> None:
    assert detect_protocol(model_name=name) == expected


def test_nothing_known() -> None:
    assert detect_protocol() is None


@pytest.mark.parametrize("forced", ["glm4", "glm45", "GLM45", "glm47"])
def test_glm_protocol_forces(monkeypatch: pytest.MonkeyPatch, forced: str) -> None:
    monkeypatch.setenv("GLM_PROTOCOL", forced)
    assert detect_protocol(model_type="llama", model_name="glm-4.6") == forced.lower()
    assert detect_protocol() == forced.lower()


def test_glm_protocol_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_PROTOCOL", "glm5")
    with pytest.raises(ConfigError, match="GLM_PROTOCOL"):
        detect_protocol(model_name="glm-4.6")
