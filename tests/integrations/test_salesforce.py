"""The Salesforce client against the fake org over real HTTP: the refresh-token flow, collection
updates, tasks and their read-back, SOQL paging, and the retry rule as the call log records it."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from app.integrations.base import CrmTaskDraft, ProviderError, RecordsRejected, RecordUpdate
from app.integrations.http import ProviderHttp
from app.integrations.salesforce import Salesforce
from tests.fakes.salesforce import FakeSalesforce, running_salesforce
from tests.integrations.crm_support import Recorder, recording_http


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def provider_http(recorder: Recorder) -> AsyncIterator[ProviderHttp]:
    async with recording_http(recorder) as http:
        yield http


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    with running_salesforce() as fake:
        yield fake


class Saved:
    """What the caller would store encrypted when the client renews its credentials."""

    def __init__(self) -> None:
        self.versions: list[dict[str, str]] = []

    def __call__(self, credentials: dict[str, str]) -> None:
        self.versions.append(credentials)


def _client(
    http: ProviderHttp, fake: FakeSalesforce, saved: Saved | None = None, **overrides: str
) -> Salesforce:
    return Salesforce(http, fake.base_url, fake.credentials(**overrides), saved)


class TestTokens:
    async def test_the_first_call_gets_a_token_and_reports_it(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        saved = Saved()

        assert (
            "daily API requests left"
            in await _client(provider_http, fake_salesforce, saved).check()
        )

        assert recorder.attempts() == [("refresh_token", 200, 1), ("check", 200, 1)]
        assert [v["access_token"] for v in saved.versions] == [fake_salesforce.access_token]
        assert saved.versions[0]["refresh_token"] == fake_salesforce.refresh_token
        assert fake_salesforce.state.token_requests == [
            {
                "grant_type": "refresh_token",
                "client_id": fake_salesforce.client_id,
                "client_secret": fake_salesforce.client_secret,
                "refresh_token": fake_salesforce.refresh_token,
            }
        ]

    async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        saved = Saved()
        salesforce = _client(provider_http, fake_salesforce, saved)
        await salesforce.check()
        first = fake_salesforce.access_token

        fake_salesforce.expire_access_token()
        account = fake_salesforce.add_account("Acme")
        await salesforce.update_records([RecordUpdate(account, {"Tenure_Band__c": "at_risk"})])

        assert recorder.attempts()[2:] == [
            ("update_accounts", 401, 1),
            ("refresh_token", 200, 1),
            ("update_accounts", 200, 1),
        ]
        assert [v["access_token"] for v in saved.versions] == [first, fake_salesforce.access_token]
        assert first != fake_salesforce.access_token
        assert fake_salesforce.record("Account", account)["Tenure_Band__c"] == "at_risk"

    async def test_a_stored_access_token_is_used_without_refreshing(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        await _client(provider_http, fake_salesforce).check()
        token = fake_salesforce.access_token
        assert token is not None
        recorder.calls.clear()

        await _client(provider_http, fake_salesforce, access_token=token).check()

        assert recorder.attempts() == [("check", 200, 1)]

    async def test_a_refused_refresh_token_is_final_without_a_loop(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        saved = Saved()
        salesforce = _client(provider_http, fake_salesforce, saved)
        await salesforce.check()
        fake_salesforce.revoke_refresh_token()

        with pytest.raises(ProviderError) as refused:
            await salesforce.companies(None)

        assert (refused.value.status, refused.value.retryable) == (400, False)
        assert refused.value.code == "token_refresh_failed"
        assert "invalid_grant" in refused.value.message
        assert recorder.attempts()[2:] == [("list_accounts", 401, 1), ("refresh_token", 400, 1)]
        assert len(saved.versions) == 1

    async def test_wrong_client_credentials_are_refused(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        with pytest.raises(ProviderError) as refused:
            await _client(provider_http, fake_salesforce, client_secret="guess").check()

        assert "invalid_client" in refused.value.message
        assert not refused.value.retryable

    async def test_a_token_that_keeps_failing_is_refreshed_only_once(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        salesforce = _client(provider_http, fake_salesforce)
        await salesforce.check()
        fake_salesforce.sessions_accepted = False

        with pytest.raises(ProviderError) as refused:
            await salesforce.check()

        assert (refused.value.status, refused.value.retryable) == (401, False)
        assert recorder.attempts()[2:] == [
            ("check", 401, 1),
            ("refresh_token", 200, 1),
            ("check", 401, 1),
        ]

    async def test_the_instance_url_credential_serves_when_no_base_url_is_set(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        salesforce = Salesforce(provider_http, "", fake_salesforce.credentials())

        assert await salesforce.check()


class TestUpdateRecords:
    async def test_450_updates_go_out_as_collections_of_at_most_200(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        ids = [fake_salesforce.add_account(f"Account {n}") for n in range(450)]
        updates = [RecordUpdate(i, {"Tenure_Score__c": str(n)}) for n, i in enumerate(ids)]

        await _client(provider_http, fake_salesforce).update_records(updates)

        batches = fake_salesforce.state.collection_updates
        assert [len(batch) for batch in batches] == [200, 200, 50]
        assert batches[0][0] == {
            "attributes": {"type": "Account"},
            "id": ids[0],
            "Tenure_Score__c": "0",
        }
        assert fake_salesforce.record("Account", ids[449])["Tenure_Score__c"] == "449"
        assert [a for a in recorder.attempts() if a[0] == "update_accounts"] == [
            ("update_accounts", 200, 1)
        ] * 3

    async def test_rejected_records_are_reported_and_the_others_written(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        account = fake_salesforce.add_account("Acme")
        contact = fake_salesforce.add_contact("lee@example.com")
        deleted = "001999999999999AAA"
        updates = [
            RecordUpdate(deleted, {"Tenure_Band__c": "healthy"}),
            RecordUpdate(account, {"Tenure_Band__c": "healthy", "Tenure_Last_Touch__c": None}),
            RecordUpdate(contact, {"Tenure_Band__c": "healthy"}),
            RecordUpdate("001'; DELETE", {"Tenure_Band__c": "healthy"}),
        ]

        with pytest.raises(RecordsRejected) as rejected:
            await _client(provider_http, fake_salesforce).update_records(updates)

        assert set(rejected.value.rejected) == {deleted, contact, "001'; DELETE"}
        assert rejected.value.rejected[deleted].startswith("ENTITY_IS_DELETED")
        assert rejected.value.rejected["001'; DELETE"] == "MALFORMED_ID"
        assert fake_salesforce.record("Account", account)["Tenure_Band__c"] == "healthy"
        assert fake_salesforce.record("Account", account)["Tenure_Last_Touch__c"] is None
        assert len(fake_salesforce.state.collection_updates[0]) == 3


class TestTasks:
    async def test_a_task_is_created_on_the_account_for_its_owner(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        owner = fake_salesforce.add_user("dana@example.com", "Dana Reyes")
        account = fake_salesforce.add_account("Acme", owner_id=owner)
        due = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)

        task_id = await _client(provider_http, fake_salesforce).create_task(
            CrmTaskDraft(account, "Check in", "Usage dropped", due, owner, "normal")
        )

        task = fake_salesforce.record("Task", task_id)
        assert {k: task[k] for k in ("WhatId", "OwnerId", "Subject", "Description")} == {
            "WhatId": account,
            "OwnerId": owner,
            "Subject": "Check in",
            "Description": "Usage dropped",
        }
        assert (task["ActivityDate"], task["Status"], task["Priority"]) == (
            "2026-03-04",
            "Not Started",
            "Normal",
        )
        assert recorder.calls[-1].request_id == task_id

    async def test_completion_is_read_back(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        account = fake_salesforce.add_account("Acme")
        salesforce = _client(provider_http, fake_salesforce)
        first = await salesforce.create_task(CrmTaskDraft(account, "Call", "…"))
        second = await salesforce.create_task(CrmTaskDraft(account, "Email", "…"))

        fake_salesforce.complete_task(second)
        states = await salesforce.task_states([first, second, "00T999999999999AAA"])

        assert {(s.task_record_id, s.completed) for s in states} == {
            (first, False),
            (second, True),
        }
        assert fake_salesforce.state.queries[-1] == (
            f"SELECT Id, IsClosed FROM Task WHERE Id IN ('{first}', '{second}', "
            "'00T999999999999AAA')"
        )

    async def test_an_id_that_is_not_a_salesforce_id_never_reaches_soql(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        with pytest.raises(ProviderError) as refused:
            await _client(provider_http, fake_salesforce).task_states(
                ["00T000000000001AAA", "x') OR Id != ('"]
            )

        assert not refused.value.retryable
        assert recorder.calls == []
        assert fake_salesforce.state.queries == []


class TestPaging:
    async def test_accounts_come_in_pages_through_next_records_url(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        owner = fake_salesforce.add_user("dana@example.com", "Dana")
        seeded = [
            fake_salesforce.add_account(f"Account {n}", f"https://www.a{n}.example/home", owner)
            for n in range(230)
        ]
        salesforce = _client(provider_http, fake_salesforce)

        pages = [await salesforce.companies(None)]
        while pages[-1].next_cursor is not None:
            pages.append(await salesforce.companies(pages[-1].next_cursor))

        assert [len(p.items) for p in pages] == [100, 100, 30]
        companies = [c for p in pages for c in p.items]
        assert [c.record_id for c in companies] == seeded
        assert (companies[5].name, companies[5].domain, companies[5].owner_record_id) == (
            "Account 5",
            "a5.example",
            owner,
        )

    async def test_contacts_carry_their_account(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        account = fake_salesforce.add_account("Acme")
        for n in range(120):
            fake_salesforce.add_contact(f"p{n}@example.com", "Pat", f"No{n}", "CFO", account)
        orphan = fake_salesforce.add_contact(None, last_name="Nobody")
        salesforce = _client(provider_http, fake_salesforce)

        first = await salesforce.contacts(None)
        second = await salesforce.contacts(first.next_cursor)

        assert (len(first.items), len(second.items), second.next_cursor) == (100, 21, None)
        assert (first.items[0].email, first.items[0].title) == ("p0@example.com", "CFO")
        assert first.items[0].company_record_ids == (account,)
        assert (second.items[-1].record_id, second.items[-1].email) == (orphan, None)
        assert second.items[-1].company_record_ids == ()

    async def test_owners_are_active_standard_users_in_pages(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce
    ) -> None:
        active = [fake_salesforce.add_user(f"u{n}@example.com", f"User {n}") for n in range(110)]
        fake_salesforce.add_user("gone@example.com", "Gone", active=False)
        fake_salesforce.add_user("bot@example.com", "Bot", user_type="AutomatedProcess")
        salesforce = _client(provider_http, fake_salesforce)

        first = await salesforce.owners(None)
        second = await salesforce.owners(first.next_cursor)

        assert [o.record_id for o in first.items + second.items] == active
        assert second.next_cursor is None
        assert (second.items[-1].email, second.items[-1].name) == ("u109@example.com", "User 109")

    async def test_a_cursor_that_is_not_salesforces_is_refused(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        with pytest.raises(ProviderError):
            await _client(provider_http, fake_salesforce).companies("https://evil.example/x")

        assert recorder.calls == []


class TestRetries:
    async def test_a_429_waits_what_retry_after_says(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        salesforce = _client(provider_http, fake_salesforce)
        await salesforce.check()
        fake_salesforce.faults.fail_next(1, 429, retry_after="3")

        await salesforce.owners(None)

        assert recorder.waits == [3.0]
        assert recorder.attempts()[2:] == [("list_owners", 429, 1), ("list_owners", 200, 2)]

    async def test_5xx_is_retried_and_every_attempt_recorded(
        self, provider_http: ProviderHttp, fake_salesforce: FakeSalesforce, recorder: Recorder
    ) -> None:
        fake_salesforce.faults.fail_next(1, 503)
        account = fake_salesforce.add_account("Acme")

        await _client(provider_http, fake_salesforce).create_task(
            CrmTaskDraft(account, "Call", "…")
        )

        assert recorder.attempts() == [
            ("refresh_token", 503, 1),
            ("refresh_token", 200, 2),
            ("create_task", 201, 1),
        ]
        assert all(call.latency_ms >= 0 and call.method for call in recorder.calls)
        assert recorder.calls[0].url == f"{fake_salesforce.base_url}/services/oauth2/token"
