"""Where a webhook may point (pure rules; resolution and connecting are in adapters).

A webhook makes samenwijk send requests on an admin's say-so, so a URL must not turn it
into a tool against its own network (SSRF): only https to public addresses. Plain http is
allowed for loopback only, and only in dev mode (the embedded stack, tests). The same
address check runs at registration and again at each delivery, on the address actually
connected to (DNS may answer differently the second time).
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# What inet_aton and WHATWG URL parsers read as an IPv4 address besides a.b.c.d:
# 2130706433, 0x7f000001, 0177.0.0.1, 127.1, 0x7f.1 …
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_DOTTED_QUAD = re.compile(r"^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")
# IPv6 forms that carry an IPv4 address inside (the IPv4 part could be anything).
_EMBEDS_IPV4 = tuple(ipaddress.ip_network(n) for n in ("::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"))


class RefusedTarget(ValueError):
    """The URL or address may not be used; `kind` is the class of refusal (shown to admins)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}{': ' + detail if detail else ''}")
        self.kind = kind


@dataclass(frozen=True)
class WebhookTarget:
    scheme: str
    host: str  # lower case, no brackets, no trailing dot
    port: int
    address: IPAddress | None  # set when the URL names an IP literal


def parse_url(url: str, dev_mode: bool) -> WebhookTarget:
    """The URL's target, or RefusedTarget naming why not (before any DNS)."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget("URL too long", f"at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        raise RefusedTarget("malformed URL", "whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget("malformed URL", str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise RefusedTarget("scheme not allowed", "https only")
    if scheme == "http" and not dev_mode:
        raise RefusedTarget("scheme not allowed", "https only (plain http only for loopback in dev mode)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedTarget("malformed URL", "credentials in the URL are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedTarget("malformed URL", "no host")
    address = _literal(host, parts.netloc)
    if address is None:
        _check_hostname(host, dev_mode)
    target = WebhookTarget(scheme, host, port or (443 if scheme == "https" else 80), address)
    if address is not None:
        check_address(address, dev_mode, scheme == "http")
    return target


def _literal(host: str, netloc: str) -> IPAddress | None:
    if "[" in netloc:  # an IPv6 literal
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise RefusedTarget("malformed URL", "not an IPv6 address") from None
    if _DOTTED_QUAD.match(host):
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            raise RefusedTarget("malformed URL", "not an IPv4 address") from None
    if _NUMERIC_HOST.match(host) or host.split(".")[-1].isdigit():
        raise RefusedTarget("non-canonical IP form", "decimal, hex, octal or short IPv4 forms are not allowed")
    return None


def _check_hostname(host: str, dev_mode: bool) -> None:
    if not all(_LABEL.match(label) for label in host.split(".")):
        raise RefusedTarget("malformed URL", "the host must be an ASCII name (punycode for IDN) or an IP address")
    if not dev_mode and (host == "localhost" or host.endswith(".localhost")):
        raise RefusedTarget("refused address", "loopback")


def address_class(ip: IPAddress) -> str | None:
    """Why this address is not a public one (None: it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "IPv4-mapped IPv6"
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_loopback:
            return "loopback"
        if any(ip in net for net in _EMBEDS_IPV4):
            return "IPv4-embedding IPv6"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared address space (CGNAT)"
    if any(ip in net for net in _RFC1918) or (isinstance(ip, ipaddress.IPv6Address) and ip in _ULA):
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def check_address(ip: IPAddress, dev_mode: bool, plain_http: bool = False) -> None:
    """Raise RefusedTarget unless a webhook may connect to `ip` (`plain_http`: without TLS)."""
    kind = address_class(ip)
    if kind is not None and not (kind == "loopback" and dev_mode):
        raise RefusedTarget("refused address", kind)
    if plain_http and kind != "loopback":
        raise RefusedTarget("scheme not allowed", "plain http only for loopback in dev mode")
