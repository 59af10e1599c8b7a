"""How long does writing a turn keep other users out of the store? Measured against a tiny turn.

One thread saves a turn while another asks the same `Store` for a conversation's summary in a loop
(what every page run does); the longest wait of that reader is how long the writer blocked everyone
(on a loaded machine it also counts waiting for the CPU), and the longest write transaction is how
long the write lock was held.
The big turn is issue 13's case: one cell's image outputs (IMAGES × IMAGE_MB of PNG-labelled
bytes); the baseline is a turn of two short messages, written the same way in the same run. Also
printed: the database's size after the big turn, and the time to reopen that conversation.

    .venv/bin/python -m bench.store
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.store import Store
from models.messages import Attachment, Message

IMAGES = 20
IMAGE_MB = 12
RUNS = 3
USER = "bench"


def image_turn(n: int, mb: int) -> list[Message]:
    png = b"\x89PNG\r\n\x1a\n"
    images = [
        Attachment("image", f"output-{i}.png", "image/png", data=png + os.urandom(mb * 2**20))
        for i in range(n)
    ]
    return [
        Message("user", "Plot it twenty times"),
        Message("assistant", "for i in range(20): plot(i)", metadata="python", tool_call_id="c1"),
        Message("observation", "[image: PNG]\n" * n, tool_call_id="c1", attachments=images),
        Message("assistant", "Here they are."),
    ]


HELD: list[float] = []


def _timed(transaction: Callable[..., Any]) -> Callable[..., Any]:
    """`Store._transaction`, recording how long each write transaction holds the write lock."""

    @contextmanager
    def timed(self: Store, write: bool = False) -> Iterator:
        start = time.perf_counter()
        with transaction(self, write) as db:
            yield db
        if write:
            HELD.append(time.perf_counter() - start)

    return timed


Store._transaction = _timed(Store._transaction)  # type: ignore[method-assign]


def longest_wait_while(store: Store, cid: str, write: threading.Thread) -> float:
    """The longest a reader waited for one summary while `write` ran."""
    longest = 0.0
    write.start()
    while write.is_alive():
        start = time.perf_counter()
        store.summary(USER, cid)
        longest = max(longest, time.perf_counter() - start)
        time.sleep(0.0005)
    write.join()
    return longest


def measure(root: Path, turn: list[Message]) -> tuple[float, float, float]:
    """(longest reader wait, whole write, longest write transaction) for saving `turn`, median over
    RUNS fresh stores."""
    waits, writes, held = [], [], []
    for run in range(RUNS):
        with Store(root / f"run-{len(turn[2].attachments)}-{run}") as store:
            cid = store.create_conversation(USER, "chat")
            store.append_turn(USER, cid, [Message("user", "warm up"), Message("assistant", "ok")])
            took: list[float] = []

            def write(store: Store = store, cid: str = cid, took: list[float] = took) -> None:
                start = time.perf_counter()
                store.append_turn(USER, cid, turn)
                took.append(time.perf_counter() - start)

            HELD.clear()
            waits.append(longest_wait_while(store, cid, threading.Thread(target=write)))
            writes.append(took[0])
            held.append(max(HELD))
    return statistics.median(waits), statistics.median(writes), statistics.median(held)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small_wait, small_write, small_held = measure(root, image_turn(0, 0))
        big = image_turn(IMAGES, IMAGE_MB)
        big_wait, big_write, big_held = measure(root, big)
        with Store(root / f"run-{IMAGES}-0") as store:
            (summary,) = store.list_conversations(USER, "chat")
            start = time.perf_counter()
            store.load_conversation(USER, summary.id)
            reopen = time.perf_counter() - start
        database = sum(p.stat().st_size for p in (root / f"run-{IMAGES}-0").glob("studio.db*"))
    print(f"turn with {IMAGES} images of {IMAGE_MB} MB; medians of {RUNS} runs")
    print(f"  longest reader wait, tiny turn: {small_wait * 1e3:8.2f} ms (write {small_write * 1e3:.1f} ms)")
    print(f"  longest reader wait, big turn:  {big_wait * 1e3:8.2f} ms (write {big_write * 1e3:.1f} ms)")
    print(f"  ratio big / tiny: {big_wait / small_wait:.2f}x")
    print(f"  write lock held, tiny turn: {small_held * 1e3:.2f} ms; big turn: {big_held * 1e3:.2f} ms")
    print(f"  database after the big turn: {database / 2**10:.0f} KiB; reopening it: {reopen * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
