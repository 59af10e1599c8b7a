"""Shared test isolation: the tool registry is process-wide, so each test gets it back unchanged."""

from collections.abc import Callable, Iterator

import pytest

from app.tools import registry
from app.tools.base import Tool


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


@pytest.fixture(scope="session")
def vllm_text(tmp_path_factory: pytest.TempPathFactory):
    """A real vLLM serving the tiny GLM-4 text checkpoint, started once for the whole run (it takes a
    minute or more to start on 2 cores). Skipped only where `.venv-vllm` is missing outside CI."""
    import os
    from pathlib import Path

    from models.tiny import build_text_checkpoint
    from tests.vllm_server import VllmServer, running_vllm, vllm_missing_reason

    if running := os.environ.get("GLM_TEST_VLLM"):  # "BASE_URL CHECKPOINT": a vLLM already serving it
        base_url, checkpoint = running.split()
        yield VllmServer(base_url, "glm-4-9b-chat-tiny", Path(checkpoint), Path(os.devnull))
        return
    if reason := vllm_missing_reason():
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("vllm-text")
    checkpoint = build_text_checkpoint(root / "glm")
    with running_vllm(checkpoint, "glm-4-9b-chat-tiny", root / "vllm.log") as server:
        yield server


@pytest.fixture(scope="session")
def vllm_vision(tmp_path_factory: pytest.TempPathFactory):
    """A second real vLLM, serving the tiny GLM-4.1V (Glm4v) checkpoint for the Vision page, started once
    for the whole run like `vllm_text` (one vLLM process serves one model)."""
    import os
    from pathlib import Path

    from models.tiny import build_vision_checkpoint
    from tests.vllm_server import VllmServer, running_vllm, vllm_missing_reason

    if running := os.environ.get("GLM_TEST_VLLM_VISION"):  # "BASE_URL CHECKPOINT", as GLM_TEST_VLLM
        base_url, checkpoint = running.split()
        yield VllmServer(base_url, "glm-4.1v-tiny", Path(checkpoint), Path(os.devnull))
        return
    if reason := vllm_missing_reason():
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("vllm-vision")
    checkpoint = build_vision_checkpoint(root / "glm4v")
    with running_vllm(checkpoint, "glm-4.1v-tiny", root / "vllm.log") as server:
        yield server


@pytest.fixture(scope="module")
def weather_tool() -> Iterator[Tool]:
    """A registered function tool for the loop's tests: `get_weather(city)`."""

    @registry.register_tool
    def get_weather(city: str) -> str:
        """Current weather for a city.

        Args:
            city: City name.
        """
        return f"{city}: 21 degrees"

    yield registry.get_tool("get_weather")
    registry.unregister("get_weather")
