"""GLM-4V-family processors without their video processor, which needs torchvision (not in the app's
environment: PyPI's build is CUDA-linked, see scripts/patch_torchvision.py).

Load a saved one with `processor_class(model_type).from_pretrained(path)`: `AutoProcessor` on a
GLM-4.1V folder asks for torchvision. One of these saves as its family's own processor
(`processor_class: Glm4vProcessor`), so the folder is a regular checkpoint that vLLM serves once a
video processor config sits beside it (the tiny builder writes one).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import transformers
from transformers import Glm4vProcessor, ProcessorMixin
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES


def _image_only(base: type[ProcessorMixin]) -> type[ProcessorMixin]:
    class ImageOnly(base):
        family_processor: str = base.__name__
        """The family's full processor class (with video), the name a saved one carries."""

        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs
        ):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

        def save_pretrained(self, save_directory: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
            saved = super().save_pretrained(save_directory, *args, **kwargs)
            for name in ("processor_config.json", "tokenizer_config.json"):  # name the family's class
                path = Path(save_directory, name)
                config = json.loads(path.read_text("utf-8"))
                path.write_text(
                    json.dumps({**config, "processor_class": self.family_processor}, indent=2) + "\n", "utf-8"
                )
            return saved

    ImageOnly.__name__ = ImageOnly.__qualname__ = f"ImageOnly{base.__name__}"
    ImageOnly.__doc__ = f"`{base.__name__}` without its video processor."
    return ImageOnly


ImageOnlyGlm4vProcessor = _image_only(Glm4vProcessor)


@functools.cache
def processor_class(model_type: str) -> type[ProcessorMixin]:
    """The image-only processor for a checkpoint's `model_type`: its family's own class when the
    installed transformers has one (GLM-4.6V: `Glm46VProcessor`), `Glm4vProcessor` otherwise."""
    name = PROCESSOR_MAPPING_NAMES.get(model_type) or ""
    base = getattr(transformers, name, None) if name.startswith("Glm") else None
    if base is None or base is Glm4vProcessor:
        return ImageOnlyGlm4vProcessor
    return _image_only(base)
