"""A tiny random-weight CogView4 pipeline for tests and benches, built from configs with the real classes.

`python -m models.tiny_cogview OUTDIR` writes a `CogView4Pipeline` folder (`model_index.json` and one
folder per component) that `CogView4Pipeline.from_pretrained` and `GLM_IMAGE_MODEL` load like
THUDM/CogView4-6B: a 2-layer `GlmModel` text encoder (hidden size 32) with the project's tiny GLM
tokenizer, a 2-layer `CogView4Transformer2DModel` over 4 latent channels, an `AutoencoderKL` of two
8-channel blocks and `FlowMatchEulerDiscreteScheduler` with dynamic shifting. It draws noise, a 64x64
image in a fraction of a second on a CPU. Building is seeded, so the same command writes the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    CogView4Pipeline,
    CogView4Transformer2DModel,
    FlowMatchEulerDiscreteScheduler,
)
from tokenizers import processors
from transformers import GlmConfig, GlmModel, PreTrainedTokenizerFast

from models.tiny import FIRST_SPECIAL_ID, PAD_ID, SEED, SPECIAL_TOKENS, VOCAB_SIZE, _build_tokenizer_object

TEXT_HIDDEN = 32
LATENT_CHANNELS = 4
# Two VAE blocks halve the size once; the transformer's 2x2 patches halve it again.
SIZE_MULTIPLE = 16


def build_prompt_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny GLM tokenizer, starting every text with `[gMASK]<sop>` as GLM-4's own tokenizer does
    (CogView4 encodes its empty negative prompt too: without them it would be zero tokens long)."""
    tokenizer = _build_tokenizer_object()
    prefix = [(name, FIRST_SPECIAL_ID + SPECIAL_TOKENS.index(name)) for name in ("[gMASK]", "<sop>")]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[gMASK] <sop> $A", pair="[gMASK] <sop> $A $B", special_tokens=prefix
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_pipeline() -> CogView4Pipeline:
    """The tiny pipeline in memory (random weights, seeded)."""
    torch.manual_seed(SEED)
    text_encoder = GlmModel(
        GlmConfig(
            vocab_size=VOCAB_SIZE,
            hidden_size=TEXT_HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=2048,
            pad_token_id=PAD_ID,
        )
    )
    transformer = CogView4Transformer2DModel(
        patch_size=2,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=2,
        text_embed_dim=TEXT_HIDDEN,
        time_embed_dim=16,
        condition_dim=8,
        pos_embed_max_size=64,
        sample_size=32,
        rope_axes_dim=(8, 8),
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=4,
        sample_size=64,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_shift=0.25,
        max_shift=0.75,
        base_image_seq_len=256,
        use_dynamic_shifting=True,
        time_shift_type="linear",
    )
    return CogView4Pipeline(
        tokenizer=build_prompt_tokenizer(),
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
    )


def build_cogview_checkpoint(outdir: Path) -> Path:
    """Write the tiny pipeline to `outdir` (`CogView4Pipeline.from_pretrained` loads it); returns it."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    build_pipeline().save_pretrained(outdir, safe_serialization=True)
    return outdir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    print(build_cogview_checkpoint(args.outdir))


if __name__ == "__main__":
    main()
