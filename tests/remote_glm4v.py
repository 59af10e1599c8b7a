"""Build a tiny checkpoint shaped like THUDM/glm-4v-9b: a `chatglm` config with a `vision_config` and an
`auto_map` pointing at its own configuration, modeling and tokenization files (tests/fixtures/
remote_glm4v, small subclasses of real transformers classes), random weights. It loads only through
remote code, like the real one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

from models.protocols.base import STOP_TOKEN_IDS
from models.tiny import PAD_ID, VOCAB_SIZE, build_tokenizer

CODE = Path(__file__).resolve().parent / "fixtures" / "remote_glm4v"
IMAGE_SIZE = 56


def _write_only_trained_tokens(model: torch.nn.Module, first_reserved: int) -> None:
    """Zero the output rows of reserved and special ids (stops excepted), so answers are real text."""
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        silent = torch.ones(head.shape[0], dtype=torch.bool)
        silent[:first_reserved] = False
        silent[list(STOP_TOKEN_IDS)] = False
        head[silent] = 0


def build_remote_glm4v(outdir: Path) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    for source in CODE.glob("*.py"):
        shutil.copy(source, outdir / source.name)
    config = {
        "model_type": "chatglm",
        "architectures": ["TinyGlm4vForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_tinyglm4v.TinyChatGLMConfig",
            "AutoModelForCausalLM": "modeling_tinyglm4v.TinyGlm4vForCausalLM",
        },
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 4,
        "pad_token_id": PAD_ID,
        "eos_token_id": list(STOP_TOKEN_IDS),
        "vision_config": {"image_size": IMAGE_SIZE},
    }
    (outdir / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(outdir)
    tokenizer_config = json.loads((outdir / "tokenizer_config.json").read_text())
    tokenizer_config.update(
        tokenizer_class="TinyGlm4vTokenizer",
        image_size=IMAGE_SIZE,
        auto_map={"AutoTokenizer": [None, "tokenization_tinyglm4v.TinyGlm4vTokenizer"]},
    )
    (outdir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        AutoConfig.from_pretrained(outdir, trust_remote_code=True), trust_remote_code=True
    )
    _write_only_trained_tokens(model, min(i for t, i in tokenizer.get_vocab().items() if "reserved" in t))
    model.generation_config = GenerationConfig(eos_token_id=list(STOP_TOKEN_IDS), pad_token_id=PAD_ID)
    model.save_pretrained(outdir)
    return outdir
