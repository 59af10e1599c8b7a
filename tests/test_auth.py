"""Sign-in modes and the password file (real scrypt hashes, the real CLI in a subprocess)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.auth import (
    AttemptLimiter,
    AuthConfigError,
    add_user,
    auth_mode,
    oidc_user_id,
    password_file,
    password_user_id,
    remove_user,
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
