"""Streamlit entry point: `streamlit run app/main.py` from the repository root."""

import sys
from pathlib import Path

# `streamlit run` puts app/ on sys.path, not the repository root that holds the `app` and `models` packages.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app.ui.downloads import serve_downloads_once  # noqa: E402
from app.ui.gate import current_user, exposure_warning, is_admin, sign_in_page, sign_out_button  # noqa: E402
from app.ui.i18n import language_picker, t  # noqa: E402
from app.ui.style import page_style  # noqa: E402

st.set_page_config(page_title="GLM Studio", page_icon=":material/auto_awesome:", layout="wide")
page_style()
serve_downloads_once()

PAGES = [
    st.Page("pages/chat.py", title=t("nav.chat"), icon=":material/construction:", url_path="", default=True),
    st.Page(
        "pages/documents.py", title=t("nav.documents"), icon=":material/description:", url_path="documents"
    ),
    st.Page("pages/vision.py", title=t("nav.vision"), icon=":material/image:", url_path="vision"),
]

# st.navigation on every run, signed in or not: a run without it would fall back to Streamlit's
# automatic pages/ folder, which serves the workspaces to anyone. Signed out, every workspace's
# address shows the sign-in form, and signing in there opens that workspace.
if current_user() is None:
    SIGN_IN = [
        st.Page(
            sign_in_page,
            title=t("signin.button"),
            url_path=page.url_path or "sign-in",
            default=not page.url_path,
        )
        for page in PAGES
    ]
    page = st.navigation(SIGN_IN, position="hidden")
    language_picker()
    page.run()
else:
    settings = [st.Page("pages/models.py", title=t("nav.models"), icon=":material/tune:", url_path="models")]
    page = st.navigation(PAGES + settings if is_admin() else PAGES)
    language_picker()
    sign_out_button()
    exposure_warning()
    page.run()
