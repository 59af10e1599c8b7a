"""Sign-in modes and the password file (real scrypt hashes, the real CLI in a subprocess)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app import auth
from app.auth import (
    AttemptLimiter,
    AuthConfigError,
    SignInResult,
    add_user,
    attempt_keys,
    auth_mode,
    oidc_user_id,
    password_file,
    password_user_id,
    remove_user,
    sign_in,
    verify_password,
)

ROOT = Path(__file__).resolve().parent.parent


def test_modes(monkeypatch):
    monkeypatch.delenv("GLM_AUTH", raising=False)
    assert auth_mode() == "none"
    for raw, mode in [("none", "none"), ("password", "password"), (" OIDC ", "oidc")]:
        monkeypatch.setenv("GLM_AUTH", raw)
        assert auth_mode() == mode
    monkeypatch.setenv("GLM_AUTH", "ldap")
    with pytest.raises(AuthConfigError, match="ldap"):
        auth_mode()


def test_password_file_location(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GLM_AUTH_FILE", raising=False)
    assert password_file() == tmp_path / "data" / "users.txt"
    monkeypatch.setenv("GLM_AUTH_FILE", str(tmp_path / "team.txt"))
    assert password_file() == tmp_path / "team.txt"


def test_verify_right_and_wrong_passwords(tmp_path):
    path = tmp_path / "users.txt"
    add_user("alice", "correct horse", path)
    add_user("bob", "correct horse", path)
    assert verify_password("alice", "correct horse", path)
    assert not verify_password("alice", "correct horse ", path)
    assert not verify_password("alice", "", path)
    assert not verify_password("carol", "correct horse", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    records = dict(line.split(":", 1) for line in path.read_text().splitlines())
    alice, bob = (records[name].split("$") for name in ("alice", "bob"))
    assert alice[0] == bob[0] == "scrypt"
    assert alice[1] != bob[1] and alice[2] != bob[2]
    expected = hashlib.scrypt(b"correct horse", salt=bytes.fromhex(alice[1]), n=2**14, r=8, p=1, dklen=32)
    assert alice[2] == expected.hex()


def test_changing_and_removing_users(tmp_path):
    path = tmp_path / "users.txt"
    add_user("alice", "old", path)
    add_user("bob", "bobs", path)
    add_user("alice", "new", path)
    assert verify_password("alice", "new", path) and not verify_password("alice", "old", path)
    assert remove_user("alice", path)
    assert not remove_user("alice", path)
    assert not verify_password("alice", "new", path)
    assert verify_password("bob", "bobs", path)
    for bad in ["", "two words", "a:b", "x" * 65]:
        with pytest.raises(ValueError):
            add_user(bad, "pw", path)
    with pytest.raises(ValueError):
        add_user("carol", "", path)


def test_missing_or_malformed_file_is_a_config_error(tmp_path):
    with pytest.raises(AuthConfigError, match=r"python -m app\.auth add"):
        verify_password("alice", "pw", tmp_path / "absent.txt")
    broken = tmp_path / "broken.txt"
    broken.write_text("# team\nalice:plaintext\n")
    with pytest.raises(AuthConfigError, match=":2:"):
        verify_password("alice", "plaintext", broken)


def test_cli_reads_the_password_from_stdin(tmp_path):
    path = tmp_path / "users.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLM_AUTH_FILE": str(path)}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.auth", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )

    added = cli("add", "dana", stdin="s3cret pass\n")
    assert added.returncode == 0, added.stderr
    assert verify_password("dana", "s3cret pass", path)
    assert cli("add", "bad:name", stdin="x\n").returncode == 2
    assert cli("remove", "nobody").returncode == 1
    assert cli("remove", "dana").returncode == 0
    assert not verify_password("dana", "s3cret pass", path)


def test_user_ids_carry_their_mode():
    claims = {"iss": "https://accounts.example.com", "sub": "1234", "email": "a@example.com"}
    assert oidc_user_id(claims) == "oidc:https://accounts.example.com#1234"
    with pytest.raises(AuthConfigError):
        oidc_user_id({"email": "a@example.com"})
    assert password_user_id("local") == "pw:local" != "local"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_attempts_back_off_per_key_and_success_clears_them():
    clock = Clock()
    limiter = AttemptLimiter(free=3, first_wait_s=2.0, max_wait_s=10.0, clock=clock)
    for _ in range(3):
        assert limiter.wait_s("user:alice", "session:1") == 0
        limiter.failed("user:alice", "session:1")
    assert limiter.wait_s("user:alice") == 2.0
    assert limiter.wait_s("user:bob", "session:1") == 2.0, "the same browser trying another name waits too"
    assert limiter.wait_s("user:bob", "session:2") == 0
    clock.now += 2.0
    assert limiter.wait_s("user:alice") == 0
    limiter.failed("user:alice")
    assert limiter.wait_s("user:alice") == 4.0
    for _ in range(5):
        limiter.failed("user:alice")
    assert limiter.wait_s("user:alice") == 10.0, "capped"
    limiter.succeeded("user:alice")
    assert limiter.wait_s("user:alice") == 0


def test_the_limiter_forgets_stale_keys_when_full():
    clock = Clock()
    limiter = AttemptLimiter(free=1, max_keys=10, clock=clock)
    for i in range(10):
        limiter.failed(f"user:{i}")
    clock.now += limiter.max_wait_s + 1
    limiter.failed("user:new")
    assert len(limiter) == 1


def _guess_concurrently(
    limiter: AttemptLimiter, users: Path, keys_of: Callable[[int], tuple[str, ...]], n: int
):
    """`n` threads released together, each trying a wrong password through the real check."""
    start = threading.Barrier(n)
    checked = []
    real_verify = auth.verify_password

    def counting_verify(*args, **kwargs):
        checked.append(1)
        return real_verify(*args, **kwargs)

    def guess(i: int) -> SignInResult:
        start.wait()
        return sign_in(limiter, "alice", f"guess-{i}", keys_of(i), users)

    auth.verify_password = counting_verify
    try:
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(guess, range(n)))
    finally:
        auth.verify_password = real_verify
    return results, len(checked)


def test_concurrent_guesses_at_one_name_get_only_the_free_checks(tmp_path):
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    limiter = AttemptLimiter(free=5, clock=Clock())  # time stands still: the waits can't run out
    results, checked = _guess_concurrently(
        limiter, users, lambda i: attempt_keys("alice", f"browser-{i}", f"10.0.0.{i}"), 14
    )
    assert checked == 5, "the attempt is counted before the hash is checked, atomically"
    assert sum(r.wait_s > 0 for r in results) == 9 and not any(r.ok for r in results)
    assert sign_in(limiter, "alice", "alice-secret-1", attempt_keys("alice", "x", None), users).wait_s > 0


def test_one_address_guessing_many_names_is_limited(tmp_path):
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    limiter = AttemptLimiter(free=5, free_by_kind={"addr": 8}, clock=Clock())
    _, checked = _guess_concurrently(
        limiter, users, lambda i: (f"user:name-{i}", f"session:{i}", "addr:203.0.113.9"), 14
    )
    assert checked == 8, "per-address limit, whatever the names and sessions"
    other = sign_in(limiter, "alice", "alice-secret-1", attempt_keys("alice", "y", "198.51.100.1"), users)
    assert other.ok, "another address is unaffected"


def test_the_global_limit_holds_across_names_and_addresses(tmp_path):
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    clock = Clock()
    limiter = AttemptLimiter(global_per_minute=6, clock=clock)
    results, checked = _guess_concurrently(
        limiter, users, lambda i: attempt_keys(f"name-{i}", f"s{i}", f"10.1.0.{i}"), 14
    )
    assert checked == 6
    assert sorted(0 < r.wait_s <= 60 for r in results) == [False] * 6 + [True] * 8
    clock.now += 60
    assert sign_in(limiter, "alice", "alice-secret-1", attempt_keys("alice", "z", "10.2.0.1"), users).ok


def test_a_right_password_clears_the_name_but_not_the_address(tmp_path):
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    limiter = AttemptLimiter(free=2, free_by_kind={"addr": 3}, clock=Clock())
    keys = attempt_keys("alice", "s", "10.0.0.1")
    assert not sign_in(limiter, "alice", "wrong", keys, users).ok
    assert sign_in(limiter, "alice", "alice-secret-1", keys, users).ok
    assert limiter.wait_s("user:alice") == 0 and limiter.wait_s("addr:10.0.0.1") == 0
    assert not sign_in(limiter, "bob", "wrong", attempt_keys("bob", "t", "10.0.0.1"), users).ok
    assert limiter.wait_s("addr:10.0.0.1") > 0, "three attempts from the address, the success included"
