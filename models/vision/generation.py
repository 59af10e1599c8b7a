"""Streaming `model.generate` for the in-process vision backends: text as it is decoded, then `Done`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import torch
from transformers import StoppingCriteriaList, TextIteratorStreamer

from models.events import Done, TextDelta
from models.messages import GenerationParams
from models.vision.base import VisionEvent
from models.vision.reasoning import TAGS


def hidden_token_ids(tokenizer: Any, shown: tuple[str, ...] = TAGS) -> list[int]:
    """Special tokens to leave out of the streamed text: all of them (stops, image and box markers)
    except the `shown` tags (by default the reasoning tags), which tokenizers often mark special but
    the parser (`split_reasoning`, a protocol's output parser) must see."""
    vocab = tokenizer.get_vocab()
    kept = {vocab[tag] for tag in shown if tag in vocab}
    special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    return sorted((special | set(tokenizer.all_special_ids)) - kept)


class AnswerStreamer(TextIteratorStreamer):
    """A `TextIteratorStreamer` that decodes special tokens but drops the `hidden` ones first."""

    def __init__(self, tokenizer: Any, hidden: list[int]) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=False)
        self.hidden = torch.tensor(hidden, dtype=torch.long)

    def put(self, value: torch.Tensor) -> None:
        if self.next_tokens_are_prompt:
            super().put(value)
            return
        shown = value[~torch.isin(value, self.hidden.to(value.device))]
        if shown.numel():
            super().put(shown)


class _Cancelled:
    """Stops generation when the UI sets `cancel` or the reader walks away."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def stream_generation(
    model: Any,
    tokenizer: Any,
    hidden: list[int],
    inputs: dict[str, Any],
    params: GenerationParams,
    cancel: threading.Event,
    stop_ids: list[int],
) -> Iterator[VisionEvent]:
    """Run `model.generate` in a thread and yield its text as it comes (no read timeout: slow first
    tokens are normal on CPU), then one `Done`. `hidden` are the token ids left out of the text."""
    abandoned = threading.Event()
    streamer = AnswerStreamer(tokenizer, hidden)
    kwargs: dict[str, Any] = dict(
        inputs,
        streamer=streamer,
        max_new_tokens=params.max_new_tokens,
        eos_token_id=stop_ids,
        pad_token_id=stop_ids[0],
        stopping_criteria=StoppingCriteriaList([_Cancelled(cancel, abandoned)]),
        do_sample=params.temperature > 0,
    )
    if params.temperature > 0:
        kwargs.update(temperature=params.temperature, top_p=params.top_p)
    outcome: dict[str, Any] = {}

    def generate() -> None:
        try:
            with torch.inference_mode():
                outcome["ids"] = model.generate(**kwargs)
        except BaseException as exc:
            outcome["error"] = exc
            streamer.end()

    thread = threading.Thread(target=generate, name="glm-vision-generate", daemon=True)
    thread.start()
    try:
        for text in streamer:
            if text:
                yield TextDelta(text)
    finally:
        abandoned.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    prompt_len = inputs["input_ids"].shape[1]
    generated = outcome["ids"][0, prompt_len:].tolist()
    if generated and generated[-1] in stop_ids:
        reason = "stop"
    elif cancel.is_set():
        reason = "cancelled"
    else:
        reason = "length" if len(generated) >= params.max_new_tokens else "stop"
    yield Done(reason, usage={"prompt_tokens": prompt_len, "completion_tokens": len(generated)})
