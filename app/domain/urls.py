"""Which URLs Tenure may call on a workspace's behalf (provider base URLs, webhook endpoints):
the registration-time half of the SSRF guard. Pure: it reads the URL's text and never resolves
a name; `app/integrations/guard.py` checks every address a name resolves to at each send.

A URL passes when it is https, carries no userinfo, names a host that is not a local name
(`localhost` and its variants) and, when the host is an address literal, an address on the
public internet. Address literals are read in every notation the system resolver accepts
(`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`, `[::ffff:127.0.0.1]`), because the
resolver, not our parser, decides where a connection goes. `ipaddress.is_global` alone is not
enough: it calls CGNAT's 100.64.0.0/10 non-global but NAT64, 6to4 and IPv4-mapped addresses
global, whatever IPv4 address they carry.

`allow_loopback` (the development setting `TENURE_ALLOW_LOOPBACK_URLS`) lets loopback
addresses and names pass, over plain http too, for local fakes; it relaxes nothing else."""

import ipaddress
import re
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253

LOOPBACK_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    }
)
"""Names that mean this machine: RFC 6761's `localhost` and what distributions put in
/etc/hosts. Any name under `.localhost` counts too."""

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_IPV4_LOOPBACK = _V4("127.0.0.0/8")
_IPV4_RANGES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("255.255.255.255/32"), "the limited broadcast address"),
    (_V4("0.0.0.0/8"), "in 0.0.0.0/8 ('this network'), which reaches the local host"),
    (_IPV4_LOOPBACK, "a loopback address (127.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "a private address (10.0.0.0/8)"),
    (_V4("172.16.0.0/12"), "a private address (172.16.0.0/12)"),
    (_V4("192.168.0.0/16"), "a private address (192.168.0.0/16)"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT shared address (100.64.0.0/10)"),
    (
        _V4("169.254.0.0/16"),
        "a link-local address (169.254.0.0/16, where cloud metadata services such as "
        "169.254.169.254 answer)",
    ),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24)"),
    (_V4("192.0.2.0/24"), "a documentation address (192.0.2.0/24)"),
    (_V4("198.51.100.0/24"), "a documentation address (198.51.100.0/24)"),
    (_V4("203.0.113.0/24"), "a documentation address (203.0.113.0/24)"),
    (_V4("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"),
    (_V4("192.88.99.0/24"), "a reserved address (192.88.99.0/24, the retired 6to4 relay)"),
    (_V4("224.0.0.0/4"), "a multicast address (224.0.0.0/4)"),
    (_V4("240.0.0.0/4"), "a reserved address (240.0.0.0/4)"),
)

_IPV6_MAPPED = _V6("::ffff:0:0/96")
_IPV6_COMPATIBLE = _V6("::/96")
_IPV6_NAT64 = _V6("64:ff9b::/96")
_IPV6_GLOBAL_UNICAST = _V6("2000::/3")
_IPV6_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address (::)"),
    (_V6("::1/128"), "the loopback address (::1)"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address (64:ff9b:1::/48)"),
    (_V6("100::/64"), "a discard-only address (100::/64)"),
    (_V6("2001:db8::/32"), "a documentation address (2001:db8::/32)"),
    (_V6("3fff::/20"), "a documentation address (3fff::/20)"),
    (_V6("2001:2::/48"), "a benchmarking address (2001:2::/48)"),
    (_V6("2001::/23"), "an IETF protocol assignment (2001::/23)"),
    (_V6("fc00::/7"), "a unique-local address (fc00::/7)"),
    (_V6("fe80::/10"), "a link-local address (fe80::/10)"),
    (_V6("fec0::/10"), "a site-local address (fec0::/10, deprecated)"),
    (_V6("ff00::/8"), "a multicast address (ff00::/8)"),
)

_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0[xX][0-9a-fA-F]*)")
_NAME_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


def check_public_url(url: str, *, allow_loopback: bool) -> list[str]:
    """Every reason `url` may not be called, worded for the person who wrote it; empty when
    it may (as far as its text tells: the names it holds are checked when resolved)."""
    if len(url) > MAX_URL_LENGTH:
        return [f"the URL must be at most {MAX_URL_LENGTH} characters long"]
    if _UNSAFE_CHARACTER.search(url):
        return ["the URL must not contain spaces, control characters or backslashes"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            return ["the port must be a number from 1 to 65535"]
        return [f"the URL cannot be read ({exc})"]
    problems: list[str] = []
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("https", "http"):
        problems.append("the URL must start with https://")
    if "@" in parts.netloc:
        problems.append("the URL must not carry a user name or password")
    if port == 0:
        problems.append("the port must be a number from 1 to 65535")
    if not host:
        problems.append("the URL must name a host")
        return problems
    problem = host_problem(host, allow_loopback=allow_loopback)
    if problem is not None:
        problems.append(problem)
    if scheme == "http" and not (allow_loopback and is_loopback_host(host)):
        problems.append(
            "the URL must use https (plain http is allowed only to loopback hosts, and only "
            "when TENURE_ALLOW_LOOPBACK_URLS is on)"
        )
    return problems


def host_problem(host: str, *, allow_loopback: bool) -> str | None:
    """Why the host part of a URL (a name or an address literal, brackets optional) may not
    be called, or None. A name passes here; its addresses are judged when it is resolved."""
    if "%" in host and ":" not in host:
        return f"the host {host!r} must not be percent-encoded"
    if "%" in host:
        address, _, zone = host.strip("[]").partition("%")
        parsed = parse_ip_host(address)
        if parsed is None:
            return f"the host {host!r} is not a valid IPv6 address"
        problem = address_problem(parsed, allow_loopback=allow_loopback)
        if problem is not None:
            return problem
        zone = zone.removeprefix("25")  # "%25" is how a URL writes the "%" before a zone
        return f"the address {address} carries a zone id (%{zone}), which only local addresses use"
    try:
        address_or_none = parse_ip_host(host)
    except ValueError as exc:
        return str(exc)
    if address_or_none is not None:
        return address_problem(address_or_none, allow_loopback=allow_loopback)
    name = host.lower().removesuffix(".")
    if is_loopback_host(name):
        return None if allow_loopback else f"{host} names this machine (a loopback host)"
    return _name_problem(host, name)


def is_loopback_host(host: str) -> bool:
    """`localhost` and its variants, or a loopback address literal in any notation."""
    name = host.lower().removesuffix(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = parse_ip_host(name)
    except ValueError:
        return False
    return address is not None and is_loopback_address(address)


def parse_ip_host(host: str) -> IPAddress | None:
    """The address a host literal stands for, or None when it is a name. IPv6 may come in
    brackets; IPv4 in any notation `inet_aton` reads: one to four parts, each decimal, octal
    (leading 0) or hex (0x), the last filling the remaining bytes, plus an optional final dot.
    A host whose last label is a number but that is no valid address raises ValueError: a
    resolver might still read it as one, and no real name ends in a number."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    labels = text.removesuffix(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    address = _inet_aton(labels)
    if address is None:
        raise ValueError(f"the host {host!r} ends in a number but is not a valid IPv4 address")
    return address


def address_problem(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why a connection to `address` is refused, or None for a public address (or a loopback
    one when `allow_loopback`)."""
    if isinstance(address, ipaddress.IPv4Address):
        reason = _ipv4_reason(address, allow_loopback=allow_loopback)
        return None if reason is None else f"{address} is {reason}"
    bare = ipaddress.IPv6Address(int(address))  # without a zone id
    if bare in _IPV6_MAPPED:
        embedded = ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF)
        reason = _ipv4_reason(embedded, allow_loopback=allow_loopback)
        if reason is None:
            return None
        return f"{address} is an IPv4-mapped address of {embedded}, {reason}"
    if bare == ipaddress.IPv6Address("::1") and allow_loopback:
        return None
    if bare.teredo is not None:
        server, client = bare.teredo
        return (
            f"{address} is a Teredo tunnel address (2001::/32) of client {client} via server "
            f"{server}" + _embedded_note(client)
        )
    for network, description in _IPV6_RANGES:
        if bare in network:
            return f"{address} is {description}"
    if bare in _IPV6_COMPATIBLE:
        embedded = ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF)
        return (
            f"{address} is an IPv4-compatible IPv6 address (::/96, deprecated) of {embedded}"
            + _embedded_note(embedded)
        )
    if bare in _IPV6_NAT64:
        embedded = ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF)
        reason = _ipv4_reason(embedded, allow_loopback=False)
        if reason is None:
            return None
        return f"{address} is a NAT64 address (64:ff9b::/96) of {embedded}, {reason}"
    if bare.sixtofour is not None:
        embedded = bare.sixtofour
        return f"{address} is a 6to4 tunnel address (2002::/16) of {embedded}" + _embedded_note(
            embedded
        )
    if bare not in _IPV6_GLOBAL_UNICAST:
        return f"{address} is outside the global unicast range (2000::/3)"
    if not bare.is_global:
        return f"{address} is not a public address"
    return None


def _ipv4_reason(address: ipaddress.IPv4Address, *, allow_loopback: bool) -> str | None:
    if allow_loopback and address in _IPV4_LOOPBACK:
        return None
    for network, description in _IPV4_RANGES:
        if address in network:
            return description
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_note(embedded: ipaddress.IPv4Address) -> str:
    reason = _ipv4_reason(embedded, allow_loopback=False)
    return "" if reason is None else f", {reason}"


def is_loopback_address(address: IPAddress) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped loopback (a dual-stack socket reaches 127.x)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped in _IPV4_LOOPBACK
        return ipaddress.IPv6Address(int(address)) == ipaddress.IPv6Address("::1")
    return address in _IPV4_LOOPBACK


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    if not 1 <= len(labels) <= 4:
        return None
    values: list[int] = []
    for label in labels:
        value = _number(label)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for position, value in enumerate(leading):
        number |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def _number(label: str) -> int | None:
    if not label:
        return None
    if label[:2].lower() == "0x":
        digits = label[2:]
        if digits and not re.fullmatch(r"[0-9a-fA-F]+", digits):
            return None
        return int(digits, 16) if digits else 0
    if not label.isdigit() or not label.isascii():
        return None
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8) if re.fullmatch(r"[0-7]+", label) else None
    return int(label)


def _name_problem(host: str, name: str) -> str | None:
    try:
        ascii_name = name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError:
        return f"the host {host!r} is not a valid domain name"
    if ascii_name != name:  # IDNA maps full-width digits and dots to ASCII ones
        try:
            mapped = parse_ip_host(ascii_name)
        except ValueError as exc:
            return str(exc)
        if mapped is not None:
            return address_problem(mapped, allow_loopback=False) or (
                f"the host {host!r} must be written as the address {mapped}"
            )
    if len(ascii_name) > MAX_HOST_LENGTH:
        return f"the host name must be at most {MAX_HOST_LENGTH} characters long"
    if not all(_NAME_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        return f"the host {host!r} is not a valid domain name"
    return None
