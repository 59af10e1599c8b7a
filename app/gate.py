"""Who is using the app: the local user by default, or a signed-in user (`GLM_AUTH`)."""

from __future__ import annotations

import streamlit as st

from app.auth import LOCAL_USER, AuthConfigError, auth_mode, oidc_user_id, verify_password


def signed_in() -> bool:
    """True once `st.session_state["user_id"]` is set; otherwise draws the sign-in form."""
    if "user_id" in st.session_state:
        return True
    try:
        mode = auth_mode()
    except AuthConfigError as exc:
        st.error(str(exc))
        return False
    if mode == "none":
        st.session_state["user_id"] = LOCAL_USER
        return True
    if mode == "oidc":
        return _oidc()
    return _password_form()


def _oidc() -> bool:
    if st.user.is_logged_in:
        st.session_state["user_id"] = oidc_user_id(dict(st.user))
        return True
    st.title("GLM Studio")
    st.button("Sign in", on_click=st.login, type="primary")
    return False


def _password_form() -> bool:
    st.title("GLM Studio")
    with st.form("sign-in"):
        username = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            ok = verify_password(username, password)
        except AuthConfigError as exc:
            st.error(str(exc))
            return False
        if ok:
            st.session_state["user_id"] = username
            st.rerun()
        st.error("Wrong user name or password.")
    return False
