"""The development kind sends nothing and still leaves a call in the log."""

import re

import httpx

from app.integrations.base import Address, OutgoingEmail
from app.integrations.log import LogEmail
from tests.integrations.support import CallLog

EMAIL = OutgoingEmail(
    to=Address("dana@client.example"),
    sender=Address("sam@tenure.example"),
    subject="Hello",
    text="Hi",
)


async def test_a_send_is_recorded_with_a_log_message_id(
    call_log: CallLog, http_client: httpx.AsyncClient
) -> None:
    sent = await LogEmail(call_log.http(http_client), "", {}).send(EMAIL)

    assert sent.message_id is not None
    assert re.fullmatch(r"log-[0-9a-f-]{36}", sent.message_id)
    [call] = call_log.calls
    assert (call.operation, call.method, call.attempt, call.request_id, call.error) == (
        "send_email",
        "LOG",
        1,
        sent.message_id,
        None,
    )


async def test_each_send_has_its_own_id(call_log: CallLog, http_client: httpx.AsyncClient) -> None:
    log = LogEmail(call_log.http(http_client), "", {})

    first, second = await log.send(EMAIL), await log.send(EMAIL)

    assert first.message_id != second.message_id
    assert len(call_log.calls) == 2


async def test_the_check_always_passes(call_log: CallLog, http_client: httpx.AsyncClient) -> None:
    detail = await LogEmail(call_log.http(http_client), "", {}).check()

    assert "sends none" in detail
    assert call_log.calls == []
