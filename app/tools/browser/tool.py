"""The `simple_browser` tool: search, mclick and open_url calls turned into observations."""

from __future__ import annotations

import contextlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from app.config import env_int
from app.tools.base import Tool, ToolContext, ToolResult, text_tool
from app.tools.browser.budget import Budget, Cancelled
from app.tools.browser.citations import add_source, browser_state, host_of
from app.tools.browser.commands import USAGE, CommandError, MClick, OpenURL, Search, parse_command
from app.tools.browser.extract import Page, make_page
from app.tools.browser.fetch import FetchError, FetchSettings, fetch
from app.tools.browser.guard import BlockedURL
from app.tools.browser.search import SearchFailed, SearchUnavailable, web_search

LINKS_SHOWN = 10
RESULT_TAG = "browser_result"
ERROR_TAG = "system_error"


def make_browser_tool() -> Tool:
    """The built-in `simple_browser`; on chat-completions servers, a function with one `command` string."""
    return text_tool(
        "simple_browser",
        "Search the web and read pages. Cite sources in answers as 【id†text】.",
        "command",
        USAGE,
        run_browser,
    )


def run_browser(text: str, ctx: ToolContext) -> ToolResult:
    try:
        command = parse_command(text)
    except CommandError as exc:
        return ToolResult(str(exc), metadata=ERROR_TAG, is_error=True)
    state = browser_state(ctx.state)
    if isinstance(command, Search):
        return _search(command, state, ctx)
    if isinstance(command, MClick):
        return _mclick(command, state, ctx)
    return _open_url(command, state, ctx)


def _info(
    searched: list[str] | None = None,
    opened: list[dict[str, Any]] | None = None,
    failed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The status block of one call, for the UI (`ToolResult.info`)."""
    return {"searched": searched or [], "opened": opened or [], "failed": failed or []}


def _label(text: str) -> str:
    """Text safe inside `【id†…†…】`."""
    return " ".join(text.replace("†", " ").replace("】", " ").replace("【", " ").split())


def _search(command: Search, state: dict[str, Any], ctx: ToolContext) -> ToolResult:
    try:
        hits = web_search(command.query, command.recency_days, ctx.cancel)
    except (SearchUnavailable, SearchFailed) as exc:
        info = _info([command.query], failed=[{"query": command.query, "error": str(exc)}])
        message = f"Web search is not available: {exc}" if isinstance(exc, SearchUnavailable) else str(exc)
        return ToolResult(message, metadata=ERROR_TAG, is_error=True, info=info)
    if not hits:
        message = f"No results for {command.query!r}."
        return ToolResult(message, metadata=RESULT_TAG, info=_info([command.query]))
    blocks = []
    for hit in hits:
        source_id = add_source(state, hit.title, hit.url, "result")
        blocks.append(f"【{source_id}†{_label(hit.title)}†{host_of(hit.url)}】\n{hit.snippet}")
    return ToolResult("\n\n".join(blocks), metadata=RESULT_TAG, info=_info([command.query]))


def _mclick(command: MClick, state: dict[str, Any], ctx: ToolContext) -> ToolResult:
    notes, failed, targets = [], [], []
    for source_id in command.ids:
        source = state["sources"].get(str(source_id))
        if source is None:
            notes.append(f"【{source_id}】 is not an id from this conversation's results.")
            failed.append({"id": source_id, "url": "", "error": "unknown id"})
        else:
            targets.append((source_id, source["url"]))
    return _open_pages(targets, state, ctx, notes, failed)


def _open_url(command: OpenURL, state: dict[str, Any], ctx: ToolContext) -> ToolResult:
    return _open_pages([(None, command.url)], state, ctx, [], [])


def _open_pages(
    targets: list[tuple[int | None, str]],
    state: dict[str, Any],
    ctx: ToolContext,
    notes: list[str],
    failed: list[dict[str, Any]],
) -> ToolResult:
    blocks, opened = [], []
    outcomes = fetch_pages([url for _, url in targets], ctx)
    for (source_id, url), outcome in zip(targets, outcomes, strict=True):
        if isinstance(outcome, Page):
            quote_id = add_source(state, outcome.title, outcome.url, "page")
            blocks.append(_page_block(quote_id, outcome))
            opened.append({"id": quote_id, "title": outcome.title, "url": outcome.url})
        else:
            who = f"Result 【{source_id}】 ({url})" if source_id is not None else url
            blocks.append(f"{who} could not be opened: {outcome}")
            failed.append({"id": source_id, "url": url, "error": str(outcome)})
    content = "\n\n".join([*blocks, *notes])
    info = _info(opened=opened, failed=failed)
    return ToolResult(content, metadata=RESULT_TAG, is_error=not opened, info=info)


def _page_block(quote_id: int, page: Page) -> str:
    lines = [f"【{quote_id}†{_label(page.title)}†{host_of(page.url)}】", f"URL: {page.url}", page.text]
    if page.truncated:
        lines.append("[page text truncated]")
    if page.links:
        lines.append("Links:")
        lines += [f"- {_label(text) or '(no text)'}: {href}" for text, href in page.links[:LINKS_SHOWN]]
    return "\n".join(lines)


def fetch_pages(urls: list[str], ctx: ToolContext | None = None) -> list[Page | str]:
    """Fetch and extract `urls` concurrently; each outcome is a `Page` or the reason it failed.

    All pages share one deadline, GLM_BROWSER_TIMEOUT from now: each fetch ends by it on its own (so no
    thread is left reading), and a page not extracted by then is reported as timed out. Stop (`cancel`)
    ends the fetches and the wait.
    """
    if not urls:
        return []
    settings = FetchSettings.from_env()
    max_chars = env_int("GLM_BROWSER_PAGE_CHARS", 6000)
    cancel = ctx.cancel if ctx else None
    budget = Budget.starting_now(settings.total_timeout, cancel)
    executor = ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="browser")
    futures = [executor.submit(_fetch_page, url, settings, budget, max_chars) for url in urls]
    try:
        pending: set[Future] = set(futures)
        with contextlib.suppress(TimeoutError, Cancelled):  # unfinished pages are reported below
            while pending:
                wait_s = budget.wait_for(budget.deadline, TimeoutError, poll=True)
                _, pending = wait(pending, timeout=wait_s, return_when=FIRST_COMPLETED)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    stopped = "cancelled" if cancel and cancel.is_set() else f"timed out after {settings.total_timeout:g} s"
    return [_outcome(future, stopped) for future in futures]


def _outcome(future: Future, stopped: str) -> Page | str:
    if not future.done() or future.cancelled():
        return stopped
    error = future.exception()
    return f"failed: {type(error).__name__}: {error}" if error else future.result()


def _fetch_page(url: str, settings: FetchSettings, budget: Budget, max_chars: int) -> Page | str:
    try:
        return make_page(fetch(url, settings, budget=budget), max_chars)
    except BlockedURL as exc:
        return f"refused: {exc}"
    except FetchError as exc:
        return str(exc)
