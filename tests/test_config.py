"""Bad `GLM_*` values give one error type whose message says what is wrong and what would do."""

import os
import re
from pathlib import Path

import pytest

from app.auth import MODES
from app.config import AUTH_MODES, SEARCH_BACKENDS, SETTINGS, ConfigError, check_settings, max_steps
from app.tools.browser.search import search_setup_hint
from models.settings import ModelSettings, env_bool

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GLM_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("name", "value", "read", "accepted"),
    [
        ("GLM_BACKEND", "vllm", ModelSettings.from_env, "one of transformers, openai"),
        ("GLM_API_MODE", "responses", ModelSettings.from_env, "one of auto, chat, completions"),
        ("GLM_MAX_CONTEXT", "8k", ModelSettings.from_env, "a whole number of tokens such as 8192"),
        ("GLM_MAX_CONTEXT", "-1", ModelSettings.from_env, "a whole number of tokens"),
        ("GLM_API_BASE", "localhost:8000/v1", ModelSettings.from_env, "an http:// or https:// URL"),
        (
            "GLM_TRUST_REMOTE_CODE",
            "sure",
            ModelSettings.from_env,
            "on or off (1/true/yes/on or 0/false/no/off)",
        ),
        ("GLM_MAX_STEPS", "ten", max_steps, "a whole number ≥ 1, such as 10 (the default)"),
        ("GLM_MAX_STEPS", "0", max_steps, "a whole number ≥ 1"),
        ("GLM_KERNEL_NETWORK", "maybe", lambda: env_bool("GLM_KERNEL_NETWORK"), "on or off"),
    ],
)
def test_each_reader_names_the_variable_the_value_and_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read, accepted: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        read()
    problem = caught.value
    assert isinstance(problem, ValueError)
    assert (problem.variable, problem.value) == (name, value)
    assert str(problem).startswith(f"{name}={value!r} is not valid: expected ")
    assert accepted in str(problem)
    assert [p.variable for p in check_settings()] == [name]


def test_good_values_pass() -> None:
    assert check_settings() == []
    settings = ModelSettings.from_env()
    assert (settings.backend, settings.api_mode, settings.max_context) == ("transformers", "auto", 0)
    assert max_steps() == 10


def test_all_problems_are_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "GLM_BACKEND": "vllm",
        "GLM_MAX_CONTEXT": "8k",
        "GLM_MAX_STEPS": "ten",
        "GLM_KERNEL_TIMEOUT": "1m",
        "GLM_BROWSER_TIMEOUT": "fast",
        "GLM_SEARCH_BACKEND": "google",
        "GLM_AUTH": "ldap",
        "GLM_KERNEL_SANDBOX": "partly",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GLM_MODEL", "anything goes here")
    problems = check_settings()
    assert {p.variable: p.value for p in problems} == bad
    assert [p.variable for p in problems] == [n for n in SETTINGS if n in bad], "in SETTINGS order"


def test_every_documented_variable_is_checked_and_every_checked_one_documented() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(GLM_[A-Z0-9_]+)`", table))
    assert documented == set(SETTINGS)


def test_choices_agree_with_the_modules_that_use_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(AUTH_MODES) == set(MODES)
    for backend in SEARCH_BACKENDS:
        monkeypatch.setenv("GLM_SEARCH_BACKEND", backend)
        assert "Unknown GLM_SEARCH_BACKEND" not in (search_setup_hint() or "")


def test_vision_default_is_the_hub_id_the_readme_gives() -> None:
    default = ModelSettings.from_env().vision_model
    assert default == "zai-org/GLM-4.1V-9B-Thinking"
    assert f"| `GLM_VISION_MODEL` | `{default}` |" in README
