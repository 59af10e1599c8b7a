"""The few looks Streamlit has no option for, as style rules: the conversation list reads like a list
(left-aligned titles, the open one highlighted like the page it is on), and a file uploader's own
words ("Upload", "50MB per file") in the session's language, stating the limit the app enforces.

Style-only `st.html` goes to Streamlit's event container, so none of this takes room on the page.
"""

from __future__ import annotations

import json

import streamlit as st

from app.ui.i18n import t

WORKSPACES = ("chat", "documents", "vision")


def _in_list(selector: str) -> str:
    """`selector` inside any workspace's conversation list (its buttons' keys are `<workspace>-open-<id>`)."""
    return ", ".join(f'[class*="st-key-{w}-open-"] {selector}' for w in WORKSPACES)


PAGE_STYLE = f"""
{_in_list("button")} {{ justify-content: flex-start; padding-left: 0.75rem; }}
{_in_list("button > div")} {{ justify-content: flex-start; }}
{_in_list("button > div, button span, button [data-testid=stMarkdownContainer]")} {{ min-width: 0; }}
{_in_list("button p")} {{ text-align: left; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
{_in_list("[data-testid=stBaseButton-secondary]")} {{
  background: rgba(151, 166, 195, 0.25); border-color: transparent; font-weight: 600;
}}
"""


def page_style() -> None:
    st.html(f"<style>{PAGE_STYLE}</style>")


def css_string(text: str) -> str:
    """`text` as a CSS string literal: quotes and backslashes escaped as JSON does (valid in CSS),
    other characters as they are, and no "<" that could close the style element."""
    return json.dumps(text, ensure_ascii=False).replace("<", "\\3C ")


def uploader_words(key: str, limit_mb: int, types: str = "") -> None:
    """Say the uploader `key`'s button and limit in the session's language (Streamlit writes them in
    English), with the limit the app enforces, worded like the help text."""
    scope = f".st-key-{key} [data-testid=stFileUploaderDropzone]"
    button = css_string(t("upload.button"))
    limit = css_string(t("upload.per_file", mb=limit_mb) + (f" · {types}" if types else ""))
    st.html(
        "<style>"
        f"{scope} button [data-testid=stMarkdownContainer] p {{ display: none; }}"
        f"{scope} button [data-testid=stMarkdownContainer]::after {{ content: {button}; }}"
        f"{scope} [data-testid=stFileUploaderDropzoneInstructions] span {{ font-size: 0; }}"
        f"{scope} [data-testid=stFileUploaderDropzoneInstructions] span::after "
        f"{{ content: {limit}; font-size: 0.875rem; }}"
        "</style>"
    )
