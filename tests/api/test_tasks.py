"""/v1/tasks over HTTP: CRUD, dedupe, lists, completion with its touchpoint, snooze, cancel,
assignment, settings and isolation across workspaces."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from tests.factories import api_client, create_client, create_owner, create_workspace

Json = dict[str, Any]
PROBLEM = "application/problem+json"


def hours(n: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=n)).isoformat()


async def create_task(api: httpx.AsyncClient, client_id: str, **fields: Any) -> Json:
    response = await api.post("/v1/tasks", json={"client_id": client_id, "title": "Call", **fields})
    assert response.status_code == 201, response.text
    task: Json = response.json()
    return task


async def ids(api: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await api.get("/v1/tasks", params=params)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["data"]]


async def facts(app: FastAPI, kind: str) -> list[Json]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind))
        return [row.payload for row in rows]


@pytest.fixture
async def owner(api: httpx.AsyncClient) -> Json:
    return await create_owner(api)


@pytest.fixture
async def client(api: httpx.AsyncClient, owner: Json) -> Json:
    return await create_client(api, owner_id=owner["id"])


class TestCreate:
    async def test_answers_201_with_location_etag_and_the_client_owner(
        self, api: httpx.AsyncClient, client: Json, owner: Json
    ) -> None:
        response = await api.post(
            "/v1/tasks",
            json={
                "client_id": client["id"],
                "title": "  Renewal call  ",
                "body": "Ask about seats.",
                "due_at": "2030-01-02T10:00:00+01:00",
                "priority": "high",
                "channel": "call",
            },
        )
        assert response.status_code == 201, response.text
        task = response.json()
        assert response.headers["location"] == f"/v1/tasks/{task['id']}"
        assert response.headers["etag"] == f'"{uuid.UUID(task["id"]).hex}.1"'
        assert task["owner_id"] == owner["id"]
        assert (task["title"], task["due_at"], task["status"], task["source"]) == (
            "Renewal call",
            "2030-01-02T09:00:00Z",
            "open",
            "manual",
        )
        assert task["assigned_at"] is not None
        (fact,) = await facts_of(api)
        assert fact == task["id"]

    async def test_a_named_owner_takes_it(self, api: httpx.AsyncClient, client: Json) -> None:
        named = await create_owner(api)
        task = await create_task(api, client["id"], owner_id=named["id"])
        assert task["owner_id"] == named["id"]

    async def test_every_problem_is_one_422(self, api: httpx.AsyncClient, client: Json) -> None:
        response = await api.post(
            "/v1/tasks",
            json={
                "client_id": client["id"],
                "title": "",
                "priority": "asap",
                "channel": "fax",
                "body": "x" * 5001,
                "due_at": "2030-01-01T00:00:00",
            },
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert {e["loc"][1] for e in response.json()["errors"]} == {
            "title",
            "priority",
            "channel",
            "body",
            "due_at",
        }

    @pytest.mark.parametrize("field", ["client_id", "owner_id", "signal_id"])
    async def test_an_unknown_reference_is_422(
        self, api: httpx.AsyncClient, client: Json, field: str
    ) -> None:
        body = {"client_id": client["id"], "title": "Call", field: str(uuid.uuid4())}
        response = await api.post("/v1/tasks", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", field]

    async def test_an_inactive_owner_is_422(self, api: httpx.AsyncClient, client: Json) -> None:
        gone = await create_owner(api, active=False)
        response = await api.post(
            "/v1/tasks", json={"client_id": client["id"], "title": "Call", "owner_id": gone["id"]}
        )
        assert response.status_code == 422


async def facts_of(api: httpx.AsyncClient) -> list[str]:
    """The task ids of the workspace's task.created facts, through the jobs API."""
    response = await api.get("/v1/jobs", params={"kind": "task.created"})
    assert response.status_code == 200, response.text
    return [t["task_id"] for job in response.json()["data"] for t in job["payload"]["tasks"]]


class TestDedupe:
    async def test_a_second_create_with_the_key_refreshes_the_open_task(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        first = await create_task(api, client["id"], dedupe_key="renewal-2030")
        response = await api.post(
            "/v1/tasks",
            json={
                "client_id": client["id"],
                "title": "Renewal call, again",
                "priority": "urgent",
                "dedupe_key": "renewal-2030",
            },
        )
        assert response.status_code == 200, response.text
        again = response.json()
        assert again["id"] == first["id"]
        assert (again["title"], again["priority"]) == ("Renewal call, again", "urgent")
        assert response.headers["etag"].endswith('.2"')
        assert len(await ids(api)) == 1

    async def test_a_cancelled_task_no_longer_holds_the_key(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        first = await create_task(api, client["id"], dedupe_key="k")
        await api.post(f"/v1/tasks/{first['id']}/cancel")
        second = await create_task(api, client["id"], dedupe_key="k")
        assert second["id"] != first["id"]


class TestReadUpdateDelete:
    async def test_get_returns_the_task_with_its_etag(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        task = await create_task(api, client["id"])
        response = await api.get(f"/v1/tasks/{task['id']}")
        assert response.status_code == 200
        assert response.json() == task
        assert response.headers["etag"].endswith('.1"')

    async def test_patch_changes_the_fields_sent(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        task = await create_task(api, client["id"], body="keep me")
        response = await api.patch(
            f"/v1/tasks/{task['id']}",
            json={"title": "Renamed", "due_at": "2031-05-01T00:00:00Z", "priority": "low"},
        )
        assert response.status_code == 200, response.text
        changed = response.json()
        assert (changed["title"], changed["due_at"], changed["priority"], changed["body"]) == (
            "Renamed",
            "2031-05-01T00:00:00Z",
            "low",
            "keep me",
        )

    async def test_patch_reassigns_or_unassigns(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"])
        other = await create_owner(api)
        moved = (await api.patch(f"/v1/tasks/{task['id']}", json={"owner_id": other["id"]})).json()
        assert moved["owner_id"] == other["id"]
        assert moved["assigned_at"] >= task["assigned_at"]
        cleared = (await api.patch(f"/v1/tasks/{task['id']}", json={"owner_id": None})).json()
        assert (cleared["owner_id"], cleared["assigned_at"]) == (None, None)

    async def test_a_stale_if_match_is_412(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"])
        stale = (await api.get(f"/v1/tasks/{task['id']}")).headers["etag"]
        await api.patch(f"/v1/tasks/{task['id']}", json={"title": "One"})
        response = await api.patch(
            f"/v1/tasks/{task['id']}", json={"title": "Two"}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
        assert (await api.get(f"/v1/tasks/{task['id']}")).json()["title"] == "One"

    async def test_delete_removes_it(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"])
        assert (await api.delete(f"/v1/tasks/{task['id']}")).status_code == 204
        assert (await api.get(f"/v1/tasks/{task['id']}")).status_code == 404

    async def test_an_unknown_task_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/tasks/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestLists:
    async def test_my_open_tasks_come_soonest_due_first_undated_last(
        self, api: httpx.AsyncClient, client: Json, owner: Json
    ) -> None:
        later = await create_task(api, client["id"], due_at=hours(48))
        undated = await create_task(api, client["id"])
        sooner = await create_task(api, client["id"], due_at=hours(2))
        done = await create_task(api, client["id"], due_at=hours(1))
        await api.post(f"/v1/tasks/{done['id']}/complete", json={"outcome": "done"})
        someone_else = await create_task(
            api, client["id"], owner_id=(await create_owner(api))["id"]
        )
        mine = await ids(api, owner_id=owner["id"], status="open")
        assert mine == [sooner["id"], later["id"], undated["id"]]
        assert someone_else["id"] not in mine

    async def test_due_pages_have_no_gaps_or_repeats_across_the_undated(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        made = [await create_task(api, client["id"], due_at=hours(i)) for i in range(1, 4)]
        made += [await create_task(api, client["id"]) for _ in range(3)]
        for sort in ("due_at", "-due_at"):
            seen: list[str] = []
            cursor = None
            while True:
                params: Json = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
                page = (await api.get("/v1/tasks", params=params)).json()
                seen += [t["id"] for t in page["data"]]
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    break
            dated = [t["id"] for t in made[:3]]
            undated = sorted(t["id"] for t in made[3:])
            expected_dated = dated if sort == "due_at" else dated[::-1]
            assert seen[:3] == expected_dated
            assert sorted(seen[3:]) == undated
            assert len(seen) == len(set(seen)) == 6

    async def test_filters_by_client_status_source_and_due_before(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        other = await create_client(api)
        mine = await create_task(api, client["id"], due_at=hours(1))
        theirs = await create_task(api, other["id"], due_at=hours(100))
        snoozed = await create_task(api, other["id"])
        await api.post(f"/v1/tasks/{snoozed['id']}/snooze", json={"until": hours(5)})
        assert await ids(api, client_id=client["id"]) == [mine["id"]]
        assert await ids(api, due_before=hours(50)) == [mine["id"]]
        assert set(await ids(api, status=["open", "snoozed"])) == {
            mine["id"],
            theirs["id"],
            snoozed["id"],
        }
        assert await ids(api, status="snoozed") == [snoozed["id"]]
        assert await ids(api, source="trigger") == []
        assert len(await ids(api, source="manual")) == 3

    async def test_overdue_lists_open_tasks_past_their_due_date(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        late = await create_task(api, client["id"], due_at=hours(-3))
        upcoming = await create_task(api, client["id"], due_at=hours(3))
        undated = await create_task(api, client["id"])
        late_but_done = await create_task(api, client["id"], due_at=hours(-5))
        await api.post(f"/v1/tasks/{late_but_done['id']}/complete", json={"outcome": "ok"})
        assert await ids(api, overdue="true") == [late["id"]]
        assert set(await ids(api, overdue="false")) == {
            upcoming["id"],
            undated["id"],
            late_but_done["id"],
        }

    async def test_bad_filters_are_422_and_a_foreign_cursor_400(
        self, api: httpx.AsyncClient
    ) -> None:
        assert (await api.get("/v1/tasks", params={"status": "closed"})).status_code == 422
        assert (await api.get("/v1/tasks", params={"overdue": "1"})).status_code == 422
        assert (await api.get("/v1/tasks", params={"due_before": "2030-01-01"})).status_code == 422
        response = await api.get("/v1/tasks", params={"cursor": "garbage"})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM


class TestComplete:
    async def test_logs_a_touchpoint_once_and_moves_last_touchpoint_at(
        self, app: FastAPI, api: httpx.AsyncClient, client: Json, owner: Json
    ) -> None:
        task = await create_task(api, client["id"], channel="meeting")
        occurred = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        response = await api.post(
            f"/v1/tasks/{task['id']}/complete",
            json={"outcome": "Champion happy", "occurred_at": occurred.isoformat()},
        )
        assert response.status_code == 200, response.text
        done = response.json()
        assert (done["status"], done["outcome"], done["channel"]) == (
            "done",
            "Champion happy",
            "meeting",
        )
        assert done["completed_at"] is not None
        events = (
            await api.get(f"/v1/clients/{client['id']}/events", params={"type": "touchpoint"})
        ).json()["data"]
        (event,) = events
        assert event["properties"] == {
            "channel": "meeting",
            "task_id": task["id"],
            "outcome": "Champion happy",
            "owner_id": owner["id"],
        }
        assert (event["source"], event["external_id"]) == ("tasks", f"task:{task['id']}")
        refreshed = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert refreshed["last_touchpoint_at"] == occurred.isoformat().replace("+00:00", "Z")
        (completed,) = await facts(app, "task.completed")
        assert completed["tasks"][0]["touchpoint_event_id"] == event["id"]
        changed = await facts(app, "clients.changed")
        assert any(client["id"] in f["client_ids"] for f in changed)

        again = await api.post(f"/v1/tasks/{task['id']}/complete", json={"outcome": "x"})
        assert again.status_code == 409
        assert again.headers["content-type"] == PROBLEM
        after = (await api.get(f"/v1/clients/{client['id']}/events")).json()["data"]
        assert len(after) == 1

    async def test_the_channel_sent_wins_and_null_logs_nothing(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        called = await create_task(api, client["id"], channel="meeting")
        await api.post(
            f"/v1/tasks/{called['id']}/complete", json={"outcome": "ok", "channel": "call"}
        )
        quiet = await create_task(api, client["id"], channel="meeting")
        await api.post(f"/v1/tasks/{quiet['id']}/complete", json={"outcome": "ok", "channel": None})
        no_channel = await create_task(api, client["id"])
        await api.post(f"/v1/tasks/{no_channel['id']}/complete", json={"outcome": "ok"})
        events = (await api.get(f"/v1/clients/{client['id']}/events")).json()["data"]
        assert [e["properties"]["channel"] for e in events] == ["call"]

    async def test_an_outcome_is_required_and_the_future_refused(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        task = await create_task(api, client["id"], channel="call")
        missing = await api.post(f"/v1/tasks/{task['id']}/complete", json={})
        assert missing.status_code == 422
        future = await api.post(
            f"/v1/tasks/{task['id']}/complete", json={"outcome": "ok", "occurred_at": hours(2)}
        )
        assert future.status_code == 422
        assert future.json()["errors"][0]["loc"] == ["body", "occurred_at"]
        assert (await api.get(f"/v1/tasks/{task['id']}")).json()["status"] == "open"

    async def test_a_done_task_is_final(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"])
        await api.post(f"/v1/tasks/{task['id']}/complete", json={"outcome": "ok"})
        for method, path, body in (
            ("PATCH", "", {"title": "x"}),
            ("POST", "/snooze", {"until": hours(2)}),
            ("POST", "/cancel", None),
            ("POST", "/reopen", None),
        ):
            response = await api.request(method, f"/v1/tasks/{task['id']}{path}", json=body)
            assert response.status_code == 409, (method, path, response.text)


class TestSnoozeAndReopen:
    async def test_snooze_sets_the_time_and_moves_an_earlier_due_date(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        task = await create_task(api, client["id"], due_at=hours(1))
        until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        response = await api.post(
            f"/v1/tasks/{task['id']}/snooze", json={"until": until.isoformat()}
        )
        assert response.status_code == 200, response.text
        snoozed = response.json()
        stamp = until.isoformat().replace("+00:00", "Z")
        assert (snoozed["status"], snoozed["snoozed_until"], snoozed["due_at"]) == (
            "snoozed",
            stamp,
            stamp,
        )

    async def test_a_later_due_date_stays(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"], due_at="2031-01-01T00:00:00Z")
        snoozed = (
            await api.post(f"/v1/tasks/{task['id']}/snooze", json={"until": hours(3)})
        ).json()
        assert snoozed["due_at"] == "2031-01-01T00:00:00Z"

    @pytest.mark.parametrize("until", [-1, 24 * 400])
    async def test_a_past_or_far_time_is_422(
        self, api: httpx.AsyncClient, client: Json, until: int
    ) -> None:
        task = await create_task(api, client["id"])
        response = await api.post(f"/v1/tasks/{task['id']}/snooze", json={"until": hours(until)})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "until"]

    async def test_reopen_wakes_a_snoozed_task_and_refuses_an_open_one(
        self, api: httpx.AsyncClient, client: Json
    ) -> None:
        task = await create_task(api, client["id"])
        assert (await api.post(f"/v1/tasks/{task['id']}/reopen")).status_code == 409
        await api.post(f"/v1/tasks/{task['id']}/snooze", json={"until": hours(3)})
        reopened = await api.post(f"/v1/tasks/{task['id']}/reopen")
        assert reopened.status_code == 200
        assert (reopened.json()["status"], reopened.json()["snoozed_until"]) == ("open", None)


class TestCancel:
    async def test_keeps_the_task_cancelled(self, api: httpx.AsyncClient, client: Json) -> None:
        task = await create_task(api, client["id"])
        response = await api.post(f"/v1/tasks/{task['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert response.json()["cancelled_at"] is not None
        assert (await api.get(f"/v1/tasks/{task['id']}")).json()["status"] == "cancelled"
        assert (await api.post(f"/v1/tasks/{task['id']}/cancel")).status_code == 409


class TestAssignmentWithoutClientOwner:
    async def test_round_robin_then_least_loaded_among_active_owners(
        self, api: httpx.AsyncClient
    ) -> None:
        owners = sorted([(await create_owner(api))["id"] for _ in range(2)])
        await create_owner(api, active=False)
        unowned = await create_client(api)
        picks = [(await create_task(api, unowned["id"]))["owner_id"] for _ in range(4)]
        assert picks == [*owners, *owners]
        # owners[0] closes both of theirs: the least loaded now, though not next in turn
        for task_id in await ids(api, owner_id=owners[0]):
            await api.post(f"/v1/tasks/{task_id}/cancel")
        await create_task(api, unowned["id"], owner_id=owners[1])
        pick = await create_task(api, unowned["id"], assignment="least_loaded")
        assert pick["owner_id"] == owners[0]

    async def test_the_fallback_none_leaves_it_unassigned(self, api: httpx.AsyncClient) -> None:
        await create_owner(api)
        response = await api.patch("/v1/task-settings", json={"assignment": {"fallback": "none"}})
        assert response.status_code == 200, response.text
        task = await create_task(api, (await create_client(api))["id"])
        assert task["owner_id"] is None

    async def test_an_inactive_client_owner_is_passed_over(self, api: httpx.AsyncClient) -> None:
        gone = await create_owner(api)
        active = await create_owner(api)
        client = await create_client(api, owner_id=gone["id"])
        await api.patch(f"/v1/owners/{gone['id']}", json={"active": False})
        task = await create_task(api, client["id"])
        assert task["owner_id"] == active["id"]


class TestSettings:
    async def test_defaults_then_a_change_with_its_etag(
        self, api: httpx.AsyncClient, owner: Json
    ) -> None:
        response = await api.get("/v1/task-settings")
        assert response.status_code == 200
        assert response.json() == {
            "assignment": {"fallback": "round_robin"},
            "escalation": {
                "enabled": True,
                "after_hours": 48,
                "action": "task",
                "owner_id": None,
                "due_hours": 24,
            },
        }
        tag = response.headers["etag"]
        changed = await api.patch(
            "/v1/task-settings",
            json={"escalation": {"after_hours": 24, "owner_id": owner["id"]}},
            headers={"If-Match": tag},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["escalation"]["after_hours"] == 24
        assert changed.json()["escalation"]["owner_id"] == owner["id"]
        assert changed.json()["escalation"]["action"] == "task"
        stale = await api.patch(
            "/v1/task-settings", json={"escalation": {"enabled": False}}, headers={"If-Match": tag}
        )
        assert stale.status_code == 412
        cleared = await api.patch("/v1/task-settings", json={"escalation": {"owner_id": None}})
        assert cleared.json()["escalation"] == {**changed.json()["escalation"], "owner_id": None}

    async def test_bad_values_are_422(self, api: httpx.AsyncClient) -> None:
        for body in (
            {"escalation": {"after_hours": 0}},
            {"escalation": {"after_hours": "24"}},
            {"escalation": {"enabled": 0}},
            {"escalation": {"action": "shout"}},
            {"escalation": {"owner_id": str(uuid.uuid4())}},
            {"assignment": {"fallback": "random"}},
            {"escalation": {"unknown": 1}},
        ):
            response = await api.patch("/v1/task-settings", json=body)
            assert response.status_code == 422, (body, response.text)


class TestIsolation:
    async def test_another_workspace_sees_none_of_it(
        self, app: FastAPI, api: httpx.AsyncClient, client: Json, owner: Json
    ) -> None:
        task = await create_task(api, client["id"])
        other = await create_workspace(app, "Other CS")
        async with api_client(app, other.admin_key) as stranger:
            for method, path, body in (
                ("GET", "", None),
                ("PATCH", "", {"title": "mine now"}),
                ("DELETE", "", None),
                ("POST", "/complete", {"outcome": "x", "channel": "call"}),
                ("POST", "/snooze", {"until": hours(2)}),
                ("POST", "/cancel", None),
            ):
                response = await stranger.request(
                    method, f"/v1/tasks/{task['id']}{path}", json=body
                )
                assert response.status_code == 404, (method, path, response.text)
            assert (await stranger.get("/v1/tasks")).json()["data"] == []
            listed = await stranger.get("/v1/tasks", params={"owner_id": owner["id"]})
            assert listed.json()["data"] == []
            made = await stranger.post("/v1/tasks", json={"client_id": client["id"], "title": "x"})
            assert made.status_code == 422
        assert (await api.get(f"/v1/tasks/{task['id']}")).json() == task
