"""Placeholder until the documents workspace lands."""

import streamlit as st

st.title("documents")
st.info("This workspace is coming soon.")
