"""Models: connect the text and the vision model from the browser (a server or a checkpoint folder), or
build the tiny demo models; saved in the data directory, under any `GLM_*` variable that is set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.config import data_dir
from app.ui.gate import is_admin, require_user, through_navigation
from app.ui.i18n import plural, t
from app.ui.session import link_to_page
from models.saved import from_environment, is_configured, read_saved, write_saved
from models.server_probe import ProbeError, served_models
from models.settings import API_MODES, ModelSettings

EXAMPLE_API_BASE = "http://127.0.0.1:8000/v1"


@dataclass(frozen=True)
class Kind:
    """The variables one model (text or vision) is set by."""

    name: str
    backend: str
    model: str
    api_base: str
    api_key: str
    api_mode: str | None


TEXT = Kind("text", "GLM_BACKEND", "GLM_MODEL", "GLM_API_BASE", "GLM_API_KEY", "GLM_API_MODE")
VISION = Kind(
    "vision", "GLM_VISION_BACKEND", "GLM_VISION_MODEL", "GLM_VISION_API_BASE", "GLM_VISION_API_KEY", None
)


def names(kind: Kind) -> tuple[str, ...]:
    return tuple(n for n in (kind.backend, kind.model, kind.api_base, kind.api_key, kind.api_mode) if n)


def in_use(kind: Kind) -> str:
    if not is_configured(kind.name):
        return t("models.nothing_yet")
    settings = ModelSettings.from_env()
    on_server = runs_on_server(kind)
    base = settings.api_base if kind is TEXT else getattr(settings, "vision_api_base", settings.api_base)
    name = settings.model if kind is TEXT else settings.vision_model
    if on_server and not (read_saved().get(kind.model) or from_environment((kind.model,))):
        name = t("models.first_served")
    return f"{name} ({base if on_server else t('model.in_process')})"


def runs_on_server(kind: Kind) -> bool:
    """Whether the model in use is a server's, by variable or as saved (the vision model follows the
    text model's backend unless it has its own)."""
    settings = ModelSettings.from_env()
    backend = settings.backend if kind is TEXT else getattr(settings, "vision_backend", settings.backend)
    return backend == "openai"


def in_effect(name: str, saved: dict[str, str]) -> str:
    """A field's starting value: the variable's, when the environment sets it (it wins, so "Test
    connection" tests what is in use), else the saved one."""
    return os.environ.get(name, "").strip() or saved.get(name, "")


def test_connection(api_base: str, api_key: str) -> None:
    try:
        models = served_models(api_base, api_key)
    except ProbeError as exc:
        st.error(t("models.unreachable", why=str(exc)), icon=":material/cloud_off:")
        return
    if not models:
        st.warning(t("models.none_served"), icon=":material/warning:")
        return
    st.success(plural("models.reachable", len(models)), icon=":material/cloud_done:")
    rows = [{t("models.served"): m.id, t("models.context"): m.context or "?"} for m in models]
    st.dataframe(rows, hide_index=True, use_container_width=True)


def model_form(kind: Kind) -> None:
    """Where one model runs: a server (URL, key, mode, name) or a local checkpoint folder; Save."""
    saved = read_saved()
    st.caption(t("models.in_use", model=in_use(kind)))
    if overridden := from_environment(names(kind)):
        st.info(t("models.env_wins", names=", ".join(overridden)), icon=":material/terminal:")
    on_server = runs_on_server(kind)
    source = st.radio(
        t("models.source"),
        ("server", "folder"),
        index=0 if on_server else 1,
        format_func=lambda s: t(f"models.source_{s}"),
        key=f"models-{kind.name}-source",
        horizontal=True,
    )
    values: dict[str, str] = {}
    if source == "server":
        base = st.text_input(
            t("models.api_base"),
            in_effect(kind.api_base, saved),
            placeholder=EXAMPLE_API_BASE,
            key=f"models-{kind.name}-base",
        )
        key = st.text_input(
            t("models.api_key"),
            type="password",
            placeholder=t("models.api_key_kept") if saved.get(kind.api_key) else "EMPTY",
            key=f"models-{kind.name}-key",
        )
        if kind.api_mode:
            modes = list(API_MODES)
            mode = st.selectbox(
                t("models.api_mode"),
                modes,
                index=modes.index(saved[kind.api_mode]) if saved.get(kind.api_mode) in modes else 0,
                key=f"models-{kind.name}-mode",
                help=t("models.api_mode_help"),
            )
            values[kind.api_mode] = mode
        name = st.text_input(
            t("models.name"),
            in_effect(kind.model, saved) if on_server else "",
            placeholder=t("models.name_placeholder"),
            key=f"models-{kind.name}-name",
        )
        if st.button(t("models.test"), key=f"models-{kind.name}-test", icon=":material/network_check:"):
            test_connection(base.strip(), key.strip() or saved.get(kind.api_key, ""))
        values.update({kind.backend: "openai", kind.api_base: base, kind.model: name})
        values[kind.api_key] = key.strip() or saved.get(kind.api_key, "")
        ready = base.strip().lower().startswith(("http://", "https://"))
    else:
        folder = st.text_input(
            t("models.folder"),
            "" if on_server else saved.get(kind.model, ""),
            placeholder=str(data_dir() / ("tiny-glm" if kind is TEXT else "tiny-glm4v")),
            key=f"models-{kind.name}-folder",
        )
        values.update({kind.backend: "transformers", kind.model: folder})
        ready = bool(folder.strip())
        if ready and not (Path(folder).expanduser() / "config.json").is_file():
            st.warning(t("models.not_a_checkpoint", folder=folder), icon=":material/folder_off:")
            ready = False
    if st.button(t("models.save"), key=f"models-{kind.name}-save", type="primary", disabled=not ready):
        kept = {k: v for k, v in saved.items() if k not in names(kind)}
        write_saved({**kept, **values})
        st.success(t("models.saved"), icon=":material/check:")


def tiny_demo() -> None:
    """Build the tiny random-weight models into the data directory (a minute at most) and use them."""
    from models.tiny import build_text_checkpoint, build_vision_checkpoint

    root = data_dir()
    with st.status(t("models.tiny_building"), expanded=True) as status:
        st.write(t("models.tiny_text"))
        text = build_text_checkpoint(root / "tiny-glm")
        st.write(t("models.tiny_vision"))
        vision = build_vision_checkpoint(root / "tiny-glm4v")
        saved = read_saved()
        write_saved(
            {
                **saved,
                "GLM_BACKEND": "transformers",
                "GLM_MODEL": str(text),
                "GLM_VISION_BACKEND": "transformers",
                "GLM_VISION_MODEL": str(vision),
            }
        )
        status.update(label=t("models.tiny_done"), state="complete")
    link_to_page("pages/chat.py", "/", t("models.tiny_try"), ":material/arrow_forward:")


through_navigation()
require_user()
st.title(t("nav.models"))
if not is_admin():
    st.error(t("models.admins_only"), icon=":material/lock:")
    st.stop()
st.caption(t("models.intro", file=str(data_dir() / "models.json")))

with st.container(border=True):
    st.subheader(t("models.tiny_title"))
    st.caption(t("models.tiny_about"))
    if st.button(t("models.tiny_button"), key="models-tiny", icon=":material/science:"):
        tiny_demo()

text_tab, vision_tab = st.tabs([t("models.text"), t("models.vision")])
with text_tab:
    model_form(TEXT)
with vision_tab:
    model_form(VISION)
