"""Every string the UI shows, in English and Chinese, in one catalogue.

`t("area.key", name=value)` returns the text in the session's language: the one chosen in the sidebar,
else the browser's (`st.context.locale`), else English. Keys are grouped by area (`chat.`, `docs.`,
`vision.`, `sidebar.`, ...); each entry is `(English, 中文)` with the same `{placeholders}`.
"""

from __future__ import annotations

import streamlit as st

LANGUAGES = ("en", "zh")
LANGUAGE_KEY = "ui_language"

CATALOGUE: dict[str, tuple[str, str]] = {
    "sidebar.language": ("Language", "语言"),
}


def language() -> str:
    """The session's language code: the sidebar's choice, else the browser's, else English."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    locale = (st.context.locale or "").lower()
    return "zh" if locale.startswith("zh") else "en"


def t(key: str, **values: object) -> str:
    english, chinese = CATALOGUE[key]
    text = chinese if language() == "zh" else english
    return text.format(**values) if values else text
