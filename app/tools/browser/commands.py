"""Parsing a browser call: Python call syntax with literal arguments only (never evaluated)."""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass

USAGE = (
    "Use exactly one of these calls:\n"
    '  search("query", recency_days=7)   (recency_days is optional)\n'
    "  mclick([0, 3, 5])                  (1 to 10 ids from earlier results)\n"
    '  open_url("https://example.com/")'
)


MAX_IDS = 10
# A scheme the model wrote on purpose (`https:`, `file:`, `mailto:`); `host:8080` is a port, not a scheme.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:(?![0-9])", re.IGNORECASE)


class CommandError(ValueError):
    """The call is not one of the three accepted forms; the message explains the forms."""


@dataclass(frozen=True)
class Search:
    query: str
    recency_days: int | None = None


@dataclass(frozen=True)
class MClick:
    ids: list[int]


@dataclass(frozen=True)
class OpenURL:
    url: str


Command = Search | MClick | OpenURL


def _search(query: str, recency_days: int | None = None) -> Search:
    if not isinstance(query, str) or not query.strip():
        raise CommandError("search needs a non-empty query string")
    if recency_days is not None and (
        isinstance(recency_days, bool) or not isinstance(recency_days, int) or recency_days < 1
    ):
        raise CommandError("recency_days must be a positive whole number of days")
    return Search(query.strip(), recency_days)


def _mclick(ids: list[int]) -> MClick:
    if not isinstance(ids, list | tuple) or not ids:
        raise CommandError("mclick needs a non-empty list of result ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        raise CommandError("mclick ids must be whole numbers from earlier results")
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_IDS:
        raise CommandError(f"mclick opens at most {MAX_IDS} ids at once, got {len(unique)}")
    return MClick(unique)


def _open_url(url: str) -> OpenURL:
    """A URL without a scheme (`example.com/x`, `example.com:8080/x`, `//example.com`) gets https://."""
    if not isinstance(url, str) or not url.strip():
        raise CommandError("open_url needs a URL string")
    url = url.strip()
    return OpenURL(url if _SCHEME.match(url) else f"https://{url.removeprefix('//')}")


_FUNCTIONS = {"search": _search, "mclick": _mclick, "open_url": _open_url}


def parse_command(text: str) -> Command:
    """Parse `search(...)`, `mclick(...)` or `open_url(...)`; raise `CommandError` with the usage."""
    try:
        return _parse(text)
    except CommandError as exc:
        raise CommandError(f"Could not run the browser call: {exc}.\n{USAGE}") from exc


def _parse(text: str) -> Command:
    source = text.strip().removeprefix("```python").removeprefix("```").removesuffix("```").strip()
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise CommandError(f"not a single call in Python syntax ({exc.msg})") from exc
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise CommandError("expected a call like search(...), mclick(...) or open_url(...)")
    function = _FUNCTIONS.get(node.func.id)
    if function is None:
        raise CommandError(f"unknown function {node.func.id!r}")
    if any(isinstance(arg, ast.Starred) for arg in node.args) or any(kw.arg is None for kw in node.keywords):
        raise CommandError("* and ** arguments are not accepted")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise CommandError("arguments must be literals (strings, numbers, lists)") from exc
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except TypeError as exc:
        raise CommandError(f"{node.func.id}: {exc}") from exc
    return function(*bound.args, **bound.kwargs)
