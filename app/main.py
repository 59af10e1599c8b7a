"""Streamlit entry point: `streamlit run app/main.py` from the repository root."""

import sys
from pathlib import Path

# `streamlit run` puts app/ on sys.path, not the repository root that holds the `app` and `models` packages.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app.gate import signed_in  # noqa: E402

st.set_page_config(page_title="GLM Studio", page_icon=":material/auto_awesome:", layout="wide")

PAGES = [
    st.Page("pages/chat.py", title="All Tools", icon=":material/construction:", url_path="", default=True),
    st.Page("pages/documents.py", title="Long document", icon=":material/description:", url_path="documents"),
    st.Page("pages/vision.py", title="Vision", icon=":material/image:", url_path="vision"),
]

if signed_in():
    st.navigation(PAGES).run()
