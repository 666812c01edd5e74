"""Issue 11's end-to-end path over real HTTP: an ingested event fires a trigger whose
`send_email` action reaches a fake SendGrid on 127.0.0.1 with the text written for the client,
the email reads back `sent` and the client's timeline shows `email_sent`. Once with
`tenure serve` + `tenure worker` (PostgreSQL and Redis), once with `tenure serve` alone (the
embedded runner must send too)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import POSTGRES_URL
from tests.e2e.integrations_support import serve_and_worker
from tests.e2e.processes import api, create_workspace, serve_env, services, wait_until
from tests.fakes.sendgrid import API_KEY, FakeSendGrid

SEND_SECONDS = 30.0
"""From the event's POST to the email read back `sent` (a busy 2-core machine)."""
SENDER = "success@tenure.example"


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as served:
        yield served


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_an_event_emails_the_primary_contact(
    http: httpx.Client, fake: FakeSendGrid, logs: Any
) -> None:
    """The user's setup through the API, then one event and what it must cause."""
    suffix = uuid.uuid4().hex[:6]
    owner = created(
        http.post("/v1/owners", json={"name": "Ada Lovelace", "email": f"ada-{suffix}@acme.test"})
    )
    client = created(
        http.post("/v1/clients", json={"name": "Globex", "tier": "mid", "owner_id": owner["id"]})
    )
    created(
        http.post(
            f"/v1/clients/{client['id']}/contacts",
            json={"name": "Dana Scully", "email": "Dana@Globex.example", "is_primary": True},
        )
    )
    template = created(
        http.post(
            "/v1/email-templates",
            json={
                "name": f"NPS thanks {suffix}",
                "subject": "Thanks for the feedback, {{ contact.first_name }}",
                "text_body": "Hi {{ contact.first_name }}, {{ owner.name }} here: how is "
                "{{ client.name }} finding the {{ client.tier }} plan?",
            },
        )
    )
    created(
        http.post(
            "/v1/integrations",
            json={
                "kind": "sendgrid",
                "name": f"SendGrid {suffix}",
                "credentials": {"api_key": API_KEY},
                "base_url": fake.base_url,
                "options": {"from_email": SENDER},
            },
        )
    )
    trigger = {
        "name": f"Thank NPS answers {suffix}",
        "when": {"kind": "event.ingested", "event_types": ["nps"]},
        "actions": [{"kind": "send_email", "params": {"template_id": template["id"]}}],
    }
    created(http.post("/v1/triggers", json=trigger))

    event = {
        "client_id": client["id"],
        "type": "nps",
        "value": 9,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    posted = http.post("/v1/events", json={"events": [event]})
    assert posted.status_code == 200, posted.text

    emails: list[dict[str, Any]] = []

    def sent() -> bool:
        listed = http.get("/v1/emails", params={"client_id": client["id"]})
        emails[:] = listed.json()["data"]
        return [e["status"] for e in emails] == ["sent"]

    wait_until(sent, seconds=SEND_SECONDS, explain=lambda: f"{emails}\n{logs()}", every=0.2)
    (email,) = emails
    (message,) = [
        m
        for m in fake.messages
        if m.body["personalizations"][0]["custom_args"]["tenure_email_id"] == email["id"]
    ]
    assert email["provider_message_id"] == message.message_id
    assert message.body["subject"] == "Thanks for the feedback, Dana"
    assert message.body["content"][0]["value"] == (
        "Hi Dana, Ada Lovelace here: how is Globex finding the mid plan?"
    )
    assert message.body["personalizations"][0]["to"] == [
        {"email": "dana@globex.example", "name": "Dana Scully"}
    ]
    assert message.body["from"] == {"email": SENDER, "name": "Ada Lovelace"}

    timeline: list[dict[str, Any]] = []

    def logged() -> bool:
        listed = http.get(f"/v1/clients/{client['id']}/events")
        timeline[:] = [e for e in listed.json()["data"] if e["type"] == "email_sent"]
        return bool(timeline)

    wait_until(logged, seconds=SEND_SECONDS, explain=logs)
    assert timeline[0]["properties"]["message_id"] == message.message_id


class TestEmbeddedServe:
    def test_an_event_emails_the_primary_contact(
        self, module_database: str, tmp_path: Path, fake: FakeSendGrid
    ) -> None:
        env = serve_env(module_database, TENURE_ALLOW_LOOPBACK_URLS="true")
        key = create_workspace(env, "Embedded CS")
        with services(tmp_path) as make:
            server = make("serve", env).start().wait_ready()
            with api(server.base_url, key) as http:
                assert_an_event_emails_the_primary_contact(http, fake, server.log)
            server.assert_stops_cleanly()


@pytest.mark.skipif(
    not POSTGRES_URL, reason="production shape: runs with TENURE_TEST_DATABASE_URL (PostgreSQL)"
)
class TestServeAndWorker:
    def test_an_event_emails_the_primary_contact(
        self, module_database: str, tmp_path: Path, fake: FakeSendGrid
    ) -> None:
        with serve_and_worker(module_database, tmp_path, "Production CS") as (http, logs):
            assert_an_event_emails_the_primary_contact(http, fake, logs)
