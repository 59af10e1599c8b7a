"""The `python` tool: GLM-4's code interpreter, a stateful sandboxed Jupyter kernel per browser
session, working in the open conversation's folder (its /mnt/data)."""

from __future__ import annotations

import mimetypes

from app.sandbox import registry
from app.sandbox.errors import KernelStartError, SandboxUnavailableError
from app.sandbox.files import changed_files, snapshot
from app.sandbox.limits import KernelLimits
from app.sandbox.notebook import outputs_record
from app.sandbox.outputs import ExecutionResult, Output, cap_text
from app.sandbox.spec import MOUNT_POINT
from app.tools.base import LiveOutput, Tool, ToolContext, ToolResult, stopped_observation, text_tool
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
        ctx.output = live = LiveOutput(limits.max_output)
        started_on = session.kernel_id
        result = session.execute(code, cancel=ctx.cancel, since=seen, on_output=live.write)
        stopped = result.status == "interrupted" and ctx.cancel.is_set()
        # A stopped cell's kernel may have been restarted; remembering the one it started on makes
        # the next cell say so (a kernel of the session that was never used gives no such note).
        ctx.state[STATE_KEY] = {"kernel": started_on if stopped and started_on else session.kernel_id}
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
    info = {
        "status": result.status,
        "execution_count": result.execution_count,
        "duration_s": round(result.duration_s, 3),
        "outputs": outputs_record(result, limits.max_output, [a.name for a in images]),
    }
    if stopped:
        return _stopped_result(result, changed, limits, images + files, info)
    return ToolResult(
        content=_observation(result, changed, limits),
        is_error=result.status != "ok",
        attachments=images + files,
        info=info,
    )


def _stopped_result(
    result: ExecutionResult,
    changed: list[str],
    limits: KernelLimits,
    attachments: list[Attachment],
    info: dict[str, object],
) -> ToolResult:
    """A cell the user stopped: for the model, the same stopped observation a turn closed mid-call
    gets (`stopped_observation`), with the kernel's own account (state kept or lost) after the
    output; for the step, the output alone (`info["output"]`), as printed until the stop."""
    printed = "".join(out.text() for out in result.outputs if not _interrupt_traceback(out))
    printed = cap_text(printed, limits.max_output)
    return ToolResult(
        content=stopped_observation(_observation(result, changed, limits)),
        attachments=attachments,
        info={**info, "stopped": True, "output": printed},
    )


def _interrupt_traceback(out: Output) -> bool:
    """The KeyboardInterrupt the stop itself raised in the cell: noise on the step's output."""
    return out.output_type == "error" and out.content.get("ename") == "KeyboardInterrupt"


def make_python_tool() -> Tool:
    limits = KernelLimits.from_env()
    return text_tool(
        "python",
        DESCRIPTION.format(where=_folder(limits), timeout=limits.timeout_s),
        "code",
        "The Python code to run.",
        run_python,
    )
