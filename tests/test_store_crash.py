"""A process killed mid-write (SIGKILL) loses at most the turn being written, and the file stays sound."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from app.store import Store
from models.messages import Message

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import os, signal, sys
from app.store import Store
from models.messages import Message

root, cid, kill_at_commit = sys.argv[1], sys.argv[2], int(sys.argv[3])

def turn(i):
    big = "x" * (4_000_000 if i == kill_at_commit - 1 else 2_000)
    return [Message("user", f"question {i}"), Message("assistant", f"print({i})", metadata="python"),
            Message("observation", str(i)), Message("assistant", f"answer {i} {big}")]

store = Store(root)
commits = 0

def trace(sql):
    global commits
    if sql == "COMMIT":
        commits += 1
        if commits == kill_at_commit:
            os.kill(os.getpid(), signal.SIGKILL)

store._db.set_trace_callback(trace)
for i in range(100_000):
    store.append_turn("alice", cid, turn(i))
    print(i, flush=True)
"""


def expected_turn(i: int) -> list[Message]:
    return [
        Message("user", f"question {i}"),
        Message("assistant", f"print({i})", metadata="python"),
        Message("observation", str(i)),
        Message("assistant", f"answer {i} " + "x" * 2_000),
    ]


def start_child(root: Path, cid: str, kill_at_commit: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), cid, str(kill_at_commit)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def prepare(root: Path) -> tuple[str, str, list[list[Message]]]:
    with Store(root) as store:
        older = store.create_conversation("alice", "chat")
        store.append_turn("alice", older, [Message("user", "an older chat"), Message("assistant", "kept")])
        target = store.create_conversation("alice", "chat")
        return older, target, store.load_conversation("alice", older).turns


def check_after_crash(
    root: Path, older: str, older_turns: list[list[Message]], target: str
) -> list[list[Message]]:
    with sqlite3.connect(root / "studio.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with Store(root) as store:
        assert store.load_conversation("alice", older).turns == older_turns
        return store.load_conversation("alice", target).turns


def test_killed_before_commit_loses_only_that_turn(tmp_path):
    older, target, older_turns = prepare(tmp_path)
    child = start_child(tmp_path, target, kill_at_commit=4)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert out.split() == ["0", "1", "2"]
    # Part of the killed turn (4 MB) had already spilled into the write-ahead log, uncommitted.
    assert (tmp_path / "studio.db-wal").stat().st_size > 1_000_000

    turns = check_after_crash(tmp_path, older, older_turns, target)
    assert turns == [expected_turn(i) for i in range(3)]


def test_killed_at_a_random_point_keeps_every_acknowledged_turn(tmp_path):
    older, target, older_turns = prepare(tmp_path)
    child = start_child(tmp_path, target, kill_at_commit=0)
    try:
        acknowledged = [int(child.stdout.readline()) for _ in range(40)]
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.communicate(timeout=60)
    assert acknowledged == list(range(40))

    turns = check_after_crash(tmp_path, older, older_turns, target)
    assert len(turns) >= 40
    assert turns == [expected_turn(i) for i in range(len(turns))]
    with Store(tmp_path) as store:
        store.append_turn("alice", target, [Message("user", "after the crash")])
        assert store.load_conversation("alice", target).turns[-1] == [Message("user", "after the crash")]
