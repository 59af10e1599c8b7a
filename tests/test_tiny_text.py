"""The tiny text checkpoint loads through the real Auto classes and behaves like a GLM-4 chat model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GlmForCausalLM

from models.tiny import STOP_IDS, TEMPLATE_PATH, build_text_checkpoint

GLM4_IDS = {
    "<|endoftext|>": 151329,
    "[gMASK]": 151331,
    "<sop>": 151333,
    "<|system|>": 151335,
    "<|user|>": 151336,
    "<|assistant|>": 151337,
    "<|observation|>": 151338,
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_checkpoint(tmp_path_factory.mktemp("tiny-text"))


@pytest.fixture(scope="module")
def tokenizer(checkpoint: Path):
    return AutoTokenizer.from_pretrained(checkpoint)


@pytest.fixture(scope="module")
def model(checkpoint: Path):
    return AutoModelForCausalLM.from_pretrained(checkpoint)


def test_special_tokens_have_the_glm4_ids(tokenizer) -> None:
    for token, token_id in GLM4_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id
        assert tokenizer.encode(token, add_special_tokens=False) == [token_id]
    assert tokenizer.eos_token_id == 151329
    assert tokenizer.pad_token_id == 151329
    assert len(tokenizer) >= 151339


def test_text_round_trips_including_chinese_and_code(tokenizer) -> None:
    text = '你好，世界！\ndef f(x):\n    return {"a": [1, 2]}  # ünïcode'
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    assert all(i < 151329 for i in ids)


def test_chat_template_is_the_published_one_and_renders(checkpoint: Path, tokenizer) -> None:
    assert tokenizer.chat_template == TEMPLATE_PATH.read_text("utf-8")
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "description": "天气", "parameters": {"type": "object"}},
    }
    messages = [
        {"role": "system", "content": "You are helpful.", "tools": [tool]},
        {"role": "user", "content": "北京天气?"},
        {"role": "assistant", "metadata": "get_weather", "content": '{"city": "北京"}'},
        {"role": "observation", "content": "sunny"},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("[gMASK]<sop><|system|>\n你是一个名为 ChatGLM 的人工智能助手。")
    assert '## get_weather\n\n{\n    "name": "get_weather",\n    "description": "天气"' in rendered
    assert rendered.endswith(
        '<|system|>\nYou are helpful.<|user|>\n北京天气?<|assistant|>get_weather\n{"city": "北京"}'
        "<|observation|>\nsunny<|assistant|>"
    )
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assert ids[:3] == [151331, 151333, 151335]
    assert ids[-1] == 151337


def test_model_is_native_glm_and_small(model) -> None:
    assert isinstance(model, GlmForCausalLM)
    assert model.config.eos_token_id == STOP_IDS
    assert model.generation_config.eos_token_id == STOP_IDS
    assert model.config.pad_token_id == 151329
    assert 2_350_000 < sum(p.numel() for p in model.parameters()) < 2_500_000, "about 2.4 million"


def test_generate_stops_at_a_stop_id(tokenizer, model) -> None:
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_dict=False
    )
    stopped_early = 0
    for seed in range(8):
        torch.manual_seed(seed)
        out = model.generate(torch.tensor([prompt]), max_new_tokens=80, do_sample=True)
        new = out[0, len(prompt) :].tolist()
        assert new
        assert not set(new[:-1]) & set(STOP_IDS)
        if len(new) < 80:
            stopped_early += 1
            assert new[-1] in STOP_IDS
    assert stopped_early > 0
    text = tokenizer.decode(new, skip_special_tokens=True)
    assert "\ufffd" not in text


def test_cli_build_is_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "models.tiny", str(tmp_path)],
        check=True,
        capture_output=True,
        cwd=Path(__file__).parents[1],
    )
    built = sorted(p.name for p in checkpoint.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == built
    assert "model.safetensors" in built
    for name in built:
        assert (tmp_path / name).read_bytes() == (checkpoint / name).read_bytes(), name
