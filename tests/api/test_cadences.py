"""/v1/cadences and /v1/clients/{id}/cadence over HTTP, on the real database."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.cadence_support import drop_cadences
from tests.factories import Workspace, api_client, create_client, create_workspace

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
async def _without_default_cadences(app: FastAPI, workspace: Workspace) -> None:
    await drop_cadences(app, workspace.id)


def rhythm(**overrides: Any) -> dict[str, Any]:
    return {"name": "Mid every 30 days", "tier": "mid", "interval_days": 30, **overrides}


async def create_cadence(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/cadences", json=rhythm(**overrides))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def enrollments(api: httpx.AsyncClient, cadence_id: str, **params: str) -> list[Any]:
    response = await api.get(f"/v1/cadences/{cadence_id}/enrollments", params=params)
    assert response.status_code == 200, response.text
    data: list[Any] = response.json()["data"]
    return data


async def touchpoint(
    api: httpx.AsyncClient, client_id: str, at: datetime, channel: str = "call"
) -> None:
    event = {
        "client_id": client_id,
        "type": "touchpoint",
        "occurred_at": at.isoformat(),
        "properties": {"channel": channel},
    }
    response = await api.post("/v1/events", json={"events": [event]})
    assert response.status_code == 200, response.text


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


class TestCreateCadence:
    async def test_a_rhythm_gets_the_usual_task_step_and_an_etag(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/cadences", json=rhythm())
        assert response.status_code == 201, response.text
        cadence = response.json()
        assert response.headers["location"] == f"/v1/cadences/{cadence['id']}"
        assert response.headers["etag"] == f'"{uuid.UUID(cadence["id"]).hex}.1"'
        assert cadence["kind"] == "rhythm"
        assert cadence["channels"] == ["call", "meeting", "email", "note"]
        assert cadence["steps"] == [
            {
                "offset_days": 30,
                "action": {
                    "kind": "create_task",
                    "params": {"title": "Touch base with {{client.name}}"},
                    "delay_seconds": 0,
                },
            }
        ]
        assert (cadence["exit"], cadence["enabled"], cadence["version"]) == (None, True, 1)

    async def test_clients_of_the_tier_are_enrolled_at_once(self, api: httpx.AsyncClient) -> None:
        mid = await create_client(api, tier="mid")
        await create_client(api, tier="smb")
        churned = await create_client(api, tier="mid")
        response = await api.post(f"/v1/clients/{churned['id']}/churn", json={"reason": "gone"})
        assert response.status_code == 200
        cadence = await create_cadence(api)
        (enrolled,) = await enrollments(api, cadence["id"])
        assert (enrolled["client_id"], enrolled["source"], enrolled["status"]) == (
            mid["id"],
            "tier",
            "active",
        )
        assert enrolled["next_step"] == 0
        assert parse(enrolled["next_due_at"]) == parse(enrolled["enrolled_at"]) + timedelta(days=30)

    async def test_a_recent_touchpoint_starts_the_clock_from_it(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="mid")
        touched = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
        await touchpoint(api, client["id"], touched)
        cadence = await create_cadence(api)
        (enrolled,) = await enrollments(api, cadence["id"])
        assert parse(enrolled["anchor_at"]) == touched
        assert parse(enrolled["next_due_at"]) == touched + timedelta(days=30)

    async def test_a_touchpoint_of_another_channel_does_not_count(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="mid")
        await touchpoint(api, client["id"], datetime.now(UTC) - timedelta(days=3), "email")
        cadence = await create_cadence(api, channels=["call", "meeting"])
        (enrolled,) = await enrollments(api, cadence["id"])
        assert enrolled["anchor_at"] == enrolled["enrolled_at"]

    async def test_a_sequence_with_exit_rules(self, api: httpx.AsyncClient) -> None:
        body = {
            "name": "Renewal outreach",
            "kind": "sequence",
            "steps": [
                {"offset_days": 0, "action": {"kind": "create_task", "params": {"title": "Call"}}},
                {
                    "offset_days": 3,
                    "action": {
                        "kind": "create_task",
                        "params": {"title": "Follow up", "priority": "high"},
                        "delay_seconds": 3600,
                    },
                },
            ],
            "exit": {
                "on_reply": True,
                "on_touchpoint": False,
                "goal": {"field": "stage", "op": "eq", "value": "adoption"},
            },
        }
        response = await api.post("/v1/cadences", json=body)
        assert response.status_code == 201, response.text
        cadence = response.json()
        assert cadence["exit"]["on_touchpoint"] is False
        assert cadence["steps"][1]["action"]["delay_seconds"] == 3600
        assert await enrollments(api, cadence["id"]) == []  # no tier, no condition: by hand


class TestValidation:
    async def test_every_problem_is_reported_in_one_422(self, api: httpx.AsyncClient) -> None:
        body = {
            "name": "Bad",
            "tier": "platinum",
            "steps": [
                {"offset_days": 10, "action": {"kind": "fax", "params": {}}},
                {"offset_days": 5, "action": {"kind": "create_task", "params": {"priority": "x"}}},
            ],
            "exit": {"on_reply": False},
            "condition": {"field": "no.such.field", "op": "eq", "value": 1},
        }
        response = await api.post("/v1/cadences", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        locs = {tuple(e["loc"]) for e in response.json()["errors"]}
        assert {
            ("body", "tier"),
            ("body", "interval_days"),
            ("body", "steps", 0, "action", "kind"),
            ("body", "steps", 1, "offset_days"),
            ("body", "steps", 1, "action", "params"),
            ("body", "exit"),
        } <= locs
        assert any(loc[:2] == ("body", "condition") for loc in locs)

    async def test_types_are_checked_before_anything_is_read(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/cadences",
            json={"name": "", "interval_days": "30", "channels": ["fax"], "kind": "loop"},
        )
        assert response.status_code == 422
        locs = {tuple(e["loc"][:2]) for e in response.json()["errors"]}
        assert {("body", "name"), ("body", "interval_days"), ("body", "channels")} <= locs

    async def test_a_deep_condition_is_refused_at_the_door(self, api: httpx.AsyncClient) -> None:
        deep: dict[str, Any] = {}
        for _ in range(40):
            deep = {"not": deep}
        response = await api.post("/v1/cadences", json=rhythm(condition=deep))
        assert response.status_code == 422


class TestReadAndList:
    async def test_get_list_and_filters(self, api: httpx.AsyncClient) -> None:
        mid = await create_cadence(api)
        smb = await create_cadence(api, name="Smb", tier="smb", interval_days=90, enabled=False)
        response = await api.get(f"/v1/cadences/{mid['id']}")
        assert response.status_code == 200
        assert response.json() == mid
        assert response.headers["etag"].endswith('.1"')
        listed = (await api.get("/v1/cadences", params={"limit": 1})).json()
        assert listed["has_more"] is True
        second = (await api.get("/v1/cadences", params={"cursor": listed["next_cursor"]})).json()
        assert [c["id"] for c in listed["data"] + second["data"]] == [mid["id"], smb["id"]]
        enabled = (await api.get("/v1/cadences", params={"enabled": "false"})).json()["data"]
        assert [c["id"] for c in enabled] == [smb["id"]]
        by_tier = (await api.get("/v1/cadences", params={"tier": "mid"})).json()["data"]
        assert [c["id"] for c in by_tier] == [mid["id"]]

    async def test_an_unknown_cadence_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/cadences/{uuid.uuid4()}")
        assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)


class TestUpdateCadence:
    async def test_a_stale_etag_is_refused(self, api: httpx.AsyncClient) -> None:
        cadence = await create_cadence(api)
        url = f"/v1/cadences/{cadence['id']}"
        first = await api.patch(url, json={"name": "Renamed"})
        assert first.status_code == 200
        assert first.json()["version"] == 2
        stale = f'"{uuid.UUID(cadence["id"]).hex}.1"'
        response = await api.patch(url, json={"name": "Again"}, headers={"If-Match": stale})
        assert response.status_code == 412

    async def test_the_usual_step_follows_a_new_interval(self, api: httpx.AsyncClient) -> None:
        cadence = await create_cadence(api)
        response = await api.patch(f"/v1/cadences/{cadence['id']}", json={"interval_days": 21})
        assert response.status_code == 200, response.text
        assert response.json()["steps"][0]["offset_days"] == 21

    async def test_a_new_tier_moves_the_enrolments(self, api: httpx.AsyncClient) -> None:
        mid = await create_client(api, tier="mid")
        smb = await create_client(api, tier="smb")
        cadence = await create_cadence(api)
        response = await api.patch(f"/v1/cadences/{cadence['id']}", json={"tier": "smb"})
        assert response.status_code == 200, response.text
        ended = await enrollments(api, cadence["id"], status="ended")
        assert [(e["client_id"], e["exit_reason"]) for e in ended] == [(mid["id"], "tier_changed")]
        active = await enrollments(api, cadence["id"], status="active")
        assert [e["client_id"] for e in active] == [smb["id"]]

    async def test_disabling_ends_enrolments_and_enabling_enrols_again(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="mid")
        cadence = await create_cadence(api)
        url = f"/v1/cadences/{cadence['id']}"
        assert (await api.patch(url, json={"enabled": False})).status_code == 200
        (ended,) = await enrollments(api, cadence["id"])
        assert (ended["status"], ended["exit_reason"]) == ("ended", "cadence_disabled")
        assert (await api.patch(url, json={"enabled": True})).status_code == 200
        active = await enrollments(api, cadence["id"], status="active")
        assert [e["client_id"] for e in active] == [client["id"]]

    async def test_an_edit_is_validated_like_a_creation(self, api: httpx.AsyncClient) -> None:
        cadence = await create_cadence(api)
        response = await api.patch(
            f"/v1/cadences/{cadence['id']}",
            json={"steps": [{"offset_days": 0, "action": {"kind": "create_task", "params": {}}}]},
        )
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [
            ["body", "steps", 0, "action", "params"]
        ]


class TestDeleteCadence:
    async def test_deletes_it_with_its_enrolments(self, api: httpx.AsyncClient) -> None:
        await create_client(api, tier="mid")
        cadence = await create_cadence(api)
        url = f"/v1/cadences/{cadence['id']}"
        assert (await api.delete(url)).status_code == 204
        assert (await api.get(url)).status_code == 404
        assert (await api.get(f"{url}/enrollments")).status_code == 404


class TestManualEnrolment:
    async def test_enrols_once_and_answers_the_same_enrolment_again(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        cadence = await create_cadence(api, tier=None)
        url = f"/v1/cadences/{cadence['id']}/enrollments"
        first = await api.post(url, json={"client_id": client["id"]})
        assert first.status_code == 201, first.text
        again = await api.post(url, json={"client_id": client["id"]})
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert first.json()["source"] == "manual"

    async def test_the_answer_is_the_stored_enrolment(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        cadence = await create_cadence(api, tier=None)
        url = f"/v1/cadences/{cadence['id']}/enrollments"
        first = await api.post(url, json={"client_id": client["id"]})
        assert first.status_code == 201, first.text
        again = await api.post(url, json={"client_id": client["id"]})
        assert first.json() == again.json() == (await enrollments(api, cadence["id"]))[0]
        answered = first.json()
        assert (answered["status"], answered["next_step"], answered["paused"]) == (
            "active",
            0,
            False,
        )
        assert parse(answered["next_due_at"]) == parse(answered["enrolled_at"]) + timedelta(days=30)

    async def test_an_unknown_client_is_422(self, api: httpx.AsyncClient) -> None:
        cadence = await create_cadence(api)
        url = f"/v1/cadences/{cadence['id']}/enrollments"
        response = await api.post(url, json={"client_id": str(uuid.uuid4())})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "client_id"]

    async def test_a_disabled_cadence_takes_no_one(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        cadence = await create_cadence(api, enabled=False)
        url = f"/v1/cadences/{cadence['id']}/enrollments"
        response = await api.post(url, json={"client_id": client["id"]})
        assert response.status_code == 409

    async def test_ending_by_hand(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        cadence = await create_cadence(api, tier=None)
        url = f"/v1/cadences/{cadence['id']}/enrollments"
        enrolled = (await api.post(url, json={"client_id": client["id"]})).json()
        response = await api.post(f"{url}/{enrolled['id']}/end")
        assert response.status_code == 200, response.text
        ended = response.json()
        assert (ended["status"], ended["exit_reason"], ended["next_due_at"]) == (
            "ended",
            "manual",
            None,
        )
        assert (await api.post(f"{url}/{enrolled['id']}/end")).status_code == 409
        again = await api.post(url, json={"client_id": client["id"]})
        assert again.status_code == 201
        assert again.json()["id"] != enrolled["id"]


class TestClientCadence:
    async def test_shows_where_the_client_stands(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, tier="mid")
        cadence = await create_cadence(api)
        response = await api.get(f"/v1/clients/{client['id']}/cadence")
        assert response.status_code == 200, response.text
        view = response.json()
        (standing,) = view["enrollments"]
        assert standing["cadence_id"] == cadence["id"]
        assert (standing["next_step"], standing["steps"], standing["next_action"]) == (
            0,
            1,
            "create_task",
        )
        assert (standing["paused"], standing["due_now"], standing["open_task"]) == (
            False,
            False,
            False,
        )
        assert view["next_touch_due_at"] == standing["next_due_at"]
        assert parse(standing["next_due_at"]) == parse(standing["enrolled_at"]) + timedelta(days=30)

    async def test_a_touchpoint_logged_since_shows_at_once(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, tier="mid")
        await create_cadence(api)
        # After the enrolment, so it resets the clock (events may be up to 5 minutes ahead).
        touched = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
        await touchpoint(api, client["id"], touched, "meeting")
        view = (await api.get(f"/v1/clients/{client['id']}/cadence")).json()
        (standing,) = view["enrollments"]
        assert parse(standing["last_qualifying_touchpoint_at"]) == touched
        assert parse(view["last_touchpoint_at"]) == touched
        assert parse(standing["anchor_at"]) == touched
        assert parse(standing["next_due_at"]) == touched + timedelta(days=30)

    async def test_a_client_in_no_cadence(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        view = (await api.get(f"/v1/clients/{client['id']}/cadence")).json()
        assert (view["enrollments"], view["next_touch_due_at"]) == ([], None)

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/cadence")
        assert response.status_code == 404


class TestIsolation:
    async def test_another_workspace_sees_nothing_of_them(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="mid")
        cadence = await create_cadence(api)
        (enrolled,) = await enrollments(api, cadence["id"])
        other: Workspace = await create_workspace(app, "Other")
        await drop_cadences(app, other.id)
        async with api_client(app, other.admin_key) as intruder:
            base = f"/v1/cadences/{cadence['id']}"
            assert (await intruder.get(base)).status_code == 404
            assert (await intruder.patch(base, json={"name": "x"})).status_code == 404
            assert (await intruder.get(f"{base}/enrollments")).status_code == 404
            assert (
                await intruder.post(f"{base}/enrollments/{enrolled['id']}/end")
            ).status_code == 404
            assert (await intruder.get(f"/v1/clients/{client['id']}/cadence")).status_code == 404
            listed = (await intruder.get("/v1/cadences")).json()["data"]
            assert cadence["id"] not in [c["id"] for c in listed]
            own = await create_cadence(intruder)
            response = await intruder.post(
                f"/v1/cadences/{own['id']}/enrollments", json={"client_id": client["id"]}
            )
            assert response.status_code == 422
            assert await enrollments(intruder, own["id"]) == []
            assert (await api.delete(base)).status_code == 204

    @pytest.mark.parametrize("method", ["get", "delete"])
    async def test_lookups_of_unknown_ids_are_404(
        self, api: httpx.AsyncClient, method: str
    ) -> None:
        response = await api.request(method.upper(), f"/v1/cadences/{uuid.uuid4()}")
        assert response.status_code == 404
