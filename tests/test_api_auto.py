"""GLM_API_MODE=auto, exact token counts and refused requests, against the scripted OpenAI-compatible
server on 127.0.0.1 (the same behaviours against a real vLLM: tests/test_vllm.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.agent import Answer, ToolFinished, TurnError, run_turn, without_refused_turns
from app.tools.base import ToolContext
from models.backends import get_text_backend
from models.backends.prompt import PromptBackend
from models.backends.remote import ChatCompletionsBackend, load_openai_backend
from models.backends.server import checkpoint_facts
from models.events import Notice
from models.messages import GenerationParams, Message
from models.tokens import estimate_tokens
from tests.scripted_server import MODEL_NAME, Rule, ScriptedServer, tokens

PARAMS = GenerationParams(max_new_tokens=64)


def ask(backend, tools, history: list[Message]) -> list:
    return list(run_turn(backend, tools, history, PARAMS, ToolContext("s", Path(".")), 5))


def test_auto_takes_raw_completions_for_a_glm4_model_on_a_server_that_has_them() -> None:
    with ScriptedServer([Rule("\nHello.")]) as server:
        backend = load_openai_backend(server.base_url, "k", "", "auto")
        assert isinstance(backend, PromptBackend)
        assert server.script.other_posts[0] == "/v1/completions", (
            "probed with a request that generates nothing"
        )
        events = ask(backend, [], [Message("user", "Hi")])
        assert server.requests[-1]["path"] == "/v1/completions"
        assert "<|user|>\nHi<|assistant|>" in server.requests[-1]["body"]["prompt"]
    assert isinstance(events[-1], Answer) and events[-1].message.content == "Hello."


def test_auto_takes_chat_where_there_are_no_completions_or_the_model_is_unknown() -> None:
    with ScriptedServer([Rule("\nHi.")], completions=False) as platform:
        assert isinstance(load_openai_backend(platform.base_url, "k", "", "auto"), ChatCompletionsBackend)
    with ScriptedServer([Rule("\nHi.")]) as server:
        unknown = load_openai_backend(server.base_url, "k", "qwen-7b", "auto", model_explicit=True)
        assert isinstance(unknown, ChatCompletionsBackend) and unknown.fallback is not None


def test_explicit_modes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_BACKEND", "openai")
    with ScriptedServer([Rule("\nHi.")]) as server:
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_API_MODE", "chat")
        assert isinstance(get_text_backend(), ChatCompletionsBackend)
        monkeypatch.setenv("GLM_API_MODE", "completions")
        assert isinstance(get_text_backend(), PromptBackend)
        assert server.script.other_posts.count("/v1/completions") == 0, "explicit modes don't probe"


def test_a_refused_tool_request_falls_back_to_completions_and_says_so_once(weather_tool) -> None:
    """An unknown model name on a vLLM without a tool parser: chat is tried, refused (HTTP 400), and the
    same step goes through raw completions; the note comes once, the fallback stays."""
    rules = [Rule('get_weather\n{"city": "Paris"}', when="weather"), Rule("\nIt is 21 degrees.", when="21")]
    with ScriptedServer(rules, tool_parser=False) as server:
        backend = load_openai_backend(server.base_url, "k", "my-finetune", "auto", model_explicit=True)
        first = ask(backend, [weather_tool], [Message("user", "weather in Paris?")])
        notices = [e for e in first if isinstance(e, Notice)]
        assert [n.key for n in notices] == ["api.fallback_to_completions"]
        assert notices[0].values == {"model": "my-finetune"}
        assert any(isinstance(e, ToolFinished) for e in first)
        assert isinstance(first[-1], Answer) and first[-1].message.content == "It is 21 degrees."
        second = ask(backend, [weather_tool], [Message("user", "weather in Paris again?")])
        paths = [r["path"] for r in server.requests]
    assert not any(isinstance(e, Notice) for e in second)
    assert isinstance(second[-1], Answer)
    assert paths.count("/v1/chat/completions") == 1, "refused once, not asked again"


def test_without_completions_the_refusal_is_a_clear_error(weather_tool) -> None:
    with ScriptedServer([Rule("\nHi.")], tool_parser=False, completions=False) as server:
        backend = load_openai_backend(server.base_url, "k", "", "auto")
        events = ask(backend, [weather_tool], [Message("user", "weather?")])
    assert isinstance(events[-1], TurnError) and events[-1].refused
    assert "HTTP 400" in events[-1].text and "--tool-call-parser" in events[-1].text


def test_tokens_are_counted_by_the_servers_tokenizer_when_it_offers_one() -> None:
    text = "A sentence the estimate and the tokenizer count differently, 12345."
    with ScriptedServer([Rule("\nHi.")], tokenize=True) as server:
        backend = load_openai_backend(server.base_url, "k", "", "completions")
        assert backend.token_source == "tokenizer"
        assert backend.count_tokens(text) == len(tokens(text)) != estimate_tokens(text)
        asked = server.script.other_posts.count("/tokenize")
        assert backend.count_tokens(text) == len(tokens(text))
        assert server.script.other_posts.count("/tokenize") == asked, "remembered, not asked again"
    with ScriptedServer([Rule("\nHi.")]) as bare:
        backend = load_openai_backend(bare.base_url, "k", "", "chat")
        assert backend.token_source == "estimate" and backend.count_tokens(text) == estimate_tokens(text)


def test_context_length_comes_from_the_server() -> None:
    with ScriptedServer([Rule("\nHi.")], max_model_len=4321) as server:
        assert load_openai_backend(server.base_url, "k", "", "auto").context_window == 4321


def test_a_prompt_the_server_refuses_does_not_poison_the_conversation() -> None:
    """The app's count is off (the estimate), the server refuses the prompt as too long: the turn says
    why, is kept marked refused, and the next question goes without it and is answered."""
    long_question = "word " * 600
    with ScriptedServer([Rule("\nFine.")], max_model_len=500) as server:
        backend = load_openai_backend(server.base_url, "k", "", "completions", max_context=100_000)
        refused = ask(backend, [], [Message("user", long_question)])
        assert isinstance(refused[-1], TurnError) and refused[-1].refused
        assert "HTTP 400" in refused[-1].text and "maximum context length is 500" in refused[-1].text
        assert refused[-1].kind == "too_long" and refused[-1].values["status"] == 400
        history = [
            Message("user", long_question),
            Message("assistant", "", info={"error": refused[-1].text, "refused": True}),
        ]
        sent = without_refused_turns([*history, Message("user", "Short one?")])
        answered = ask(backend, [], sent)
        prompt = server.requests[-1]["body"]["prompt"]
    assert sent == [Message("user", "Short one?")]
    assert isinstance(answered[-1], Answer) and answered[-1].message.content == "Fine."
    assert "word word" not in prompt


def test_a_turn_too_long_for_the_window_is_refused_before_sending_and_marked() -> None:
    with ScriptedServer([Rule("\nFine.")], tokenize=True, max_model_len=300) as server:
        backend = load_openai_backend(server.base_url, "k", "", "completions")
        events = ask(backend, [], [Message("user", "word " * 400)])
        assert server.requests == []
    assert isinstance(events[-1], TurnError) and events[-1].refused
    assert events[-1].kind == "prompt_too_long", "an exact count (the server's tokenizer), not 'about'"
    assert events[-1].values["window"] == 300 and events[-1].values["tokens"] > 300


def test_only_refused_turns_are_left_out() -> None:
    system = Message("system", "Be brief.")
    ok = [Message("user", "a"), Message("assistant", "A")]
    failed = [Message("user", "b"), Message("assistant", "", info={"error": "model crashed"})]
    refused = [Message("user", "c"), Message("assistant", "", info={"error": "too long", "refused": True})]
    history = [system, *ok, *refused, *failed, *refused, Message("user", "d")]
    assert without_refused_turns(history) == [system, *ok, *failed, Message("user", "d")]


def test_checkpoint_facts_read_a_local_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "glm4_moe"}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "<tool_call>"}))
    assert checkpoint_facts(str(tmp_path)) == ("glm4_moe", "<tool_call>")
    assert checkpoint_facts(str(tmp_path / "missing")) == (None, None)
    assert checkpoint_facts("zai-org/GLM-4.6") == (None, None)
    assert MODEL_NAME.startswith("glm-4")


def test_a_long_turn_that_still_fits_gets_a_shorter_answer_instead_of_a_refusal() -> None:
    """The prompt fits the window but not with the full 'Max new tokens' on top: the answer's limit is
    lowered to the room left (the server would refuse prompt + max_tokens over its length)."""
    with ScriptedServer([Rule("\nShort.")], tokenize=True, max_model_len=400) as server:
        backend = load_openai_backend(server.base_url, "k", "", "completions")
        params = GenerationParams(max_new_tokens=300)
        ctx = ToolContext("s", Path("."))
        events = list(run_turn(backend, [], [Message("user", "word " * 150)], params, ctx, 3))
        sent = server.requests[-1]["body"]
    prompt_tokens = len(tokens(sent["prompt"]))
    assert isinstance(events[-1], Answer) and events[-1].message.content == "Short."
    assert 100 < sent["max_tokens"] < 300 and prompt_tokens + sent["max_tokens"] <= 400


def test_without_a_server_tokenizer_a_local_copy_of_the_models_counts(tmp_path: Path) -> None:
    """A server next to the app (vLLM's `root` is a folder here) without `/tokenize`: the checkpoint's own
    tokenizer counts, not the estimate."""
    from models.backends.server import ServerInfo, http_client, token_counter
    from models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    text = "A sentence the estimate gets wrong: 你好, 12345!"
    with ScriptedServer([Rule("\nHi.")]) as server:
        counter = token_counter(http_client("k"), server.base_url, ServerInfo("glm-4-x", root=str(tmp_path)))
        elsewhere = token_counter(http_client("k"), server.base_url, ServerInfo("glm-4-x", root="/nowhere"))
    assert counter.source == "tokenizer"
    exact = len(tokenizer.encode(text, add_special_tokens=False))
    assert counter.count(text) == exact != estimate_tokens(text)
    assert elsewhere.source == "estimate"
