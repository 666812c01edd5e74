"""SendGrid over real HTTP to its local fake: the payload is the SDK's, every attempt is logged,
and failures say whether another try can help."""

from typing import Any

import httpx
import pytest
from sendgrid.helpers.mail import CustomArg, From, Mail, ReplyTo, To

from app.integrations.base import Address, OutgoingEmail, ProviderError
from app.integrations.sendgrid import SendGrid
from tests.fakes.sendgrid import FakeSendGrid
from tests.integrations.support import CallLog

EMAIL = OutgoingEmail(
    to=Address("dana@client.example", "Dana Sørensen"),
    sender=Address("sam@tenure.example", 'Sam "CSM" Lee, Acme'),
    subject="Checking in on your renewal",
    text="Hi Dana,\nhow is the rollout going?",
    html="<p>Hi Dana,</p><p>how is the rollout going?</p>",
    reply_to=Address("sam.lee@acme.example", "Sam Lee"),
    metadata={"tenure_email_id": "0b9c", "tenure_workspace_id": "7f1e"},
)


def sdk_body(email: OutgoingEmail) -> dict[str, Any]:
    """The same mail built by SendGrid's own SDK: the oracle of the payload's shape."""
    mail = Mail(
        from_email=From(email.sender.email, email.sender.name),
        to_emails=To(email.to.email, email.to.name),
        subject=email.subject,
        plain_text_content=email.text,
        html_content=email.html,
    )
    if email.reply_to is not None:
        mail.reply_to = ReplyTo(email.reply_to.email, email.reply_to.name)
    if email.metadata:
        mail.custom_arg = [CustomArg(key, value, p=0) for key, value in email.metadata.items()]
    body: dict[str, Any] = mail.get()
    return body


def sendgrid(fake: FakeSendGrid, log: CallLog, client: httpx.AsyncClient, **http: Any) -> SendGrid:
    return SendGrid(log.http(client, **http), fake.base_url, {"api_key": fake.api_key})


class TestSend:
    async def test_the_fake_receives_what_the_sdk_would_send(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        [received] = fake_sendgrid.messages
        assert received.body == sdk_body(EMAIL)
        assert [block["type"] for block in received.body["content"]] == [
            "text/plain",
            "text/html",
        ]
        assert sent.message_id == received.message_id

    async def test_a_text_only_mail_without_names_is_the_sdk_shape_too(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        plain = OutgoingEmail(
            to=Address("dana@client.example"),
            sender=Address("sam@tenure.example"),
            subject="Hello",
            text="Just text.",
        )

        await sendgrid(fake_sendgrid, call_log, http_client).send(plain)

        [received] = fake_sendgrid.messages
        assert received.body == sdk_body(plain)
        assert "reply_to" not in received.body
        assert "custom_args" not in received.body["personalizations"][0]

    async def test_the_attempt_is_logged_with_the_message_id(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        [call] = call_log.calls
        assert (call.operation, call.method, call.status, call.attempt, call.error) == (
            "send_email",
            "POST",
            202,
            1,
            None,
        )
        assert call.url == f"{fake_sendgrid.base_url}/v3/mail/send"
        assert call.request_id == sent.message_id
        assert call.latency_ms > 0

    async def test_a_short_retry_after_is_waited_for_then_the_mail_goes(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.faults.fail_next(1, 429, retry_after="1")

        sent = await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        assert call_log.waits == [1.0]
        assert call_log.statuses() == [429, 202]
        assert call_log.attempts() == [1, 2]
        assert [call.request_id for call in call_log.calls] == [None, sent.message_id]
        assert len(fake_sendgrid.messages) == 1

    async def test_a_long_retry_after_is_handed_back_to_the_job(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.faults.fail_next(1, 429, retry_after="120")

        with pytest.raises(ProviderError) as raised:
            await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.retry_after, raised.value.status) == (
            True,
            120.0,
            429,
        )
        assert call_log.waits == []
        assert call_log.statuses() == [429]
        assert fake_sendgrid.messages == []

    async def test_a_5xx_is_tried_again_then_handed_back_as_retryable(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.faults.fail_next(3, 503)

        with pytest.raises(ProviderError) as raised:
            await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.status) == (True, 503)
        assert call_log.statuses() == [503, 503, 503]
        assert call_log.attempts() == [1, 2, 3]
        assert all(call.error and call.error.startswith("503") for call in call_log.calls)
        assert fake_sendgrid.messages == []

    async def test_a_5xx_then_an_answer_sends_once(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.faults.fail_next(1, 500)

        await sendgrid(fake_sendgrid, call_log, http_client).send(EMAIL)

        assert call_log.statuses() == [500, 202]
        assert len(fake_sendgrid.messages) == 1

    async def test_a_wrong_key_is_final(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        client = SendGrid(call_log.http(http_client), fake_sendgrid.base_url, {"api_key": "SG.x"})

        with pytest.raises(ProviderError) as raised:
            await client.send(EMAIL)

        assert (raised.value.retryable, raised.value.status) == (False, 401)
        assert "authorization grant is invalid" in raised.value.message
        assert call_log.statuses() == [401]

    async def test_a_mail_sendgrid_refuses_is_final(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        empty = OutgoingEmail(
            to=Address("dana@client.example"),
            sender=Address("sam@tenure.example"),
            subject="",
            text="",
        )

        with pytest.raises(ProviderError) as raised:
            await sendgrid(fake_sendgrid, call_log, http_client).send(empty)

        assert (raised.value.retryable, raised.value.status) == (False, 400)
        assert "subject is required" in raised.value.message
        assert call_log.statuses() == [400]

    async def test_a_slow_answer_is_a_retryable_timeout(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.faults.delay_seconds = 1.0

        with pytest.raises(ProviderError) as raised:
            await sendgrid(fake_sendgrid, call_log, http_client, timeout=0.2, attempts=2).send(
                EMAIL
            )

        assert raised.value.retryable
        assert raised.value.message.startswith("timed out")
        assert call_log.statuses() == [None, None]
        assert call_log.attempts() == [1, 2]
        assert all(call.latency_ms >= 200 for call in call_log.calls)


class TestCheck:
    async def test_a_key_that_may_send_names_its_scopes(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        detail = await sendgrid(fake_sendgrid, call_log, http_client).check()

        assert "may send mail (mail.send)" in detail
        assert "scopes.read" in detail
        assert [(call.operation, call.method, call.status) for call in call_log.calls] == [
            ("check", "GET", 200)
        ]

    async def test_a_key_without_mail_send_fails_the_check(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_sendgrid.scopes = ["user.profile.read", "stats.read"]

        with pytest.raises(ProviderError) as raised:
            await sendgrid(fake_sendgrid, call_log, http_client).check()

        assert not raised.value.retryable
        assert raised.value.code == "missing_scope"
        assert "lacks the mail.send scope" in raised.value.message
        assert "stats.read" in raised.value.message

    async def test_a_wrong_key_fails_the_check(
        self, fake_sendgrid: FakeSendGrid, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        client = SendGrid(call_log.http(http_client), fake_sendgrid.base_url, {"api_key": "no"})

        with pytest.raises(ProviderError) as raised:
            await client.check()

        assert (raised.value.retryable, raised.value.status) == (False, 401)


class TestTheFakeRefusesWhatSendGridRefuses:
    async def test_html_before_text_is_refused(
        self, fake_sendgrid: FakeSendGrid, http_client: httpx.AsyncClient
    ) -> None:
        body = sdk_body(EMAIL)
        body["content"].reverse()

        answer = await self._post(fake_sendgrid, http_client, body)

        assert answer.status_code == 400
        assert answer.json()["errors"][0]["field"] == "content"

    async def test_more_than_1000_personalizations_are_refused(
        self, fake_sendgrid: FakeSendGrid, http_client: httpx.AsyncClient
    ) -> None:
        body = sdk_body(EMAIL)
        body["personalizations"] = body["personalizations"] * 1001

        answer = await self._post(fake_sendgrid, http_client, body)

        assert answer.status_code == 400
        assert answer.json()["errors"][0]["field"] == "personalizations"

    async def test_1000_personalizations_are_taken(
        self, fake_sendgrid: FakeSendGrid, http_client: httpx.AsyncClient
    ) -> None:
        body = sdk_body(EMAIL)
        body["personalizations"] = body["personalizations"] * 1000

        answer = await self._post(fake_sendgrid, http_client, body)

        assert answer.status_code == 202
        assert answer.headers["x-message-id"]

    async def test_a_mail_without_from_is_refused(
        self, fake_sendgrid: FakeSendGrid, http_client: httpx.AsyncClient
    ) -> None:
        body = sdk_body(EMAIL)
        del body["from"]

        answer = await self._post(fake_sendgrid, http_client, body)

        assert answer.status_code == 400
        assert answer.json()["errors"][0]["field"] == "from.email"

    async def _post(
        self, fake: FakeSendGrid, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> httpx.Response:
        return await client.post(
            f"{fake.base_url}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {fake.api_key}"},
        )
