"""The `python` tool: GLM-4's code interpreter, a stateful sandboxed Jupyter kernel per session."""

from __future__ import annotations

import mimetypes

from app.sandbox import registry
from app.sandbox.errors import KernelStartError, SandboxUnavailableError
from app.sandbox.files import changed_files, snapshot
from app.sandbox.limits import KernelLimits
from app.sandbox.outputs import ExecutionResult, cap_text
from app.tools.base import Tool, ToolContext, ToolResult
from models.messages import Attachment
from models.parser import strip_code_fence

DESCRIPTION = (
    "Run Python code in a stateful Jupyter kernel. Variables and imports persist between calls. "
    "Files in /mnt/data (the working directory) are kept and shown to the user. Each cell may run "
    "for at most {timeout} seconds; there is no internet access. numpy, pandas and matplotlib are "
    "installed; plots are shown inline."
)
MAX_FILES_LISTED = 20


def _observation(result: ExecutionResult, files: list[str], limit: int) -> str:
    text = cap_text(result.text(), limit)
    if files:
        shown = ", ".join(files[:MAX_FILES_LISTED])
        more = f" and {len(files) - MAX_FILES_LISTED} more" if len(files) > MAX_FILES_LISTED else ""
        text += f"\n[files in /mnt/data written by this cell: {shown}{more}]"
    if not text.strip():
        text = "[the cell ran without output]" if result.status == "ok" else f"[{result.status}]"
    return text


def run_python(text: str, ctx: ToolContext) -> ToolResult:
    """Execute `text` in the session's kernel; every failure comes back as an observation."""
    code = strip_code_fence(text)
    if ctx.cancel.is_set():
        return ToolResult(content="[cancelled by the user before running]", is_error=True)
    try:
        limits = KernelLimits.from_env()
        session = registry.get_session(ctx.session_id, ctx.workdir)
        before = snapshot(ctx.workdir)
        result = session.execute(code, cancel=ctx.cancel)
        changed = changed_files(ctx.workdir, before)
    except (SandboxUnavailableError, KernelStartError, RuntimeError, ValueError, OSError) as exc:
        return ToolResult(content=f"[python is unavailable: {exc}]", is_error=True)
    names = [str(p.relative_to(ctx.workdir)) for p in changed]
    attachments = [
        Attachment(kind="image", name=f"output-{i + 1}.png", mime="image/png", data=png)
        for i, png in enumerate(result.images)
    ]
    attachments += [
        Attachment(
            kind="file",
            name=name,
            mime=mimetypes.guess_type(name)[0] or "application/octet-stream",
            path=str(path),
        )
        for name, path in zip(names, changed, strict=True)
    ]
    return ToolResult(
        content=_observation(result, [f"/mnt/data/{n}" for n in names], limits.max_output),
        is_error=result.status != "ok",
        attachments=attachments,
        info={
            "status": result.status,
            "execution_count": result.execution_count,
            "duration_s": round(result.duration_s, 3),
        },
    )


def make_python_tool() -> Tool:
    return Tool(
        name="python",
        description=DESCRIPTION.format(timeout=KernelLimits.from_env().timeout_s),
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
        run=run_python,
        builtin=True,
        text_from_arguments=lambda a: a["code"],
        arguments_from_text=lambda t: {"code": t},
    )
