"""The sidebar's note on image generation: off (and how to turn it on), or where images come from."""

from __future__ import annotations

import streamlit as st

from app.ui.i18n import t
from models.imagegen.local import loaded_model
from models.imagegen.settings import ImageSettings


def cogview_sidebar() -> None:
    settings = ImageSettings.from_env()
    if settings.mode == "off":
        st.info(t("cogview.sidebar.off"), icon=":material/image:")
        return
    if settings.mode == "api":
        text = t("cogview.sidebar.api", model=settings.api_model, base=settings.api_base, size=settings.size)
        st.caption(f":material/image: {text}")
        return
    text = t("cogview.sidebar.local", model=settings.model, size=settings.size, steps=settings.steps)
    st.caption(f":material/image: {text}")
    model = loaded_model(settings.model)
    if model is None:
        st.caption(t("cogview.sidebar.not_loaded"))
        return
    placement = model.placement
    if placement.where == "cpu" and placement.needed_gib:
        key = "cogview.sidebar.cpu_fallback"
    else:
        key = f"cogview.sidebar.{placement.where}"
    note = t(key, needed=placement.needed_gib, free=placement.free_gib)
    (st.warning if placement.where == "offload" or placement.needed_gib else st.caption)(note)
