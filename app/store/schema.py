"""The conversation store's SQLite schema, its migrations, and where each user's files live.

`migrate` brings a database of any earlier version up to `SCHEMA_VERSION`, inside the caller's
transaction; a database from a newer app is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from pathlib import Path

from app.auth import LOCAL_USER
from app.store.blobs import BLOBS, write_blob

_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            workspace TEXT NOT NULL,
            title TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            tool_state TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX conversations_by_owner ON conversations (owner, workspace, updated)",
        """CREATE TABLE messages (
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            turn INTEGER NOT NULL,
            position INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (conversation_id, turn, position)
        ) WITHOUT ROWID""",
        """CREATE TABLE documents (
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            added REAL NOT NULL,
            PRIMARY KEY (conversation_id, sha256)
        )""",
    ],
    [  # user ids carry their sign-in mode (app/auth.py); the no-sign-in user stays "local"
        "UPDATE conversations SET owner = 'oidc:' || owner WHERE owner != 'local' AND instr(owner, ':') > 0",
        "UPDATE conversations SET owner = 'pw:' || owner WHERE owner != 'local' AND instr(owner, ':') = 0",
    ],
    [  # turns written as they go, with a version check; attachment bytes move out to blob files
        "ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE conversations ADD COLUMN open_turn TEXT",
        "ALTER TABLE conversations ADD COLUMN open_index INTEGER",
        "ALTER TABLE conversations ADD COLUMN open_replaces INTEGER",
    ],
]
SCHEMA_VERSION = len(_MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the app."""


def safe_user_name(user: str) -> str:
    """A directory name for a user id: readable, and distinct for distinct ids."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", user)[:40].lstrip(".") or "user"
    return f"{slug}-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def migrate(db: sqlite3.Connection, path: Path, root: Path) -> bool:
    """Bring the database at `path` (data under `root`) to `SCHEMA_VERSION`, in `db`'s write transaction.
    True when attachment bytes moved out of the database (worth a VACUUM after the commit)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(f"{path} has schema version {version}; this app knows up to {SCHEMA_VERSION}")
    owners = [r[0] for r in db.execute("SELECT DISTINCT owner FROM conversations")] if version else []
    for statements in _MIGRATIONS[version:]:
        for statement in statements:
            db.execute(statement)
    if 0 < version < 2:
        _move_user_folders(db, root, owners)
    moved = _move_inline_bytes(db, root) if 0 < version < 3 else 0
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return moved > 0


def _move_inline_bytes(db: sqlite3.Connection, root: Path) -> int:
    """Schema 3 keeps attachment bytes as blob files: rows holding base64 `data` get it moved out.
    Returns how many rows changed (the caller vacuums the file afterwards when any did)."""
    rows = db.execute(
        "SELECT m.conversation_id, m.turn, m.position, m.body, c.owner FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id WHERE m.body LIKE '%\"data\"%'"
    )
    changed = 0
    for conversation_id, turn, position, body, owner in rows.fetchall():
        message = json.loads(body)
        folder = root / "users" / safe_user_name(owner) / "conversations" / conversation_id / BLOBS
        moved = False
        for attachment in message.get("attachments", []):
            if attachment.get("data") is not None:
                attachment["blob"] = write_blob(folder, base64.b64decode(attachment["data"]))
                attachment["data"] = None
                moved = True
        if moved:
            db.execute(
                "UPDATE messages SET body = ? WHERE conversation_id = ? AND turn = ? AND position = ?",
                (
                    json.dumps(message, ensure_ascii=False, separators=(",", ":")),
                    conversation_id,
                    turn,
                    position,
                ),
            )
            changed += 1
    return changed


def _move_user_folders(db: sqlite3.Connection, root: Path, old_owners: list[str]) -> None:
    """Schema 2 renamed the owners; their folders (and stored document paths) follow."""
    for old in old_owners:
        if old == LOCAL_USER:
            continue
        new = f"oidc:{old}" if ":" in old else f"pw:{old}"
        before, after = root / "users" / safe_user_name(old), root / "users" / safe_user_name(new)
        if not before.is_dir() or after.exists():
            continue
        before.rename(after)
        db.execute(
            "UPDATE documents SET path = :new || substr(path, length(:old) + 1) "
            "WHERE substr(path, 1, length(:old)) = :old",
            {"old": str(before), "new": str(after)},
        )
