"""How long the README's tiny demo takes to answer, with the app's defaults against torch's.

Builds the tiny text checkpoint (`models.tiny`), loads it through the app's loader and asks one
question through the agent loop, greedy so every run writes the same tokens. "torch defaults" is what
the app did before: torch's own thread count (one per core) and 1024 max new tokens. "app defaults"
is the thread count `models.threads` chooses (or `GLM_TORCH_THREADS`) and the max new tokens the
sidebar offers for a model this size. "app threads, 1024" separates the threads' share from the
length's. `--busy N` runs N busy-looping processes meanwhile, as other users' work would on a shared
machine. Runs alternate; medians are compared.

    .venv/bin/python -m bench.tiny_demo [--runs 3] [--busy 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from app.agent import run_turn
from app.tools.base import ToolContext
from models.backends import get_text_backend
from models.messages import GenerationParams, Message
from models.settings import ModelSettings
from models.threads import DEFAULT_MAX_NEW_TOKENS, choose_threads, max_new_tokens_for, usable_cores
from models.tiny import build_text_checkpoint

QUESTION = [Message("user", "Hello! What can you do?")]


def answer_seconds(backend, threads: int, max_new: int, workdir: Path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    torch.set_num_threads(threads)
    ctx = ToolContext("bench", workdir, {}, threading.Event())
    params = GenerationParams(temperature=0.0, max_new_tokens=max_new)
    started = time.perf_counter()
    pieces = 0
    for _ in run_turn(backend, [], QUESTION, params, ctx, 1):
        pieces += 1
    return time.perf_counter() - started, pieces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes meanwhile")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        measure(args.runs, args.busy)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def measure(runs: int, busy: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_text_checkpoint(Path(tmp) / "tiny-glm")
        started = time.perf_counter()
        settings = ModelSettings("transformers", str(folder), "", "", "", "chat", False, 0)
        backend = get_text_backend(settings)
        load_s = time.perf_counter() - started
        parameters = backend.source.parameters
        cores = usable_cores()
        chosen = choose_threads(parameters, cores)
        cases = {
            "torch defaults": (cores, DEFAULT_MAX_NEW_TOKENS),
            "app threads, 1024": (chosen, DEFAULT_MAX_NEW_TOKENS),
            "torch threads, app length": (cores, max_new_tokens_for(parameters)),
            "app defaults": (chosen, max_new_tokens_for(parameters)),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, (threads, max_new) in cases.items():
                seconds, events = answer_seconds(backend, threads, max_new, Path(tmp))
                times[name].append(seconds)
                setup = f"{threads} thread(s), max {max_new} new tokens"
                print(f"  {name}: {setup}: {seconds:.2f} s ({events} events)")
    print(f"model: {parameters:,} parameters, loaded in {load_s:.1f} s; {cores} usable cores, {busy} busy")
    base, threads_long, threads_short, app = (statistics.median(times[name]) for name in cases)
    for name in cases:
        print(f"{name}: median {statistics.median(times[name]):.2f} s per answer")
    print(f"ratio app threads/torch threads at 1024 tokens: {threads_long / base:.3f}")
    print(f"ratio app threads/torch threads at the app's length: {app / threads_short:.3f}")
    print(f"ratio app/torch defaults: {app / base:.3f} (answer time)")


if __name__ == "__main__":
    main()
