"""A fake SMTP server on 127.0.0.1 (aiosmtpd in a thread of its own): AUTH required, STARTTLS
required (or switched off) with a self-signed certificate made for the run, messages kept as
parsed, and 4xx/5xx replies or slow answers on demand."""

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pytest
from aiosmtpd import smtp as server_smtp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "tenure"
PASSWORD = "fake-smtp-password"
Stage = Literal["RCPT", "DATA"]


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    tls: bool
    """Whether the session had been upgraded with STARTTLS when the message came."""


@dataclass(frozen=True)
class SelfSignedCertificate:
    pem: str
    """What a client trusts (the `ca_pem` credential)."""
    context: ssl.SSLContext
    """The server's side."""


def self_signed_certificate() -> SelfSignedCertificate:
    """A certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenure fake SMTP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        chain = Path(directory) / "chain.pem"
        chain.write_text(key_pem + pem)
        context.load_cert_chain(chain)
    return SelfSignedCertificate(pem, context)


class FakeSmtp:
    """Serves while entered (`with FakeSmtp() as fake:`) or as the `fake_smtp` fixture."""

    def __init__(
        self, username: str = USERNAME, password: str = PASSWORD, *, starttls: bool = True
    ) -> None:
        self.username = username
        self.password = password
        self.starttls = starttls
        self.certificate = self_signed_certificate()
        self.delay_seconds = 0.0
        """How long the server waits before answering DATA."""
        self.host = "127.0.0.1"
        self.port = 0
        self.logins = 0
        self._lock = threading.Lock()
        self._messages: list[ReceivedEmail] = []
        self._scripted: deque[tuple[Stage, str]] = deque()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self._messages)

    def credentials(self, **overrides: str) -> dict[str, str]:
        """What an SMTP integration pointing here holds."""
        values = {
            "host": self.host,
            "port": str(self.port),
            "username": self.username,
            "password": self.password,
            "starttls": "true" if self.starttls else "false",
        }
        if self.starttls:
            values["ca_pem"] = self.certificate.pem
        return values | overrides

    def fail_next(self, count: int, reply: str, stage: Stage = "DATA") -> None:
        """The next `count` messages get `reply` (`"451 4.3.0 Try later"`) at `stage`."""
        with self._lock:
            self._scripted.extend((stage, reply) for _ in range(count))

    def __enter__(self) -> "FakeSmtp":
        self.port = _free_port()
        tls: dict[str, Any] = (
            {"tls_context": self.certificate.context, "require_starttls": True}
            if self.starttls
            else {"auth_require_tls": False}
        )
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="fake-smtp.localhost",
            authenticator=self._authenticate,
            auth_required=True,
            **tls,
        )
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()

    def _authenticate(
        self,
        server: server_smtp.SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        granted = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if granted:
            with self._lock:
                self.logins += 1
        return AuthResult(success=granted, handled=False)

    def scripted(self, stage: Stage) -> str | None:
        with self._lock:
            if self._scripted and self._scripted[0][0] == stage:
                return self._scripted.popleft()[1]
        return None

    def keep(self, envelope: Envelope, tls: bool) -> None:
        raw = envelope.original_content or b""
        # Line ends as a mailbox stores them (SMTP's CRLF would stay in decoded text parts).
        message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(
                ReceivedEmail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message=message,
                    raw=raw,
                    tls=tls,
                )
            )


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self._fake = fake

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self,
        server: server_smtp.SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self._fake.scripted("RCPT")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: server_smtp.SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self._fake.delay_seconds:
            await asyncio.sleep(self._fake.delay_seconds)
        reply = self._fake.scripted("DATA")
        if reply is not None:
            return reply
        self._fake.keep(envelope, tls=session.ssl is not None)
        return "250 2.0.0 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def fake_smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as fake:
        yield fake
