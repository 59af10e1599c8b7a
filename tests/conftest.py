"""Shared test isolation: the tool registry is process-wide, so each test gets it back unchanged."""

from collections.abc import Callable, Iterator

import pytest

from app.tools import registry


@pytest.fixture(autouse=True)
def restore_tool_registry() -> Iterator[None]:
    tables = (registry._tools, registry._origins, registry._loaded_plugins)
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


@pytest.fixture
def deferred_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], object]]:
    """What each `st.download_button` given a callable will serve, by file name, recorded as the page
    registers it with Streamlit (the callable runs only when the user clicks)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    recorded: dict[str, Callable[[], object]] = {}
    register = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):  # type: ignore[no-untyped-def]
        recorded[file_name or ""] = data_callable
        return register(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return recorded
