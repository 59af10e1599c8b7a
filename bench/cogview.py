"""Does the `cogview` tool add anything to the pipeline's own time? And how much memory does an image take?

On the tiny random CogView4 pipeline (`models.tiny_cogview`, real diffusers code), "bare" calls
`pipeline(prompt, width, height, num_inference_steps)` and nothing else; "tool" runs `run_cogview` on
the very same loaded pipeline and settings: the generation line, the per-step progress and Stop
callback, the PNG encoding, the upload checks, the file written to a conversation folder and the
observation. Runs alternate, medians are compared (target: bare / tool >= 0.95). Then one generation's
peak memory, each in a fresh process that has loaded the pipeline and then draws one image through the
tool: its peak resident set (VmHWM) beside its resident size before (a process that has drawn keeps
freed memory, so only a fresh one shows what an image costs), at the timed size and at a larger one
(`--peak-size`, where activations weigh more).

    .venv/bin/python -m bench.cogview [--size 64] [--steps 4] [--runs 15] [--peak-size 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from app.sandbox import folderfs
from app.tools.base import ToolContext
from app.tools.cogview import run_cogview
from models.imagegen.local import local_model
from models.tiny_cogview import build_cogview_checkpoint

PROMPT = "A small red boat on a calm lake at sunrise, mist over the water, mountains behind."


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def bare(pipeline: object, size: int, steps: int) -> None:
    pipeline(prompt=PROMPT, width=size, height=size, num_inference_steps=steps).images[0]


def tool(folder: Path) -> None:
    result = run_cogview(PROMPT, ToolContext("bench", folder))
    assert not result.is_error, result.content


def measure(pipeline: object, size: int, steps: int, runs: int, root: Path) -> tuple[list[float], ...]:
    """Seconds per image, bare and through the tool, alternating; a first round warms both up.

    The tool draws into one conversation folder, as a conversation does (as root that folder is a
    mounted filesystem of its own, made on first use: the warm-up pays for it, as the app does
    when the conversation opens)."""
    bare_times: list[float] = []
    tool_times: list[float] = []
    folder = root / "conversation"
    folder.mkdir()
    for i in range(runs + 1):
        for run, times in (
            (lambda: bare(pipeline, size, steps), bare_times),
            (lambda: tool(folder), tool_times),
        ):
            started = time.perf_counter()
            run()
            if i:
                times.append(time.perf_counter() - started)
    return bare_times, tool_times


def peak_child(checkpoint: str, size: int, folder: str) -> None:
    """In a fresh process: load, then one image through the tool; prints KiB before and at peak."""
    torch.set_num_threads(1)
    os.environ.update(GLM_IMAGE_MODEL=checkpoint, GLM_IMAGE_SIZE=str(size))
    local_model(checkpoint)
    before = _status_kib("VmRSS")
    tool(Path(folder))
    print(before, _status_kib("VmHWM"))
    folderfs.unmount_all()


def peak_memory(checkpoint: Path, root: Path, size: int) -> tuple[float, float]:
    """(resident MiB before, peak resident MiB during) one tool generation of a `size`-pixel square."""
    folder = root / f"peak-{size}"
    folder.mkdir()
    code = f"import bench.cogview as b; b.peak_child({str(checkpoint)!r}, {size}, {str(folder)!r})"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    before, peak = (int(v) for v in done.stdout.split()[-2:])
    return before / 1024, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--peak-size", type=int, default=256)
    args = parser.parse_args()
    # One thread: the tiny model gains nothing from more, and the machine's cores are shared.
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = build_cogview_checkpoint(root / "tiny-cogview")
        os.environ.update(
            GLM_IMAGE_MODEL=str(checkpoint),
            GLM_IMAGE_SIZE=str(args.size),
            GLM_IMAGE_STEPS=str(args.steps),
        )
        os.environ.pop("GLM_IMAGE_API_BASE", None)
        pipeline = local_model(str(checkpoint)).pipeline
        try:
            bare_times, tool_times = measure(pipeline, args.size, args.steps, args.runs, root)
            peaks = {size: peak_memory(checkpoint, root, size) for size in (args.size, args.peak_size)}
        finally:
            folderfs.unmount_all()
    bare_ms, tool_ms = statistics.median(bare_times) * 1000, statistics.median(tool_times) * 1000
    print(f"tiny CogView4 pipeline, {args.size}x{args.size}, {args.steps} steps, {args.runs} runs each")
    print(f"bare pipeline(...)   {bare_ms:8.1f} ms per image (median)")
    print(f"cogview tool         {tool_ms:8.1f} ms per image (median)")
    print(f"ratio bare / tool: {bare_ms / tool_ms:.2f}x (target >= 0.95x)")
    for size, (before, peak) in peaks.items():
        print(
            f"peak memory of one generation, {size}x{size}: {peak:.0f} MiB resident "
            f"(+{peak - before:.1f} MiB over the {before:.0f} MiB before it)"
        )


if __name__ == "__main__":
    main()
