"""The `cogview` tool in-process, on the tiny random CogView4 pipeline (`models.tiny_cogview`) through the
real diffusers code: the image, its file and the observation; progress, Stop, limits, one at a time,
failures as observations; and the agent loop calling it through a scripted GLM-4 server."""

import json
import shutil
import threading
from io import BytesIO
from pathlib import Path

import pytest
import torch
from PIL import Image

from app.agent import Answer, ToolFinished, run_turn
from app.tools.base import Progress, ToolContext
from app.tools.builtins import load_tools
from app.tools.cogview import make_cogview_tool, run_cogview
from app.tools.registry import get_tool
from models.backends.remote import load_openai_backend
from models.events import ToolCall
from models.imagegen import local
from models.messages import GenerationParams, Message
from models.protocols import glm45
from models.protocols.glm4 import render_prompt
from models.tiny_cogview import build_cogview_checkpoint
from tests.scripted_server import Rule, ScriptedServer

PROMPT = "A red fox sitting in fresh snow under a pine tree, soft morning light, watercolor."


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared 2-core machine: one thread is fastest
    yield build_cogview_checkpoint(tmp_path_factory.mktemp("cogview") / "tiny")
    torch.set_num_threads(threads)
    local._models.clear()


@pytest.fixture
def image_env(monkeypatch: pytest.MonkeyPatch, tiny_pipeline: Path) -> Path:
    for name in ("GLM_IMAGE_API_BASE", "GLM_IMAGE_SIZE", "GLM_IMAGE_STEPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_IMAGE_MODEL", str(tiny_pipeline))
    monkeypatch.setenv("GLM_IMAGE_SIZE", "64x48")
    monkeypatch.setenv("GLM_IMAGE_STEPS", "3")
    return tiny_pipeline


class Recording(ToolContext):
    """A tool context that keeps every progress report, and can act on one (`on_progress`)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "progress":
            self.__dict__.setdefault("seen", []).append(value)
            if hook := self.__dict__.get("on_progress"):
                hook(value)
        super().__setattr__(name, value)


def workdir(tmp_path: Path, name: str = "data") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def steps_seen(ctx: Recording) -> list[tuple[int, int]]:
    return [(p.done, p.total) for p in ctx.seen if p.stage == "steps"]


def test_one_image_is_drawn_saved_and_described(image_env: Path, tmp_path: Path) -> None:
    ctx = Recording("s", workdir(tmp_path))
    result = run_cogview(PROMPT, ctx)
    assert not result.is_error, result.content
    (image,) = result.attachments
    assert image.kind == "image" and image.mime == "image/png" and image.name == "cogview-1.png"
    assert Image.open(BytesIO(image.data)).size == (64, 48)
    assert (ctx.workdir / "cogview-1.png").read_bytes() == image.data
    assert "64×48 PNG image of: A red fox sitting in fresh snow" in result.content
    assert "/mnt/data/cogview-1.png" in result.content and "CogView4Pipeline in-process" in result.content
    assert len(result.content) < 600, "the model gets a short note, never the pixels"
    assert result.info["image"] == {"file": "cogview-1.png", "prompt": PROMPT, "width": 64, "height": 48}
    assert steps_seen(ctx) == [(0, 3), (1, 3), (2, 3), (3, 3)]

    again = run_cogview("A blue whale", ctx)
    assert again.attachments[0].name == "cogview-2.png" and (ctx.workdir / "cogview-2.png").is_file()


def test_size_and_step_limits_come_from_the_environment(
    image_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_IMAGE_SIZE", "32")
    monkeypatch.setenv("GLM_IMAGE_STEPS", "2")
    ctx = Recording("s", workdir(tmp_path))
    result = run_cogview(PROMPT, ctx)
    assert Image.open(BytesIO(result.attachments[0].data)).size == (32, 32)
    assert steps_seen(ctx)[-1] == (2, 2)

    monkeypatch.setenv("GLM_IMAGE_SIZE", "100x100")
    refused = run_cogview(PROMPT, ctx)
    assert refused.is_error and "GLM_IMAGE_SIZE='100x100' is not valid" in refused.content
    monkeypatch.setenv("GLM_IMAGE_SIZE", "64")
    monkeypatch.setenv("GLM_IMAGE_STEPS", "5000")
    refused = run_cogview(PROMPT, ctx)
    assert refused.is_error and "GLM_IMAGE_STEPS='5000'" in refused.content


def test_stop_cancels_between_steps_and_keeps_no_file(image_env: Path, tmp_path: Path) -> None:
    ctx = Recording("s", workdir(tmp_path))

    def stop_after_first_step(progress: Progress) -> None:
        if progress.stage == "steps" and progress.done == 1:
            ctx.cancel.set()

    ctx.__dict__["on_progress"] = stop_after_first_step
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "cancelled by the user" in result.content
    assert steps_seen(ctx) == [(0, 3), (1, 3)], "the second step's end noticed Stop"
    assert list(ctx.workdir.iterdir()) == [] and result.attachments == []


def test_generations_take_turns_and_the_waiting_one_says_so(image_env: Path, tmp_path: Path) -> None:
    first, second = Recording("a", workdir(tmp_path, "a")), Recording("b", workdir(tmp_path, "b"))
    second_waits = threading.Event()
    second.__dict__["on_progress"] = lambda p: p.stage == "waiting" and second_waits.set()
    results = {}
    started = False

    def hold_first_until_second_waits(progress: Progress) -> None:
        nonlocal started
        if progress.stage == "steps" and progress.done == 1 and not started:
            started = True
            threading.Thread(target=lambda: results.update(b=run_cogview("A cat", second))).start()
            assert second_waits.wait(30), "the second generation did not wait"

    first.__dict__["on_progress"] = hold_first_until_second_waits
    results["a"] = run_cogview(PROMPT, first)
    for _ in range(300):
        if "b" in results:
            break
        threading.Event().wait(0.1)
    assert not results["a"].is_error and not results["b"].is_error
    assert Progress("waiting", 1) in second.seen
    waited = second.seen.index(Progress("waiting", 1))
    assert steps_seen(second)[0] == (0, 3) and second.seen.index(Progress("steps", 0, 3)) > waited


def test_a_stop_while_waiting_leaves_the_line(image_env: Path, tmp_path: Path) -> None:
    from app.tools.cogview.line import LINE

    running = ToolContext("r", workdir(tmp_path))
    with LINE.turn(running.cancel, lambda ahead: None) as admitted:
        assert admitted
        waiting = Recording("w", workdir(tmp_path, "w"))
        waiting.__dict__["on_progress"] = lambda p: p.stage == "waiting" and waiting.cancel.set()
        result = run_cogview(PROMPT, waiting)
    assert result.is_error and "cancelled" in result.content
    assert LINE.length == 0


def test_failures_are_observations(image_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ToolContext("s", workdir(tmp_path))
    assert "no prompt" in run_cogview("  \n", ctx).content

    not_a_pipeline = workdir(tmp_path, "empty")
    monkeypatch.setenv("GLM_IMAGE_MODEL", str(not_a_pipeline))
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "no diffusers pipeline there" in result.content

    # A pipeline that loads but fails while drawing: its tokenizer lost its pad token, which CogView4
    # pads prompts with.
    broken = tmp_path / "broken"
    shutil.copytree(image_env, broken)
    config_path = broken / "tokenizer" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("pad_token", None)
    config_path.write_text(json.dumps(config))
    monkeypatch.setenv("GLM_IMAGE_MODEL", str(broken))
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and result.content.startswith("[cogview: the generation failed:"), result.content
    assert list(ctx.workdir.iterdir()) == []

    monkeypatch.delenv("GLM_IMAGE_MODEL")
    result = run_cogview(PROMPT, ctx)
    assert result.is_error and "image generation is off" in result.content


def test_the_tool_is_offered_only_when_configured(image_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_tools()
    tool = get_tool("cogview")
    assert tool is not None and tool.template_entry == {"type": "cogview"}
    assert tool.function_schema["parameters"]["required"] == ["prompt"]
    assert list(tool.function_schema["parameters"]["properties"]) == ["prompt"]
    assert "## cogview\n\n如果用户的请求中包含了对图像的描述" in render_prompt([], [tool.template_entry])
    monkeypatch.delenv("GLM_IMAGE_MODEL")
    load_tools()
    assert get_tool("cogview") is None


def test_glm45_declares_it_as_a_function_and_reads_its_call() -> None:
    tool = make_cogview_tool()
    prompt = glm45.render_prompt([Message("user", "Draw a fox")], [tool])
    assert '"name": "cogview"' in prompt and '"prompt": {"type": "string"' in prompt
    written = f"<tool_call>cogview\n<arg_key>prompt</arg_key>\n<arg_value>{PROMPT}</arg_value>\n</tool_call>"
    parser = glm45.OutputParser([tool])
    calls = [e for e in [*parser.feed(written), *parser.finish()] if isinstance(e, ToolCall)]
    assert [(c.name, c.text) for c in calls] == [("cogview", PROMPT)]


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_the_model_draws_through_the_agent_loop(image_env: Path, tmp_path: Path, mode: str) -> None:
    rules = [
        Rule(f"cogview\n{PROMPT}", when="Draw a fox"),
        Rule("\nHere is your fox.", when="Generated one 64×48 PNG image"),
    ]
    with ScriptedServer(rules) as server:
        backend = load_openai_backend(server.base_url, "key", "glm", mode)
        ctx = ToolContext("s", workdir(tmp_path))
        history = [Message("user", "Draw a fox in the snow")]
        events = list(
            run_turn(backend, [make_cogview_tool()], history, GenerationParams(max_new_tokens=256), ctx, 3)
        )
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert len(finished) == 1 and finished[0].call.content == PROMPT
    assert finished[0].message.attachments[0].name == "cogview-1.png"
    assert isinstance(events[-1], Answer) and events[-1].message.content == "Here is your fox."
    if mode == "chat":
        declared = server.requests[0]["body"]["tools"][0]["function"]
        assert declared["name"] == "cogview" and list(declared["parameters"]["properties"]) == ["prompt"]
        sent = server.requests[1]["body"]["messages"]
        call = next(m for m in sent if m.get("tool_calls"))
        assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"prompt": PROMPT}
    else:
        assert "## cogview" in server.requests[0]["body"]["prompt"]
