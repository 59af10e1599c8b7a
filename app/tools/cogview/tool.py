"""The `cogview` tool: GLM-4's image generator. The model writes an English prompt; one image is drawn
in-process (CogView, diffusers) or by an images API, saved in the conversation's folder (/mnt/data,
so `python` can use it) and shown to the user; the model gets a short note, never the pixels.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import httpx
from PIL import Image

from app.docs.limits import max_upload_mb
from app.images import ImageError, prepare_image
from app.sandbox import folderfs
from app.sandbox.files import save_upload
from app.sandbox.limits import KernelLimits
from app.sandbox.spec import MOUNT_POINT
from app.tools.base import Progress, Tool, ToolContext, ToolResult, text_tool
from app.tools.browser.budget import Budget, Cancelled, call_abandonable
from app.tools.browser.fetch import FetchError, FetchSettings, fetch
from app.tools.browser.guard import BlockedURL, ascii_host
from app.tools.cogview.line import LINE
from models.errors import ConfigError
from models.imagegen.local import GenerationCancelled, ImageModelLoadError, loaded_model, local_model
from models.imagegen.remote import ImageAPIError, request_image
from models.imagegen.settings import ImageSettings
from models.messages import Attachment

DESCRIPTION = (
    "Generate one image from a detailed English description (about 100 words). Translate the user's "
    "request into English completely, keep its intent and invent nothing. The image is shown to the "
    "user and saved as a PNG file you can open with python."
)
PROMPT_DESCRIPTION = "The English description of the image to draw."
MAX_PROMPT_CHARS = 4000
API_TIMEOUT_S = 300.0
FILE_STEM = "cogview"
SHOWN_PROMPT_CHARS = 300
# Progress stages, named for the UI (app/ui/chat_view.py turns them into words).
WAITING, LOADING, STEPS, REQUESTING, DOWNLOADING = "waiting", "loading", "steps", "requesting", "downloading"


class _Failed(Exception):
    """The generation failed in a way the observation explains."""


def _error(text: str) -> ToolResult:
    return ToolResult(f"[cogview: {text}]", is_error=True)


def _generate_local(settings: ImageSettings, prompt: str, ctx: ToolContext) -> tuple[Attachment, str]:
    """Our own pipeline's PNG (no upload checks needed: we made it, at the configured size)."""
    model = loaded_model(settings.model)
    if model is None:
        ctx.progress = Progress(LOADING)
        model = local_model(settings.model)

    def on_step(done: int, total: int) -> None:
        ctx.progress = Progress(STEPS, done, total)

    ctx.progress = Progress(STEPS, 0, settings.steps)
    image = model.generate(prompt, settings.width, settings.height, settings.steps, ctx.cancel, on_step)
    out = BytesIO()
    image.save(out, "PNG")
    attachment = Attachment(kind="image", name=f"{FILE_STEM}.png", mime="image/png", data=out.getvalue())
    return attachment, f"{model.kind} in-process, {settings.steps} steps"


def _api_host(settings: ImageSettings) -> tuple[str, int | None]:
    """The images API's own host: its image URLs may point back at it, even when it is internal."""
    url = httpx.URL(settings.api_base)
    return ascii_host(url), url.port or (443 if url.scheme == "https" else 80)


def _generate_remote(settings: ImageSettings, prompt: str, ctx: ToolContext) -> tuple[Attachment, str]:
    """The API's image, fetched through the browser's guard when it is a URL, checked like an upload."""
    limit = max_upload_mb() * 2**20
    ctx.progress = Progress(REQUESTING)
    reply = call_abandonable(
        lambda: request_image(settings, prompt, limit, API_TIMEOUT_S), API_TIMEOUT_S + 5, ctx.cancel
    )
    data = reply.data
    if data is None:
        ctx.progress = Progress(DOWNLOADING)
        browser = FetchSettings.from_env()
        capped = FetchSettings(browser.connect_timeout, browser.total_timeout, limit)
        try:
            budget = Budget.starting_now(browser.total_timeout, ctx.cancel)
            fetched = fetch(reply.url, capped, budget=budget, extra_allow=[_api_host(settings)])
        except (BlockedURL, FetchError) as exc:
            raise _Failed(f"the image at {reply.url} could not be fetched: {exc}") from exc
        if fetched.truncated:
            raise _Failed(
                f"the image at {reply.url} is over the {max_upload_mb()} MB upload limit (GLM_MAX_UPLOAD_MB)"
            )
        data = fetched.data
    return prepare_image(data, f"{FILE_STEM}.png"), f"{settings.api_model} at {settings.api_base}"


def _save(ctx: ToolContext, extension: str, data: bytes) -> Path:
    """`cogview-N.ext` in the conversation's folder, its filesystem mounted while the name is chosen
    (folderfs.py); a name taken meanwhile (by the kernel, say) gets " (2)", nothing is overwritten."""
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    with folderfs.held(ctx.workdir):
        taken = sum(1 for _ in ctx.workdir.glob(f"{FILE_STEM}-*"))
        return save_upload(ctx.workdir, f"{FILE_STEM}-{taken + 1}.{extension}", data)


def _folder() -> str:
    try:
        return MOUNT_POINT if KernelLimits.from_env().sandbox else "the working directory"
    except ConfigError:
        return MOUNT_POINT


def _observation(prompt: str, attachment: Attachment, size: tuple[int, int], source: str) -> str:
    shown = prompt if len(prompt) <= SHOWN_PROMPT_CHARS else prompt[: SHOWN_PROMPT_CHARS - 1] + "…"
    where = _folder()
    path = f"{where}/{attachment.name}" if where == MOUNT_POINT else f"{attachment.name} in {where}"
    kind = attachment.mime.split("/")[-1].upper()
    return (
        f"Generated one {size[0]}×{size[1]} {kind} image of: {shown}\n"
        f"It is shown to the user below your answer and saved as {path}. ({source})"
    )


def _generate(settings: ImageSettings, prompt: str, ctx: ToolContext) -> tuple[Attachment, str]:
    def on_wait(ahead: int) -> None:
        ctx.progress = Progress(WAITING, ahead)

    with LINE.turn(ctx.cancel, on_wait) as admitted:
        if not admitted:
            raise GenerationCancelled
        if settings.mode == "api":
            return _generate_remote(settings, prompt, ctx)
        return _generate_local(settings, prompt, ctx)


def run_cogview(text: str, ctx: ToolContext) -> ToolResult:
    """Draw one image for the prompt `text`; every failure comes back as an observation."""
    prompt = text.strip()
    if not prompt:
        return _error("no prompt; write an English description of the image after `cogview`")
    if len(prompt) > MAX_PROMPT_CHARS:
        return _error(f"the prompt is {len(prompt)} characters long; keep it under {MAX_PROMPT_CHARS}")
    try:
        settings = ImageSettings.from_env()
    except ConfigError as exc:
        return _error(str(exc))
    if settings.mode == "off":
        return _error("image generation is off (set GLM_IMAGE_MODEL or GLM_IMAGE_API_BASE)")
    try:
        attachment, source = _generate(settings, prompt, ctx)
    except (GenerationCancelled, Cancelled):
        return ToolResult("[cogview: cancelled by the user; no image was made]", is_error=True)
    except (ImageModelLoadError, ImageAPIError, _Failed) as exc:
        return _error(str(exc))
    except ImageError as exc:
        return _error(f"the generated image was refused: {exc}")
    except Exception as exc:
        return _error(f"the generation failed: {type(exc).__name__}: {exc}")
    extension = "jpg" if attachment.mime == "image/jpeg" else "png"
    try:
        saved = _save(ctx, extension, attachment.data or b"")
    except OSError as exc:
        return _error(f"the image was generated but could not be saved: {exc}")
    attachment.name = attachment.path = saved.name
    with Image.open(BytesIO(attachment.data or b"")) as image:
        size = image.size
    return ToolResult(
        _observation(prompt, attachment, size, source),
        attachments=[attachment],
        info={"image": {"file": saved.name, "prompt": prompt, "width": size[0], "height": size[1]}},
    )


def make_cogview_tool() -> Tool:
    return text_tool(
        "cogview",
        DESCRIPTION,
        "prompt",
        PROMPT_DESCRIPTION,
        run_cogview,
    )
