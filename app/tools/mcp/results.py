"""An MCP tool result as an observation: text as it is, images as a note (shown in the step), resources
by name."""

from __future__ import annotations

import base64
import binascii
import json

import mcp_types as types

from app.images import ImageError, prepare_image
from app.tools.base import ToolResult
from models.messages import Attachment


def render_result(tool: str, result: types.CallToolResult) -> ToolResult:
    """The model reads the text; images travel as attachments the step shows."""
    parts: list[str] = []
    attachments: list[Attachment] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ImageContent):
            parts.append(_image(tool, block, len(attachments) + 1, attachments))
        elif isinstance(block, types.AudioContent):
            parts.append(f"[audio ({block.mime_type}, {_size(block.data)}): not shown]")
        elif isinstance(block, types.ResourceLink):
            parts.append(_resource_line(block.name, str(block.uri), block.description))
        elif isinstance(block, types.EmbeddedResource):
            parts.append(_embedded(block.resource))
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    content = "\n".join(parts)
    if result.is_error:
        return ToolResult(f"{tool} reported an error: {content or '(no details)'}", "system_error", True)
    return ToolResult(content, attachments=attachments)


def _image(tool: str, block: types.ImageContent, number: int, attachments: list[Attachment]) -> str:
    try:
        data = base64.b64decode(block.data, validate=True)
        image = prepare_image(data, f"{tool} image {number}")
    except (binascii.Error, ValueError, ImageError) as exc:
        reason = str(exc) if isinstance(exc, ImageError) else "its data is not valid base64"
        return f"[an image ({block.mime_type}) that can't be shown: {reason}]"
    attachments.append(image)
    return f"[image {number}: {block.mime_type}, {_size(block.data)}, shown to the user]"


def _embedded(resource: types.TextResourceContents | types.BlobResourceContents) -> str:
    uri = str(resource.uri)
    if isinstance(resource, types.TextResourceContents):
        return f"{_resource_line(uri, '', None)}\n{resource.text}"
    mime = f"{resource.mime_type}, " if resource.mime_type else ""
    return f"[resource {uri} ({mime}{_size(resource.blob)})]"


def _resource_line(name: str, uri: str, description: str | None) -> str:
    where = f" <{uri}>" if uri and uri != name else ""
    about = f": {description}" if description else ""
    return f"[resource {name}{where}{about}]"


def _size(encoded: str) -> str:
    size = len(encoded) * 3 // 4
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"
