"""The `simple_browser` tool: web search, readable pages, per-conversation citations, an SSRF guard."""

from app.tools.browser.citations import render_citations
from app.tools.browser.search import search_backend_problem, search_setup_hint
from app.tools.browser.tool import make_browser_tool

__all__ = ["make_browser_tool", "render_citations", "search_backend_problem", "search_setup_hint"]
