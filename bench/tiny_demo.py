"""How long the README's tiny demo takes to answer in the running app, against plain `generate`.

Builds the README's tiny text checkpoint (`models.tiny`), starts the app on it (`streamlit run
app/main.py` with `GLM_MODEL`, as the README says) and asks the same question `--answers` times in
one conversation from headless Chromium, with the sidebar's defaults (sampling at temperature 0.8,
top-p 0.8, the max new tokens the app offers a model this size). An answer's time runs from pressing
Enter to its timing caption showing: what a user waits. The first answer after the model loaded is
reported apart (it also pays transformers' lazy imports).

The baseline, measured in this process in the same run: plain `model.generate` on the same checkpoint
loaded by the app's loader (so the same torch threads), for each answer the same prompt (rendered
from the stored history with the app's tools) and the same number of tokens, with the stop tokens
barred so the length matches. "app as it was" runs the app without the two fixes for this bench's
finding (source-file watching on, models not frozen out of the garbage collector: README, "Trying it
without weights"), so their share shows. `--busy N` runs N busy-looping processes meanwhile.

    .venv/bin/python -m bench.tiny_demo [--answers 8] [--busy 0] [--skip-before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from app.store import Store
from app.tools.builtins import load_tools
from app.tools.registry import all_tools
from models.backends import get_text_backend
from models.messages import Message
from models.protocols.base import STOP_TOKEN_IDS
from models.settings import ModelSettings
from models.threads import max_new_tokens_for
from models.tiny import build_text_checkpoint
from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app

QUESTION = "Hello! What can you do?"
TEMPERATURE = TOP_P = 0.8
"""The sidebar's defaults (`app/ui/chat_view.py`)."""
AS_IT_WAS = (
    "import gc, sys; gc.freeze = lambda: None; sys.argv[0] = 'streamlit'; "
    "from streamlit.web.cli import main; main()"
)
"""A launcher for the app without the models' freezing (watching is turned back on by an option)."""


class NoStop(LogitsProcessor):
    """Bars the stop tokens, so the baseline writes exactly as many tokens as the app's answer."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, list(STOP_TOKEN_IDS)] = -float("inf")
        return scores


@dataclass
class Answer:
    seconds: float
    """From Enter to the timing caption in the browser."""
    generation_s: float
    """The turn's own `total_s` (the agent loop's clock: prompt, generation, parsing)."""
    tokens: int
    history: list[Message]
    """What was sent: the conversation up to and including the question."""


def ask_in_app(checkpoint: Path, data: Path, answers: int, as_it_was: bool) -> list[Answer]:
    env = {"GLM_DATA_DIR": str(data), "GLM_MODEL": str(checkpoint), "GLM_KERNEL_POOL": "0"}
    env |= {"GLM_SEARCH_BACKEND": ""}
    launcher = ["-c", AS_IT_WAS] if as_it_was else ["-m", "streamlit"]
    args = ["--server.fileWatcherType", "auto"] if as_it_was else []
    seconds: list[float] = []
    with chromium() as browser, running_app(env, data / "app.log", args, launcher) as app:
        page = browser.new_page(locale="en-US")
        page.goto(app.url)
        page.wait_for_selector(CHAT_BOX, timeout=300_000)
        page.wait_for_function(f"() => !document.querySelector('{CHAT_BOX}').disabled", timeout=300_000)
        for n in range(answers):
            page.fill(CHAT_BOX, QUESTION)
            started = time.perf_counter()
            page.press(CHAT_BOX, "Enter")
            page.locator(MESSAGE).nth(2 * n + 1).get_by_text("total").wait_for(timeout=300_000)
            seconds.append(time.perf_counter() - started)
            # The turn ends with a rerun that replays the page: wait for it before asking again.
            page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=300_000)
            page.wait_for_function(f"() => !document.querySelector('{CHAT_BOX}').disabled")
    return [
        Answer(s, a.info["timings"]["total_s"], a.info["timings"]["tokens"], h)
        for s, (h, a) in zip(seconds, stored_turns(data), strict=True)
    ]


def stored_turns(data: Path) -> list[tuple[list[Message], Message]]:
    """Each turn's history (up to its question) and its answer, from the app's store."""
    store = Store(data)
    try:
        (summary,) = store.list_conversations("local", "chat")
        conversation = store.load_conversation("local", summary.id)
    finally:
        store.close()
    turns, before = [], []
    for turn in conversation.turns:
        turns.append(([*before, turn[0]], turn[-1]))
        before += turn
    return turns


def baseline_seconds(backend, answer: Answer, tools: list) -> float:  # type: ignore[no-untyped-def]
    source = backend.source
    prompt = source.render(answer.history, tools, True)
    inputs = source.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    started = time.perf_counter()
    source.model.generate(
        **inputs,
        max_new_tokens=max(1, answer.tokens),
        do_sample=True,
        temperature=TEMPERATURE,
        top_p=TOP_P,
        pad_token_id=STOP_TOKEN_IDS[0],
        logits_processor=LogitsProcessorList([NoStop()]),
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=8)
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes meanwhile")
    parser.add_argument("--skip-before", action="store_true", help="don't run the app as it was")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        measure(args.answers, args.busy, args.skip_before)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def report(name: str, answers: list[Answer], baseline: list[float]) -> None:
    """The answers' times, plain `generate`'s on the same tokens, and the app's own share per answer
    (answer minus plain generate: page runs, rendering, the browser), which the token counts drawn
    by chance don't skew."""
    first, rest = answers[0], list(zip(answers[1:], baseline[1:], strict=True))
    waits = [a.seconds for a, _ in rest]
    app_s, base_s = sum(waits), sum(b for _, b in rest)
    print(
        f"{name}: first answer {first.seconds:.2f} s ({first.tokens} tokens; plain generate "
        f"{baseline[0]:.2f} s); then median {statistics.median(waits):.2f} s, max {max(waits):.2f} s "
        f"per answer (median {statistics.median(a.tokens for a, _ in rest)} tokens)"
    )
    print(
        f"  ratio app/plain generate: {app_s / base_s:.2f} ({app_s:.1f} s against {base_s:.1f} s for the "
        f"same tokens); the app's own share per answer: median "
        f"{statistics.median(a.seconds - b for a, b in rest):.2f} s"
    )


def measure(answers: int, busy: int, skip_before: bool) -> None:
    print(f"load average at the start: {os.getloadavg()[0]:.2f}; {busy} busy processes")
    load_tools()
    tools = all_tools()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = build_text_checkpoint(root / "tiny-glm")
        backend = get_text_backend(
            ModelSettings("transformers", str(checkpoint), "", "", "", "chat", False, 0)
        )
        parameters = backend.source.parameters
        print(
            f"model: {parameters:,} parameters; {torch.get_num_threads()} torch thread(s); "
            f"max new tokens {max_new_tokens_for(parameters)}"
        )
        variants = {"app": False} if skip_before else {"app as it was": True, "app": False}
        for name, as_it_was in variants.items():
            data = root / name.replace(" ", "-")
            data.mkdir()
            app = ask_in_app(checkpoint, data, answers, as_it_was)
            baseline = [baseline_seconds(backend, answer, tools) for answer in app]
            report(name, app, baseline)
        full = max_new_tokens_for(parameters)
        longest = Answer(0.0, 0.0, full, [Message("user", QUESTION)])
        runs = [baseline_seconds(backend, longest, tools) for _ in range(3)]
        print(f"plain generate, a full {full}-token answer: median {statistics.median(runs):.2f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
