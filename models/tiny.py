"""Tiny random-weight GLM-4 checkpoints for tests and for trying the app without downloading weights.

`python -m models.tiny OUTDIR` writes a text checkpoint (`GlmForCausalLM`); with `--moe` a GLM-4.5-family
`Glm4MoeForCausalLM` (GLM-4.5's special tokens and the chat template published with GLM-4.6, copied
unchanged to `glm45_chat_template.jinja`); with `--vision` a `Glm4vForConditionalGeneration` with its
processor. Both load through the real Auto classes (the
vision processor through `models.vision.processors.processor_class`, see there why). The vision
checkpoint is also servable by vLLM: its processor is saved as `Glm4vProcessor` with a video
processor config beside it (vLLM builds the full processor, which needs both), and its attention
heads have size 32.

The tokenizer is a byte-level BPE trained here on a small built-in corpus, with the GLM-4 special
tokens at their real ids (see GLM4_PROTOCOL.md) and the ids below them filled with reserved tokens
that encoding never produces. `glm4_chat_template.jinja` next to this file is the `chat_template`
published with THUDM/glm-4-9b-chat, copied unchanged.

The vocabulary keeps GLM-4's full size (151552) so those ids are real, so the text model has about
2.4 million parameters, nearly all in its two 151552 x 8 embedding tables. They stay untied:
GlmForCausalLM supports tying, but a random model whose output rows are its input rows keeps
predicting the token it just read and hardly ever reaches a stop id.

Building is seeded, so the same command writes the same files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Glm4MoeConfig,
    Glm4MoeForCausalLM,
    Glm4vConfig,
    Glm4vForConditionalGeneration,
    Glm4vImageProcessorPil,
    Glm46VConfig,
    Glm46VForConditionalGeneration,
    Glm46VImageProcessorPil,
    GlmConfig,
    GlmForCausalLM,
    PreTrainedTokenizerFast,
)

from models.protocols.base import STOP_TOKEN_IDS

TEMPLATE_PATH = Path(__file__).with_name("glm4_chat_template.jinja")
VOCAB_SIZE = 151552
FIRST_SPECIAL_ID = 151329
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
]
STOP_IDS = list(STOP_TOKEN_IDS)
PAD_ID = STOP_TOKEN_IDS[0]
SEED = 0
HEAD_DIM = 32
"""The smallest attention head size vLLM's CPU attention serves (it accepts 32, 64, 80 and up): with head
size 4 a served tiny model starts, then the first request kills the server."""

# GLM-4.1V's prompt layout: images as <|begin_of_image|><|image|><|end_of_image|> inside the user turn.
VISION_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>{{ '\\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{{ '\\n' }}{% endif %}"
)
# One image keeps up to 32 merged patches of 28x28 pixels (about 160x160), quick on CPU. The image
# processor's `longest_edge` counts an image once per temporal patch, hence the factor.
VISION_MAX_PIXELS = 28 * 28 * 32
TEMPORAL_PATCH_SIZE = 2
# The native GLM-4V families the tiny builder knows: config, model and image processor classes.
VISION_FAMILIES = {
    "glm4v": (Glm4vConfig, Glm4vForConditionalGeneration, Glm4vImageProcessorPil),
    "glm46v": (Glm46VConfig, Glm46VForConditionalGeneration, Glm46VImageProcessorPil),
}

GLM45_TEMPLATE_PATH = Path(__file__).with_name("glm45_chat_template.jinja")
# GLM-4.5's added tokens, <|endoftext|> (151329) to <|video|> (151364), in the order and at the ids of
# its tokenizer.json (GLM-4.6 and GLM-4.7 share it); tests/fixtures/glm-4.5.added_tokens.json pins
# them and names its sources. The reasoning and tool-call tags are special tokens here, so servers
# must be asked to keep them in the text (see `CompletionsSource`).
GLM45_SPECIAL_TOKENS = [
    *SPECIAL_TOKENS[:14],
    "<|begin_of_audio|>",
    "<|end_of_audio|>",
    "<|begin_of_transcription|>",
    "<|end_of_transcription|>",
    "<|code_prefix|>",
    "<|code_middle|>",
    "<|code_suffix|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
    "/nothink",
    "<|begin_of_box|>",
    "<|end_of_box|>",
    "<|image|>",
    "<|video|>",
]
# vLLM's CPU attention serves head sizes 32, 64, 80 and up; the hidden size stays small (the heads
# project up to it), so the embedding tables stay about 4.8 million parameters.
MOE_HEAD_DIM = 32
MOE_OUTPUT_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>")
MOE_OUTPUT_TAGS += ("<arg_value>", "</arg_value>")

_CORPUS = [
    "Hello! How can I help you today? I am an AI assistant trained to answer questions.",
    "The quick brown fox jumps over the lazy dog. The weather in Beijing is sunny today.",
    "Here is a picture of a red square on a white background. The image shows a cat and a dog.",
    "Let me search the web for that. According to the results, the answer is 42.",
    "你好！我是人工智能助手，很高兴为你服务。今天北京的天气晴朗，气温二十度。",
    "这张图片里有一只猫和一只狗。请问你想了解什么？我可以帮你写代码、查资料、回答问题。",
    "在调用上述函数时，请使用 Json 格式表示调用的参数。可用工具包括 python 和 simple_browser。",
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n",
    "    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "import numpy as np\nimport matplotlib.pyplot as plt\n",
    "x = np.linspace(0, 10, 100)\nplt.plot(x, np.sin(x))\nplt.show()\n",
    'search("latest GLM-4 release", recency_days=7)\nmclick([0, 3, 5])\nopen_url("https://example.com")\n',
    '{"city": "Beijing", "unit": "c"}\n{"query": "weather", "results": [1, 2, 3]}\n',
    "for i in range(10):\n    print(i * i)\nprint('done')\n",
]


def _build_tokenizer_object(specials: list[str] = SPECIAL_TOKENS) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)

    spec = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    for filler_id in range(len(vocab), FIRST_SPECIAL_ID):
        vocab[f"<|reserved_{filler_id}|>"] = filler_id
    special_names = specials + [
        f"<|reserved_special_{i}|>" for i in range(VOCAB_SIZE - FIRST_SPECIAL_ID - len(specials))
    ]
    spec["added_tokens"] = [
        {
            "id": FIRST_SPECIAL_ID + offset,
            "content": name,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for offset, name in enumerate(special_names)
    ]
    return Tokenizer.from_str(json.dumps(spec))


def build_tokenizer(
    chat_template: str | None = None, specials: list[str] = SPECIAL_TOKENS
) -> PreTrainedTokenizerFast:
    """The tiny GLM-4 tokenizer, with the published GLM-4 chat template unless another is given."""
    return PreTrainedTokenizerFast(
        tokenizer_object=_build_tokenizer_object(specials),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
        chat_template=chat_template if chat_template is not None else TEMPLATE_PATH.read_text("utf-8"),
    )


def _writable_ids(tokenizer: PreTrainedTokenizerFast, tags: tuple[str, ...] = ()) -> list[int]:
    """Ids a random model should write: trained tokens that decode to whole characters, the stops,
    and the protocol's output `tags`."""
    vocab = tokenizer.get_vocab()
    trained = sorted(i for token, i in vocab.items() if i < FIRST_SPECIAL_ID and "reserved" not in token)
    whole = [i for i in trained if _is_whole_text(tokenizer.decode([i]))]
    return whole + STOP_IDS + [vocab[tag] for tag in tags]


def _is_whole_text(text: str) -> bool:
    return "\ufffd" not in text and (text.isprintable() or text.strip(" \n") == "")


def _shape_output_head(model: torch.nn.Module, writable: list[int]) -> None:
    """Give only writable ids non-zero output rows, so random sampling yields real text and stops."""
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        rows = torch.randn(len(writable), head.shape[1]) * (4.25 / head.shape[1] ** 0.5)
        head.zero_()
        head[writable] = rows
        head[STOP_IDS] *= 1.4


def build_text_checkpoint(outdir: Path) -> Path:
    """Write a tiny `GlmForCausalLM` checkpoint with its tokenizer to `outdir` and return it."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    config = GlmConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=8,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=HEAD_DIM,
        max_position_embeddings=8192,
        tie_word_embeddings=False,
        pad_token_id=PAD_ID,
        eos_token_id=STOP_IDS,
    )
    model = GlmForCausalLM(config)
    return _save(model, tokenizer, tokenizer, outdir)


def _save(
    model: Any,
    tokenizer: PreTrainedTokenizerFast,
    preprocessor: Any,
    outdir: Path,
    tags: tuple[str, ...] = (),
) -> Path:
    """Shape the random output head, set GLM-4's stop ids and write the checkpoint."""
    _shape_output_head(model, _writable_ids(tokenizer, tags))
    model.generation_config = GenerationConfig(
        eos_token_id=STOP_IDS, pad_token_id=PAD_ID, do_sample=True, temperature=0.8, top_p=0.8
    )
    model.save_pretrained(outdir, safe_serialization=True)
    preprocessor.save_pretrained(outdir)
    return outdir


def build_vision_checkpoint(outdir: Path, family: str = "glm4v") -> Path:
    """Write a tiny GLM-4V-family model (`Glm4vForConditionalGeneration` unless `family` names another of
    `VISION_FAMILIES`) with its processor to `outdir` and return it."""
    from models.vision.processors import processor_class

    config_class, model_class, image_processor_class = VISION_FAMILIES[family]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    tokenizer = build_tokenizer(VISION_TEMPLATE)
    image_processor = image_processor_class(
        size={"shortest_edge": 28 * 28 * 4, "longest_edge": VISION_MAX_PIXELS * TEMPORAL_PATCH_SIZE}
    )
    processor = processor_class(family)(image_processor, tokenizer, chat_template=VISION_TEMPLATE)
    hidden = HEAD_DIM  # one attention head of HEAD_DIM (GLM-4V's text attention has no head_dim of its own)
    config = config_class(
        text_config={
            "vocab_size": VOCAB_SIZE,
            "hidden_size": hidden,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 1,
            "num_key_value_heads": 1,
            "max_position_embeddings": 8192,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [8, 4, 4],
                "partial_rotary_factor": 1.0,
            },
            "pad_token_id": PAD_ID,
        },
        vision_config={
            "depth": 1,
            "hidden_size": hidden,
            "num_heads": 1,
            "intermediate_size": 32,
            "out_hidden_size": hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": TEMPORAL_PATCH_SIZE,
            "image_size": 336,
        },
        tie_word_embeddings=False,
    )
    model = model_class(config)
    _save(model, tokenizer, processor, outdir)
    _save_video_processor_config(image_processor, processor.family_processor, outdir)
    return outdir


def _save_video_processor_config(image_processor: Any, processor_name: str, outdir: Path) -> None:
    """The video processor's config, written as JSON: its class needs torchvision, which the app's
    environment hasn't (transformers' defaults fill in the rest when a server loads it)."""
    size = dict(image_processor.size)
    config = {
        "video_processor_type": processor_name.removesuffix("Processor") + "VideoProcessor",
        "size": size,
        "max_image_size": {"longest_edge": size["longest_edge"]},
        "patch_size": image_processor.patch_size,
        "temporal_patch_size": image_processor.temporal_patch_size,
        "merge_size": image_processor.merge_size,
    }
    path = outdir / "video_preprocessor_config.json"
    path.write_text(json.dumps(config, indent=2) + "\n", "utf-8")


def build_moe_checkpoint(outdir: Path, chat_template: str | None = None) -> Path:
    """Write a tiny GLM-4.5-family `Glm4MoeForCausalLM` (one dense layer, one with 4 routed experts and
    a shared one) with GLM-4.5's special tokens and chat template (or `chat_template`, such as
    GLM-4.7's) to `outdir` and return it."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    template = chat_template if chat_template is not None else GLM45_TEMPLATE_PATH.read_text("utf-8")
    tokenizer = build_tokenizer(template, GLM45_SPECIAL_TOKENS)
    config = Glm4MoeConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=16,
        intermediate_size=32,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        first_k_dense_replace=1,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=MOE_HEAD_DIM,
        max_position_embeddings=8192,
        tie_word_embeddings=False,
        pad_token_id=PAD_ID,
        eos_token_id=STOP_IDS,
    )
    model = Glm4MoeForCausalLM(config)
    return _save(model, tokenizer, tokenizer, outdir, MOE_OUTPUT_TAGS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--vision", action="store_true", help="build a Glm4vForConditionalGeneration")
    kind.add_argument("--moe", action="store_true", help="build a GLM-4.5-family Glm4MoeForCausalLM")
    args = parser.parse_args(argv)
    build = (
        build_vision_checkpoint
        if args.vision
        else build_moe_checkpoint
        if args.moe
        else build_text_checkpoint
    )
    path = build(args.outdir)
    print(path)


if __name__ == "__main__":
    main()
