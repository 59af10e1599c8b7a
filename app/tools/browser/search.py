"""Web search backends, chosen by `GLM_SEARCH_BACKEND`: searxng, duckduckgo, brave, tavily."""

from __future__ import annotations

import html
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import httpx
from ddgs import DDGS
from ddgs.exceptions import DDGSException

from app.config import SEARCH_BACKENDS, env_str
from app.tools.browser.budget import Budget, Cancelled, call_abandonable
from app.tools.browser.fetch import FetchError, FetchSettings, fetch
from app.tools.browser.guard import BlockedURL, allow_problems, ascii_host

MAX_RESULTS = 10
BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
TAVILY_URL = "https://api.tavily.com/search"
_SETUP = (
    "Set GLM_SEARCH_BACKEND to one of: searxng (with GLM_SEARXNG_URL, e.g. http://127.0.0.1:8888), "
    "duckduckgo (no key), brave (with GLM_BRAVE_API_KEY) or tavily (with GLM_TAVILY_API_KEY)."
)
_REQUIRED = {"searxng": "GLM_SEARXNG_URL", "brave": "GLM_BRAVE_API_KEY", "tavily": "GLM_TAVILY_API_KEY"}
_DDGS_NO_RESULTS = "No results found."


class SearchUnavailable(RuntimeError):
    """No usable search backend is configured."""


class SearchFailed(RuntimeError):
    """The backend was reached but the search did not succeed."""


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str


_PROBLEMS = {
    "off": "Web search is off. {setup}",
    "unknown": "Unknown GLM_SEARCH_BACKEND {backend!r}. {setup}",
    "missing": "GLM_SEARCH_BACKEND is {backend!r} but {needed} is not set.",
}


def search_setup_hint() -> str | None:
    """What the sidebar should tell the admin about the browser's setup, or None when all is well.

    Covers a missing or incomplete search backend and ignored `GLM_BROWSER_ALLOW` entries.
    """
    notes = [note for note in (_backend_problem(), *allow_problems()) if note]
    return "\n\n".join(notes) or None


def _backend_problem() -> str | None:
    """The search backend's problem in English (for the admin's notes and the model's observation)."""
    problem = search_backend_problem()
    return _PROBLEMS[problem[0]].format(setup=_SETUP, **problem[1]) if problem else None


def search_backend_problem() -> tuple[str, dict[str, str]] | None:
    """What is wrong with the search backend's setup as a kind ("off", "unknown", "missing") and the
    values its text needs (the UI says it in the user's language), or None when nothing is."""
    backend = env_str("GLM_SEARCH_BACKEND").lower()
    if not backend:
        return "off", {}
    if backend not in SEARCH_BACKENDS:
        return "unknown", {"backend": backend}
    needed = _REQUIRED.get(backend)
    if needed and not env_str(needed):
        return "missing", {"backend": backend, "needed": needed}
    return None


def web_search(
    query: str, recency_days: int | None = None, cancel: threading.Event | None = None
) -> list[SearchHit]:
    """Search with the configured backend; raise `SearchUnavailable` or `SearchFailed`.

    Bounded like a page fetch (GLM_BROWSER_TIMEOUT in all, GLM_BROWSER_MAX_BYTES); `cancel` (the
    conversation's Stop) ends the wait early.
    """
    problem = _backend_problem()
    if problem:
        raise SearchUnavailable(problem)
    backend = env_str("GLM_SEARCH_BACKEND").lower()
    search = {"searxng": _searxng, "duckduckgo": _duckduckgo, "brave": _brave, "tavily": _tavily}[backend]
    try:
        hits = search(query, recency_days, cancel)
    except (FetchError, httpx.InvalidURL, BlockedURL, ValueError, KeyError, TypeError) as exc:
        raise SearchFailed(f"{backend} search failed: {exc}") from exc
    return [
        SearchHit(_plain(hit.title), hit.url, _plain(hit.snippet))
        for hit in hits
        if hit.url.startswith(("http://", "https://"))
    ][:MAX_RESULTS]


def _plain(text: str) -> str:
    """Snippets from some APIs carry <strong> highlights and entities."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def _time_range(recency_days: int | None) -> str | None:
    if recency_days is None:
        return None
    for limit, name in ((1, "day"), (7, "week"), (31, "month")):
        if recency_days <= limit:
            return name
    return "year"


def _request_json(url: str, cancel: threading.Event | None, **request: Any) -> Any:
    """A JSON API call through the guard, read like a page (deadline, size cap, Stop).

    The configured endpoint itself is trusted (it's the admin's); its redirects are checked as usual.
    """
    endpoint = httpx.URL(url)
    settings = FetchSettings.from_env()
    fetched = fetch(
        url,
        settings,
        budget=Budget.starting_now(settings.total_timeout, cancel),
        extra_allow=[(ascii_host(endpoint), endpoint.port)],
        **request,
    )
    if fetched.truncated:
        raise ValueError(f"the response is larger than {settings.max_bytes} bytes (GLM_BROWSER_MAX_BYTES)")
    return json.loads(fetched.data)


def _searxng(query: str, recency_days: int | None, cancel: threading.Event | None) -> list[SearchHit]:
    params = {"q": query, "format": "json"}
    if time_range := _time_range(recency_days):
        params["time_range"] = time_range
    data = _request_json(env_str("GLM_SEARXNG_URL").rstrip("/") + "/search", cancel, params=params)
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("content") or "") for r in data["results"]]


def _duckduckgo(query: str, recency_days: int | None, cancel: threading.Event | None) -> list[SearchHit]:
    """DuckDuckGo's HTML endpoint through ddgs, which has its own HTTP client (DDGS_PROXY applies)."""
    timelimit = (_time_range(recency_days) or "")[:1] or None
    total = FetchSettings.from_env().total_timeout

    def search() -> list[dict[str, str]]:
        return DDGS(timeout=total).text(  # primp takes fractional seconds
            query, backend="duckduckgo", max_results=MAX_RESULTS, timelimit=timelimit
        )

    try:
        rows = call_abandonable(search, total, cancel)
    except TimeoutError as exc:
        raise SearchFailed(f"duckduckgo search failed: timed out after {total:g} s") from exc
    except Cancelled as exc:
        raise SearchFailed("duckduckgo search failed: cancelled") from exc
    except DDGSException as exc:
        if str(exc) == _DDGS_NO_RESULTS:
            return []
        raise SearchFailed(f"duckduckgo search failed: {exc}") from exc
    return [SearchHit(r.get("title") or r["href"], r["href"], r.get("body") or "") for r in rows]


def _brave(query: str, recency_days: int | None, cancel: threading.Event | None) -> list[SearchHit]:
    params: dict[str, Any] = {"q": query, "count": MAX_RESULTS}
    if time_range := _time_range(recency_days):
        params["freshness"] = "p" + time_range[0]
    headers = {"X-Subscription-Token": env_str("GLM_BRAVE_API_KEY"), "Accept": "application/json"}
    data = _request_json(env_str("GLM_BRAVE_URL", BRAVE_URL), cancel, params=params, headers=headers)
    rows = data.get("web", {}).get("results", [])
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("description") or "") for r in rows]


def _tavily(query: str, recency_days: int | None, cancel: threading.Event | None) -> list[SearchHit]:
    body: dict[str, Any] = {"query": query, "max_results": MAX_RESULTS}
    if time_range := _time_range(recency_days):
        body["time_range"] = time_range
    headers = {"Authorization": f"Bearer {env_str('GLM_TAVILY_API_KEY')}"}
    url = env_str("GLM_TAVILY_URL", TAVILY_URL)
    data = _request_json(url, cancel, method="POST", json=body, headers=headers)
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("content") or "") for r in data["results"]]
