"""Client overhead: the app's HTTP backend against a plain `openai` client loop, same server, same run.

For each mode (chat: `/v1/chat/completions` with a tool declared; completions: the rendered GLM-4 prompt
on `/v1/completions`) and two answer lengths, requests alternate between a plain loop over the
`openai` stream and the app's backend (`load_openai_backend(...).stream`, every event consumed), and
the medians are compared: tokens/s of each, their ratio (target >= 0.95) and the client's CPU time
per request (`time.process_time`, the server being another process).

By default the server is the scripted GLM-4 (tests/scripted_server.py) in its own process, streaming
fixed answers as fast as it can, so the client is the bottleneck and overhead shows; `--base-url`
points at any OpenAI-compatible server instead (a real vLLM: its own answer lengths, counted by its
usage; `--no-tools` there, since a vLLM without a tool parser refuses chat requests that declare tools).

    .venv/bin/python -m bench.client [--tokens 200] [--runs 7] [--base-url URL --no-tools]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from app.tools.registry import get_tool, register_tool, unregister
from bench.pipeline import scripted_server
from models.backends.remote import load_openai_backend, make_client
from models.events import Done
from models.messages import GenerationParams, Message
from models.protocols.base import STOP_STRINGS, STOP_TOKEN_IDS
from models.protocols.glm4 import render_prompt

QUESTION = [Message("user", "Write a long story.")]
MODES = ("chat", "completions")


def weather_tool() -> Any:
    def get_weather(city: str) -> str:
        """Current weather for a city.

        Args:
            city: City name.
        """
        return f"{city}: 21 degrees"

    register_tool(get_weather)
    return get_tool("get_weather")


def plain_loop(client: Any, model: str, mode: str, tool: Any | None, params: GenerationParams) -> int:
    """What a developer would write with the `openai` client alone; returns the tokens generated."""
    common = dict(model=model, max_tokens=params.max_new_tokens, temperature=params.temperature, stream=True)
    common["stream_options"] = {"include_usage": True}
    if mode == "chat":
        messages = [{"role": "user", "content": QUESTION[0].content}]
        if tool is not None:
            common["tools"] = [{"type": "function", "function": tool.function_schema}]
        stream = client.chat.completions.create(messages=messages, **common)
    else:
        prompt = render_prompt(QUESTION, [tool.template_entry] if tool is not None else [])
        extra = {"stop_token_ids": list(STOP_TOKEN_IDS)}
        stream = client.completions.create(prompt=prompt, stop=list(STOP_STRINGS), extra_body=extra, **common)
    generated, text = 0, []
    with stream:
        for chunk in stream:
            if chunk.usage is not None:
                generated = chunk.usage.completion_tokens or generated
            if chunk.choices:
                choice = chunk.choices[0]
                text.append(choice.delta.content or "" if mode == "chat" else choice.text)
    return generated


def app_backend(backend: Any, tool: Any | None, params: GenerationParams) -> int:
    tools = [tool] if tool is not None else []
    events = collections.deque(backend.stream(QUESTION, tools, params, threading.Event()), maxlen=1)
    done = events[0]
    assert isinstance(done, Done), done
    return int(done.usage.get("completion_tokens") or 0)


def timed(run: Callable[[], int]) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    generated = run()
    return time.perf_counter() - wall, time.process_time() - cpu, generated


def measure(base_url: str, mode: str, tokens: int, runs: int, tool: Any | None) -> dict[str, float]:
    backend = load_openai_backend(base_url, "bench", "", mode)
    client = make_client(base_url, "bench")
    params = GenerationParams(temperature=0.0, max_new_tokens=tokens)
    plain = lambda: plain_loop(client, backend_model(backend), mode, tool, params)  # noqa: E731
    ours = lambda: app_backend(backend, tool, params)  # noqa: E731
    plain(), ours()  # warm both connections and code paths
    results: dict[str, list[tuple[float, float, int]]] = {"plain": [], "app": []}
    for _ in range(runs):
        results["plain"].append(timed(plain))
        results["app"].append(timed(ours))
    out: dict[str, float] = {}
    for name, rows in results.items():
        out[f"{name}_tps"] = statistics.median(generated / wall for wall, _, generated in rows)
        out[f"{name}_cpu_ms"] = statistics.median(cpu for _, cpu, _ in rows) * 1000
        out[f"{name}_tokens"] = statistics.median(generated for *_, generated in rows)
    out["ratio"] = out["app_tps"] / out["plain_tps"]
    return out


def backend_model(backend: Any) -> str:
    return backend.model if hasattr(backend, "model") else backend.source.model


@contextlib.contextmanager
def server(base_url: str | None, tokens: int) -> Iterator[str]:
    if base_url:
        yield base_url
        return
    with scripted_server("\n" + "".join(f"word{i % 10} " for i in range(tokens))) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200, help="the short answer; the long one is 8x")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--base-url", default="", help="an OpenAI-compatible server (default: the scripted one)"
    )
    parser.add_argument(
        "--no-tools", action="store_true", help="declare no tool (a vLLM without a tool parser refuses them)"
    )
    args = parser.parse_args()
    tool = None if args.no_tools else weather_tool()
    header = ("mode", "tokens", "plain tok/s", "app tok/s", "ratio", "plain CPU ms", "app CPU ms")
    print("".join(f"{h:>14}" for h in header))
    try:
        for length in (args.tokens, args.tokens * 8):
            with server(args.base_url, length) as url:
                for mode in MODES:
                    r = measure(url, mode, length, args.runs, tool)
                    row = (mode, f"{r['app_tokens']:.0f}", f"{r['plain_tps']:.0f}", f"{r['app_tps']:.0f}")
                    row += (f"{r['ratio']:.3f}", f"{r['plain_cpu_ms']:.1f}", f"{r['app_cpu_ms']:.1f}")
                    print("".join(f"{v:>14}" for v in row), flush=True)
    finally:
        if tool is not None:
            unregister("get_weather")
    print("target: ratio >= 0.95 in both modes at both lengths (CPU: client time per request, medians)")


if __name__ == "__main__":
    main()
