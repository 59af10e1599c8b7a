"""GLM-4V-family processors without their video processor, which needs torchvision (unusable here).

Load a saved one with `processor_class(model_type).from_pretrained(path)`: `AutoProcessor` on such a
folder returns a bare tokenizer, and on a hub GLM-4.1V folder it asks for torchvision.
"""

from __future__ import annotations

import functools
from typing import Any

import transformers
from transformers import Glm4vProcessor, ProcessorMixin
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES


def _image_only(base: type[ProcessorMixin]) -> type[ProcessorMixin]:
    class ImageOnly(base):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs
        ):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

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
