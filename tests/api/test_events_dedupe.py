"""Dedupe of events by source and external_id, within a batch and across batches."""

import httpx

from tests.api.events_support import T0, Json, event, parse_time, send, statuses, timeline
from tests.api.events_support import fixture_acme as fixture_acme
from tests.api.events_support import fixture_globex as fixture_globex


class TestDedupe:
    async def test_a_repeat_in_a_later_batch_is_a_duplicate_of_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = event(acme, external_id="evt-1")
        first = await send(api, [item])
        again = await send(api, [item])
        assert statuses(again) == ["duplicate"]
        assert again["results"][0]["id"] == first["results"][0]["id"]
        assert (again["created"], again["duplicates"], again["rejected"]) == (0, 1, 0)
        assert len(await timeline(api, acme)) == 1

    async def test_a_duplicate_keeps_the_first_event_as_it_was(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "order", value=10, external_id="o-1")])
        await send(api, [event(acme, "order", hours=5, value=99, external_id="o-1")])
        (stored,) = await timeline(api, acme)
        assert stored["value"] == 10
        assert parse_time(stored["occurred_at"]) == T0

    async def test_a_repeat_within_a_batch_reports_the_first_items_id(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, external_id="evt-1"),
                event(acme, "order", value=1, external_id="evt-2"),
                event(acme, external_id="evt-1"),
                event(acme, external_id="evt-1"),
            ],
        )
        assert statuses(batch) == ["created", "created", "duplicate", "duplicate"]
        ids = [r["id"] for r in batch["results"]]
        assert ids[2] == ids[0]
        assert ids[3] == ids[0]
        assert (batch["created"], batch["duplicates"]) == (2, 2)
        assert sorted(e["id"] for e in await timeline(api, acme)) == sorted(ids[:2])

    async def test_a_repeat_within_a_batch_of_an_already_stored_event_reports_the_stored_id(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        first = await send(api, [event(acme, external_id="evt-1")])
        stored_id = first["results"][0]["id"]
        batch = await send(
            api, [event(acme, external_id="evt-1"), event(acme, external_id="evt-1")]
        )
        assert statuses(batch) == ["duplicate", "duplicate"]
        assert [r["id"] for r in batch["results"]] == [stored_id, stored_id]
        assert len(await timeline(api, acme)) == 1

    async def test_the_same_external_id_from_another_source_is_another_event(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, external_id="1", source="zendesk"),
                event(acme, external_id="1", source="intercom"),
                event(acme, external_id="1"),
            ],
        )
        assert statuses(batch) == ["created", "created", "created"]
        assert len(await timeline(api, acme)) == 3

    async def test_the_key_is_the_source_and_external_id_not_the_client(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        first = await send(api, [event(acme, external_id="shared")])
        again = await send(api, [event(globex, external_id="shared")])
        assert statuses(again) == ["duplicate"]
        assert again["results"][0]["id"] == first["results"][0]["id"]
        assert await timeline(api, globex) == []

    async def test_events_without_external_id_are_never_duplicates(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme), event(acme)])
        batch = await send(api, [event(acme)])
        assert statuses(batch) == ["created"]
        assert len(await timeline(api, acme)) == 3

    async def test_a_rejected_item_does_not_claim_its_key(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, "nps", value=42, external_id="k"),
                event(acme, "nps", value=9, external_id="k"),
            ],
            status=207,
        )
        assert statuses(batch) == ["rejected", "created"]
        later = await send(api, [event(acme, "nps", value=9, external_id="k")])
        assert later["results"][0] == {
            "index": 0,
            "status": "duplicate",
            "id": batch["results"][1]["id"],
            "problem": None,
        }

    async def test_an_event_whose_client_was_deleted_is_stored_again_when_resent(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        """A duplicate points at a stored event: the deleted one is stored no longer."""
        await send(api, [event(acme, external_id="evt-1")])
        assert (await api.delete(f"/v1/clients/{acme['id']}")).status_code == 204
        batch = await send(api, [event(globex, external_id="evt-1")])
        assert statuses(batch) == ["created"]
        assert [e["id"] for e in await timeline(api, globex)] == [batch["results"][0]["id"]]
        again = await send(api, [event(globex, external_id="evt-1")])
        assert again["results"][0]["id"] == batch["results"][0]["id"]

    async def test_a_batch_of_only_duplicates_is_200(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        items = [event(acme, external_id=f"e-{i}") for i in range(3)]
        await send(api, items)
        batch = await send(api, items, status=200)
        assert batch["duplicates"] == 3
