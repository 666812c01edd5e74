"""The HubSpot client against the fake HubSpot over real HTTP: batching, tasks and their
read-back, paging, and the retry rule as the call log records it."""

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.tasks.api_client import ApiClient

from app.integrations.base import CrmTaskDraft, ProviderError, RecordsRejected, RecordUpdate
from app.integrations.http import ProviderHttp
from app.integrations.hubspot import HubSpot
from tests.fakes.hubspot import FakeHubSpot, running_hubspot
from tests.integrations.crm_support import Recorder, recording_http


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def provider_http(recorder: Recorder) -> AsyncIterator[ProviderHttp]:
    async with recording_http(recorder) as http:
        yield http


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    with running_hubspot() as fake:
        yield fake


def _wire(model: Any) -> Any:
    """The JSON HubSpot's own SDK would send for `model` (camelCase, as on the wire)."""
    return ApiClient().sanitize_for_serialization(model)


def _client(http: ProviderHttp, fake: FakeHubSpot, token: str | None = None) -> HubSpot:
    return HubSpot(http, fake.base_url, {"access_token": token or fake.token})


class TestUpdateRecords:
    async def test_250_updates_go_out_as_three_batches_of_at_most_100(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        ids = [fake_hubspot.add_company(f"Company {n}") for n in range(250)]
        updates = [RecordUpdate(i, {"tenure_health_score": str(n)}) for n, i in enumerate(ids)]

        await _client(provider_http, fake_hubspot).update_records(updates)

        assert [len(batch) for batch in fake_hubspot.state.batch_updates] == [100, 100, 50]
        assert fake_hubspot.company(ids[249])["tenure_health_score"] == "249"
        assert recorder.attempts() == [("update_companies", 200, 1)] * 3

    async def test_a_batch_is_the_shape_hubspots_sdk_sends(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        first = fake_hubspot.add_company("Acme")
        second = fake_hubspot.add_company("Globex")
        updates = [
            RecordUpdate(first, {"tenure_band": "at_risk", "tenure_score": "41"}),
            RecordUpdate(second, {"tenure_band": "healthy"}),
        ]

        await _client(provider_http, fake_hubspot).update_records(updates)

        expected = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=u.record_id, properties=dict(u.properties))
                for u in updates
            ]
        )
        assert fake_hubspot.state.batch_updates == [_wire(expected)["inputs"]]

    async def test_repeated_records_merge_and_none_clears_a_field(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        record = fake_hubspot.add_company("Acme")
        updates = [
            RecordUpdate(record, {"tenure_band": "at_risk", "tenure_last_touch": "2026-01-02"}),
            RecordUpdate(record, {"tenure_band": "healthy", "tenure_last_touch": None}),
        ]

        await _client(provider_http, fake_hubspot).update_records(updates)

        assert fake_hubspot.state.batch_updates == [
            [{"id": record, "properties": {"tenure_band": "healthy", "tenure_last_touch": ""}}]
        ]

    async def test_unknown_records_are_reported_after_every_batch_is_written(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        known = [fake_hubspot.add_company(f"Company {n}") for n in range(150)]
        updates = [RecordUpdate(i, {"tenure_band": "healthy"}) for i in [*known[:50], "999"]]
        updates += [RecordUpdate(i, {"tenure_band": "healthy"}) for i in known[50:]]

        with pytest.raises(RecordsRejected) as rejected:
            await _client(provider_http, fake_hubspot).update_records(updates)

        assert rejected.value.rejected == {"999": "OBJECT_NOT_FOUND"}
        assert not rejected.value.retryable
        assert len(fake_hubspot.state.batch_updates) == 2
        assert all(fake_hubspot.company(i).get("tenure_band") == "healthy" for i in known)

    async def test_nothing_to_update_makes_no_call(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        await _client(provider_http, fake_hubspot).update_records([])

        assert recorder.calls == []


class TestTasks:
    async def test_a_task_is_created_associated_with_its_company_and_owner(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        owner = fake_hubspot.add_owner("dana@example.com", "Dana", "Reyes")
        company = fake_hubspot.add_company("Acme", owner_id=owner)
        due = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
        draft = CrmTaskDraft(company, "Check in", "Usage dropped 40%", due, owner, "urgent")

        task_id = await _client(provider_http, fake_hubspot).create_task(draft)

        task = fake_hubspot.state.tasks[task_id]
        assert task.company_ids == [company]
        assert task.properties == {
            "hs_timestamp": "2026-03-04T15:30:00.000Z",
            "hs_task_subject": "Check in",
            "hs_task_body": "Usage dropped 40%",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hubspot_owner_id": owner,
        }
        assert recorder.calls[-1].request_id == task_id

    async def test_the_task_body_is_the_shape_hubspots_sdk_sends(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        sent: list[Any] = []

        async def capture(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(201, json={"id": "77"})

        company = fake_hubspot.add_company("Acme")
        async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as client:
            http = ProviderHttp(client=client, timeout=httpx.Timeout(1.0))
            await HubSpot(http, "https://api.hubapi.test", {"access_token": "t"}).create_task(
                CrmTaskDraft(company, "Check in", "Hello", datetime(2026, 1, 1, tzinfo=UTC))
            )

        expected = SimplePublicObjectInputForCreate(
            properties={
                "hs_timestamp": "2026-01-01T00:00:00.000Z",
                "hs_task_subject": "Check in",
                "hs_task_body": "Hello",
                "hs_task_status": "NOT_STARTED",
            },
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=company),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=192
                        )
                    ],
                )
            ],
        )
        assert httpx.Response(200, content=sent[0].content).json() == _wire(expected)

    async def test_completion_is_read_back(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        company = fake_hubspot.add_company("Acme")
        hubspot = _client(provider_http, fake_hubspot)
        first = await hubspot.create_task(CrmTaskDraft(company, "Call", "…"))
        second = await hubspot.create_task(CrmTaskDraft(company, "Email", "…"))

        fake_hubspot.complete_task(second)
        states = await hubspot.task_states([first, second])

        assert {(s.task_record_id, s.completed) for s in states} == {
            (first, False),
            (second, True),
        }

    async def test_a_deleted_task_is_left_out_and_reads_go_in_batches_of_100(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        company = fake_hubspot.add_company("Acme")
        hubspot = _client(provider_http, fake_hubspot)
        tasks = [await hubspot.create_task(CrmTaskDraft(company, "Call", "…")) for _ in range(120)]

        states = await hubspot.task_states([*tasks, "424242"])

        assert sorted(s.task_record_id for s in states) == sorted(tasks)
        reads = [c for c in recorder.calls if c.operation == "read_tasks"]
        assert [c.status for c in reads] == [200, 207]

    async def test_an_unknown_owner_is_refused_for_good(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        company = fake_hubspot.add_company("Acme")

        with pytest.raises(ProviderError) as refused:
            await _client(provider_http, fake_hubspot).create_task(
                CrmTaskDraft(company, "Call", "…", owner_record_id="1")
            )

        assert (refused.value.status, refused.value.retryable) == (400, False)
        assert recorder.attempts() == [("create_task", 400, 1)]


class TestPaging:
    async def test_companies_come_in_pages_until_the_last(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        owner = fake_hubspot.add_owner("dana@example.com")
        seeded = [
            fake_hubspot.add_company(f"Company {n}", f"c{n}.example", owner) for n in range(230)
        ]
        hubspot = _client(provider_http, fake_hubspot)

        pages = []
        cursor: str | None = None
        while True:
            page = await hubspot.companies(cursor)
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

        assert [len(p.items) for p in pages] == [100, 100, 30]
        companies = [c for p in pages for c in p.items]
        assert [c.record_id for c in companies] == seeded
        assert (companies[7].name, companies[7].domain, companies[7].owner_record_id) == (
            "Company 7",
            "c7.example",
            owner,
        )

    async def test_contacts_carry_their_companies(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        acme = fake_hubspot.add_company("Acme")
        globex = fake_hubspot.add_company("Globex")
        for n in range(150):
            fake_hubspot.add_contact(f"p{n}@example.com", "Pat", f"No{n}", "CTO", (acme,))
        both = fake_hubspot.add_contact("lee@example.com", "Lee", "", "", (acme, globex))
        hubspot = _client(provider_http, fake_hubspot)

        first = await hubspot.contacts(None)
        assert first.next_cursor is not None
        second = await hubspot.contacts(first.next_cursor)

        assert (len(first.items), len(second.items), second.next_cursor) == (100, 51, None)
        assert first.items[0].email == "p0@example.com"
        assert (first.items[0].title, first.items[0].company_record_ids) == ("CTO", (acme,))
        assert second.items[-1].record_id == both
        assert second.items[-1].company_record_ids == (acme, globex)
        assert second.items[-1].last_name is None

    async def test_owners_come_in_pages(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot
    ) -> None:
        for n in range(120):
            fake_hubspot.add_owner(f"owner{n}@example.com", "Owner", str(n))
        hubspot = _client(provider_http, fake_hubspot)

        first = await hubspot.owners(None)
        second = await hubspot.owners(first.next_cursor)

        assert (len(first.items), len(second.items), second.next_cursor) == (100, 20, None)
        assert (second.items[-1].email, second.items[-1].name) == (
            "owner119@example.com",
            "Owner 119",
        )


class TestRetries:
    async def test_a_429_waits_what_retry_after_says_then_succeeds(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        record = fake_hubspot.add_company("Acme")
        fake_hubspot.faults.fail_next(1, 429, retry_after="2")

        await _client(provider_http, fake_hubspot).update_records(
            [RecordUpdate(record, {"tenure_band": "healthy"})]
        )

        assert recorder.waits == [2.0]
        assert recorder.attempts() == [("update_companies", 429, 1), ("update_companies", 200, 2)]
        assert fake_hubspot.company(record)["tenure_band"] == "healthy"

    async def test_retry_after_is_really_waited_for(self, fake_hubspot: FakeHubSpot) -> None:
        fake_hubspot.faults.fail_next(1, 429, retry_after="1")
        async with httpx.AsyncClient() as client:
            http = ProviderHttp(client=client, timeout=httpx.Timeout(5.0))
            started = time.monotonic()
            await _client(http, fake_hubspot).check()

        assert time.monotonic() - started >= 1.0

    async def test_5xx_is_retried_with_backoff(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        fake_hubspot.faults.fail_next(2, 502)

        assert await _client(provider_http, fake_hubspot).check()

        assert recorder.attempts() == [("check", 502, 1), ("check", 502, 2), ("check", 200, 3)]
        assert len(recorder.waits) == 2

    async def test_an_outage_longer_than_the_tries_is_handed_back_as_retryable(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        fake_hubspot.faults.down_for(60)

        with pytest.raises(ProviderError) as failed:
            await _client(provider_http, fake_hubspot).companies(None)

        assert (failed.value.retryable, failed.value.status) == (True, 503)
        assert recorder.attempts() == [("list_companies", 503, n) for n in (1, 2, 3)]

    async def test_a_wrong_token_is_final_after_one_try(
        self, provider_http: ProviderHttp, fake_hubspot: FakeHubSpot, recorder: Recorder
    ) -> None:
        with pytest.raises(ProviderError) as refused:
            await _client(provider_http, fake_hubspot, token="pat-wrong").check()

        assert (refused.value.status, refused.value.retryable) == (401, False)
        assert recorder.attempts() == [("check", 401, 1)]
