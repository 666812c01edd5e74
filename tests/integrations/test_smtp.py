"""SMTP through aiosmtplib to a local aiosmtpd server: STARTTLS on a certificate we trust by
its PEM, a proper MIME message, replies classified, each session logged, no header injection."""

from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from app.integrations.base import Address, OutgoingEmail, ProviderError
from app.integrations.smtp import Smtp
from tests.fakes.smtp import FakeSmtp, self_signed_certificate
from tests.integrations.support import CallLog

EMAIL = OutgoingEmail(
    to=Address("dana@client.example", "Dana Sørensen"),
    sender=Address("sam@tenure.example", 'Sam "CSM" Lee, Acme'),
    subject="Checking in on your renewal, Dana",
    text="Hi Dana,\nhow is the rollout going?",
    html="<p>Hi Dana,</p><p>how is the rollout going?</p>",
    reply_to=Address("sam.lee@acme.example", "Sam Lee"),
    metadata={"email_id": "0b9c", "workspace-id": "7f1e"},
)


def smtp(fake: FakeSmtp, log: CallLog, client: httpx.AsyncClient, **http: Any) -> Smtp:
    return Smtp(log.http(client, **http), "", fake.credentials())


def part(message: EmailMessage, content_type: str) -> str:
    body = message.get_body(preferencelist=(content_type.split("/")[1],))
    assert body is not None
    assert body.get_content_type() == content_type
    content: str = body.get_content()
    return content


class TestSend:
    async def test_the_server_receives_a_multipart_message_over_tls(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        [received] = fake_smtp.messages
        message = received.message
        assert received.tls
        assert (received.mail_from, received.rcpt_tos) == (
            "sam@tenure.example",
            ("dana@client.example",),
        )
        assert message["Message-ID"] == sent.message_id
        assert message["From"].addresses[0].display_name == 'Sam "CSM" Lee, Acme'
        assert message["From"].addresses[0].addr_spec == "sam@tenure.example"
        assert str(message["To"]) == "Dana Sørensen <dana@client.example>"
        assert str(message["Reply-To"]) == "Sam Lee <sam.lee@acme.example>"
        assert message["Subject"] == "Checking in on your renewal, Dana"
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        assert part(message, "text/plain").rstrip("\n") == EMAIL.text
        assert part(message, "text/html").rstrip("\n") == EMAIL.html

    async def test_metadata_travels_as_x_tenure_headers(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        [received] = fake_smtp.messages
        assert received.message["X-Tenure-Email-Id"] == "0b9c"
        assert received.message["X-Tenure-Workspace-Id"] == "7f1e"

    async def test_a_text_only_email_is_a_single_text_part(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        plain = OutgoingEmail(
            to=Address("dana@client.example"),
            sender=Address("sam@tenure.example"),
            subject="Hello",
            text="Just text, ünïcode.",
        )

        await smtp(fake_smtp, call_log, http_client).send(plain)

        [received] = fake_smtp.messages
        assert received.message.get_content_type() == "text/plain"
        assert received.message.get_content().rstrip("\n") == "Just text, ünïcode."
        assert received.message["Reply-To"] is None

    async def test_the_session_is_logged_as_a_call(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        [call] = call_log.calls
        assert (call.operation, call.method, call.url, call.status, call.attempt) == (
            "send_email",
            "SMTP",
            f"smtp://127.0.0.1:{fake_smtp.port}",
            250,
            1,
        )
        assert call.request_id == sent.message_id
        assert call.latency_ms > 0

    async def test_a_4xx_reply_is_tried_again_and_the_message_goes_once(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_smtp.fail_next(1, "451 4.3.0 Try again later")

        sent = await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        assert call_log.statuses() == [451, 250]
        assert call_log.attempts() == [1, 2]
        assert call_log.calls[0].error == "reply: 451 4.3.0 Try again later"
        [received] = fake_smtp.messages
        assert received.message["Message-ID"] == sent.message_id

    async def test_4xx_replies_on_every_try_are_handed_back_as_retryable(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_smtp.fail_next(3, "421 4.7.0 Too many connections")

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.code) == (True, "421")
        assert call_log.statuses() == [421, 421, 421]
        assert fake_smtp.messages == []

    async def test_a_5xx_reply_is_final(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_smtp.fail_next(1, "554 5.7.1 Message rejected as spam")

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.code) == (False, "554")
        assert "rejected as spam" in raised.value.message
        assert call_log.statuses() == [554]

    async def test_a_refused_recipient_is_final_and_named(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_smtp.fail_next(1, "550 5.1.1 No such user", stage="RCPT")

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client).send(EMAIL)

        assert not raised.value.retryable
        assert "dana@client.example: 550 5.1.1 No such user" in raised.value.message
        assert call_log.statuses() == [550]

    async def test_a_slow_server_is_a_retryable_timeout(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_smtp.delay_seconds = 1.0

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client, timeout=0.3, attempts=1).send(EMAIL)

        assert raised.value.retryable
        assert raised.value.message.startswith("timed out")
        assert [(call.status, call.attempt) for call in call_log.calls] == [(None, 1)]

    async def test_an_unreachable_server_is_retryable(
        self, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        with FakeSmtp() as gone:
            credentials = gone.credentials()

        with pytest.raises(ProviderError) as raised:
            await Smtp(call_log.http(http_client, attempts=2), "", credentials).send(EMAIL)

        assert raised.value.retryable
        assert call_log.attempts() == [1, 2]
        assert all(call.status is None and call.error for call in call_log.calls)

    async def test_a_relay_on_a_private_address_is_refused_without_a_connection(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        """The SSRF guard holds for SMTP too: the relay is on loopback, which only the
        development setting allows."""
        guarded = call_log.http(http_client, allow_loopback=False)

        with pytest.raises(ProviderError) as raised:
            await Smtp(guarded, "", fake_smtp.credentials()).send(EMAIL)

        assert not raised.value.retryable
        assert "loopback" in raised.value.message
        assert fake_smtp.messages == []
        assert [(call.attempt, call.status) for call in call_log.calls] == [(1, None)]

    @pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
    async def test_a_server_without_starttls_takes_the_message_in_plain_text(
        self, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        with FakeSmtp(starttls=False) as relay:
            await Smtp(call_log.http(http_client), "", relay.credentials()).send(EMAIL)

            [received] = relay.messages
        assert not received.tls


class TestHeaderInjection:
    @pytest.mark.parametrize(
        "change",
        [
            {"subject": "Hello\r\nBcc: everyone@example.com"},
            {"subject": "Hello\nBcc: everyone@example.com"},
            {"sender": Address("sam@tenure.example", "Sam\r\nBcc: everyone@example.com")},
            {"to": Address("dana@client.example\r\nBcc: everyone@example.com")},
            {"reply_to": Address("sam@tenure.example", "Sam\nX-Evil: 1")},
            {"metadata": {"email_id": "0b9c\r\nBcc: everyone@example.com"}},
        ],
    )
    async def test_a_line_break_in_a_header_value_is_refused(
        self,
        fake_smtp: FakeSmtp,
        call_log: CallLog,
        http_client: httpx.AsyncClient,
        change: dict[str, Any],
    ) -> None:
        email = OutgoingEmail(**{**EMAIL.__dict__, **change})

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client).send(email)

        assert (raised.value.retryable, raised.value.code) == (False, "header_line_break")
        assert fake_smtp.messages == []
        assert call_log.calls == []

    @pytest.mark.parametrize("key", ["email id", "email:id", "", "id\nBcc"])
    async def test_a_metadata_key_that_is_no_header_name_is_refused(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient, key: str
    ) -> None:
        email = OutgoingEmail(**{**EMAIL.__dict__, "metadata": {key: "1"}})

        with pytest.raises(ProviderError) as raised:
            await smtp(fake_smtp, call_log, http_client).send(email)

        assert not raised.value.retryable
        assert "cannot be a header name" in raised.value.message
        assert fake_smtp.messages == []


class TestCheck:
    async def test_the_check_logs_in_over_tls(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        detail = await smtp(fake_smtp, call_log, http_client).check()

        assert detail.startswith(f"logged in to 127.0.0.1:{fake_smtp.port} as tenure over TLSv1")
        assert fake_smtp.logins == 1
        assert [(call.operation, call.method, call.status) for call in call_log.calls] == [
            ("check", "SMTP", 250)
        ]

    async def test_a_wrong_password_fails_the_check_for_good(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        credentials = fake_smtp.credentials(password="wrong")

        with pytest.raises(ProviderError) as raised:
            await Smtp(call_log.http(http_client), "", credentials).check()

        assert (raised.value.retryable, raised.value.code) == (False, "535")
        assert raised.value.message.startswith("login refused")
        assert call_log.statuses() == [535]

    async def test_a_certificate_we_do_not_trust_fails_the_check_for_good(
        self, fake_smtp: FakeSmtp, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        other = self_signed_certificate().pem
        credentials = fake_smtp.credentials(ca_pem=other)

        with pytest.raises(ProviderError) as raised:
            await Smtp(call_log.http(http_client), "", credentials).check()

        assert not raised.value.retryable
        assert "certificate is not trusted" in raised.value.message
        assert fake_smtp.logins == 0

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"port": "smtp"}, "port must be 1 to 65535"),
            ({"port": "70000"}, "port must be 1 to 65535"),
            ({"starttls": "yes"}, 'starttls must be "true" or "false"'),
            ({"host": "mail.example.com\r\n"}, "not a host name"),
            ({"ca_pem": "not a certificate"}, "ca_pem is not a PEM certificate"),
        ],
    )
    async def test_unusable_credentials_are_refused_before_any_connection(
        self,
        fake_smtp: FakeSmtp,
        call_log: CallLog,
        http_client: httpx.AsyncClient,
        change: dict[str, str],
        message: str,
    ) -> None:
        with pytest.raises(ProviderError) as raised:
            Smtp(call_log.http(http_client), "", fake_smtp.credentials(**change))

        assert not raised.value.retryable
        assert message in raised.value.message
