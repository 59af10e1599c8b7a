"""The guard's address policy and GLM_BROWSER_ALLOW parsing (no network: literal addresses only)."""

import ipaddress

import pytest

from app.tools.browser.guard import BlockedURL, blocked_reason, check_url, parse_allow
from app.tools.browser.special_addresses import IPV4_SPECIAL, IPV6_SPECIAL


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",  # just below shared address space
        "100.128.0.0",  # just above it
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",  # just past IETF protocol assignments
        "192.0.3.1",
        "192.31.196.1",  # AS112-v4: globally reachable
        "192.52.193.1",  # AMT: globally reachable
        "192.175.48.1",  # AS112 direct delegation: globally reachable
        "198.17.255.255",  # just below benchmarking
        "198.20.0.0",  # just above it
        "198.51.99.255",
        "203.0.112.255",
        "223.255.255.255",  # last unicast before multicast
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "2001:200::1",  # first global allocation after 2001::/23
        "2620:4f:8001::1",
        "3ffe:ffff::1",  # below 3fff::/20
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
        # IPv4 special-purpose registry, each block at its edges
        ("0.0.0.0", "'this host on this network' address 0.0.0.0"),
        ("0.255.255.255", "'this network'"),
        ("10.0.0.0", "private-use"),
        ("10.255.255.255", "private-use"),
        ("100.64.0.0", "shared (carrier-grade NAT)"),
        ("100.127.255.255", "shared (carrier-grade NAT)"),
        ("127.0.0.1", "loopback address 127.0.0.1 (127.0.0.0/8, RFC 1122)"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("172.16.0.1", "private-use"),
        ("172.31.255.255", "private-use"),
        ("192.0.0.0", "IPv4 service continuity"),
        ("192.0.0.7", "IPv4 service continuity"),
        ("192.0.0.8", "IPv4 dummy"),
        ("192.0.0.9", "IETF protocol assignment"),  # PCP anycast: the user's own router
        ("192.0.0.10", "IETF protocol assignment"),  # TURN anycast
        ("192.0.0.170", "NAT64/DNS64 discovery"),
        ("192.0.0.171", "NAT64/DNS64 discovery"),
        ("192.0.0.192", "IETF protocol assignment address 192.0.0.192 (192.0.0.0/24"),  # metadata
        ("192.0.0.255", "IETF protocol assignment"),
        ("192.0.2.1", "documentation (TEST-NET-1)"),
        ("192.88.99.1", "deprecated 6to4 relay anycast"),
        ("192.168.0.1", "private-use"),
        ("192.168.255.255", "private-use"),
        ("198.18.0.0", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.7", "documentation (TEST-NET-2)"),
        ("203.0.113.9", "documentation (TEST-NET-3)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.254", "reserved"),
        ("255.255.255.255", "limited broadcast"),
        # IPv6 special-purpose registry
        ("::", "unspecified"),
        ("::1", "loopback address ::1"),
        ("::8.8.8.8", "reserved"),  # deprecated IPv4-compatible form
        ("64:ff9b:1::808:808", "local-use IPv4-IPv6 translation"),  # maps to anything
        ("100::1", "discard-only"),
        ("100:0:0:1::1", "dummy IPv6 prefix"),
        ("2001::1", "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:1::1", "IETF protocol assignment"),  # PCP anycast
        ("2001:1::2", "IETF protocol assignment"),
        ("2001:2::1", "benchmarking"),
        ("2001:3::1", "IETF protocol assignment"),  # AMT, inside 2001::/23
        ("2001:4:112::1", "IETF protocol assignment"),
        ("2001:10::1", "deprecated ORCHID"),
        ("2001:20::1", "IETF protocol assignment"),  # ORCHIDv2: identifiers, not hosts
        ("2001:1ff:ffff::1", "IETF protocol assignment"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("3fff:fff::1", "documentation"),
        ("5f00::1", "segment routing"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "site-local address fec0::1"),
        ("feff:ffff::1", "site-local"),
        ("ff02::1", "multicast"),
        ("4000::1", "reserved"),
        ("e000::1", "reserved"),
        # Forms that carry an IPv4 address
        ("::ffff:10.0.0.1", "private-use address 10.0.0.1"),
        ("::ffff:127.0.0.1", "loopback address 127.0.0.1"),
        ("::ffff:192.0.0.192", "IETF protocol assignment address 192.0.0.192"),
        ("::ffff:100.64.0.1", "shared (carrier-grade NAT)"),
        ("64:ff9b::a9fe:a9fe", "link-local address 169.254.169.254"),
        ("64:ff9b::7f00:1", "loopback address 127.0.0.1"),
        ("64:ff9b::c000:c0", "IETF protocol assignment address 192.0.0.192"),
        ("64:ff9b::c612:1", "benchmarking address 198.18.0.1"),
        ("2002:a00:1::", "private-use address 10.0.0.1"),
        ("2002:c000:c0::1", "IETF protocol assignment address 192.0.0.192"),
        ("2002:6440:1::1", "shared (carrier-grade NAT) address 100.64.0.1"),
    ],
)
def test_internal_addresses_are_refused(address, reason):
    assert reason in blocked_reason(ipaddress.ip_address(address))


def test_every_registry_block_that_is_not_reachable_is_refused_at_both_ends():
    """Each non-reachable row of the tables, first and last address, whatever `is_global` says."""
    for block in (*IPV4_SPECIAL, *IPV6_SPECIAL):
        for ip in (block.network[0], block.network[-1]):
            if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):
                continue  # decided by the IPv4 address carried (tested above)
            if not block.reachable:
                assert blocked_reason(ip), f"{ip} in {block.network} passed"


def test_the_guard_refuses_what_python_311_calls_global(monkeypatch):
    monkeypatch.delenv("GLM_BROWSER_ALLOW", raising=False)
    with pytest.raises(BlockedURL, match=r"192\.0\.0\.192"):
        check_url("http://192.0.0.192/latest/meta-data/")
    with pytest.raises(BlockedURL, match="IETF protocol assignment"):
        check_url("http://[::ffff:c000:c0]/")
    with pytest.raises(BlockedURL, match="shared"):
        check_url("http://100.100.100.200/")  # Alibaba Cloud metadata
    with pytest.raises(BlockedURL, match="private-use"):
        check_url("http://0xa000001/")  # 10.0.0.1 spelt in hex


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
