"""Conversations on disk: one SQLite file under `GLM_DATA_DIR`, written a whole turn at a time.

A turn is every message one user request produced: the question, the tool calls and their
observations, the answer. `append_turn` writes it in one transaction when it completes, so a crash
mid-answer loses at most that turn and never touches older ones. Every call takes the user id and
answers `ConversationNotFound` for a conversation that isn't theirs, exactly as for one that
doesn't exist, so ids reveal nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import data_dir
from app.store.schema import migrate, safe_user_name
from models.messages import Message

WORKSPACES = ("chat", "documents", "vision")
UNTITLED = "New conversation"
TITLE_LENGTH = 60

_CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")


class ConversationNotFound(LookupError):
    """No conversation with this id belongs to this user (whether or not someone else has one)."""


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    workspace: str
    title: str
    created: float
    updated: float


@dataclass(frozen=True)
class StoredDocument:
    """A document attached to a conversation; `path` is the stored copy."""

    name: str
    sha256: str
    path: str
    added: float


@dataclass
class Conversation:
    id: str
    owner: str
    workspace: str
    title: str
    created: float
    updated: float
    turns: list[list[Message]] = field(default_factory=list)
    tool_state: dict[str, Any] = field(default_factory=dict)
    documents: list[StoredDocument] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        """All messages in order, as the model and the page replay them."""
        return [message for turn in self.turns for message in turn]


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def make_title(text: str) -> str:
    """A one-line title from a question: whitespace collapsed, cut to `TITLE_LENGTH` characters."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _summary(row: sqlite3.Row) -> ConversationSummary:
    return ConversationSummary(
        row["id"], row["workspace"], row["title"] or UNTITLED, row["created"], row["updated"]
    )


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The conversation store. Safe to share between Streamlit's script threads (one connection, a lock)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "studio.db"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # Deleted conversations are overwritten, not left readable in free pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        with self._transaction(write=True) as db:
            migrate(db, self.path, self.root)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _owned(db: sqlite3.Connection, user: str, conversation_id: str) -> sqlite3.Row:
        row = db.execute(
            "SELECT * FROM conversations WHERE id = ? AND owner = ?", (conversation_id, user)
        ).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return row

    def create_conversation(
        self, user: str, workspace: str, title: str = "", conversation_id: str | None = None
    ) -> str:
        """A new empty conversation; returns its id. Without a title, the first question gives one.

        `conversation_id` lets the app pick the id ahead of the first write (from `new_conversation_id`),
        so the conversation's folder exists before its first turn is saved.
        """
        if workspace not in WORKSPACES:
            raise ValueError(f"workspace must be one of {WORKSPACES}, got {workspace!r}")
        if not user:
            raise ValueError("user must be a non-empty id")
        if conversation_id is None:
            conversation_id = new_conversation_id()
        elif not _CONVERSATION_ID.fullmatch(conversation_id):
            raise ValueError(f"not a conversation id: {conversation_id!r}")
        now = time.time()
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT INTO conversations (id, owner, workspace, title, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, user, workspace, make_title(title), now, now),
            )
        return conversation_id

    def list_conversations(
        self, user: str, workspace: str, search: str = "", limit: int | None = None
    ) -> list[ConversationSummary]:
        """The user's conversations in one workspace, most recently updated first.

        `search` keeps those whose title contains it (case-insensitive for ASCII); `limit` caps the list.
        """
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", search.strip()) + "%"
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, workspace, title, created, updated FROM conversations "
                "WHERE owner = ? AND workspace = ? AND title LIKE ? ESCAPE '\\' "
                "ORDER BY updated DESC, created DESC, rowid DESC LIMIT ?",
                (user, workspace, pattern, -1 if limit is None else limit),
            ).fetchall()
        return [_summary(r) for r in rows]

    def summary(self, user: str, conversation_id: str) -> ConversationSummary:
        """One conversation's title and dates, without its messages."""
        with self._transaction() as db:
            row = self._owned(db, user, conversation_id)
        return _summary(row)

    def load_conversation(self, user: str, conversation_id: str) -> Conversation:
        with self._transaction() as db:
            row = self._owned(db, user, conversation_id)
            bodies = db.execute(
                "SELECT turn, body FROM messages WHERE conversation_id = ? ORDER BY turn, position",
                (conversation_id,),
            ).fetchall()
            documents = db.execute(
                "SELECT name, sha256, path, added FROM documents WHERE conversation_id = ? "
                "ORDER BY added, name",
                (conversation_id,),
            ).fetchall()
        turns: dict[int, list[Message]] = {}
        for turn, body in bodies:
            turns.setdefault(turn, []).append(Message.from_dict(json.loads(body)))
        return Conversation(
            id=row["id"],
            owner=row["owner"],
            workspace=row["workspace"],
            title=row["title"] or UNTITLED,
            created=row["created"],
            updated=row["updated"],
            turns=list(turns.values()),
            tool_state=json.loads(row["tool_state"]),
            documents=[StoredDocument(d["name"], d["sha256"], d["path"], d["added"]) for d in documents],
        )

    def rename(self, user: str, conversation_id: str, title: str) -> None:
        title = make_title(title)
        if not title:
            raise ValueError("a title can't be blank")
        with self._transaction(write=True) as db:
            self._owned(db, user, conversation_id)
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, user: str, conversation_id: str) -> None:
        """Removes the conversation, its turns, its documents and its folder (uploads, working files).

        `secure_delete` zeroes the freed pages, and the checkpoint moves that into the database file
        and empties the write-ahead log, which still held the deleted turns.
        """
        with self._transaction(write=True) as db:
            self._owned(db, user, conversation_id)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.rmtree(self._conversation_path(user, conversation_id), ignore_errors=True)

    def append_turn(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        tool_state: dict[str, Any] | None = None,
    ) -> int:
        """Stores one completed turn (and the tool state after it) atomically; returns the turn's index."""
        if not messages:
            raise ValueError("a turn needs at least one message")
        with self._transaction(write=True) as db:
            return self._write_turn(db, user, conversation_id, messages, tool_state, replace=False)

    def replace_last_turn(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message] = (),
        tool_state: dict[str, Any] | None = None,
    ) -> None:
        """Swaps the last turn for `messages` in one transaction (Retry, edit-and-resend).

        With no messages it just drops the last turn. Call it when the new turn completes, so a crash
        while regenerating keeps the old answer.
        """
        with self._transaction(write=True) as db:
            self._write_turn(db, user, conversation_id, messages, tool_state, replace=True)

    def _write_turn(
        self,
        db: sqlite3.Connection,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        tool_state: dict[str, Any] | None,
        replace: bool,
    ) -> int:
        row = self._owned(db, user, conversation_id)
        last = db.execute(
            "SELECT MAX(turn) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        turn = -1 if last is None else last
        if replace:
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (conversation_id, turn))
        else:
            turn += 1
        db.executemany(
            "INSERT INTO messages (conversation_id, turn, position, body) VALUES (?, ?, ?, ?)",
            [(conversation_id, turn, i, _encode(m.to_dict())) for i, m in enumerate(messages)],
        )
        title = row["title"]
        if not title:
            title = next(
                (make_title(m.content) for m in messages if m.role == "user" and m.content.strip()), ""
            )
        state = row["tool_state"] if tool_state is None else _encode(tool_state)
        db.execute(
            "UPDATE conversations SET title = ?, tool_state = ?, updated = ? WHERE id = ?",
            (title, state, max(time.time(), row["updated"]), conversation_id),
        )
        return turn

    def set_tool_state(self, user: str, conversation_id: str, state: dict[str, Any]) -> None:
        with self._transaction(write=True) as db:
            self._owned(db, user, conversation_id)
            db.execute(
                "UPDATE conversations SET tool_state = ? WHERE id = ?", (_encode(state), conversation_id)
            )

    def attach_document(self, user: str, conversation_id: str, name: str, data: bytes) -> StoredDocument:
        """Keeps a copy of an uploaded document with the conversation (once per content)."""
        digest = hashlib.sha256(data).hexdigest()
        file_name = re.sub(r"[^\w.-]+", "_", Path(name).name).lstrip(".") or "document"
        folder = self.conversation_dir(user, conversation_id) / "documents"
        folder.mkdir(exist_ok=True)
        path = folder / f"{digest[:16]}-{file_name}"
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            os.replace(partial, path)
        with self._transaction(write=True) as db:
            self._owned(db, user, conversation_id)
            db.execute(
                "INSERT OR IGNORE INTO documents (conversation_id, sha256, name, path, added) "
                "VALUES (?, ?, ?, ?, ?)",
                (conversation_id, digest, name, str(path), time.time()),
            )
            row = db.execute(
                "SELECT name, sha256, path, added FROM documents WHERE conversation_id = ? AND sha256 = ?",
                (conversation_id, digest),
            ).fetchone()
        return StoredDocument(row["name"], row["sha256"], row["path"], row["added"])

    def user_dir(self, user: str) -> Path:
        """The user's own files directory (uploads, kernels' working dirs), created on first use."""
        path = self.root / "users" / safe_user_name(user)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def conversation_dir(self, user: str, conversation_id: str) -> Path:
        """Files of one of the user's conversations (produced files, documents); deleted with it."""
        with self._transaction() as db:
            self._owned(db, user, conversation_id)
        path = self._conversation_path(user, conversation_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def conversation_workdir(self, user: str, conversation_id: str) -> Path:
        """The conversation's working folder (the code interpreter's /mnt/data), created on first use.

        It may exist before the conversation's first turn is saved; it lives under the user's own
        folder, so an id alone never reaches another user's files.
        """
        if not _CONVERSATION_ID.fullmatch(conversation_id):
            raise ValueError(f"not a conversation id: {conversation_id!r}")
        path = self._conversation_path(user, conversation_id) / "data"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def _conversation_path(self, user: str, conversation_id: str) -> Path:
        return self.user_dir(user) / "conversations" / conversation_id
