"""A conversation's python cells (and the images `cogview` drew) as a Jupyter notebook, rebuilt from
its stored calls and observations.

The notebook comes from the conversation, not from a kernel's memory, so it survives a reload, a
restart of the app or of the kernel. The python tool stores each cell's outputs in nbformat terms in
the observation's `info` (`outputs_record`), with images pointing at the observation's attachments
by name; observations stored without a record become one text output plus their images.
"""

from __future__ import annotations

import base64
from typing import Any

import nbformat
from nbformat import v4

from app.sandbox.outputs import IMAGE_TYPES, ExecutionResult, cap_text, strip_ansi
from models.messages import Attachment, Message
from models.protocols.base import strip_code_fence

MAX_RECORDED_OUTPUTS = 100
_MIN_TEXT = 200
_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _text_data(data: dict[str, Any]) -> dict[str, str]:
    """The text representations (plain, HTML, Markdown, LaTeX); images are kept as attachments."""
    return {
        mime: value for mime, value in data.items() if mime.startswith("text/") and isinstance(value, str)
    }


def outputs_record(result: ExecutionResult, limit: int, image_names: list[str]) -> list[dict[str, Any]]:
    """The cell's outputs, JSON-safe and about `limit` characters in all, for the observation's info.

    `image_names` are the names of the attachments holding `result.images`, in the same order.
    """
    record: list[dict[str, Any]] = [
        {"output_type": "stream", "name": "stderr", "text": f"[{note}]\n"} for note in result.notes
    ]
    budget, names = limit, iter(image_names)

    def capped(text: str) -> str:
        nonlocal budget
        text = cap_text(strip_ansi(text), max(budget, _MIN_TEXT))
        budget -= len(text)
        return text

    for out in result.outputs[:MAX_RECORDED_OUTPUTS]:
        content = out.content
        if out.output_type == "stream":
            record.append({"output_type": "stream", "name": content["name"], "text": capped(content["text"])})
        elif out.output_type == "error":
            traceback = capped("\n".join(content.get("traceback", [])))
            record.append(
                {
                    "output_type": "error",
                    "ename": str(content.get("ename", "Error")),
                    "evalue": str(content.get("evalue", "")),
                    "traceback": traceback.split("\n"),
                }
            )
        else:
            entry = {
                "output_type": out.output_type,
                "data": {mime: capped(text) for mime, text in _text_data(content.get("data", {})).items()},
            }
            if out.output_type == "execute_result":
                entry["execution_count"] = content.get("execution_count")
            if out.image is not None:
                entry["image"] = next(names, None)
            record.append(entry)
    if len(result.outputs) > MAX_RECORDED_OUTPUTS:
        dropped = len(result.outputs) - MAX_RECORDED_OUTPUTS
        record.append({"output_type": "stream", "name": "stderr", "text": f"[{dropped} more outputs]\n"})
    if result.error and result.status != "error":
        record.append({"output_type": "stream", "name": "stderr", "text": f"[{result.error}]\n"})
    return record


def _image_data(attachment: Attachment) -> dict[str, str]:
    if attachment.data is None or attachment.mime not in IMAGE_TYPES:
        return {}
    if attachment.mime == "image/svg+xml":
        return {attachment.mime: attachment.data.decode(errors="replace")}
    return {attachment.mime: base64.b64encode(attachment.data).decode()}


def _from_record(record: list[dict[str, Any]], attachments: list[Attachment]) -> list[Any]:
    by_name = {a.name: a for a in attachments}
    outputs = []
    for entry in record:
        entry = dict(entry)
        kind = entry.pop("output_type")
        image = entry.pop("image", None)
        if image in by_name:
            entry["data"] = {**entry.get("data", {}), **_image_data(by_name[image])}
        outputs.append(v4.new_output(kind, **entry))
    return outputs


def _fallback(observation: Message) -> list[Any]:
    """An observation stored without a record: its text, then its images."""
    outputs = [v4.new_output("stream", name="stdout", text=observation.content)]
    for attachment in observation.attachments:
        if data := _image_data(attachment):
            outputs.append(v4.new_output("display_data", data=data))
    return outputs


def _observation_for(messages: list[Message], i: int) -> Message | None:
    call = messages[i]
    following = messages[i + 1] if i + 1 < len(messages) else None
    if following is None or following.role != "observation":
        return None
    if call.tool_call_id and following.tool_call_id and call.tool_call_id != following.tool_call_id:
        return None
    return following


def _image_cell(call: Message, observation: Message | None) -> Any:
    """A `cogview` call as a Markdown cell: its prompt, then the image it drew (a cell attachment)."""
    attachments = {
        a.name: data
        for a in (observation.attachments if observation is not None else [])
        if a.kind == "image" and (data := _image_data(a))
    }
    lines = [f"**cogview**: {call.content.strip()}"]
    lines += [f"![{name}](attachment:{name.replace(' ', '%20')})" for name in attachments]
    if observation is not None and not attachments:
        lines.append(f"> {observation.content.strip()}")
    return v4.new_markdown_cell("\n\n".join(lines), attachments=attachments or None)


def notebook_from_messages(messages: list[Message]) -> str:
    """Every python call of the conversation as a code cell with its outputs, and every image drawn by
    `cogview` as a Markdown cell, in order (nbformat v4, validated)."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = _KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, message in enumerate(messages):
        if message.is_tool_call and message.metadata == "cogview":
            nb.cells.append(_image_cell(message, _observation_for(messages, i)))
            continue
        if not (message.is_tool_call and message.metadata == "python"):
            continue
        observation = _observation_for(messages, i)
        outputs, count = [], None
        if observation is not None:
            record = observation.info.get("outputs")
            outputs = (
                _from_record(record, observation.attachments)
                if isinstance(record, list)
                else _fallback(observation)
            )
            count = observation.info.get("execution_count")
        cell = v4.new_code_cell(strip_code_fence(message.content), outputs=outputs)
        cell.execution_count = count if isinstance(count, int) else None
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nbformat.writes(nb)
