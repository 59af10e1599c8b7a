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
def vllm_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The real vLLMs serving the tiny checkpoints, for the whole run (each takes minutes to start on
    2 cores): those the collected tests use start together at the first use (tests/vllm_server.py).
    `GLM_TEST_VLLM` / `GLM_TEST_VLLM_VISION` ("BASE_URL CHECKPOINT") name ones already serving."""
    import contextlib

    from models.tiny import build_text_checkpoint, build_vision_checkpoint
    from tests.vllm_server import TinyServer, VllmPool

    servers = {
        "text": TinyServer(build_text_checkpoint, "glm-4-9b-chat-tiny", "GLM_TEST_VLLM"),
        "vision": TinyServer(build_vision_checkpoint, "glm-4.1v-tiny", "GLM_TEST_VLLM_VISION"),
    }
    used = {name for item in request.session.items for name in item.fixturenames}
    wanted = {key for key in servers if f"vllm_{key}" in used}
    with contextlib.ExitStack() as stack:
        yield VllmPool(servers, wanted, lambda key: tmp_path_factory.mktemp(f"vllm-{key}"), stack)


@pytest.fixture(scope="session")
def vllm_text(vllm_pool):
    """A real vLLM serving the tiny GLM-4 text checkpoint. Skipped only where `.venv-vllm` is missing
    outside CI."""
    return vllm_pool.get("text")


@pytest.fixture(scope="session")
def vllm_vision(vllm_pool):
    """A second real vLLM, serving the tiny GLM-4.1V (Glm4v) checkpoint for the Vision page (one vLLM
    process serves one model)."""
    return vllm_pool.get("vision")


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
