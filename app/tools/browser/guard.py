"""The SSRF guard: which addresses the browser may reach, and a transport that connects only to them.

Every request (each redirect hop included) goes through `GuardedTransport`: it resolves the host once,
refuses non-public addresses, then connects to that very address while keeping the Host header and the
TLS server name, so a second DNS answer (rebinding) can't change where the request goes.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from app.config import env_str

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
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
    """Why `ip` is off limits, or None for a public address.

    IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by that address first.
    """
    for candidate in reversed(_embedded(ip)):
        for reason, hit in (
            ("unspecified", candidate.is_unspecified),
            ("loopback", candidate.is_loopback),
            ("link-local", candidate.is_link_local),
            ("multicast", candidate.is_multicast),
            ("reserved", candidate.is_reserved),
            ("private", candidate.is_private),
            ("not globally routable", not candidate.is_global),
        ):
            if hit:
                return f"{reason} address {candidate}"
    return None


def _embedded(ip: IPAddress) -> list[IPAddress]:
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour:
            found.append(ip.sixtofour)
        if ip.teredo:
            found.extend(ip.teredo)
        if ip in _NAT64:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def parse_allow(raw: str) -> set[tuple[str, int | None]]:
    """`host` or `host:port` entries (`[v6]:port` for IPv6), separated by commas or spaces."""
    entries: set[tuple[str, int | None]] = set()
    for item in raw.replace(",", " ").split():
        url = httpx.URL(f"http://{item}")
        entries.add((_ascii_host(url), url.port))
    return entries


def _ascii_host(url: httpx.URL) -> str:
    """The host as resolved and sent in SNI: IDNA-encoded, lower case, no trailing dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def _is_exempt(host: str, port: int, allow: Iterable[tuple[str, int | None]]) -> bool:
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


def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_url(url: httpx.URL | str, extra_allow: Iterable[tuple[str, int | None]] = ()) -> Target:
    """Resolve and vet `url`, or raise `BlockedURL` saying why."""
    url = httpx.URL(url) if isinstance(url, str) else url
    if url.scheme not in _DEFAULT_PORTS:
        raise BlockedURL(f"only http and https URLs can be opened, not {url.scheme or 'a relative URL'!r}")
    host = _ascii_host(url)
    if not host:
        raise BlockedURL("the URL has no host")
    port = url.port or _DEFAULT_PORTS[url.scheme]
    exempt = _is_exempt(host, port, [*parse_allow(env_str("GLM_BROWSER_ALLOW")), *extra_allow])
    addresses = _resolve(host, port)
    if not addresses:
        raise BlockedURL(f"host {host!r} has no address")
    if not exempt:
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason:
                raise BlockedURL(f"{host} resolves to a {reason}; internal addresses are not reachable")
    return Target(host=host, address=str(addresses[0]))


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that vets each request's host and connects to the address it vetted."""

    def __init__(
        self, extra_allow: Iterable[tuple[str, int | None]] = (), verify: ssl.SSLContext | bool = True
    ) -> None:
        self._extra_allow = tuple(extra_allow)
        # No keep-alive: a pooled connection is keyed by IP and must not serve another TLS hostname.
        self._inner = httpx.HTTPTransport(verify=verify, limits=httpx.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = check_url(request.url, self._extra_allow)
        headers = request.headers.copy()
        headers.setdefault("Host", request.url.netloc.decode("ascii"))
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        # A copy, so the response still carries the URL as written (redirects resolve against it).
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=target.address),
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        self._inner.close()


def guarded_client(
    timeout: httpx.Timeout, extra_allow: Iterable[tuple[str, int | None]] = ()
) -> httpx.Client:
    """A client that never follows redirects itself and ignores proxy variables (they'd bypass the guard)."""
    return httpx.Client(
        transport=GuardedTransport(extra_allow),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "Mozilla/5.0 (compatible; GLM-Studio-browser/0.1)"},
    )
