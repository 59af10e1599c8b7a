"""Where the real app listens: loopback only unless the user chooses an address, with a warning on
every page when an open address has no sign-in."""

from pathlib import Path

import pytest

from app.ui.gate import listens_beyond_loopback
from tests.e2e import chromium, running_app


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                assert len(address) == width
                found.add(address)
    return found


@pytest.mark.parametrize(
    ("address", "open_"),
    [
        ("", True),
        ("0.0.0.0", True),
        ("::", True),
        ("192.0.2.7", True),
        ("gpu-box.example", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("unix:///tmp/app.sock", False),
    ],
)
def test_which_addresses_are_reachable_from_other_machines(address: str, open_: bool) -> None:
    assert listens_beyond_loopback(address) is open_


def test_the_app_listens_on_loopback_by_default(tmp_path: Path) -> None:
    with running_app({"GLM_DATA_DIR": str(tmp_path / "data")}, tmp_path / "app.log") as app:
        port = int(app.url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"0100007F"}, "127.0.0.1 only (little-endian hex)"


def test_an_open_address_without_sign_in_is_warned_about_on_every_page(tmp_path: Path) -> None:
    env = {
        "GLM_DATA_DIR": str(tmp_path / "data"),
        "GLM_BACKEND": "openai",
        "GLM_API_BASE": "http://127.0.0.1:9/v1",
    }
    with running_app(env, tmp_path / "app.log", ["--server.address", "0.0.0.0"]) as app:
        port = int(app.url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"00000000"}, "the user's choice wins"
        with chromium() as browser:
            page = browser.new_page()
            for path in ("/", "/documents", "/vision"):
                page.goto(app.url + path)
                page.get_by_text("reachable from other machines").wait_for(timeout=30_000)
