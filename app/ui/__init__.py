"""The UI's shared Streamlit helpers: session state, sign-in gate, chat rendering, the conversation and
file sidebars, and safe Markdown. Pages build on these; nothing below the UI imports them."""
