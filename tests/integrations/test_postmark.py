"""Postmark over real HTTP to its local fake: the message as Postmark reads it, its ErrorCode
kept on refusals, every attempt logged."""

from typing import Any

import httpx
import pytest

from app.integrations.base import Address, OutgoingEmail, ProviderError
from app.integrations.postmark import Postmark
from tests.fakes.postmark import FakePostmark, Mailbox
from tests.integrations.support import CallLog

EMAIL = OutgoingEmail(
    to=Address("dana@client.example", "Dana Sørensen"),
    sender=Address("sam@tenure.example", 'Sam "CSM" Lee, Acme'),
    subject="Checking in on your renewal",
    text="Hi Dana,\nhow is the rollout going?",
    html="<p>Hi Dana,</p>",
    reply_to=Address("sam.lee@acme.example", "Sam Lee"),
    metadata={"tenure_email_id": "0b9c", "tenure_workspace_id": "7f1e"},
)


def postmark(fake: FakePostmark, log: CallLog, client: httpx.AsyncClient, **http: Any) -> Postmark:
    return Postmark(log.http(client, **http), fake.base_url, {"server_token": fake.server_token})


class TestSend:
    async def test_the_fake_receives_the_message_with_our_metadata(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        [received] = fake_postmark.messages
        assert received.body == {
            "From": '"Sam \\"CSM\\" Lee, Acme" <sam@tenure.example>',
            "To": "Dana Sørensen <dana@client.example>",
            "ReplyTo": "Sam Lee <sam.lee@acme.example>",
            "Subject": "Checking in on your renewal",
            "TextBody": "Hi Dana,\nhow is the rollout going?",
            "HtmlBody": "<p>Hi Dana,</p>",
            "Metadata": {"tenure_email_id": "0b9c", "tenure_workspace_id": "7f1e"},
            "MessageStream": "outbound",
        }
        assert sent.message_id == received.message_id

    async def test_a_quoted_sender_name_reads_back_as_written(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        [received] = fake_postmark.messages
        assert received.sender == Mailbox('Sam "CSM" Lee, Acme', "sam@tenure.example")
        assert received.recipients == (Mailbox("Dana Sørensen", "dana@client.example"),)

    async def test_the_attempt_is_logged_with_the_message_id(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        sent = await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        [call] = call_log.calls
        assert (call.operation, call.method, call.status, call.attempt) == (
            "send_email",
            "POST",
            200,
            1,
        )
        assert call.url == f"{fake_postmark.base_url}/email"
        assert call.request_id == sent.message_id
        assert call.latency_ms > 0

    async def test_an_inactive_recipient_is_final_with_postmarks_code(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_postmark.inactive.add("dana@client.example")

        with pytest.raises(ProviderError) as raised:
            await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.status, raised.value.code) == (
            False,
            422,
            "406",
        )
        assert "marked as inactive" in raised.value.message
        assert call_log.statuses() == [422]
        assert fake_postmark.messages == []

    async def test_a_wrong_token_is_final(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        client = Postmark(call_log.http(http_client), fake_postmark.base_url, {"server_token": "x"})

        with pytest.raises(ProviderError) as raised:
            await client.send(EMAIL)

        assert (raised.value.retryable, raised.value.status, raised.value.code) == (
            False,
            401,
            "10",
        )
        assert call_log.statuses() == [401]

    async def test_a_short_retry_after_is_waited_for_then_the_message_goes(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_postmark.faults.fail_next(1, 429, retry_after="1")

        sent = await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        assert call_log.waits == [1.0]
        assert call_log.statuses() == [429, 200]
        assert call_log.attempts() == [1, 2]
        assert call_log.calls[-1].request_id == sent.message_id
        assert len(fake_postmark.messages) == 1

    async def test_a_long_retry_after_is_handed_back_to_the_job(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_postmark.faults.fail_next(1, 429, retry_after="90")

        with pytest.raises(ProviderError) as raised:
            await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.retry_after) == (True, 90.0)
        assert call_log.statuses() == [429]

    async def test_a_5xx_is_tried_again_then_handed_back_as_retryable(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_postmark.faults.fail_next(3, 500)

        with pytest.raises(ProviderError) as raised:
            await postmark(fake_postmark, call_log, http_client).send(EMAIL)

        assert (raised.value.retryable, raised.value.status) == (True, 500)
        assert call_log.statuses() == [500, 500, 500]
        assert call_log.attempts() == [1, 2, 3]
        assert fake_postmark.messages == []

    async def test_a_slow_answer_is_a_retryable_timeout(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        fake_postmark.faults.delay_seconds = 1.0

        with pytest.raises(ProviderError) as raised:
            await postmark(fake_postmark, call_log, http_client, timeout=0.2, attempts=1).send(
                EMAIL
            )

        assert raised.value.retryable
        assert raised.value.message.startswith("timed out")
        assert [(call.status, call.attempt) for call in call_log.calls] == [(None, 1)]


class TestCheck:
    async def test_the_check_names_the_server(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        detail = await postmark(fake_postmark, call_log, http_client).check()

        assert detail == "server token of the Postmark server 'Tenure tests'"
        assert [(call.operation, call.method, call.status) for call in call_log.calls] == [
            ("check", "GET", 200)
        ]

    async def test_a_wrong_token_fails_the_check(
        self, fake_postmark: FakePostmark, call_log: CallLog, http_client: httpx.AsyncClient
    ) -> None:
        client = Postmark(call_log.http(http_client), fake_postmark.base_url, {"server_token": "x"})

        with pytest.raises(ProviderError) as raised:
            await client.check()

        assert (raised.value.retryable, raised.value.code) == (False, "10")
        assert "valid Server token" in raised.value.message


class TestTheFakeRefusesWhatPostmarkRefuses:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"From": ""}, "Invalid 'From' address"),
            ({"To": ""}, "Zero recipients specified"),
            ({"TextBody": "", "HtmlBody": ""}, "Provide either email TextBody or HtmlBody"),
        ],
    )
    async def test_a_message_missing_what_postmark_requires_is_refused(
        self,
        fake_postmark: FakePostmark,
        http_client: httpx.AsyncClient,
        change: dict[str, str],
        message: str,
    ) -> None:
        body = {"From": "sam@tenure.example", "To": "dana@client.example", "TextBody": "Hi"}

        answer = await http_client.post(
            f"{fake_postmark.base_url}/email",
            json=body | change,
            headers={"X-Postmark-Server-Token": fake_postmark.server_token},
        )

        assert answer.status_code == 422
        assert answer.json()["ErrorCode"] == 300
        assert message in answer.json()["Message"]
