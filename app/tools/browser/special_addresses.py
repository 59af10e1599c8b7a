"""IANA's special-purpose address registries, as data, and the one question the guard asks of them.

Copied from https://www.iana.org/assignments/iana-ipv4-special-registry and
https://www.iana.org/assignments/iana-ipv6-special-registry (the "Globally Reachable" column), plus
the parts of the IPv4 and IPv6 address-space registries that aren't unicast (multicast, the IPv4
reserved block, and everything in IPv6 outside global unicast 2000::/3). The guard decides with this
table alone, never with `ipaddress`'s `is_global`/`is_private`, whose lists differ between Python
releases (3.11 calls the cloud metadata address 192.0.0.192 global).

The reading is stricter than the registry's most-specific-entry rule in one way: an address inside
any block that isn't globally reachable is refused even where a more specific entry says it is. The
only such entries are the PCP, TURN and DNS-SD anycast addresses inside 192.0.0.0/24 and 2001::/23,
which are answered by the nearest device, i.e. the user's own router.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Block:
    """One registry row: a network, its name, whether it is globally reachable, and its source."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    name: str
    reachable: bool
    source: str


def _rows(*rows: tuple[str, str, bool, str]) -> tuple[Block, ...]:
    return tuple(Block(ipaddress.ip_network(net), name, reachable, src) for net, name, reachable, src in rows)


IPV4_SPECIAL = _rows(
    ("0.0.0.0/8", "'this network'", False, "RFC 791"),
    ("0.0.0.0/32", "'this host on this network'", False, "RFC 1122"),
    ("10.0.0.0/8", "private-use", False, "RFC 1918"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)", False, "RFC 6598"),
    ("127.0.0.0/8", "loopback", False, "RFC 1122"),
    ("169.254.0.0/16", "link-local", False, "RFC 3927"),
    ("172.16.0.0/12", "private-use", False, "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignment", False, "RFC 6890"),
    ("192.0.0.0/29", "IPv4 service continuity", False, "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy", False, "RFC 7600"),
    ("192.0.0.9/32", "port control protocol anycast", True, "RFC 7723"),
    ("192.0.0.10/32", "TURN anycast", True, "RFC 8155"),
    ("192.0.0.170/32", "NAT64/DNS64 discovery", False, "RFC 8880"),
    ("192.0.0.171/32", "NAT64/DNS64 discovery", False, "RFC 8880"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", False, "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", True, "RFC 7535"),
    ("192.52.193.0/24", "AMT", True, "RFC 7450"),
    # Deprecated 6to4 relay anycast (RFC 7526): answered by the nearest relay, so never public.
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", False, "RFC 7526"),
    ("192.168.0.0/16", "private-use", False, "RFC 1918"),
    ("192.175.48.0/24", "direct delegation AS112 service", True, "RFC 7534"),
    ("198.18.0.0/15", "benchmarking", False, "RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", False, "RFC 5737"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", False, "RFC 5737"),
    ("240.0.0.0/4", "reserved", False, "RFC 1112"),
    ("255.255.255.255/32", "limited broadcast", False, "RFC 919"),
    # From the IPv4 address-space registry: not unicast.
    ("224.0.0.0/4", "multicast", False, "RFC 5771"),
)

IPV6_SPECIAL = _rows(
    ("::1/128", "loopback", False, "RFC 4291"),
    ("::/128", "unspecified", False, "RFC 4291"),
    # Translated to the IPv4 address they carry before the table is asked (see the guard).
    ("::ffff:0:0/96", "IPv4-mapped", False, "RFC 4291"),
    ("64:ff9b::/96", "IPv4-IPv6 translation", True, "RFC 6052"),
    ("64:ff9b:1::/48", "local-use IPv4-IPv6 translation", False, "RFC 8215"),
    ("100::/64", "discard-only", False, "RFC 6666"),
    ("100:0:0:1::/64", "dummy IPv6 prefix", False, "RFC 9780"),
    ("2001::/23", "IETF protocol assignment", False, "RFC 2928"),
    ("2001::/32", "Teredo", False, "RFC 4380"),
    ("2001:1::1/128", "port control protocol anycast", True, "RFC 7723"),
    ("2001:1::2/128", "TURN anycast", True, "RFC 8155"),
    ("2001:1::3/128", "DNS-SD service registration protocol anycast", True, "RFC 9665"),
    ("2001:2::/48", "benchmarking", False, "RFC 5180"),
    ("2001:3::/32", "AMT", True, "RFC 7450"),
    ("2001:4:112::/48", "AS112-v6", True, "RFC 7535"),
    ("2001:10::/28", "deprecated ORCHID", False, "RFC 4843"),
    ("2001:20::/28", "ORCHIDv2", True, "RFC 7343"),
    ("2001:30::/28", "drone remote ID entity tags", True, "RFC 9374"),
    ("2001:db8::/32", "documentation", False, "RFC 3849"),
    # 6to4's "globally reachable" is N/A: the IPv4 address it carries decides (see the guard).
    ("2002::/16", "6to4", True, "RFC 3056"),
    ("2620:4f:8000::/48", "direct delegation AS112 service", True, "RFC 7534"),
    ("3fff::/20", "documentation", False, "RFC 9637"),
    ("5f00::/16", "segment routing (SRv6) SIDs", False, "RFC 9602"),
    ("fc00::/7", "unique-local", False, "RFC 4193"),
    ("fe80::/10", "link-local", False, "RFC 4291"),
    # From the IPv6 address-space registry: deprecated site-local and multicast.
    ("fec0::/10", "site-local", False, "RFC 3879"),
    ("ff00::/8", "multicast", False, "RFC 4291"),
)

_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_IETF_RESERVED_V6 = Block(ipaddress.IPv6Network("::/0"), "reserved (outside 2000::/3)", False, "RFC 4291")


def unreachable_block(ip: IPAddress) -> Block | None:
    """The most specific block holding `ip` that isn't globally reachable, or None.

    IPv6 outside global unicast (2000::/3) is reported as the IETF's reserved space, which is what
    the IPv6 address-space registry calls everything there that the table doesn't name.
    """
    table = IPV4_SPECIAL if isinstance(ip, ipaddress.IPv4Address) else IPV6_SPECIAL
    hits = [block for block in table if ip in block.network and not block.reachable]
    if hits:
        return max(hits, key=lambda block: block.network.prefixlen)
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST_V6:
        return _IETF_RESERVED_V6
    return None
