"""Reading events back: a client's timeline and the workspace's event list."""

import uuid
from datetime import timedelta

import httpx
import pytest

from tests.api.events_support import (
    PROBLEM,
    T0,
    Json,
    all_events,
    at,
    event,
    parse_time,
    send,
    timeline,
    walk,
)
from tests.api.events_support import fixture_acme as fixture_acme
from tests.api.events_support import fixture_globex as fixture_globex


class TestTimeline:
    async def test_is_newest_first(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [event(acme, hours=h) for h in (5, -30, 12, 0, 7)])
        moments = [parse_time(e["occurred_at"]) for e in await timeline(api, acme)]
        assert moments == [T0 + timedelta(hours=h) for h in (12, 7, 5, 0, -30)]

    async def test_holds_only_the_clients_events(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme), event(globex), event(acme, hours=1)])
        ids = [r["id"] for r in batch["results"]]
        assert [e["id"] for e in await timeline(api, acme)] == [ids[2], ids[0]]
        assert [e["id"] for e in await timeline(api, globex)] == [ids[1]]

    async def test_filters_by_one_type(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(
            api,
            [event(acme), event(acme, "order", value=5, hours=1), event(acme, "referral")],
        )
        found = await timeline(api, acme, ("type", "order"))
        assert [e["type"] for e in found] == ["order"]

    async def test_filters_by_several_types_when_repeated(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [
                event(acme, hours=1),
                event(acme, "order", value=5, hours=2),
                event(acme, "referral", hours=3),
                event(acme, "custom.webinar", hours=4),
            ],
        )
        found = await timeline(api, acme, ("type", "login"), ("type", "custom.webinar"))
        assert [e["type"] for e in found] == ["custom.webinar", "login"]

    async def test_an_unknown_type_filter_finds_nothing(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme)])
        assert await timeline(api, acme, ("type", "signup")) == []

    async def test_occurred_from_is_inclusive_and_occurred_to_exclusive(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=h) for h in (1, 2, 3, 4)])
        found = await timeline(api, acme, ("occurred_from", at(2)), ("occurred_to", at(4)))
        assert [parse_time(e["occurred_at"]) for e in found] == [
            T0 + timedelta(hours=3),
            T0 + timedelta(hours=2),
        ]

    async def test_time_filters_compare_instants_across_offsets(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=h) for h in (1, 2)])
        found = await timeline(api, acme, ("occurred_from", "2026-03-02T20:30:00+10:00"))
        assert [parse_time(e["occurred_at"]) for e in found] == [T0 + timedelta(hours=2)]

    async def test_combines_type_and_time_filters(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(
            api,
            [
                event(acme, hours=1),
                event(acme, "referral", hours=1),
                event(acme, hours=5),
            ],
        )
        found = await timeline(
            api, acme, ("type", "login"), ("occurred_from", at(0)), ("occurred_to", at(2))
        )
        assert len(found) == 1
        assert (found[0]["type"], parse_time(found[0]["occurred_at"])) == (
            "login",
            T0 + timedelta(hours=1),
        )

    async def test_a_naive_time_filter_is_422(self, api: httpx.AsyncClient, acme: Json) -> None:
        response = await api.get(
            f"/v1/clients/{acme['id']}/events", params={"occurred_from": "2026-03-02T09:00:00"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM

    async def test_pages_have_no_gaps_and_no_repeats_across_equal_moments(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=h) for h in (1, 1, 1, 2, 2, 3, 0, 1, 2, 1, 5)])
        everything = await timeline(api, acme)
        for limit in (1, 2, 3, 4, 10):
            paged = await walk(api, f"/v1/clients/{acme['id']}/events", limit=limit)
            assert [e["id"] for e in paged] == [e["id"] for e in everything]
        assert sorted(e["id"] for e in everything) == sorted(r["id"] for r in batch["results"])

    async def test_paging_is_stable_while_events_arrive(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=h) for h in range(6)])
        first = await api.get(f"/v1/clients/{acme['id']}/events", params={"limit": 3})
        page = first.json()
        assert page["has_more"] is True
        newer = await send(api, [event(acme, hours=100), event(acme, hours=-100)])
        rest = await walk(
            api,
            f"/v1/clients/{acme['id']}/events",
            limit=2,
            cursor=page["next_cursor"],
        )
        seen = [e["id"] for e in page["data"]] + [e["id"] for e in rest]
        assert len(seen) == len(set(seen))
        original = {r["id"] for r in batch["results"]}
        assert original <= set(seen)
        assert newer["results"][0]["id"] not in seen
        assert newer["results"][1]["id"] in seen

    @pytest.mark.parametrize("name", ["occurred_from", "occurred_to"])
    async def test_a_time_filter_beyond_the_calendar_in_utc_is_422(
        self, api: httpx.AsyncClient, acme: Json, name: str
    ) -> None:
        for path in (f"/v1/clients/{acme['id']}/events", "/v1/events"):
            response = await api.get(path, params={name: "0001-01-01T00:30:00+01:00"})
            assert response.status_code == 422, path
            assert response.headers["content-type"] == PROBLEM

    async def test_a_garbled_cursor_is_400(self, api: httpx.AsyncClient, acme: Json) -> None:
        response = await api.get(
            f"/v1/clients/{acme['id']}/events", params={"cursor": "not-a-cursor"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/events")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestWorkspaceEvents:
    async def test_lists_every_clients_events_newest_first(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=1), event(globex, hours=3), event(acme)])
        ids = [r["id"] for r in batch["results"]]
        assert [e["id"] for e in await all_events(api)] == [ids[1], ids[0], ids[2]]

    async def test_filters_by_client(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(api, [event(acme), event(globex), event(globex, hours=1)])
        found = await all_events(api, ("client_id", globex["id"]))
        assert {e["client_id"] for e in found} == {globex["id"]}
        assert len(found) == 2

    async def test_filters_by_source(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [event(acme, source="zendesk"), event(globex, source="zendesk"), event(acme)],
        )
        found = await all_events(api, ("source", "zendesk"))
        assert [e["source"] for e in found] == ["zendesk", "zendesk"]

    async def test_filters_by_type_and_time(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [
                event(acme, "referral", hours=1),
                event(globex, "referral", hours=2),
                event(globex, "referral", hours=3),
                event(globex, hours=2),
            ],
        )
        found = await all_events(
            api, ("type", "referral"), ("occurred_from", at(1)), ("occurred_to", at(3))
        )
        assert [parse_time(e["occurred_at"]) for e in found] == [
            T0 + timedelta(hours=2),
            T0 + timedelta(hours=1),
        ]

    async def test_pages_have_no_gaps_and_no_repeats(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme if h % 2 else globex, hours=h // 3) for h in range(17)])
        paged = await walk(api, "/v1/events", limit=4)
        assert sorted(e["id"] for e in paged) == sorted(r["id"] for r in batch["results"])
        assert [e["id"] for e in paged] == [e["id"] for e in await all_events(api)]

    async def test_an_unknown_client_filter_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/events", params={"client_id": str(uuid.uuid4())})
        assert response.status_code == 404
