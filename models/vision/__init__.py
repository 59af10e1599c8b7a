"""Vision backends: chat about images with GLM-4V-family models, in-process or over HTTP.

`get_vision_backend()` builds the one `GLM_VISION_BACKEND` (else `GLM_BACKEND`) and `GLM_VISION_MODEL` ask
for, over HTTP at `GLM_VISION_API_BASE` (else `GLM_API_BASE`) (uncached: the app
keeps it in `st.cache_resource`, so switching pages never reloads it). Over HTTP, loading asks the
server for its models once.
"""

from __future__ import annotations

from models.hub import offline_unless_reachable
from models.loading import folder_without_config, one_at_a_time
from models.settings import ModelSettings, env_str
from models.vision.base import VisionBackend, VisionEvent, VisionInputError, VisionLoadError

__all__ = ["VisionBackend", "VisionEvent", "VisionInputError", "VisionLoadError", "get_vision_backend"]


@one_at_a_time
def get_vision_backend(settings: ModelSettings | None = None) -> VisionBackend:
    settings = settings or ModelSettings.from_env()
    if settings.vision_backend == "openai":
        from models.vision.openai_chat import load_openai_vision_backend

        explicit = bool(env_str("GLM_VISION_MODEL"))
        return load_openai_vision_backend(
            settings.vision_api_base, settings.vision_api_key, settings.vision_model, explicit
        )
    from models.vision.local import load_local_vision_backend

    if folder_without_config(settings.vision_model):
        raise VisionLoadError(
            f"GLM_VISION_MODEL={settings.vision_model} is a folder without a config.json: not a model "
            "checkpoint.",
            "not_a_checkpoint",
            variable="GLM_VISION_MODEL",
            folder=settings.vision_model,
        )
    offline_unless_reachable(settings.vision_model)
    return load_local_vision_backend(settings.vision_model, settings.trust_remote_code)
