"""Code-interpreter figures, in one run: `.venv/bin/python -m bench.kernel`.

1. Round trip of a trivial cell through the `python` tool (sandboxed kernel) against the raw
   `jupyter_client` round trip on an unsandboxed kernel, medians over CELLS cells. Target: <= 1.2x.
   The same for a cell printing 1 MB (BIG_CODE). Target: <= 1.2x.
2. Time from a session's first tool call to its result: warm pool against a cold kernel start.
3. Resident memory of an idle session's kernel (whole process tree), bare and after importing
   numpy, pandas and matplotlib.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_client import BlockingKernelClient, KernelManager

from app.sandbox import registry
from app.tools.base import ToolContext
from app.tools.python_tool import make_python_tool

CELLS = 100
FIRST_CALLS = 5
CODE = "1 + 1"
BIG_CODE = "print('x' * 1_000_000)"
BIG_CELLS = 30


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _wait_minimal(client: BlockingKernelClient, code: str) -> None:
    """The least a correct client does: send, read iopub until this request's idle, take the reply."""
    msg_id = client.execute(code)
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["content"].get("execution_state") == "idle":
            break
    client.get_shell_msg(timeout=30)


def _wait_interactive(client: BlockingKernelClient, code: str) -> None:
    client.execute_interactive(code, timeout=30, output_hook=lambda msg: None)


def raw_round_trips(root: Path, code: str = CODE, cells: int = CELLS) -> dict[str, list[float]]:
    """Baselines on a plain python3 kernel (IPC, no sandbox): jupyter_client's own execute_interactive,
    and the minimal send / wait-for-idle / reply loop; cells alternate between the two."""
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(root / "raw"))
    manager.start_kernel()
    client = manager.blocking_client()
    client.start_channels()
    ways = {"execute_interactive": _wait_interactive, "minimal loop": _wait_minimal}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    try:
        client.wait_for_ready(timeout=60)
        _wait_minimal(client, code)
        for _ in range(cells):
            for name, wait in ways.items():
                started = time.perf_counter()
                wait(client, code)
                samples[name].append(time.perf_counter() - started)
        return samples
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def tool_round_trip(root: Path, code: str = CODE, cells: int = CELLS) -> list[float]:
    tool = make_python_tool()
    ctx = ToolContext(session_id="bench-rt", workdir=root / "rt")
    assert tool.run(code, ctx).content.strip()
    samples = []
    for _ in range(cells):
        started = time.perf_counter()
        tool.run(code, ctx)
        samples.append(time.perf_counter() - started)
    registry.shutdown_session("bench-rt")
    return samples


def first_call(root: Path, pool: int) -> list[float]:
    os.environ["GLM_KERNEL_POOL"] = str(pool)
    tool = make_python_tool()
    samples = []
    for i in range(FIRST_CALLS):
        if pool:
            registry.warm_pool()
            while not registry._pool:
                time.sleep(0.02)
        ctx = ToolContext(session_id=f"bench-first-{pool}-{i}", workdir=root / f"first-{pool}-{i}")
        started = time.perf_counter()
        assert tool.run(CODE, ctx).content == "2\n"
        samples.append(time.perf_counter() - started)
        registry.shutdown_session(ctx.session_id)
    registry.shutdown_all()
    return samples


def idle_memory(root: Path) -> tuple[int, int]:
    os.environ["GLM_KERNEL_POOL"] = "0"
    session = registry.get_session("bench-mem", root / "mem")
    session.execute("1")
    time.sleep(1)
    bare = session.kernel.rss_bytes()
    session.execute("import numpy, pandas, matplotlib.pyplot", timeout=60)
    time.sleep(1)
    loaded = session.kernel.rss_bytes()
    registry.shutdown_all()
    return bare, loaded


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["GLM_DATA_DIR"] = str(root / "data")
        os.environ["GLM_KERNEL_POOL"] = "0"
        raws = {name: _median_ms(times) for name, times in raw_round_trips(root).items()}
        tool = _median_ms(tool_round_trip(root))
        print(f"trivial cell, median of {CELLS}:")
        for name, ms in raws.items():
            print(f"  raw jupyter_client, unsandboxed, {name:<20} {ms:.2f} ms")
        print(f"  python tool, sandboxed                                  {tool:.2f} ms")
        best = min(raws.values())
        print(f"  ratio against the faster raw path {tool / best:.2f}x (target <= 1.2x)")
        raws = {name: _median_ms(t) for name, t in raw_round_trips(root, BIG_CODE, BIG_CELLS).items()}
        tool = _median_ms(tool_round_trip(root, BIG_CODE, BIG_CELLS))
        print(f"cell printing 1 MB, median of {BIG_CELLS}:")
        for name, ms in raws.items():
            print(f"  raw jupyter_client, unsandboxed, {name:<20} {ms:.2f} ms")
        print(f"  python tool, sandboxed                                  {tool:.2f} ms")
        best = min(raws.values())
        print(f"  1 MB ratio against the faster raw path {tool / best:.2f}x (target <= 1.2x)")
        cold = _median_ms(first_call(root, pool=0))
        warm = _median_ms(first_call(root, pool=1))
        print(f"first tool call to result, median of {FIRST_CALLS}: cold start {cold:.0f} ms")
        print(
            f"                                           warm pool  {warm:.1f} ms ({cold / warm:.0f}x faster)"
        )
        bare, loaded = idle_memory(root)
        print(
            f"idle kernel RSS: {bare / 2**20:.0f} MiB; after numpy+pandas+matplotlib {loaded / 2**20:.0f} MiB"
        )


if __name__ == "__main__":
    main()
