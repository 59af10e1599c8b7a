"""CogView in-process: diffusers' `CogView4Pipeline` (or `CogView3PlusPipeline`) from a folder or hub id.

`local_model(source)` loads a pipeline once per process (callers asking meanwhile wait for that load)
and keeps it; `LocalImageModel.generate` draws one image, reporting each denoising step and stopping
between steps when asked. On a GPU the pipeline moves there when its weights fit in the free memory
(the text model may hold the rest); otherwise its components are offloaded to the CPU between uses,
and `placement` says which. Nothing here needs torchvision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

PIPELINES = ("CogView4Pipeline", "CogView3PlusPipeline")
# Weights plus working memory: activations and the VAE decode need room beyond the parameters.
GPU_HEADROOM = 1.3


class ImageModelLoadError(RuntimeError):
    """The image pipeline could not be loaded; the message is fit for the user and the model."""


class GenerationCancelled(Exception):
    """Stop was pressed between two denoising steps."""


@dataclass(frozen=True)
class Placement:
    """Where the pipeline runs: "cpu", "gpu" or "offload" (on the GPU one component at a time), and the
    GPU memory that decided it (GiB; 0 without a GPU)."""

    where: str
    needed_gib: float = 0.0
    free_gib: float = 0.0


@dataclass
class LocalImageModel:
    pipeline: Any
    source: str
    placement: Placement

    @property
    def kind(self) -> str:
        return type(self.pipeline).__name__

    def generate(
        self,
        prompt: str,
        width: int,
        height: int,
        steps: int,
        cancel: threading.Event,
        on_step: Callable[[int, int], None] = lambda done, total: None,
        seed: int | None = None,
    ) -> Image.Image:
        """One image for `prompt`; `on_step(done, total)` after each denoising step. Raises
        `GenerationCancelled` when `cancel` is set (checked before starting and after every step)."""

        def step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if cancel.is_set():
                raise GenerationCancelled
            on_step(index + 1, steps)
            return tensors

        import torch

        if cancel.is_set():
            raise GenerationCancelled
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with torch.inference_mode():
            output = self.pipeline(
                prompt=prompt,
                width=width,
                height=height,
                num_inference_steps=steps,
                generator=generator,
                callback_on_step_end=step_end,
            )
        return output.images[0]


def _pipeline_class(source: str) -> Any:
    import diffusers

    try:
        config = diffusers.DiffusionPipeline.load_config(source)
    except Exception as exc:
        raise ImageModelLoadError(
            f"GLM_IMAGE_MODEL={source!r}: no diffusers pipeline there ({type(exc).__name__}: {exc})"
        ) from exc
    name = config.get("_class_name", "")
    pipeline_class = getattr(diffusers, name, None) if name in PIPELINES else None
    if pipeline_class is None:
        raise ImageModelLoadError(
            f"GLM_IMAGE_MODEL={source!r} is a {name or 'unknown'} pipeline; the cogview tool runs "
            + " or ".join(p for p in PIPELINES if hasattr(diffusers, p))
        )
    return pipeline_class


def _weights_gib(pipeline: Any) -> float:
    import torch

    total = 0
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            total += sum(p.numel() * p.element_size() for p in component.parameters())
    return total / 2**30


def _place(pipeline: Any) -> Placement:
    """All on the GPU when it fits beside what is already there, offloaded when it doesn't, else CPU."""
    import torch

    if not torch.cuda.is_available():
        return Placement("cpu")
    needed = _weights_gib(pipeline) * GPU_HEADROOM
    free = torch.cuda.mem_get_info()[0] / 2**30
    if needed <= free:
        pipeline.to("cuda")
        return Placement("gpu", needed, free)
    try:
        pipeline.enable_model_cpu_offload()
    except Exception:
        return Placement("cpu", needed, free)
    return Placement("offload", needed, free)


def load_local_model(source: str) -> LocalImageModel:
    """Load the CogView pipeline at `source` (a folder or a hub id) and place it; `ImageModelLoadError`
    when it can't be."""
    import torch

    pipeline_class = _pipeline_class(source)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    try:
        pipeline = pipeline_class.from_pretrained(source, dtype=dtype)
    except Exception as exc:
        raise ImageModelLoadError(
            f"GLM_IMAGE_MODEL={source!r} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    pipeline.set_progress_bar_config(disable=True)
    return LocalImageModel(pipeline, source, _place(pipeline))


_models: dict[str, LocalImageModel] = {}
_loading = threading.Lock()


def local_model(source: str) -> LocalImageModel:
    """The pipeline at `source`, loaded once per process and kept (a failed load is retried next time)."""
    with _loading:
        if source not in _models:
            _models.clear()
            _models[source] = load_local_model(source)
        return _models[source]


def loaded_model(source: str) -> LocalImageModel | None:
    """The pipeline at `source` if this process has loaded it (for the sidebar), without loading it."""
    return _models.get(source)
