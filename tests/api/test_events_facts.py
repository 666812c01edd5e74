"""Client facts derived from events: activity, touchpoints, open tickets, escalation."""

from datetime import timedelta

import httpx

from tests.api.events_support import T0, Json, at, event, fetch_client, parse_time, send, ticket
from tests.api.events_support import fixture_acme as fixture_acme
from tests.api.events_support import fixture_globex as fixture_globex
from tests.factories import create_client


class TestDerivedFacts:
    async def test_a_new_client_has_no_facts(self, api: httpx.AsyncClient, acme: Json) -> None:
        client = await fetch_client(api, acme)
        assert client["last_activity_at"] is None
        assert client["last_touchpoint_at"] is None
        assert client["open_tickets"] == 0
        assert client["first_escalation_at"] is None

    async def test_last_activity_is_the_latest_event(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=3), event(acme, "order", value=1, hours=8)])
        assert parse_time((await fetch_client(api, acme))["last_activity_at"]) == T0 + timedelta(
            hours=8
        )

    async def test_a_backfilled_older_event_does_not_move_last_activity_back(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=8)])
        await send(api, [event(acme, hours=-500)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=8)

    async def test_email_sent_is_not_activity(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [event(acme, hours=1)])
        await send(api, [event(acme, "email_sent", hours=9)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=1)

    async def test_only_email_sent_leaves_activity_unknown(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "email_sent", hours=9)])
        assert (await fetch_client(api, acme))["last_activity_at"] is None

    async def test_a_reply_to_outreach_is_activity(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "email_replied", hours=4)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=4)

    async def test_later_then_earlier_touchpoints_keep_the_later(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "touchpoint", hours=10, properties={"channel": "call"})])
        await send(api, [event(acme, "touchpoint", hours=2, properties={"channel": "email"})])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_touchpoint_at"]) == T0 + timedelta(hours=10)

    async def test_earlier_then_later_touchpoints_move_forward(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "touchpoint", hours=2, properties={"channel": "call"})])
        await send(api, [event(acme, "touchpoint", hours=10, properties={"channel": "note"})])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_touchpoint_at"]) == T0 + timedelta(hours=10)

    async def test_facts_of_rejected_and_duplicate_items_are_not_applied(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=1, external_id="e1")])
        await send(
            api,
            [event(acme, hours=50, external_id="e1"), event(acme, "nps", hours=60)],
            status=207,
        )
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=1)

    async def test_facts_do_not_change_the_clients_etag(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        """They are derived, not edits: a client's If-Match stays valid across ingestion."""
        before = await api.get(f"/v1/clients/{acme['id']}")
        await send(api, [event(acme, "touchpoint", properties={"channel": "call"})])
        response = await api.patch(
            f"/v1/clients/{acme['id']}",
            json={"tier": "enterprise"},
            headers={"If-Match": before.headers["etag"]},
        )
        assert response.status_code == 200, response.text
        assert response.json()["last_touchpoint_at"] is not None


class TestOpenTickets:
    async def test_an_opened_ticket_is_open(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_a_resolved_ticket_is_not_open(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_resolution_that_arrives_before_the_opening_closes_it(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_reopening_after_the_resolution_opens_it_again(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        await send(api, [ticket(acme, "ticket_opened", "t1", 3)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_an_old_resolution_backfilled_after_a_reopening_leaves_it_open(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 3)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_the_whole_story_in_one_batch_in_any_order(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [
                ticket(acme, "ticket_resolved", "t1", 4),
                ticket(acme, "ticket_opened", "t1", 3),
                ticket(acme, "ticket_opened", "t1", 1),
                ticket(acme, "ticket_resolved", "t1", 2),
            ],
        )
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_counts_each_open_ticket(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [
                ticket(acme, "ticket_opened", "t1", 1),
                ticket(acme, "ticket_opened", "t2", 2),
                ticket(acme, "ticket_opened", "t3", 3),
                ticket(globex, "ticket_opened", "t1", 1),
            ],
        )
        await send(api, [ticket(acme, "ticket_resolved", "t2", 5)])
        assert (await fetch_client(api, acme))["open_tickets"] == 2
        assert (await fetch_client(api, globex))["open_tickets"] == 1

    async def test_the_same_ticket_id_at_another_client_is_another_ticket(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(globex, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_an_escalation_does_not_open_a_ticket(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_duplicate_opening_is_counted_once(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = ticket(acme, "ticket_opened", "t1", 1, external_id="zd-1")
        await send(api, [item, item])
        await send(api, [item])
        assert (await fetch_client(api, acme))["open_tickets"] == 1


class TestFirstEscalation:
    async def test_is_the_first_escalation_after_acquisition(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [ticket(acme, "ticket_escalated", "t1", 9), ticket(acme, "ticket_escalated", "t2", 4)],
        )
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=4)

    async def test_an_earlier_escalation_backfilled_later_becomes_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 9)])
        await send(api, [ticket(acme, "ticket_escalated", "t0", 2)])
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=2)

    async def test_a_later_escalation_does_not_replace_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 2)])
        await send(api, [ticket(acme, "ticket_escalated", "t2", 9)])
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=2)

    async def test_an_escalation_before_acquisition_is_ignored(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "old", -24)])
        assert (await fetch_client(api, client))["first_escalation_at"] is None
        await send(api, [ticket(client, "ticket_escalated", "new", 24)])
        await send(api, [ticket(client, "ticket_escalated", "older", -48)])
        fetched = await fetch_client(api, client)
        assert parse_time(fetched["first_escalation_at"]) == T0 + timedelta(hours=24)

    async def test_an_escalation_at_the_moment_of_acquisition_counts(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "t1", 0)])
        assert parse_time((await fetch_client(api, client))["first_escalation_at"]) == T0

    async def test_moving_acquisition_earlier_counts_escalations_since_then(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "old", -24)])
        await send(api, [ticket(client, "ticket_escalated", "new", 24)])
        moved = await api.patch(f"/v1/clients/{client['id']}", json={"acquired_at": at(-48)})
        assert parse_time(moved.json()["first_escalation_at"]) == T0 - timedelta(hours=24)

    async def test_moving_acquisition_later_drops_escalations_before_it(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "t1", 2)])
        moved = await api.patch(f"/v1/clients/{client['id']}", json={"acquired_at": at(48)})
        assert moved.json()["first_escalation_at"] is None
