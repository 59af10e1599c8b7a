"""In-process generation with transformers: GLM-4 and GLM-4.5+ checkpoints by local path or hub id.

The protocol comes from `detect_protocol` (the config's `model_type`, the checkpoint's template, the
name; `GLM_PROTOCOL` forces it). A checkpoint's own chat template renders the prompt when it ships one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from models.backends.base import ToolDeclaration
from models.backends.prompt import PromptBackend
from models.messages import GenerationParams, Message
from models.protocols import XML_FAMILY, detect_protocol, get_protocol, glm4, glm45
from models.protocols.base import STOP_TOKEN_IDS, TextStream
from models.threads import tune_threads

DEFAULT_CONTEXT = 8192


class _Cancelled:
    """A stopping criterion that ends generation when the UI sets `cancel`."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.cancel.is_set(), dtype=torch.bool, device=input_ids.device
        )


class TransformersSource:
    """Loads the checkpoint once; streams with `TextIteratorStreamer` from a generation thread."""

    def __init__(self, model_id: str, trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_id, dtype=dtype, trust_remote_code=trust_remote_code
        ).to(self.device)
        self.model.eval()
        self.parameters = self.model.num_parameters()
        tune_threads(self.parameters)
        self.protocol = get_protocol(
            detect_protocol(getattr(self.model.config, "model_type", None), self._template(), model_id)
        )

    def _template(self) -> str:
        template = self.tokenizer.chat_template or ""
        return "\n".join(template.values()) if isinstance(template, dict) else template

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 0) or DEFAULT_CONTEXT)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def render(
        self, messages: Sequence[Message], tools: Sequence[ToolDeclaration], thinking: bool = True
    ) -> str:
        """Render with the checkpoint's own chat template, or the protocol's renderer when it ships none."""
        template = self._template()
        if not template.strip():
            return self.protocol.render(messages, tools, thinking)
        kwargs: dict[str, Any] = {}
        if self.protocol.name in XML_FAMILY:
            items = glm45.template_messages(messages, tools)
            kwargs["tools"] = glm45.tool_entries(tools) or None
            if not thinking:
                kwargs["enable_thinking"] = False
        elif tools and "item['tools']" not in template:
            kwargs["tools"] = [t.template_entry for t in tools]
            items = glm4.template_messages(messages)
        else:
            items = glm4.template_messages(messages, [t.template_entry for t in tools])
        return self.tokenizer.apply_chat_template(items, tokenize=False, add_generation_prompt=True, **kwargs)

    def stream_text(self, prompt: str, params: GenerationParams, cancel: threading.Event) -> TextStream:
        from transformers import StoppingCriteriaList

        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        streamer = self._streamer()
        sampling = params.temperature > 0
        kwargs = dict(
            **inputs,
            streamer=streamer,
            max_new_tokens=params.max_new_tokens,
            do_sample=sampling,
            eos_token_id=list(STOP_TOKEN_IDS),
            pad_token_id=STOP_TOKEN_IDS[0],
            stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
        )
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        outcome: dict[str, Any] = {}

        def generate() -> None:
            try:
                outcome["ids"] = self.model.generate(**kwargs)
            except BaseException as exc:
                outcome["error"] = exc
                streamer.end()

        thread = threading.Thread(target=generate, name="glm-generate", daemon=True)
        thread.start()
        finished = False
        try:
            for text in streamer:
                if text:
                    yield text
            finished = True
        finally:
            if not finished:
                cancel.set()
            thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return self._finish_reason(outcome["ids"], inputs["input_ids"].shape[1], params, cancel)

    def _streamer(self) -> Any:
        """Special tokens stay out of the text, except the tags the protocol's parser reads."""
        from transformers import TextIteratorStreamer

        if not self.protocol.output_tags:
            return TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        from models.vision.generation import AnswerStreamer, hidden_token_ids

        return AnswerStreamer(self.tokenizer, hidden_token_ids(self.tokenizer, self.protocol.output_tags))

    def _finish_reason(
        self, ids: Any, prompt_len: int, params: GenerationParams, cancel: threading.Event
    ) -> str:
        generated = ids[0, prompt_len:].tolist()
        if generated and generated[-1] in STOP_TOKEN_IDS:
            return "stop"
        if cancel.is_set():
            return "cancelled"
        return "length" if len(generated) >= params.max_new_tokens else "stop"


def load_transformers_backend(
    model_id: str, trust_remote_code: bool = False, max_context: int = 0
) -> PromptBackend:
    source = TransformersSource(model_id, trust_remote_code)
    return PromptBackend(
        source=source,
        context_window=max_context or source.context_window,
        count_tokens=source.count_tokens,
        protocol=source.protocol,
        render=source.render,
    )
