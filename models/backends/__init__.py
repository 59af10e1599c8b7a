"""Text backends behind one interface (`ChatBackend`), chosen by `GLM_BACKEND`."""

from __future__ import annotations

from models.backends.base import ChatBackend, ToolDeclaration
from models.errors import ReportedError
from models.hub import offline_unless_reachable
from models.loading import folder_without_config, one_at_a_time
from models.settings import ModelSettings, env_str

__all__ = ["BackendLoadError", "ChatBackend", "ToolDeclaration", "get_text_backend"]


class BackendLoadError(ReportedError):
    """The configured model can't be loaded or reached; the message says what to set (and the `kind`,
    for a server that can't be reached or can't list its models, lets the UI say it)."""


@one_at_a_time
def get_text_backend(settings: ModelSettings | None = None) -> ChatBackend:
    """Build the configured backend (uncached: the app caches it once per process)."""
    settings = settings or ModelSettings.from_env()
    if settings.backend == "openai":
        from models.backends.remote import ModelListError, load_openai_backend

        try:
            return load_openai_backend(
                settings.api_base,
                settings.api_key,
                settings.model,
                settings.api_mode,
                settings.max_context,
                model_explicit=bool(env_str("GLM_MODEL")),
            )
        except ModelListError as exc:
            raise BackendLoadError(
                f"The server at GLM_API_BASE={settings.api_base} {exc}. "
                "Set GLM_MODEL to the name of the model it serves.",
                "no_model_list",
                api_base=settings.api_base,
                status=exc.status,
            ) from exc
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise BackendLoadError(
                f"Can't reach the OpenAI-compatible server at GLM_API_BASE={settings.api_base} "
                f"({detail}). Start the server or set GLM_API_BASE / GLM_API_KEY.",
                "server_unreachable",
                api_base=settings.api_base,
                detail=detail,
            ) from exc
    from models.backends.local import load_transformers_backend

    if folder_without_config(settings.model):
        raise BackendLoadError(
            f"GLM_MODEL={settings.model} is a folder without a config.json: not a model checkpoint.",
            "not_a_checkpoint",
            variable="GLM_MODEL",
            folder=settings.model,
        )
    offline_unless_reachable(settings.model)
    try:
        return load_transformers_backend(settings.model, settings.trust_remote_code, settings.max_context)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise BackendLoadError(
            f"Can't load GLM_MODEL={settings.model} with transformers ({detail}). "
            "Choose another model on the Models page (/models), which can also create a tiny demo "
            "model, or set GLM_MODEL to a local checkpoint folder (`.venv/bin/python -m models.tiny "
            "./tiny-glm` builds a tiny one), or use a server with GLM_BACKEND=openai and GLM_API_BASE.",
            "local_load_failed",
            variable="GLM_MODEL",
            model=settings.model,
            detail=detail,
        ) from exc
