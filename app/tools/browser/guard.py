"""The SSRF guard's policy: which addresses the browser may reach, and which hosts the admin exempted.

`check_url` resolves a URL's host once and refuses non-public addresses; the transport
(`app/tools/browser/transport.py`) then connects to that very address, so a second DNS answer
(rebinding) can't change where the request goes.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from app.config import env_str
from app.tools.browser.budget import call_abandonable
from app.tools.browser.special_addresses import IPAddress, unreachable_block

AllowEntry = tuple[str, int | None]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedURL(ValueError):
    """The browser refuses this URL; the message says why."""


@dataclass(frozen=True)
class Target:
    """A URL's host (ASCII form) after the guard's checks, with the one address to connect to."""

    host: str
    address: str


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is off limits, or None for a public address (decided by `special_addresses` alone).

    IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::/96`) addresses reach the IPv4 address they
    carry, so that address alone decides. A 6to4 address must be public both as IPv6 and in the
    IPv4 address it embeds. (Teredo lies in 2001::/23, which is refused whole.)
    """
    if isinstance(ip, ipaddress.IPv6Address) and (translated := _translated(ip)):
        return _own_reason(translated)
    for candidate in _embedded(ip):
        if reason := _own_reason(candidate):
            return reason
    return None


def _own_reason(ip: IPAddress) -> str | None:
    block = unreachable_block(ip)
    if block is None:
        return None
    return f"{block.name} address {ip} ({block.network}, {block.source})"


def _translated(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 destination of an IPv4-mapped or NAT64 address."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """`ip` followed by the IPv4 address a 6to4 address embeds."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour:
        return [ip, ip.sixtofour]
    return [ip]


@dataclass(frozen=True)
class AllowList:
    """`GLM_BROWSER_ALLOW` parsed: the usable entries, and why the others were ignored."""

    entries: frozenset[AllowEntry]
    problems: tuple[str, ...]


@functools.lru_cache(maxsize=16)
def parse_allow(raw: str) -> AllowList:
    """`host` or `host:port` entries (`[v6]` or `[v6]:port` for IPv6), separated by commas or spaces."""
    entries: set[AllowEntry] = set()
    problems: list[str] = []
    for item in raw.replace(",", " ").split():
        try:
            entries.add(_allow_entry(item))
        except ValueError as exc:
            problems.append(f"GLM_BROWSER_ALLOW entry {item!r} is ignored: {exc}.")
    return AllowList(frozenset(entries), tuple(problems))


def _allow_entry(item: str) -> AllowEntry:
    if "://" in item:
        raise ValueError("write only host or host:port, without a scheme")
    if "/" in item:
        raise ValueError("address ranges and paths are not supported; list each host or host:port")
    if item.count(":") > 1 and not item.startswith("["):
        raise ValueError("write IPv6 addresses in brackets, like [::1] or [::1]:8080")
    try:
        url = httpx.URL(f"http://{item}")
    except httpx.InvalidURL as exc:
        raise ValueError(str(exc)) from exc
    if url.userinfo or url.query or url.fragment or not url.host:
        raise ValueError("expected host or host:port")
    return ascii_host(url), url.port


def allow_problems() -> list[str]:
    """Why entries of `GLM_BROWSER_ALLOW` are ignored (for the sidebar); empty when all are usable."""
    return list(parse_allow(env_str("GLM_BROWSER_ALLOW")).problems)


def ascii_host(url: httpx.URL) -> str:
    """The host as resolved and sent in SNI: IDNA-encoded, lower case, no trailing dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def _is_exempt(host: str, port: int, allow: Iterable[AllowEntry]) -> bool:
    return any(host == a_host and a_port in (None, port) for a_host, a_port in allow)


def _literal_ip(host: str) -> IPAddress | None:
    """An IP written in any spelling libc accepts (`127.1`, `0x7f000001`, `2130706433`, IPv6)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    """The host's addresses; getaddrinfo has no timeout of its own, so the wait is bounded here."""
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]

    def lookup() -> list[tuple]:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    try:
        infos = lookup() if timeout is None else call_abandonable(lookup, timeout, cancel=None)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(f"looking up {host!r} took longer than {timeout:g} s") from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_url(
    url: httpx.URL | str, extra_allow: Iterable[AllowEntry] = (), lookup_timeout: float | None = None
) -> Target:
    """Resolve and vet `url`, or raise `BlockedURL` saying why (`httpx.ConnectTimeout` if DNS is too slow)."""
    url = httpx.URL(url) if isinstance(url, str) else url
    if url.scheme not in _DEFAULT_PORTS:
        raise BlockedURL(f"only http and https URLs can be opened, not {url.scheme or 'a relative URL'!r}")
    host = ascii_host(url)
    if not host:
        raise BlockedURL("the URL has no host")
    port = url.port or _DEFAULT_PORTS[url.scheme]
    exempt = _is_exempt(host, port, [*parse_allow(env_str("GLM_BROWSER_ALLOW")).entries, *extra_allow])
    addresses = _resolve(host, port, lookup_timeout)
    if not addresses:
        raise BlockedURL(f"host {host!r} has no address")
    if not exempt:
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason:
                raise BlockedURL(f"{host} resolves to a {reason}; internal addresses are not reachable")
    return Target(host=host, address=str(addresses[0]))
