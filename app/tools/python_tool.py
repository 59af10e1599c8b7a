"""The `python` tool: GLM-4's code interpreter, a stateful sandboxed Jupyter kernel per browser
session, working in the open conversation's folder (its /mnt/data)."""

from __future__ import annotations

import mimetypes

from app.sandbox import registry
from app.sandbox.errors import KernelStartError, SandboxUnavailableError
from app.sandbox.files import changed_files, snapshot
from app.sandbox.limits import KernelLimits
from app.sandbox.notebook import outputs_record
from app.sandbox.outputs import ExecutionResult, cap_text
from app.sandbox.spec import MOUNT_POINT
from app.tools.base import Tool, ToolContext, ToolResult, text_tool
from models.messages import Attachment
from models.protocols.base import strip_code_fence

DESCRIPTION = (
    "Run Python code in a stateful Jupyter kernel. Variables and imports persist between calls. "
    "Files in {where} are kept and shown to the user. Each cell may run for at most {timeout} "
    "seconds; there is no internet access. numpy, pandas and matplotlib are installed; plots are "
    "shown inline."
)
UNSANDBOXED = "the working directory (relative paths)"
MAX_FILES_LISTED = 20
# ctx.state[STATE_KEY]["kernel"]: the kernel the conversation's last cell ran on. Kept with the
# conversation, so after a reload, a restart or an idle shutdown the model is told its variables are gone.
STATE_KEY = "python"
_IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


def _folder(limits: KernelLimits) -> str:
    return f"{MOUNT_POINT} (the working directory)" if limits.sandbox else UNSANDBOXED


def _observation(result: ExecutionResult, files: list[str], limits: KernelLimits) -> str:
    text = cap_text(result.text(), limits.max_output)
    if files:
        shown = ", ".join(f"{MOUNT_POINT}/{f}" if limits.sandbox else f for f in files[:MAX_FILES_LISTED])
        more = f" and {len(files) - MAX_FILES_LISTED} more" if len(files) > MAX_FILES_LISTED else ""
        where = MOUNT_POINT if limits.sandbox else "the working directory"
        text += f"\n[files in {where} written by this cell: {shown}{more}]"
    if not text.strip():
        text = "[the cell ran without output]" if result.status == "ok" else f"[{result.status}]"
    return text


def _image_attachments(result: ExecutionResult) -> list[Attachment]:
    """Images shown in the chat; SVG is a file to download (it is markup, never rendered inline)."""
    return [
        Attachment(
            kind="file" if mime == "image/svg+xml" else "image",
            name=f"output-{i + 1}.{_IMAGE_EXTENSIONS[mime]}",
            mime=mime,
            data=data,
        )
        for i, (mime, data) in enumerate(result.images)
    ]


def run_python(text: str, ctx: ToolContext) -> ToolResult:
    """Execute `text` in the session's kernel; every failure comes back as an observation."""
    code = strip_code_fence(text)
    if ctx.cancel.is_set():
        return ToolResult(content="[cancelled by the user before running]", is_error=True)
    try:
        limits = KernelLimits.from_env()
        session = registry.get_session(ctx.session_id, ctx.workdir)
        before = snapshot(ctx.workdir)
        seen = ctx.state.get(STATE_KEY, {}).get("kernel")
        result = session.execute(code, cancel=ctx.cancel, since=seen)
        ctx.state[STATE_KEY] = {"kernel": session.kernel_id}
        changed = changed_files(ctx.workdir, before)
    except (SandboxUnavailableError, KernelStartError, RuntimeError, ValueError, OSError) as exc:
        return ToolResult(content=f"[python is unavailable: {exc}]", is_error=True)
    images = _image_attachments(result)
    files = [
        Attachment(
            kind="file",
            name=name,
            mime=mimetypes.guess_type(name)[0] or "application/octet-stream",
            path=name,
        )
        for name in changed
    ]
    return ToolResult(
        content=_observation(result, changed, limits),
        is_error=result.status != "ok",
        attachments=images + files,
        info={
            "status": result.status,
            "execution_count": result.execution_count,
            "duration_s": round(result.duration_s, 3),
            "outputs": outputs_record(result, limits.max_output, [a.name for a in images]),
        },
    )


def make_python_tool() -> Tool:
    limits = KernelLimits.from_env()
    return text_tool(
        "python",
        DESCRIPTION.format(where=_folder(limits), timeout=limits.timeout_s),
        "code",
        "The Python code to run.",
        run_python,
    )
