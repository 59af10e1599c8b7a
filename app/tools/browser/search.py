"""Web search backends, chosen by `GLM_SEARCH_BACKEND`: searxng, duckduckgo, brave, tavily."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx
from ddgs import DDGS
from ddgs.exceptions import DDGSException

from app.config import env_str
from app.tools.browser.fetch import FetchSettings
from app.tools.browser.guard import BlockedURL, guarded_client

MAX_RESULTS = 10
BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
TAVILY_URL = "https://api.tavily.com/search"
_SETUP = (
    "Set GLM_SEARCH_BACKEND to one of: searxng (with GLM_SEARXNG_URL, e.g. http://127.0.0.1:8888), "
    "duckduckgo (no key), brave (with GLM_BRAVE_API_KEY) or tavily (with GLM_TAVILY_API_KEY)."
)
_REQUIRED = {"searxng": "GLM_SEARXNG_URL", "brave": "GLM_BRAVE_API_KEY", "tavily": "GLM_TAVILY_API_KEY"}


class SearchUnavailable(RuntimeError):
    """No usable search backend is configured."""


class SearchFailed(RuntimeError):
    """The backend was reached but the search did not succeed."""


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str


def search_setup_hint() -> str | None:
    """What to configure for web search, or None when a backend is ready (for the sidebar)."""
    backend = env_str("GLM_SEARCH_BACKEND").lower()
    if not backend:
        return f"Web search is off. {_SETUP}"
    if backend not in {"searxng", "duckduckgo", *_REQUIRED}:
        return f"Unknown GLM_SEARCH_BACKEND {backend!r}. {_SETUP}"
    needed = _REQUIRED.get(backend)
    if needed and not env_str(needed):
        return f"GLM_SEARCH_BACKEND is {backend!r} but {needed} is not set."
    return None


def web_search(query: str, recency_days: int | None = None) -> list[SearchHit]:
    """Search with the configured backend; raise `SearchUnavailable` or `SearchFailed`."""
    hint = search_setup_hint()
    if hint:
        raise SearchUnavailable(hint)
    backend = env_str("GLM_SEARCH_BACKEND").lower()
    search = {"searxng": _searxng, "duckduckgo": _duckduckgo, "brave": _brave, "tavily": _tavily}[backend]
    try:
        hits = search(query, recency_days)
    except (httpx.HTTPError, httpx.InvalidURL, BlockedURL, ValueError, KeyError, TypeError) as exc:
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


def _request_json(method: str, url: str, **kwargs: Any) -> Any:
    """A JSON API call through the guard; the configured endpoint itself is trusted (it's the admin's)."""
    endpoint = httpx.URL(url)
    settings = FetchSettings.from_env()
    timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
    with guarded_client(timeout, extra_allow=[(endpoint.host.lower(), endpoint.port)]) as client:
        response = client.request(method, endpoint, **kwargs)
        response.raise_for_status()
        return response.json()


def _searxng(query: str, recency_days: int | None) -> list[SearchHit]:
    params = {"q": query, "format": "json"}
    if time_range := _time_range(recency_days):
        params["time_range"] = time_range
    data = _request_json("GET", env_str("GLM_SEARXNG_URL").rstrip("/") + "/search", params=params)
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("content") or "") for r in data["results"]]


def _duckduckgo(query: str, recency_days: int | None) -> list[SearchHit]:
    timelimit = (_time_range(recency_days) or "")[:1] or None
    try:
        rows = DDGS(timeout=max(1, round(FetchSettings.from_env().total_timeout))).text(
            query, max_results=MAX_RESULTS, timelimit=timelimit
        )
    except DDGSException as exc:
        raise SearchFailed(f"duckduckgo search failed: {exc}") from exc
    return [SearchHit(r.get("title") or r["href"], r["href"], r.get("body") or "") for r in rows]


def _brave(query: str, recency_days: int | None) -> list[SearchHit]:
    params: dict[str, Any] = {"q": query, "count": MAX_RESULTS}
    if time_range := _time_range(recency_days):
        params["freshness"] = "p" + time_range[0]
    headers = {"X-Subscription-Token": env_str("GLM_BRAVE_API_KEY"), "Accept": "application/json"}
    data = _request_json("GET", env_str("GLM_BRAVE_URL", BRAVE_URL), params=params, headers=headers)
    rows = data.get("web", {}).get("results", [])
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("description") or "") for r in rows]


def _tavily(query: str, recency_days: int | None) -> list[SearchHit]:
    body: dict[str, Any] = {"query": query, "max_results": MAX_RESULTS}
    if time_range := _time_range(recency_days):
        body["time_range"] = time_range
    headers = {"Authorization": f"Bearer {env_str('GLM_TAVILY_API_KEY')}"}
    data = _request_json("POST", env_str("GLM_TAVILY_URL", TAVILY_URL), json=body, headers=headers)
    return [SearchHit(r.get("title") or r["url"], r["url"], r.get("content") or "") for r in data["results"]]
