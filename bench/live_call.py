"""Per-token cost of showing a tool call while it is written, at two call lengths.

"re-join" is what the page did: append the token, join the whole call, hand it to the renderer.
"preview" is `app.ui.live_text.CallPreview`: a bounded tail, handed out at most every 0.1 s. The
renderer stands in for Streamlit's: it encodes the text, as serialising an element does, so its cost
grows with what it is given. Tokens come as fast as the loop runs (a model at its fastest); the clock
is real. Flat means the long call's µs/token divided by the short call's stays near 1.

    .venv/bin/python -m bench.live_call [--short 2000] [--long 32000]
"""

from __future__ import annotations

import argparse
import time

from app.ui.live_text import CallPreview

TOKEN = "x = compute(1) "  # about one code token's worth of characters, repeated


def render(text: str) -> int:
    return len(text.encode("utf-8"))


def rejoin(tokens: int) -> float:
    written: list[str] = []
    started = time.perf_counter()
    for _ in range(tokens):
        written.append(TOKEN)
        render("".join(written))
    return (time.perf_counter() - started) / tokens * 1e6


def preview(tokens: int) -> float:
    live = CallPreview()
    started = time.perf_counter()
    for _ in range(tokens):
        if (shown := live.add(TOKEN)) is not None:
            render(shown)
    render(live.text())
    return (time.perf_counter() - started) / tokens * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=32000)
    args = parser.parse_args()
    results = {}
    for name, run in (("re-join", rejoin), ("preview", preview)):
        short = min(run(args.short) for _ in range(5))  # best of 5: the machine is shared
        long = min(run(args.long) for _ in range(5))
        results[name] = (short, long)
        print(f"{name}: {short:.2f} µs/token at {args.short} tokens, {long:.2f} at {args.long}")
        print(f"  ratio long/short: {long / short:.2f}")
    print(f"preview/re-join at {args.long} tokens: {results['preview'][1] / results['re-join'][1]:.4f}")


if __name__ == "__main__":
    main()
