"""Conversations on disk: one SQLite file under `GLM_DATA_DIR`, each turn written as it goes.

A turn is every message one user request produced: the question, the tool calls and their
observations, the answer. `begin_turn` writes the question and marks the turn open (with a token
only its writer knows); `save_open_turn` rewrites it as steps finish; `finish_turn` closes it. A
crash, a reload or a closed tab leaves an open turn holding what was produced so far, which the app
then closes as interrupted. Every write of a turn is checked against the conversation's `version`,
so a tab that missed another tab's turn can't replace it (`StaleConversation`).

Attachment bytes live as files beside the conversation (`app/store/blobs.py`), written before the
transaction that names them; rows are encoded before the lock is taken, so a transaction holds the
lock for milliseconds whatever the turn's size. Every call takes the user id and answers
`ConversationNotFound` for a conversation that isn't theirs, exactly as for one that doesn't exist,
so ids reveal nothing.
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
from functools import partial
from pathlib import Path
from typing import Any

from app.config import data_dir
from app.store.blobs import BLOBS, read_blob, write_blob
from app.store.schema import migrate, safe_user_name
from models.messages import Message

WORKSPACES = ("chat", "documents", "vision")
UNTITLED = "New conversation"
TITLE_LENGTH = 60

_CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")


class ConversationNotFound(LookupError):
    """No conversation with this id belongs to this user (whether or not someone else has one)."""


class StaleConversation(RuntimeError):
    """The conversation changed since the caller read it (another tab wrote a turn, or has one open)."""

    def __init__(self, conversation_id: str, version: int, open_turn: str | None) -> None:
        super().__init__(f"conversation {conversation_id} is at version {version}")
        self.version = version
        self.open_turn = open_turn


@dataclass(frozen=True)
class OpenTurn:
    """A turn being written: `token` authorises its writes, `version` is the conversation's after it began."""

    token: str
    index: int
    version: int


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
    version: int = field(default=0, compare=False)
    open_turn: str | None = field(default=None, compare=False)

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
    """The conversation store. Safe to share between Streamlit's script threads: one connection for
    writes and one for reads, each behind its own lock, so a write's commit (an fsync) never holds
    up a page that is only reading (WAL readers see the last commit)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "studio.db"
        self._lock = threading.RLock()
        self._read_lock = threading.RLock()
        self._db = self._connect()
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._transaction(write=True) as db:
            moved = migrate(db, self.path, self.root)
        if moved:  # the bytes moved out to blob files: give the space back once
            with self._lock:
                self._db.execute("VACUUM")
        self._reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        # Deleted conversations are overwritten, not left readable in free pages of the file.
        db.execute("PRAGMA secure_delete=ON")
        return db

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        lock, db = (self._lock, self._db) if write else (self._read_lock, self._reader)
        with lock:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

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
        """The conversation with its turns; attachment bytes are read only when asked for. A Retry
        still being written is left out (the turn it may replace is shown until it ends)."""
        with self._transaction() as db:
            row = self._owned(db, user, conversation_id)
            hidden = row["open_index"] if row["open_replaces"] is not None else None
            bodies = db.execute(
                "SELECT turn, body FROM messages WHERE conversation_id = ? AND turn IS NOT ? "
                "ORDER BY turn, position",
                (conversation_id, hidden),
            ).fetchall()
            documents = db.execute(
                "SELECT name, sha256, path, added FROM documents WHERE conversation_id = ? "
                "ORDER BY added, name",
                (conversation_id,),
            ).fetchall()
        return Conversation(
            id=row["id"],
            owner=row["owner"],
            workspace=row["workspace"],
            title=row["title"] or UNTITLED,
            created=row["created"],
            updated=row["updated"],
            turns=self._decode_turns(user, conversation_id, bodies),
            tool_state=json.loads(row["tool_state"]),
            documents=[StoredDocument(d["name"], d["sha256"], d["path"], d["added"]) for d in documents],
            version=row["version"],
            open_turn=row["open_turn"],
        )

    def open_turn_messages(self, user: str, conversation_id: str, token: str) -> list[Message] | None:
        """What the open turn `token` holds so far, or None when that turn isn't open any more."""
        with self._transaction() as db:
            row = self._owned(db, user, conversation_id)
            if row["open_turn"] != token:
                return None
            bodies = db.execute(
                "SELECT turn, body FROM messages WHERE conversation_id = ? AND turn = ? ORDER BY position",
                (conversation_id, row["open_index"]),
            ).fetchall()
        turns = self._decode_turns(user, conversation_id, bodies)
        return turns[0] if turns else []

    def _decode_turns(
        self, user: str, conversation_id: str, bodies: list[sqlite3.Row]
    ) -> list[list[Message]]:
        folder = self._conversation_path(user, conversation_id) / BLOBS
        load = partial(read_blob, folder)
        turns: dict[int, list[Message]] = {}
        for turn, body in bodies:
            message = Message.from_dict(json.loads(body))
            for attachment in message.attachments:
                if attachment.blob:
                    attachment.bind(load)
            turns.setdefault(turn, []).append(message)
        return list(turns.values())

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
        with self._lock, self._read_lock:
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
        rows = self._encode_rows(user, conversation_id, messages)
        with self._transaction(write=True) as db:
            row = self._owned(db, user, conversation_id)
            turn = self._last_turn(db, conversation_id) + 1
            self._insert(db, conversation_id, turn, rows)
            self._touch(db, row, messages, tool_state)
            return turn

    def replace_last_turn(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message] = (),
        tool_state: dict[str, Any] | None = None,
    ) -> None:
        """Swaps the last turn for `messages` in one transaction (with no messages, drops it)."""
        rows = self._encode_rows(user, conversation_id, messages)
        with self._transaction(write=True) as db:
            row = self._owned(db, user, conversation_id)
            turn = max(self._last_turn(db, conversation_id), 0)
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (conversation_id, turn))
            self._insert(db, conversation_id, turn, rows)
            self._touch(db, row, messages, tool_state)

    def begin_turn(
        self, user: str, conversation_id: str, question: Message, version: int, replace: bool = False
    ) -> OpenTurn:
        """Write a new turn's question and open the turn, if the conversation is still at `version`
        with no turn open; `replace`: the turn will replace the last one (Retry, edit) when it ends.

        Raises `StaleConversation` otherwise: the caller's view is out of date.
        """
        rows = self._encode_rows(user, conversation_id, [question])
        token = uuid.uuid4().hex
        with self._transaction(write=True) as db:
            row = self._owned(db, user, conversation_id)
            if row["version"] != version or row["open_turn"] is not None:
                raise StaleConversation(conversation_id, row["version"], row["open_turn"])
            last = self._last_turn(db, conversation_id)
            if replace and last < 0:
                raise StaleConversation(conversation_id, row["version"], None)
            turn = last + 1
            self._insert(db, conversation_id, turn, rows)
            db.execute(
                "UPDATE conversations SET open_turn = ?, open_index = ?, open_replaces = ? WHERE id = ?",
                (token, turn, last if replace else None, conversation_id),
            )
            self._touch(db, row, [question], None)
            return OpenTurn(token, turn, row["version"] + 1)

    def save_open_turn(
        self, user: str, conversation_id: str, token: str, messages: Sequence[Message]
    ) -> bool:
        """The open turn's messages so far (question first); False when `token`'s turn isn't open any
        more (it was finished, or closed as interrupted by another tab), and nothing is written."""
        rows = self._encode_rows(user, conversation_id, messages)
        with self._transaction(write=True) as db:
            row = self._owned(db, user, conversation_id)
            if row["open_turn"] != token:
                return False
            db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND turn = ?",
                (conversation_id, row["open_index"]),
            )
            self._insert(db, conversation_id, row["open_index"], rows)
            return True

    def finish_turn(
        self,
        user: str,
        conversation_id: str,
        token: str,
        messages: Sequence[Message],
        tool_state: dict[str, Any] | None = None,
        keep_replaced: bool = False,
    ) -> int | None:
        """Close the open turn `token` with its final `messages` (and the tool state after it); a Retry's
        turn replaces the last one, unless `keep_replaced` (it produced nothing: it is dropped instead).

        Returns the conversation's new version, or None when that turn wasn't open any more.
        """
        rows = self._encode_rows(user, conversation_id, messages)
        with self._transaction(write=True) as db:
            row = self._owned(db, user, conversation_id)
            if row["open_turn"] != token:
                return None
            turn, replaces = row["open_index"], row["open_replaces"]
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (conversation_id, turn))
            if replaces is not None and keep_replaced:
                rows = []
            elif replaces is not None:
                db.execute(
                    "DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (conversation_id, replaces)
                )
            self._insert(db, conversation_id, turn, rows)
            db.execute(
                "UPDATE conversations SET open_turn = NULL, open_index = NULL, open_replaces = NULL "
                "WHERE id = ?",
                (conversation_id,),
            )
            self._touch(db, row, messages, tool_state)
            return row["version"] + 1

    def _encode_rows(self, user: str, conversation_id: str, messages: Sequence[Message]) -> list[str]:
        """Message bodies as JSON, attachment bytes moved to blob files first (outside any lock)."""
        folder = self._conversation_path(user, conversation_id) / BLOBS
        for message in messages:
            for attachment in message.attachments:
                if (data := attachment.held) is not None:  # written once per conversation
                    attachment.blob = write_blob(folder, data)
        return [_encode(m.to_dict(inline=False)) for m in messages]

    @staticmethod
    def _last_turn(db: sqlite3.Connection, conversation_id: str) -> int:
        last = db.execute(
            "SELECT MAX(turn) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        return -1 if last is None else last

    @staticmethod
    def _insert(db: sqlite3.Connection, conversation_id: str, turn: int, rows: list[str]) -> None:
        db.executemany(
            "INSERT INTO messages (conversation_id, turn, position, body) VALUES (?, ?, ?, ?)",
            [(conversation_id, turn, i, body) for i, body in enumerate(rows)],
        )

    @staticmethod
    def _touch(
        db: sqlite3.Connection,
        row: sqlite3.Row,
        messages: Sequence[Message],
        tool_state: dict[str, Any] | None,
    ) -> None:
        """A turn changed: the title from the first question, the tool state, the time, a new version."""
        title = row["title"]
        if not title:
            title = next(
                (make_title(m.content) for m in messages if m.role == "user" and m.content.strip()), ""
            )
        state = row["tool_state"] if tool_state is None else _encode(tool_state)
        db.execute(
            "UPDATE conversations SET title = ?, tool_state = ?, updated = ?, version = version + 1 "
            "WHERE id = ?",
            (title, state, max(time.time(), row["updated"]), row["id"]),
        )

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
