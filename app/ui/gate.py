"""Who is using the app: the local user by default, or a signed-in user (`GLM_AUTH`).

`main.py` asks `current_user()` on every run and gives a signed-out browser a navigation that holds
only the sign-in page. Workspace pages also call `require_user()` (through `session.conversation`):
Streamlit runs a file of `app/pages/` directly when a fresh server's first request names it, before
any `st.navigation` call, and that run must not reach anyone's data either.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import runpy
import uuid
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from app.auth import (
    LOCAL_USER,
    AttemptLimiter,
    AuthConfigError,
    attempt_keys,
    auth_mode,
    oidc_user_id,
    password_user_id,
    sign_in,
)
from app.config import check_settings, env_str
from app.ui.i18n import t

MAIN_SCRIPT = Path(__file__).resolve().parent.parent / "main.py"
USER_KEY = "user_id"


@st.cache_resource(show_spinner=False)
def attempt_limiter() -> AttemptLimiter:
    """Failed password attempts, counted per process across every browser session."""
    return AttemptLimiter()


def current_user() -> str | None:
    """The user id of this browser session, or None until someone signs in. Draws nothing."""
    if user := st.session_state.get(USER_KEY):
        return user
    try:
        mode = auth_mode()
    except AuthConfigError:
        return None
    if mode == "none":
        st.session_state[USER_KEY] = LOCAL_USER
        return LOCAL_USER
    if mode == "oidc" and st.user.get("is_logged_in"):
        try:
            st.session_state[USER_KEY] = oidc_user_id(st.user.to_dict())
        except AuthConfigError:
            return None
        return st.session_state[USER_KEY]
    return None


def through_navigation() -> None:
    """Run `app/main.py` in place of a run that skipped it, then end this run.

    Until some run of a process has called `st.navigation`, Streamlit treats `app/pages/` as an
    automatic pages folder: a first request for `/documents` runs that file directly, without the
    navigation, the page setup or the sign-in gate. `main.py` (its `st.navigation` ends that mode)
    then runs the workspace the address names within this same run, so the user's input is kept.
    """
    if PagesManager.uses_pages_directory:
        runpy.run_path(str(MAIN_SCRIPT), run_name="__main__")
        st.stop()


def require_user() -> str:
    """The signed-in user; without one, this run shows the sign-in page and stops there."""
    user = current_user()
    if user is None:
        sign_in_page()
        st.stop()
    return user


def require_valid_settings() -> None:
    """Unusable `GLM_*` settings are all listed, with the chat box disabled, and this run stops there
    instead of failing halfway with a traceback."""
    problems = check_settings()
    if not problems:
        return
    for problem in problems:
        st.error(str(problem), icon=":material/settings:")
    st.caption(t("settings.fix_env"))
    st.chat_input(t("settings.fix_first"), disabled=True, key="settings-input-off")
    st.stop()


def sign_in_page() -> None:
    """The only page a signed-out browser gets: the password form or the identity provider's button."""
    st.title("GLM Studio")
    try:
        mode = auth_mode()
    except AuthConfigError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if mode == "oidc":
        _oidc_button()
    elif mode == "password":
        _password_form()


def _oidc_button() -> None:
    if problem := oidc_setup_problem():
        st.error(problem, icon=":material/error:")
        return
    if st.user.get("is_logged_in"):
        st.error(t("signin.no_claims"))
    st.button(t("signin.button"), on_click=st.login, type="primary", key="sign-in-oidc")


def oidc_setup_problem() -> str | None:
    """What is missing for `st.login` to work, said in terms of what to install or configure."""
    if importlib.util.find_spec("authlib") is None:
        return t("signin.needs_authlib")
    auth = st.secrets.get("auth") if st.secrets.load_if_toml_exists() else None
    missing = [key for key in ("redirect_uri", "cookie_secret") if not auth or key not in auth]
    if missing:
        return t("signin.needs_secrets", missing=t("common.and").join(missing))
    return None


def _password_form() -> None:
    with st.form("sign-in"):
        username = st.text_input(t("signin.user"))
        password = st.text_input(t("signin.password"), type="password")
        submitted = st.form_submit_button(t("signin.button"), type="primary", key="sign-in-submit")
    if not submitted:
        return
    keys = attempt_keys(username, _browser_session(), st.context.ip_address)
    try:
        result = sign_in(attempt_limiter(), username, password, keys)
    except AuthConfigError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if result.wait_s > 0:
        st.error(t("gate.wait", seconds=math.ceil(result.wait_s)), icon=":material/timer:")
        return
    if not result.ok:
        st.error(t("gate.wrong"))
        return
    st.session_state[USER_KEY] = password_user_id(username)
    st.rerun()


def _display_name(mode: str) -> str:
    if mode == "oidc":
        return str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or "")
    return str(st.session_state.get(USER_KEY, "")).removeprefix("pw:")


def _browser_session() -> str:
    return st.session_state.setdefault("sign-in-session", uuid.uuid4().hex)


def listens_beyond_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` (Streamlit's `server.address`; empty: every interface)
    can be reached from other machines."""
    if not address:
        return True
    if address == "localhost" or address.startswith("unix://"):
        return False
    try:
        return not ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return True  # a host name: it may resolve to anything


def is_admin() -> bool:
    """Who may change the models: anyone when nobody signs in, else the user ids in `GLM_ADMINS`
    (comma-separated, as the app names users: `pw:alice`, `oidc:ISSUER#SUBJECT`)."""
    try:
        mode = auth_mode()
    except AuthConfigError:
        return False
    if mode == "none":
        return True
    admins = {name.strip() for name in env_str("GLM_ADMINS").split(",") if name.strip()}
    return current_user() in admins


def exposure_warning() -> None:
    """Warn on every page when the app is reachable from the network with nobody signing in."""
    try:
        mode = auth_mode()
    except AuthConfigError:
        return
    if mode == "none" and listens_beyond_loopback(st.get_option("server.address")):
        st.sidebar.warning(t("gate.exposed"), icon=":material/public:")


def sign_out_button() -> None:
    """Sign out (in the sidebar) when a sign-in mode is on: OIDC logs out with the provider, a password
    session is wiped, so the next person at this browser starts at the sign-in form."""
    try:
        mode = auth_mode()
    except AuthConfigError:
        return
    if mode == "none":
        return
    st.sidebar.caption(f":material/person: {_display_name(mode)}")
    if st.sidebar.button(
        ":material/logout: " + t("signin.sign_out"), key="sign-out", use_container_width=True
    ):
        st.session_state.clear()
        st.query_params.clear()
        if mode == "oidc":
            st.logout()
        st.rerun()
