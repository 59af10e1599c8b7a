"""Does the parser + agent loop keep up with the model? Measured against the same stream read raw.

A scripted GLM-4 behind a real OpenAI-compatible server on 127.0.0.1 (its own process) streams N
tokens as fast as it can. "raw" reads `/v1/completions` with the openai client and nothing else;
"pipeline" runs the same request through the prompt renderer, the incremental parser and the
agent loop, consuming
every event. Runs alternate, medians are compared, at two answer lengths, so a per-token cost that
grows with the answer's length would show. The same is done for the GLM-4.5 protocol (half the
output `<think>` reasoning, half answer), and its parser is also timed alone on the same chunks.

    .venv/bin/python -m bench.pipeline [--tokens 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from app.agent import Answer, run_turn
from app.tools.base import ToolContext
from models.backends.prompt import PromptBackend
from models.backends.remote import CompletionsSource, make_client
from models.messages import GenerationParams, Message
from models.protocols import GLM4, GLM45, ChatProtocol
from models.protocols.glm4 import OutputParser as GLM4OutputParser
from models.protocols.glm4 import render_prompt
from models.protocols.glm45 import OutputParser
from models.tokens import estimate_tokens
from tests.scripted_server import tokens as script_tokens

ROOT = Path(__file__).resolve().parent.parent
QUESTION = [Message("user", "Write a long story.")]


def raw_read(source: CompletionsSource, params: GenerationParams) -> None:
    """Every chunk read and dropped; both sides drain with `deque` (a C loop), neither pays to count."""
    collections.deque(source.stream_text(render_prompt(QUESTION), params, threading.Event()), maxlen=0)


def pipeline_read(backend: PromptBackend, params: GenerationParams) -> None:
    ctx = ToolContext("bench", Path("."))
    events = collections.deque(run_turn(backend, [], QUESTION, params, ctx, max_steps=1), maxlen=1)
    assert isinstance(events[0], Answer) and events[0].message.content.startswith("word0 ")


@contextlib.contextmanager
def scripted_server(reply: str) -> Iterator[str]:
    """The scripted model in its own process, as a real server would be (no shared GIL)."""
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.json"
        rules.write_text(json.dumps([{"reply": reply}]))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "tests.scripted_server", "--port", str(port), "--rules", str(rules)]
        server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None and "scripted GLM-4" in server.stdout.readline()
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.terminate()
            server.wait(10)


def words(count: int) -> str:
    return "".join(f"word{i % 10} " for i in range(count))


def reply_for(protocol: ChatProtocol, tokens: int) -> str:
    if protocol is GLM45:
        return f"\n<think>{words(tokens // 2)}</think>\n{words(tokens - tokens // 2)}"
    return "\n" + words(tokens)


def measure(tokens: int, runs: int, protocol: ChatProtocol = GLM4) -> tuple[float, float, int]:
    reply = reply_for(protocol, tokens)
    with scripted_server(reply) as base_url:
        source = CompletionsSource(make_client(base_url, "bench"), "glm", protocol)
        backend = PromptBackend(source, 1 << 20, estimate_tokens, protocol=protocol)
        params = GenerationParams(max_new_tokens=tokens + 10)
        raw_read(source, params)
        raw_times, pipe_times = [], []
        for _ in range(runs):
            start = time.perf_counter()
            raw_read(source, params)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            pipeline_read(backend, params)
            pipe_times.append(time.perf_counter() - start)
    return statistics.median(raw_times), statistics.median(pipe_times), len(script_tokens(reply))


def parsers_alone(tokens: int, runs: int) -> tuple[float, float]:
    """Microseconds per chunk the GLM-4 and the GLM-4.5 parser take by themselves, fed the chunks the
    server would send (runs alternate, medians)."""
    glm4_chunks = script_tokens(reply_for(GLM4, tokens))
    glm45_chunks = script_tokens(reply_for(GLM45, tokens))
    glm4_times, glm45_times = [], []
    for _ in range(runs):
        parser = GLM4OutputParser()
        start = time.perf_counter()
        collections.deque(map(parser.feed, glm4_chunks), maxlen=0)
        parser.finish()
        glm4_times.append(time.perf_counter() - start)
        parser45 = OutputParser()
        start = time.perf_counter()
        collections.deque(map(parser45.feed, glm45_chunks), maxlen=0)
        parser45.finish()
        glm45_times.append(time.perf_counter() - start)
    per_token = 1e6 / len(glm45_chunks)
    return statistics.median(glm4_times) * per_token, statistics.median(glm45_times) * per_token


def main() -> None:
    parser = argparse.ArgumentParser(description="pipeline throughput vs raw stream")
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    header = ("tokens", "raw tok/s", "pipeline tok/s", "ratio", "raw µs/tok", "pipe µs/tok")
    lengths = (args.tokens, args.tokens * 2)
    for protocol in (GLM4, GLM45):
        print(f"{protocol.name}:")
        print("".join(f"{h:>15}" for h in header))
        for tokens in lengths:
            raw, pipe, streamed = measure(tokens, args.runs, protocol)
            row = (streamed, f"{streamed / raw:.0f}", f"{streamed / pipe:.0f}", f"{raw / pipe:.3f}")
            row += (f"{raw / streamed * 1e6:.2f}", f"{pipe / streamed * 1e6:.2f}")
            print("".join(f"{v:>15}" for v in row))
    for tokens in lengths:
        glm4, glm45 = parsers_alone(tokens, args.runs * 3)
        print(
            f"glm45 parser alone: {glm45:.3f} µs/token at {tokens} tokens "
            f"(glm4 parser {glm4:.3f} µs/token, {glm45 / glm4:.2f}x)"
        )
    print("target: ratio >= 0.95 at both lengths, and µs/token flat from the first length to the second")


if __name__ == "__main__":
    main()
