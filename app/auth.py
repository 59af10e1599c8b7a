"""Who is using the app: nobody in particular (local), a password-file user, or an OIDC login.

`GLM_AUTH` picks the mode: unset or `none` (one local user), `password` (lines `name:scrypt$salt$hash`
in `GLM_AUTH_FILE`, default `<GLM_DATA_DIR>/users.txt`) or `oidc` (Streamlit's `st.login`, handled by
the page). Manage the password file with `python -m app.auth add NAME` / `remove NAME`.

User ids carry their mode (`local`, `pw:NAME`, `oidc:ISSUER#SUBJECT`), so a password user named
`local` never reaches the data of the no-sign-in mode, and an OIDC subject never collides with a name.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import AUTH_MODES, ConfigError, data_dir, env_choice, env_str

LOCAL_USER = "local"
MODES = AUTH_MODES
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_USERNAME = re.compile(r"[^\s:]{1,64}")


class AuthConfigError(RuntimeError):
    """Sign-in is misconfigured (unknown mode, missing or malformed password file)."""


def auth_mode() -> str:
    """`GLM_AUTH`, one of `MODES` ("none" when unset); an `AuthConfigError` naming a bad value."""
    try:
        return env_choice("GLM_AUTH", MODES, "none")
    except ConfigError as exc:
        raise AuthConfigError(str(exc)) from exc


def password_file() -> Path:
    return Path(env_str("GLM_AUTH_FILE", str(data_dir() / "users.txt"))).expanduser()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$<salt hex>$<hash hex>` with a fresh random salt unless one is given."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        raise AuthConfigError(
            f"GLM_AUTH=password but there is no password file at {path}; "
            "add a user with `python -m app.auth add NAME`"
        )
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, record = line.partition(":")
        parts = record.split("$")
        if len(parts) != 3 or parts[0] != "scrypt" or not _USERNAME.fullmatch(name):
            raise AuthConfigError(f"{path}:{number}: expected `name:scrypt$salt$hash`")
        users[name] = record
    return users


def verify_password(username: str, password: str, path: Path | None = None) -> bool:
    """True when the password file has this user with this password. Takes as long for unknown users."""
    users = _read(path or password_file())
    record = users.get(username)
    known = record is not None
    if record is None:
        record = hash_password("", salt=b"\0" * 16)
    _, salt, expected = record.split("$")
    try:
        candidate = hash_password(password, salt=bytes.fromhex(salt))
    except ValueError as exc:
        raise AuthConfigError(f"malformed salt for user {username!r}") from exc
    return hmac.compare_digest(candidate.encode(), f"scrypt${salt}${expected}".encode()) and known


def _write(path: Path, users: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.writelines(f"{name}:{record}\n" for name, record in users.items())
    os.replace(partial, path)


def add_user(username: str, password: str, path: Path | None = None) -> None:
    """Adds a user, or sets a new password for an existing one."""
    if not _USERNAME.fullmatch(username):
        raise ValueError("a username is 1-64 characters with no spaces or ':'")
    if not password:
        raise ValueError("the password can't be empty")
    path = path or password_file()
    users = _read(path) if path.exists() else {}
    users[username] = hash_password(password)
    _write(path, users)


def remove_user(username: str, path: Path | None = None) -> bool:
    """Removes a user; False when there was no such user."""
    path = path or password_file()
    users = _read(path)
    if users.pop(username, None) is None:
        return False
    _write(path, users)
    return True


def password_user_id(username: str) -> str:
    return f"pw:{username}"


def oidc_user_id(claims: Mapping[str, Any]) -> str:
    """A stable user id from OIDC claims (issuer and subject; an email can change hands)."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not issuer or not subject:
        raise AuthConfigError("the identity provider returned no 'iss'/'sub' claims")
    return f"oidc:{issuer}#{subject}"


@dataclass
class AttemptLimiter:
    """Slows password guessing: past `free` failures for a key (a user name, a browser session, an
    address), each further attempt must wait twice as long as the one before, up to `max_wait_s`;
    and at most `global_per_minute` passwords are checked per minute, whoever asks.

    `begin` counts an attempt as failed before its password is checked, in the same locked step as
    the check of the wait, so concurrent guesses can't all pass one check; `succeeded` clears it.
    Unknown user names are counted like known ones, so the answers say nothing about who exists.
    A key with no attempt for `forget_after_s` starts afresh.
    """

    free: int = 5
    free_by_kind: dict[str, int] = field(default_factory=lambda: {"addr": 20})
    first_wait_s: float = 1.0
    max_wait_s: float = 300.0
    global_per_minute: int = 60
    forget_after_s: float = 3600.0
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _wait(self, key: str, now: float) -> float:
        count, last = self._failures.get(key, (0, now))
        if now - last > self.forget_after_s:
            return 0.0
        free = self.free_by_kind.get(key.partition(":")[0], self.free)
        if count < free:
            return 0.0
        delay = min(self.max_wait_s, self.first_wait_s * 2 ** (count - free))
        return max(0.0, last + delay - now)

    def _global_wait(self, now: float) -> float:
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) < self.global_per_minute:
            return 0.0
        return self._recent[0] + 60.0 - now

    def wait_s(self, *keys: str) -> float:
        """Seconds before another attempt for these keys is allowed (0: go ahead)."""
        now = self.clock()
        with self._lock:
            return max([self._global_wait(now), *(self._wait(key, now) for key in keys)])

    def begin(self, *keys: str) -> float:
        """Start an attempt: 0 when it may check its password (it is counted as failed from now on,
        until `succeeded`), else the seconds to wait (and nothing is counted)."""
        now = self.clock()
        with self._lock:
            wait = max([self._global_wait(now), *(self._wait(key, now) for key in keys)])
            if wait > 0:
                return wait
            self._recent.append(now)
            self._count(keys, now)
            return 0.0

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            self._count(keys, now)

    def _count(self, keys: tuple[str, ...], now: float) -> None:
        if len(self._failures) >= self.max_keys:
            stale = [k for k, (_, last) in self._failures.items() if now - last > self.max_wait_s]
            for key in stale or list(self._failures)[: self.max_keys // 10]:
                del self._failures[key]
        for key in keys:
            count, last = self._failures.get(key, (0, now))
            self._failures[key] = (0 if now - last > self.forget_after_s else count) + 1, now

    def __len__(self) -> int:
        """How many keys it is tracking (it forgets stale ones when it reaches `max_keys`)."""
        return len(self._failures)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


@dataclass(frozen=True)
class SignInResult:
    """`ok` for the right password; `wait_s` > 0 when the attempt was refused before any check."""

    ok: bool
    wait_s: float = 0.0


def attempt_keys(username: str, session: str, address: str | None) -> tuple[str, ...]:
    """The limiter keys of one attempt: the name, the browser session and, when known, the address."""
    keys = (f"user:{username}", f"session:{session}")
    return (*keys, f"addr:{address}") if address else keys


def sign_in(
    limiter: AttemptLimiter,
    username: str,
    password: str,
    keys: tuple[str, ...],
    path: Path | None = None,
) -> SignInResult:
    """One password attempt through `limiter`: recorded first, then checked. A success clears the
    name's and the session's count (an address keeps its own, shared by everyone behind it)."""
    if (wait := limiter.begin(*keys)) > 0:
        return SignInResult(False, wait)
    if not verify_password(username, password, path):
        return SignInResult(False)
    limiter.succeeded(*(key for key in keys if not key.startswith("addr:")))
    return SignInResult(True)


def _read_new_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise SystemExit("The passwords differ.")
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.auth", description="Manage GLM Studio's password file."
    )
    parser.add_argument(
        "--file", type=Path, help="password file (default: GLM_AUTH_FILE or <data dir>/users.txt)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "add", help="add a user or change a password (reads it from stdin when piped)"
    ).add_argument("username")
    commands.add_parser("remove", help="remove a user").add_argument("username")
    args = parser.parse_args(argv)
    path = args.file or password_file()
    try:
        if args.command == "add":
            add_user(args.username, _read_new_password(), path)
            print(f"Saved {args.username} in {path}")
        elif not remove_user(args.username, path):
            print(f"No user {args.username} in {path}", file=sys.stderr)
            return 1
    except (ValueError, AuthConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
