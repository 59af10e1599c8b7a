"""Placeholder until the vision workspace lands."""

import streamlit as st

st.title("vision")
st.info("This workspace is coming soon.")
