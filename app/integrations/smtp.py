"""Email over SMTP (aiosmtplib): a session per message, STARTTLS by default, our ids in
`X-Tenure-*` headers, and the same retry rule as HTTP providers: a 4xx reply, a connection
failure or a timeout may be tried again; a 5xx reply is final.

Credentials: `host`, `port`, `username`, `password`; optional `starttls` ("true" by default,
"false" for a relay on a trusted network) and `ca_pem`, the PEM certificate(s) to trust
instead of the system's store (a relay with a private CA; the tests' self-signed server).
Certificates and host names are always verified: there is no switch to turn that off."""

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TypeVar

import aiosmtplib
import httpcore

from app.integrations.base import (
    Address,
    CredentialsChanged,
    OutgoingEmail,
    ProviderCall,
    ProviderError,
    SentEmail,
)
from app.integrations.guard import allowed_addresses
from app.integrations.http import ProviderHttp

T = TypeVar("T")

METADATA_HEADER_PREFIX = "X-Tenure-"
_METADATA_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_LINE_BREAKS = ("\r", "\n", "\0")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    starttls: bool
    ca_pem: str | None

    @classmethod
    def parse(cls, credentials: Mapping[str, str]) -> "SmtpSettings":
        """The credentials read and checked; a final `ProviderError` naming the bad field."""
        port_text = credentials["port"].strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ProviderError(f"port must be 1 to 65535, not {port_text!r}", retryable=False)
        starttls = credentials.get("starttls", "true").strip().lower()
        if starttls not in ("true", "false"):
            raise ProviderError(
                f'starttls must be "true" or "false", not {starttls!r}', retryable=False
            )
        host = credentials["host"]
        if not host or any(char in host for char in (*_LINE_BREAKS, " ", "\t", "/")):
            raise ProviderError(f"not a host name: {host!r}", retryable=False)
        return cls(
            host=host,
            port=int(port_text),
            username=credentials["username"],
            password=credentials["password"],
            starttls=starttls == "true",
            ca_pem=credentials.get("ca_pem") or None,
        )


class Smtp:
    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        self._http = http
        self._settings = SmtpSettings.parse(credentials)
        self._tls = _tls_context(self._settings.ca_pem)
        self._timeout = http.timeout.read or http.timeout.connect or 30.0
        self._url = f"smtp://{self._settings.host}:{self._settings.port}"

    async def check(self) -> str:
        async def nothing_more(client: aiosmtplib.SMTP) -> tuple[str, int]:
            transport = client.get_transport_info("ssl_object")
            channel = transport.version() if isinstance(transport, ssl.SSLObject) else None
            return channel or "plain text", 250

        channel = await self._session("check", None, nothing_more)
        return (
            f"logged in to {self._settings.host}:{self._settings.port} as "
            f"{self._settings.username} over {channel}"
        )

    async def send(self, email: OutgoingEmail) -> SentEmail:
        message_id = make_msgid(domain=_domain_of(email.sender.email))
        message = build_message(email, message_id)

        async def deliver(client: aiosmtplib.SMTP) -> tuple[None, int]:
            await client.send_message(message)
            return None, 250

        await self._session("send_email", message_id, deliver)
        return SentEmail(message_id)

    async def _session(
        self,
        operation: str,
        message_id: str | None,
        work: Callable[[aiosmtplib.SMTP], Awaitable[tuple[T, int]]],
    ) -> T:
        """Connect, STARTTLS, log in, do the work, quit; again while the policy allows."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(operation, attempt, message_id, work)
            except ProviderError as error:
                wait = self._http.policy.wait(error, attempt)
                if wait is None:
                    raise
                await self._http.sleep(wait)

    async def _once(
        self,
        operation: str,
        attempt: int,
        message_id: str | None,
        work: Callable[[aiosmtplib.SMTP], Awaitable[tuple[T, int]]],
    ) -> T:
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            sock = await self._connect()
            client = aiosmtplib.SMTP(
                hostname=self._settings.host,  # with `sock`: the name STARTTLS verifies
                sock=sock,
                username=self._settings.username,
                password=self._settings.password,
                start_tls=self._settings.starttls,
                tls_context=self._tls if self._settings.starttls else None,
                local_hostname=await _local_hostname(),
                timeout=self._timeout,
            )
            async with client:
                result, status = await work(client)
        except ProviderError as refused:  # the guard refused the destination: final
            self._record(operation, started_at, started, attempt, None, refused.message, None)
            raise
        except (aiosmtplib.SMTPException, OSError, httpcore.ConnectError) as exc:
            error = smtp_error(exc)
            reply = int(error.code) if error.code and error.code.isdigit() else None
            self._record(operation, started_at, started, attempt, reply, error.message, None)
            raise error from exc
        self._record(operation, started_at, started, attempt, status, None, message_id)
        return result

    async def _connect(self) -> socket.socket:
        """A socket connected to an address the SSRF guard allowed (the same rule as HTTP
        providers: every address the host resolves to must be public, loopback only when the
        development setting allows it), so the relay's name cannot lead us elsewhere."""
        host, port = self._settings.host, self._settings.port
        addresses = await allowed_addresses(host, port, allow_loopback=self._http.allow_loopback)
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (str(address), port)), self._timeout)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                failure = exc if isinstance(exc, OSError) else OSError(f"timed out: {address}")
        raise failure or OSError(f"{host} has no address")

    def _record(
        self,
        operation: str,
        started_at: datetime,
        started: float,
        attempt: int,
        status: int | None,
        error: str | None,
        request_id: str | None,
    ) -> None:
        self._http.record(
            ProviderCall(
                operation=operation,
                method="SMTP",
                url=self._url,
                started_at=started_at,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                attempt=attempt,
                status=status,
                error=error[:1000] if error is not None else None,
                request_id=request_id,
            )
        )


def build_message(email: OutgoingEmail, message_id: str) -> EmailMessage:
    """The MIME message: text, plus an HTML alternative when there is one. A line break in any
    header value is refused (a final `ProviderError`): it would let a value add headers."""
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["Date"] = formatdate(usegmt=True)
    message["From"] = _mailbox("From", email.sender)
    message["To"] = _mailbox("To", email.to)
    if email.reply_to is not None:
        message["Reply-To"] = _mailbox("Reply-To", email.reply_to)
    message["Subject"] = _header_value("Subject", email.subject)
    for key, value in email.metadata.items():
        message[metadata_header(key)] = _header_value(f"metadata {key!r}", value)
    message.set_content(email.text, cte="quoted-printable")
    if email.html is not None:
        message.add_alternative(email.html, subtype="html", cte="quoted-printable")
    return message


def metadata_header(key: str) -> str:
    """`email_id` → `X-Tenure-Email-Id`; a key that cannot be a header name is refused."""
    if not _METADATA_KEY.fullmatch(key):
        raise ProviderError(
            f"metadata key {key!r} cannot be a header name (letters, digits, - and _)",
            retryable=False,
        )
    words = re.split(r"[_-]", key)
    return METADATA_HEADER_PREFIX + "-".join(word.capitalize() for word in words if word)


def smtp_error(exc: BaseException) -> ProviderError:
    """An SMTP failure in the providers' words: 4xx replies, connection failures and
    timeouts may pass on another try; 5xx replies and refused TLS or login are final.
    `code` carries the SMTP reply code where there is one."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        codes = [refusal.code for refusal in refusals]
        shown = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
        return ProviderError(
            f"recipient refused: {shown}",
            retryable=all(400 <= code < 500 for code in codes),
            code=str(max(codes)) if codes else None,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = "login refused" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else "reply"
        return ProviderError(
            f"{what}: {exc.code} {exc.message}",
            retryable=400 <= exc.code < 500,
            code=str(exc.code),
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProviderError(
            f"the server's certificate is not trusted: {exc.verify_message or exc}",
            retryable=False,
        )
    if isinstance(exc, TimeoutError):
        return ProviderError(f"timed out: {exc}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return ProviderError(f"could not reach the server: {exc}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        # Not supported (no STARTTLS, no AUTH offered) and the like: the setup, not the moment.
        return ProviderError(f"SMTP: {exc}", retryable=False)
    return ProviderError(f"could not reach the server: {exc!r}", retryable=True)


def _mailbox(header: str, address: Address) -> str:
    _header_value(header, address.email)
    if address.name:
        _header_value(header, address.name)
    try:
        return str(HeaderAddress(display_name=address.name or "", addr_spec=address.email))
    except (ValueError, HeaderParseError) as exc:
        raise ProviderError(
            f"{header} is not a usable address: {address.email!r}", retryable=False
        ) from exc


def _header_value(header: str, value: str) -> str:
    if any(char in value for char in _LINE_BREAKS):
        raise ProviderError(
            f"{header} holds a line break; refused (it could add headers)",
            retryable=False,
            code="header_line_break",
        )
    return value


def _domain_of(email: str) -> str:
    _, _, domain = email.rpartition("@")
    return domain if domain and all(c not in domain for c in _LINE_BREAKS) else "tenure.invalid"


def _tls_context(ca_pem: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    except (ssl.SSLError, ValueError) as exc:
        raise ProviderError(f"ca_pem is not a PEM certificate: {exc}", retryable=False) from exc


_local_name: str | None = None


async def _local_hostname() -> str:
    """The name we give in EHLO, looked up once (off the loop: `getfqdn` may wait on DNS)."""
    global _local_name
    if _local_name is None:
        _local_name = await asyncio.to_thread(socket.getfqdn)
    return _local_name
