"""GLM Studio: a Streamlit agent workbench for the GLM-4 model family."""
