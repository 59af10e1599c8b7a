"""Shared test isolation: the tool registry is process-wide, so each test gets it back unchanged."""

from collections.abc import Iterator

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
