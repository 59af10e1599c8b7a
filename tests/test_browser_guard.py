"""The guard's address policy and GLM_BROWSER_ALLOW parsing (no network: literal addresses only)."""

import ipaddress

import pytest

from app.tools.browser.guard import blocked_reason, check_url, parse_allow


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped: reaches 8.8.8.8
        "::ffff:808:808",
        "64:ff9b::808:808",  # NAT64: reaches 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
    ],
)
def test_public_addresses_pass(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("fec0::1", "site-local address fec0::1"),
        ("feff:ffff::1", "site-local"),
        ("::ffff:10.0.0.1", "private address 10.0.0.1"),
        ("::ffff:127.0.0.1", "loopback address 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "link-local address 169.254.169.254"),
        ("64:ff9b::7f00:1", "loopback address 127.0.0.1"),
        ("64:ff9b:1::808:808", "reserved"),  # the local-use NAT64 prefix maps to anything
        ("2002:a00:1::", "private address 10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo
        ("::8.8.8.8", "reserved"),  # deprecated IPv4-compatible form
    ],
)
def test_internal_addresses_are_refused(address, reason):
    assert reason in blocked_reason(ipaddress.ip_address(address))


def test_public_mapped_and_nat64_urls_are_allowed(monkeypatch):
    monkeypatch.delenv("GLM_BROWSER_ALLOW", raising=False)
    assert check_url("http://[::ffff:8.8.8.8]/").address == "::ffff:808:808"
    assert check_url("https://[64:ff9b::808:808]:8443/x").address == "64:ff9b::808:808"


def test_allow_entries_are_validated():
    parsed = parse_allow("searx:8888, [::1]:8080 [fe80::1] intranet.example. ÉCOLE.example")
    assert parsed.entries == {
        ("searx", 8888),
        ("::1", 8080),
        ("fe80::1", None),
        ("intranet.example", None),
        ("xn--cole-9oa.example", None),
    }
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("http://searx:8888", "without a scheme"),
        ("10.0.0.0/8", "address ranges and paths are not supported"),
        ("searx:8888/search", "address ranges and paths are not supported"),
        ("::1", "write IPv6 addresses in brackets"),
        ("fe80::1:8080", "write IPv6 addresses in brackets"),
        ("searx:http", "Invalid port"),
        ("user@searx", "expected host or host:port"),
        ("[::1", "Invalid"),
    ],
)
def test_bad_allow_entries_are_reported_not_used(entry, problem):
    parsed = parse_allow(f"good.example {entry}")
    assert parsed.entries == {("good.example", None)}
    (message,) = parsed.problems
    assert message.startswith(f"GLM_BROWSER_ALLOW entry {entry!r} is ignored: ")
    assert problem in message
