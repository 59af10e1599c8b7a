"""Torch's thread count and the default answer length follow the model's size and the machine."""

import pytest
import torch

from models.threads import (
    DEFAULT_MAX_NEW_TOKENS,
    SMALL_MODEL_MAX_NEW_TOKENS,
    choose_threads,
    max_new_tokens_for,
    tune_threads,
)

TINY, NINE_B = 2_426_824, 9_400_000_000


def test_small_models_get_few_threads_and_big_ones_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLM_TORCH_THREADS", raising=False)
    assert choose_threads(TINY, 2) == 1, "one core left for the page streaming the answer"
    assert choose_threads(TINY, 1) == 1
    assert choose_threads(TINY, 64) == 4
    assert choose_threads(NINE_B, 64) == 64
    assert choose_threads(NINE_B, 0) == 1


def test_the_variable_wins_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_TORCH_THREADS", "3")
    assert choose_threads(NINE_B, 64) == 3
    monkeypatch.setenv("GLM_TORCH_THREADS", "many")
    with pytest.raises(ValueError, match="GLM_TORCH_THREADS"):
        choose_threads(TINY, 2)


def test_tuning_sets_torch_and_keeps_the_larger_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr("models.threads._chosen", [])
    monkeypatch.setenv("GLM_TORCH_THREADS", "2")
    try:
        assert tune_threads(TINY) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("GLM_TORCH_THREADS", "1")
        assert tune_threads(TINY) == 2, "a second, smaller choice doesn't shrink the first model's"
    finally:
        torch.set_num_threads(before)


def test_a_small_model_gets_a_short_default_answer() -> None:
    assert max_new_tokens_for(TINY) == SMALL_MODEL_MAX_NEW_TOKENS < DEFAULT_MAX_NEW_TOKENS
    assert max_new_tokens_for(NINE_B) == DEFAULT_MAX_NEW_TOKENS
    assert max_new_tokens_for(None) == DEFAULT_MAX_NEW_TOKENS
