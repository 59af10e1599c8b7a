"""Vision speeds are counted in tokens: the in-process model's own tokenizer, else an estimate."""

from types import SimpleNamespace

from app.timings import format_timings
from app.ui.session import vision_token_count
from models.tokens import estimate_tokens


def test_an_in_process_vision_model_counts_with_its_tokenizer() -> None:
    tokenizer = SimpleNamespace(encode=lambda text, add_special_tokens: text.split())
    count = vision_token_count(SimpleNamespace(processor=SimpleNamespace(tokenizer=tokenizer)))
    assert (count.count_tokens("a red square"), count.token_source) == (3, "tokenizer")


def test_a_server_without_usage_gets_the_estimate_said_as_tokens() -> None:
    count = vision_token_count(SimpleNamespace(model_name="glm-4v"))
    assert count.count_tokens is estimate_tokens and count.token_source == "estimate"
    line = format_timings({"tokens_per_s": 12.0, "counted_by": count.token_source})
    assert "tokens/s" in line and "chunks" not in line
