"""The registration-time SSRF rule: every address form and range is refused with its reason;
public URLs pass; `allow_loopback` lets loopback (and http to it) through and nothing else."""

import ipaddress

import pytest

from app.domain.urls import (
    MAX_URL_LENGTH,
    address_problem,
    check_public_url,
    is_loopback_host,
    parse_ip_host,
)


def problems(url: str, *, allow_loopback: bool = False) -> str:
    """All problems as one text, so a test can look for a reason's words."""
    return " | ".join(check_public_url(url, allow_loopback=allow_loopback))


class TestPublicUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "https://api.sendgrid.com",
            "https://api.sendgrid.com/v3/mail/send?x=1",
            "https://api.hubapi.com.",
            "https://EU.Api.Example.com:8443/path",
            "https://bücher.example/",
            "https://8.8.8.8/",
            "https://134744072/",  # 8.8.8.8 as one decimal number
            "https://[2606:4700:4700::1111]/",
            "https://[::ffff:8.8.8.8]/",  # IPv4-mapped, of a public address
            "https://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8 (DNS64 networks)
        ],
    )
    def test_a_public_https_url_passes(self, url: str) -> None:
        assert check_public_url(url, allow_loopback=False) == []


class TestUrlShape:
    def test_plain_http_is_refused(self) -> None:
        assert "must use https" in problems("http://api.sendgrid.com")

    @pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"])
    def test_other_schemes_are_refused(self, url: str) -> None:
        assert "must start with https://" in problems(url)

    @pytest.mark.parametrize(
        "url", ["https://user:secret@example.com/", "https://user@example.com/", "https://@x.com"]
    )
    def test_userinfo_is_refused(self, url: str) -> None:
        assert "user name or password" in problems(url)

    @pytest.mark.parametrize("url", ["https://", "https:///path", "https://:443/", "example.com"])
    def test_a_url_without_a_host_is_refused(self, url: str) -> None:
        assert "must name a host" in problems(url)

    @pytest.mark.parametrize(
        "url", ["https://example.com:0/", "https://example.com:65536/", "https://example.com:x/"]
    )
    def test_a_port_outside_1_to_65535_is_refused(self, url: str) -> None:
        assert "port must be a number from 1 to 65535" in problems(url)

    def test_the_length_is_capped(self) -> None:
        at_cap = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
        assert check_public_url(at_cap, allow_loopback=False) == []
        assert f"at most {MAX_URL_LENGTH} characters" in problems(at_cap + "a")

    @pytest.mark.parametrize(
        "url",
        ["https://exa mple.com/", "https://example.com\\@evil.com/", "https://example.com/\n"],
    )
    def test_spaces_controls_and_backslashes_are_refused(self, url: str) -> None:
        assert "spaces, control characters or backslashes" in problems(url)

    @pytest.mark.parametrize("url", ["https://exa_mple..com/", "https://-bad-.com/"])
    def test_an_invalid_name_is_refused(self, url: str) -> None:
        assert "not a valid domain name" in problems(url)

    def test_a_percent_encoded_host_is_refused(self) -> None:
        assert "percent-encoded" in problems("https://%31%32%37.0.0.1/")


class TestIpv4Notations:
    """Every notation the system resolver (inet_aton) reads as 127.0.0.1, or near it."""

    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("127.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),  # decimal
            ("0177.0.0.1", "127.0.0.1"),  # octal
            ("017700000001", "127.0.0.1"),  # octal, one number
            ("0x7f.0.0.1", "127.0.0.1"),  # hex
            ("0x7f000001", "127.0.0.1"),  # hex, one number
            ("127.1", "127.0.0.1"),  # short: a.b
            ("127.0.1", "127.0.0.1"),  # short: a.b.c
            ("0x7f.0.0x0.01", "127.0.0.1"),  # mixed
            ("127.0.0.1.", "127.0.0.1"),  # trailing dot
            ("0", "0.0.0.0"),
            ("0x", "0.0.0.0"),
            ("3232235521", "192.168.0.1"),
            ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ],
    )
    def test_is_read_as_the_address_the_resolver_would_use(self, host: str, address: str) -> None:
        assert parse_ip_host(host) == ipaddress.IPv4Address(address)

    @pytest.mark.parametrize(
        "url",
        [
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.0.0.1/",
            "https://0x7F000001/",
            "https://127.1/",
            "https://0x7f.0.0x0.01/",
            "https://127.0.0.1./",
            "https://127.255.255.254/",
        ],
    )
    def test_each_notation_of_loopback_is_refused_as_loopback(self, url: str) -> None:
        assert "127.0.0.0/8" in problems(url)

    @pytest.mark.parametrize(
        "host", ["256.0.0.1", "1.2.3.4.5", "08.0.0.1", "0x1g.0.0.1", "1.256.0.0.0", "4294967296"]
    )
    def test_a_number_that_is_no_valid_address_is_refused(self, host: str) -> None:
        assert "ends in a number but is not a valid IPv4 address" in problems(f"https://{host}/")

    def test_a_name_is_not_an_address(self) -> None:
        assert parse_ip_host("api.example.com") is None
        assert parse_ip_host("1.example.com") is None

    def test_full_width_digits_are_read_as_the_address_idna_maps_them_to(self) -> None:
        full_width = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "\uff0e" for c in "127.0.0.1")
        assert "loopback" in problems(f"https://{full_width}/")


class TestIpv4Ranges:
    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("0.0.0.0", "0.0.0.0/8"),
            ("0.1.2.3", "0.0.0.0/8"),
            ("127.0.0.1", "loopback address (127.0.0.0/8)"),
            ("10.1.2.3", "private address (10.0.0.0/8)"),
            ("172.16.0.1", "private address (172.16.0.0/12)"),
            ("172.31.255.254", "private address (172.16.0.0/12)"),
            ("192.168.1.1", "private address (192.168.0.0/16)"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("169.254.169.254", "link-local address (169.254.0.0/16"),
            ("169.254.1.1", "link-local"),
            ("192.0.0.8", "IETF protocol assignment"),
            ("192.0.2.1", "documentation address (192.0.2.0/24)"),
            ("198.51.100.7", "documentation address (198.51.100.0/24)"),
            ("203.0.113.9", "documentation address (203.0.113.0/24)"),
            ("198.18.0.1", "benchmarking address (198.18.0.0/15)"),
            ("198.19.255.1", "benchmarking"),
            ("192.88.99.1", "reserved address (192.88.99.0/24"),
            ("224.0.0.1", "multicast address (224.0.0.0/4)"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved address (240.0.0.0/4)"),
            ("255.255.255.255", "limited broadcast address"),
        ],
    )
    def test_is_refused_with_its_reason(self, address: str, reason: str) -> None:
        problem = address_problem(ipaddress.IPv4Address(address), allow_loopback=False)
        assert problem is not None
        assert reason in problem
        assert problem.startswith(address)
        assert reason in problems(f"https://{address}/")

    @pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1"])
    def test_a_public_address_passes(self, address: str) -> None:
        assert address_problem(ipaddress.IPv4Address(address), allow_loopback=False) is None


class TestIpv6:
    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("::", "unspecified address"),
            ("::1", "loopback address (::1)"),
            ("::ffff:127.0.0.1", "IPv4-mapped address of 127.0.0.1, a loopback address"),
            ("::ffff:7f00:1", "IPv4-mapped address of 127.0.0.1"),
            ("::ffff:10.0.0.1", "IPv4-mapped address of 10.0.0.1, a private address"),
            ("::ffff:169.254.169.254", "mapped address of 169.254.169.254, a link-local"),
            ("::127.0.0.1", "IPv4-compatible IPv6 address (::/96, deprecated) of 127.0.0.1"),
            ("::8.8.8.8", "IPv4-compatible IPv6 address"),
            ("64:ff9b::7f00:1", "NAT64 address (64:ff9b::/96) of 127.0.0.1, a loopback"),
            ("64:ff9b::a9fe:a9fe", "NAT64 address (64:ff9b::/96) of 169.254.169.254"),
            ("64:ff9b:1::1", "local-use NAT64 address (64:ff9b:1::/48)"),
            ("2002:7f00:1::1", "6to4 tunnel address (2002::/16) of 127.0.0.1, a loopback"),
            ("2002:808:808::1", "6to4 tunnel address (2002::/16) of 8.8.8.8"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo tunnel address (2001::/32)"),
            ("2001:db8::1", "documentation address (2001:db8::/32)"),
            ("3fff::1", "documentation address (3fff::/20)"),
            ("2001:2::1", "benchmarking address (2001:2::/48)"),
            ("2001:10::1", "IETF protocol assignment (2001::/23)"),
            ("100::1", "discard-only address (100::/64)"),
            ("fc00::1", "unique-local address (fc00::/7)"),
            ("fd12:3456::1", "unique-local address (fc00::/7)"),
            ("fe80::1", "link-local address (fe80::/10)"),
            ("fec0::1", "site-local address (fec0::/10"),
            ("ff02::1", "multicast address (ff00::/8)"),
            ("ff0e::1", "multicast"),
            ("4000::1", "outside the global unicast range (2000::/3)"),
        ],
    )
    def test_is_refused_with_its_reason(self, address: str, reason: str) -> None:
        problem = address_problem(ipaddress.IPv6Address(address), allow_loopback=False)
        assert problem is not None
        assert reason in problem
        assert reason in problems(f"https://[{address}]/")

    def test_teredo_names_the_client_it_carries(self) -> None:
        teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:3fff:fdd2")
        problem = address_problem(teredo, allow_loopback=False)
        assert problem is not None
        assert "client 192.0.2.45" in problem
        assert "a documentation address" in problem

    @pytest.mark.parametrize(
        "address", ["2606:4700:4700::1111", "2a00:1450:4001:80e::200e", "::ffff:1.1.1.1"]
    )
    def test_a_public_address_passes(self, address: str) -> None:
        assert address_problem(ipaddress.IPv6Address(address), allow_loopback=False) is None

    def test_a_zone_id_is_refused_even_on_a_public_address(self) -> None:
        assert "zone id (%eth0)" in problems("https://[2606:4700::1%25eth0]/")

    def test_a_link_local_address_with_a_zone_id_is_refused_as_link_local(self) -> None:
        assert "link-local address (fe80::/10)" in problems("https://[fe80::1%25eth0]/")

    def test_an_invalid_literal_is_refused(self) -> None:
        assert check_public_url("https://[::1::2]/", allow_loopback=False) != []


class TestLocalNames:
    @pytest.mark.parametrize(
        "host",
        [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "a.b.localhost.",
            "localhost.localdomain",
            "ip6-localhost",
            "ip6-loopback",
        ],
    )
    def test_is_refused_as_this_machine(self, host: str) -> None:
        assert "names this machine" in problems(f"https://{host}/")
        assert is_loopback_host(host)

    def test_a_name_merely_containing_localhost_is_not_local(self) -> None:
        assert not is_loopback_host("localhost.example.com")
        assert check_public_url("https://localhost.example.com/", allow_loopback=False) == []


class TestAllowLoopback:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8080/",
            "http://127.1:8080/",
            "http://2130706433/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "https://127.0.0.1/",
        ],
    )
    def test_loopback_passes_over_http_and_https(self, url: str) -> None:
        assert check_public_url(url, allow_loopback=True) == []

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://api.sendgrid.com/", "must use https"),
            ("http://8.8.8.8/", "must use https"),
            ("https://10.0.0.1/", "private"),
            ("https://169.254.169.254/", "link-local"),
            ("https://0.0.0.0/", "0.0.0.0/8"),
            ("https://[fd00::1]/", "unique-local"),
            ("https://[64:ff9b::7f00:1]/", "NAT64"),  # reaches the NAT64 gateway, not us
            ("https://[2002:7f00:1::]/", "6to4"),
            ("https://user:pw@localhost/", "user name or password"),
        ],
    )
    def test_nothing_else_relaxes(self, url: str, reason: str) -> None:
        assert reason in problems(url, allow_loopback=True)
