"""The send-time SSRF guard over real connections to a fake on 127.0.0.1: every address a
name resolves to is checked, the connection goes to a checked address (no second lookup), and
TLS still checks the certificate against the host name.

Names are resolved by a resolver passed to the guard (`fake.test` → whatever the test says),
so nothing depends on outside DNS; the system resolver is exercised with `localhost`."""

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain.urls import IPAddress
from app.integrations.base import ProviderError
from app.integrations.guard import (
    DestinationRefused,
    allowed_addresses,
    guarded_client,
    resolve_with_event_loop,
)
from app.integrations.http import ProviderHttp, RetryPolicy, close_shared_client, shared_client
from tests.fakes.server import serving


@dataclass
class Echo:
    """A fake that answers with the Host header it got, and counts what reached it."""

    hosts: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            self.hosts.append(request.headers["host"])
            return JSONResponse({"host": request.headers["host"]})

        return Starlette(routes=[Route("/echo", echo)])


@dataclass
class Resolver:
    """Answers names from a table and counts the lookups."""

    table: dict[str, list[str]]
    lookups: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in self.table[host]]


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def fake(echo: Echo) -> Iterator[int]:
    """The port of the echo fake on 127.0.0.1 (plain http)."""
    with serving(echo.app()) as base_url:
        yield int(base_url.rsplit(":", 1)[1])


class TestSharedClient:
    async def test_without_allow_loopback_a_loopback_fake_is_refused(
        self, fake: int, echo: Echo
    ) -> None:
        client = shared_client()
        for url in (
            f"http://127.0.0.1:{fake}/echo",
            f"https://127.0.0.1:{fake}/echo",
            f"https://localhost:{fake}/echo",
            f"https://2130706433:{fake}/echo",
            f"https://[::ffff:127.0.0.1]:{fake}/echo",
        ):
            with pytest.raises(DestinationRefused) as refused:
                await client.get(url)
            assert refused.value.retryable is False
        assert echo.hosts == []

    async def test_an_https_loopback_address_is_refused_with_its_reason(self, fake: int) -> None:
        with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1 is a loopback address"):
            await shared_client().get(f"https://127.0.0.1:{fake}/echo")

    async def test_with_allow_loopback_the_fake_answers(self, fake: int, echo: Echo) -> None:
        client = shared_client(allow_loopback=True)
        assert (await client.get(f"http://127.0.0.1:{fake}/echo")).status_code == 200
        assert (await client.get(f"http://localhost:{fake}/echo")).status_code == 200
        assert echo.hosts == [f"127.0.0.1:{fake}", f"localhost:{fake}"]

    async def test_is_one_client_per_loop_and_allow_loopback_value(self) -> None:
        strict, relaxed = shared_client(), shared_client(allow_loopback=True)
        assert strict is shared_client()
        assert relaxed is shared_client(allow_loopback=True)
        assert strict is not relaxed
        await close_shared_client()
        assert strict.is_closed
        assert relaxed.is_closed
        assert shared_client() is not strict

    async def test_a_refusal_is_final_for_provider_http(self, fake: int) -> None:
        tries: list[int | None] = []
        http = ProviderHttp(
            client=shared_client(),
            timeout=httpx.Timeout(5.0),
            record=lambda call: tries.append(call.attempt),
            policy=RetryPolicy(attempts=3, backoff_seconds=0.0),
        )
        with pytest.raises(ProviderError) as refused:
            await http.request("check", "GET", f"https://127.0.0.1:{fake}/echo")
        assert refused.value.retryable is False
        assert refused.value.code == "destination_refused"
        assert tries == [1]


class TestConnectsToTheValidatedAddress:
    async def test_a_name_reaches_the_address_it_was_checked_at(
        self, fake: int, echo: Echo
    ) -> None:
        # fake.test exists in no DNS: only a connection to the address the guard checked can
        # reach the fake, and the request still names the host.
        resolver = Resolver({"fake.test": ["127.0.0.1"]})
        async with guarded_client(allow_loopback=True, resolver=resolver) as client:
            response = await client.get(f"http://fake.test:{fake}/echo")
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", fake)
            again = await client.get(f"http://fake.test:{fake}/echo")
        assert response.json() == {"host": f"fake.test:{fake}"}
        assert again.status_code == 200
        assert echo.hosts == [f"fake.test:{fake}", f"fake.test:{fake}"]
        assert resolver.lookups == [("fake.test", fake)]  # once: the kept-alive connection

    async def test_each_checked_address_is_tried_in_turn(self, fake: int, echo: Echo) -> None:
        # The fake listens on 127.0.0.1 only: ::1 refuses the connection, 127.0.0.1 answers.
        resolver = Resolver({"fake.test": ["::1", "127.0.0.1"]})
        async with guarded_client(allow_loopback=True, resolver=resolver) as client:
            response = await client.get(f"http://fake.test:{fake}/echo")
        assert response.status_code == 200
        assert echo.hosts == [f"fake.test:{fake}"]

    async def test_without_allow_loopback_the_name_is_refused_and_nothing_is_sent(
        self, fake: int, echo: Echo
    ) -> None:
        resolver = Resolver({"fake.test": ["127.0.0.1"]})
        async with guarded_client(allow_loopback=False, resolver=resolver) as client:
            with pytest.raises(DestinationRefused) as refused:
                await client.get(f"https://fake.test:{fake}/echo")
        assert str(refused.value) == (
            "refused to connect to fake.test: 127.0.0.1 is a loopback address (127.0.0.0/8) "
            "(fake.test resolves to 127.0.0.1)"
        )
        assert refused.value.address == ipaddress.IPv4Address("127.0.0.1")
        assert echo.hosts == []

    async def test_a_resolution_failure_may_be_retried(self) -> None:
        async with guarded_client(allow_loopback=False, resolver=Resolver({})) as client:
            with pytest.raises(httpx.ConnectError, match=r"could not resolve nowhere\.test"):
                await client.get("https://nowhere.test/")

    async def test_a_name_without_addresses_cannot_be_reached(self) -> None:
        resolver = Resolver({"empty.test": []})
        async with guarded_client(allow_loopback=False, resolver=resolver) as client:
            with pytest.raises(httpx.ConnectError, match="resolves to no address"):
                await client.get("https://empty.test/")


class TestEveryAddressIsChecked:
    @pytest.mark.parametrize(
        "addresses",
        [
            ["8.8.8.8", "10.0.0.1"],
            ["10.0.0.1", "8.8.8.8"],
            ["2606:4700:4700::1111", "fd00::1"],
            ["8.8.8.8", "::ffff:169.254.169.254"],
        ],
    )
    async def test_a_name_with_one_forbidden_address_is_refused(self, addresses: list[str]) -> None:
        resolver = Resolver({"mixed.test": addresses})
        forbidden = next(a for a in addresses if not ipaddress.ip_address(a).is_global)
        async with guarded_client(allow_loopback=False, resolver=resolver) as client:
            with pytest.raises(DestinationRefused) as refused:
                await client.get("https://mixed.test/")
        assert refused.value.address == ipaddress.ip_address(forbidden)
        listed = ", ".join(str(ipaddress.ip_address(a)) for a in addresses)
        assert f"(mixed.test resolves to {listed})" in str(refused.value)

    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("127.0.0.1", "loopback"),
            ("127.53.0.1", "loopback"),
            ("0.0.0.0", "0.0.0.0/8"),
            ("10.0.0.1", "private"),
            ("172.20.0.1", "private"),
            ("192.168.0.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("169.254.169.254", "link-local"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.251", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "IPv4-mapped address of 127.0.0.1"),
            ("::ffff:10.0.0.1", "IPv4-mapped address of 10.0.0.1"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a9fe:a9fe", "NAT64"),
            ("2002:a00:1::1", "6to4"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
        ],
    )
    async def test_a_resolved_address_is_refused_with_its_reason(
        self, address: str, reason: str
    ) -> None:
        resolver = Resolver({"api.example.test": [address]})
        with pytest.raises(DestinationRefused, match=re.escape(reason)):
            await allowed_addresses(
                "api.example.test", 443, allow_loopback=False, resolver=resolver
            )

    @pytest.mark.parametrize("host", ["8.8.8.8", "134744072", "0x8.0x8.0x8.0x8", "2606:4700::1"])
    async def test_a_public_literal_is_not_resolved(self, host: str) -> None:
        resolver = Resolver({})
        allowed = await allowed_addresses(host, 443, allow_loopback=False, resolver=resolver)
        assert len(allowed) == 1
        assert allowed[0].is_global
        assert resolver.lookups == []

    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("2130706433", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("0xa9fea9fe", "169.254.169.254"),
            ("::ffff:a9fe:a9fe", "::ffff:a9fe:a9fe"),
        ],
    )
    async def test_a_forbidden_literal_in_any_notation_is_refused_unresolved(
        self, host: str, address: str
    ) -> None:
        resolver = Resolver({})
        with pytest.raises(DestinationRefused) as refused:
            await allowed_addresses(host, 443, allow_loopback=False, resolver=resolver)
        assert refused.value.address == ipaddress.ip_address(address)
        assert resolver.lookups == []

    async def test_a_public_name_passes_with_all_its_addresses(self) -> None:
        resolver = Resolver({"api.example.test": ["8.8.8.8", "2606:4700:4700::1111"]})
        allowed = await allowed_addresses(
            "api.example.test", 443, allow_loopback=False, resolver=resolver
        )
        assert [str(a) for a in allowed] == ["8.8.8.8", "2606:4700:4700::1111"]

    async def test_the_system_resolver_is_checked_too(self) -> None:
        addresses = await resolve_with_event_loop("localhost", 443)
        assert ipaddress.IPv4Address("127.0.0.1") in addresses
        with pytest.raises(DestinationRefused, match="localhost resolves to"):
            await allowed_addresses("localhost", 443, allow_loopback=False)
        assert await allowed_addresses("localhost", 443, allow_loopback=True) == addresses


class TestSchemes:
    async def test_plain_http_is_refused_without_allow_loopback(self) -> None:
        resolver = Resolver({"api.example.test": ["8.8.8.8"]})
        async with guarded_client(allow_loopback=False, resolver=resolver) as client:
            with pytest.raises(DestinationRefused, match="only https is allowed"):
                await client.get("http://api.example.test/")
        assert resolver.lookups == []

    async def test_plain_http_goes_only_to_loopback_even_with_allow_loopback(self) -> None:
        resolver = Resolver({"api.example.test": ["8.8.8.8"]})
        async with guarded_client(allow_loopback=True, resolver=resolver) as client:
            with pytest.raises(DestinationRefused, match="plain http may go only to loopback"):
                await client.get("http://api.example.test/")

    async def test_allow_loopback_relaxes_nothing_else(self) -> None:
        resolver = Resolver({"metadata.test": ["169.254.169.254"]})
        async with guarded_client(allow_loopback=True, resolver=resolver) as client:
            with pytest.raises(DestinationRefused, match="link-local"):
                await client.get("https://metadata.test/")


# --- TLS: the certificate is checked against the name, not the address ---------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def _issue(directory: Path, name: str) -> Certificates:
    """A throwaway CA and a server certificate for `name` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenure test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def _serving_tls(app: Starlette, certificates: Certificates) -> Iterator[int]:
    """The port of `app` served over TLS on 127.0.0.1 with the given certificate."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ssl_certfile=str(certificates.cert),
        ssl_keyfile=str(certificates.key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the TLS fake did not start")
        time.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class TestTls:
    async def test_the_certificate_is_checked_against_the_host_name(
        self, tmp_path: Path, echo: Echo
    ) -> None:
        certificates = _issue(tmp_path, "fake.test")
        trust = ssl.create_default_context(cafile=str(certificates.ca))
        resolver = Resolver({"fake.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        with _serving_tls(echo.app(), certificates) as port:
            async with guarded_client(
                allow_loopback=True, resolver=resolver, ssl_context=trust
            ) as client:
                response = await client.get(f"https://fake.test:{port}/echo")
                # The same server and address under another name: its certificate does not
                # name other.test, so the handshake fails; TLS checks the name, not the address.
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.get(f"https://other.test:{port}/echo")
        assert response.json() == {"host": f"fake.test:{port}"}
        assert echo.hosts == [f"fake.test:{port}"]
