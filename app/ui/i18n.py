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
    "gate.wait": (
        "Too many failed attempts. Try again in {seconds} s.",
        "失败次数过多，请 {seconds} 秒后再试。",
    ),
    "gate.wrong": ("Wrong user name or password.", "用户名或密码错误。"),
    "gate.exposed": (
        "This app is reachable from other machines and nobody signs in: anyone who can reach it "
        "uses it as you. Set GLM_AUTH, or start it on 127.0.0.1 (see the README).",
        "本应用可被其他机器访问且未启用登录：任何能访问它的人都以你的身份使用它。"
        "请设置 GLM_AUTH，或只在 127.0.0.1 上启动（见 README）。",
    ),
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
