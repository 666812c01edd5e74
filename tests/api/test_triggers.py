"""Triggers over HTTP: validation (every problem in one 422), versions, enable/disable,
preview, manual runs and the record of runs."""

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import create_client, create_owner


def task_action(**params: Any) -> dict[str, Any]:
    return {"kind": "create_task", "params": {"title": "Call {{client.name}}", **params}}


def trigger_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "At risk mid-tier",
        "when": {"kind": "health.band_changed", "to": ["at_risk"]},
        "condition": {"field": "tier", "op": "eq", "value": "mid"},
        "actions": [task_action(due_in_days=2, priority="high")],
        "control": {"cooldown_hours": 24, "holdout_percent": 0},
        **overrides,
    }


async def create_trigger(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/triggers", json=trigger_body(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreate:
    async def test_stores_the_canonical_definition_as_version_one(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/triggers", json=trigger_body())
        assert response.status_code == 201, response.text
        trigger = response.json()
        assert response.headers["Location"] == f"/v1/triggers/{trigger['id']}"
        assert response.headers["ETag"]
        assert trigger["version"] == 1
        assert trigger["enabled"] is True
        assert trigger["when"] == {"kind": "health.band_changed", "to": ["at_risk"]}
        assert trigger["control"] == {
            "cooldown_hours": 24,
            "reentry": "once_per_cooldown",
            "debounce_seconds": 60,
            "holdout_percent": 0.0,
        }
        assert trigger["actions"][0]["kind"] == "create_task"
        assert trigger["actions"][0]["delay_seconds"] == 0

    async def test_every_problem_of_every_part_comes_in_one_422(
        self, api: httpx.AsyncClient
    ) -> None:
        body = trigger_body(
            when={"kind": "schedule", "cron": "61 * * * *"},
            condition={"all": [{"field": "no_such_field", "op": "eq", "value": 1}]},
            actions=[
                {"kind": "create_task", "params": {"priority": "sometime"}},
                {"kind": "send_pigeon", "params": {}},
                {"kind": "set_fields", "params": {"stage": "nowhere"}, "delay_seconds": -5},
            ],
            control={"reentry": "twice", "holdout_percent": 150},
        )
        response = await api.post("/v1/triggers", json=body)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith("validation-error")
        locs = {tuple(e["loc"]) for e in problem["errors"]}
        assert ("body", "when", "cron") in locs
        assert any(loc[:3] == ("body", "condition", "all") for loc in locs)
        assert ("body", "actions", 0, "params") in locs  # title missing, priority unknown
        assert ("body", "actions", 1, "kind") in locs
        assert ("body", "actions", 2, "delay_seconds") in locs
        assert ("body", "actions", 2, "params", "stage") in locs  # not a stage of the workspace
        assert ("body", "control", "reentry") in locs
        assert ("body", "control", "holdout_percent") in locs
        messages = [
            e["msg"] for e in problem["errors"] if e["loc"][:4] == ["body", "actions", 0, "params"]
        ]
        assert any("title" in m for m in messages)
        assert any("priority" in m for m in messages)

    async def test_an_owner_of_another_workspace_is_refused(self, api: httpx.AsyncClient) -> None:
        body = trigger_body(actions=[task_action(owner_id=str(uuid.uuid4()))])
        response = await api.post("/v1/triggers", json=body)
        assert response.status_code == 422
        locs = [e["loc"] for e in response.json()["errors"]]
        assert locs == [["body", "actions", 0, "params", "owner_id"]]

    async def test_a_placeholder_must_be_known(self, api: httpx.AsyncClient) -> None:
        body = trigger_body(
            actions=[{"kind": "create_task", "params": {"title": "{{client.ssn}}"}}]
        )
        response = await api.post("/v1/triggers", json=body)
        assert response.status_code == 422
        assert "client.ssn" in response.json()["errors"][0]["msg"]

    async def test_a_cron_that_never_falls_due_is_refused(self, api: httpx.AsyncClient) -> None:
        body = trigger_body(when={"kind": "schedule", "cron": "0 0 31 2 *"})
        response = await api.post("/v1/triggers", json=body)
        assert response.status_code == 422
        assert "never" in response.json()["errors"][0]["msg"]

    async def test_a_schedule_knows_its_next_moment(self, api: httpx.AsyncClient) -> None:
        trigger = await create_trigger(api, when={"kind": "schedule", "cron": "0 9 * * *"})
        assert trigger["next_due_at"].endswith("T09:00:00Z")

    async def test_event_ingested_names_known_event_types(self, api: httpx.AsyncClient) -> None:
        body = trigger_body(when={"kind": "event.ingested", "event_types": ["login", "warp"]})
        response = await api.post("/v1/triggers", json=body)
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "when", "event_types", 1]]


class TestVersions:
    async def test_a_changed_definition_is_a_new_version_and_the_old_one_stays(
        self, api: httpx.AsyncClient
    ) -> None:
        trigger = await create_trigger(api)
        url = f"/v1/triggers/{trigger['id']}"
        changed = {"condition": {"field": "tier", "op": "eq", "value": "enterprise"}}
        response = await api.patch(url, json=changed)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2
        versions = (await api.get(f"{url}/versions")).json()
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[1]["condition"] == {"field": "tier", "op": "eq", "value": "mid"}

    async def test_renaming_or_disabling_keeps_the_version_but_moves_the_etag(
        self, api: httpx.AsyncClient
    ) -> None:
        trigger = await create_trigger(api)
        url = f"/v1/triggers/{trigger['id']}"
        etag = (await api.get(url)).headers["ETag"]
        response = await api.patch(url, json={"enabled": False}, headers={"If-Match": etag})
        assert response.status_code == 200
        assert response.json()["enabled"] is False
        assert response.json()["version"] == 1
        stale = await api.patch(url, json={"name": "x"}, headers={"If-Match": etag})
        assert stale.status_code == 412

    async def test_a_deleted_trigger_is_gone_but_its_runs_stay(
        self, api: httpx.AsyncClient
    ) -> None:
        trigger = await create_trigger(api, condition=None)
        client = await create_client(api, tier="mid")
        await api.post(f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [client["id"]]})
        assert (await api.delete(f"/v1/triggers/{trigger['id']}")).status_code == 204
        assert (await api.get(f"/v1/triggers/{trigger['id']}")).status_code == 404
        runs = (await api.get("/v1/trigger-runs", params={"trigger_id": trigger["id"]})).json()
        assert len(runs["data"]) == 1


class TestPreview:
    async def test_lists_the_matching_clients_in_pages_and_stores_nothing(
        self, api: httpx.AsyncClient
    ) -> None:
        mids = [await create_client(api, name=f"Mid {i}", tier="mid") for i in range(3)]
        await create_client(api, name="Small", tier="smb")
        trigger = await create_trigger(api)
        url = f"/v1/triggers/{trigger['id']}/preview"
        first = await api.post(url, params={"limit": 2}, json={})
        assert first.status_code == 200, first.text
        page = first.json()
        assert page["has_more"] is True
        params = {"limit": 2, "cursor": page["next_cursor"]}
        second = (await api.post(url, params=params, json={})).json()
        seen = [c["id"] for c in page["data"] + second["data"]]
        assert sorted(seen) == sorted(c["id"] for c in mids)
        assert second["has_more"] is False
        assert (await api.get("/v1/trigger-runs")).json()["data"] == []

    async def test_a_draft_condition_is_previewed_instead(self, api: httpx.AsyncClient) -> None:
        small = await create_client(api, name="Small", tier="smb")
        trigger = await create_trigger(api)
        draft = {"condition": {"field": "tier", "op": "eq", "value": "smb"}}
        response = await api.post(f"/v1/triggers/{trigger['id']}/preview", json=draft)
        assert [c["id"] for c in response.json()["data"]] == [small["id"]]

    async def test_a_bad_draft_is_a_422(self, api: httpx.AsyncClient) -> None:
        trigger = await create_trigger(api)
        draft = {"condition": {"field": "tier", "op": "sounds_like", "value": "smb"}}
        response = await api.post(f"/v1/triggers/{trigger['id']}/preview", json=draft)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"][:2] == ["body", "condition"]


class TestManualRun:
    async def test_fires_for_matching_clients_and_reports_the_others(
        self, api: httpx.AsyncClient
    ) -> None:
        mid = await create_client(api, tier="mid")
        small = await create_client(api, tier="smb")
        trigger = await create_trigger(api, when={"kind": "manual"})
        response = await api.post(
            f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [mid["id"], small["id"]]}
        )
        assert response.status_code == 200, response.text
        results = {r["client_id"]: r for r in response.json()["results"]}
        assert results[mid["id"]]["outcome"] == "fired"
        assert results[small["id"]]["matched"] is False
        assert results[small["id"]]["trigger_run_id"] is None
        run_id = results[mid["id"]]["trigger_run_id"]
        run = (await api.get(f"/v1/trigger-runs/{run_id}")).json()
        assert run["fact_kind"] == "manual"
        assert run["condition_values"] == {"tier": "mid"}
        (action,) = run["actions"]
        assert (action["kind"], action["status"]) == ("create_task", "pending")

    async def test_a_second_run_within_the_cooldown_is_held_back_unless_forced(
        self, api: httpx.AsyncClient
    ) -> None:
        mid = await create_client(api, tier="mid")
        trigger = await create_trigger(
            api, when={"kind": "manual"}, control={"debounce_seconds": 0}
        )
        url = f"/v1/triggers/{trigger['id']}/run"
        await api.post(url, json={"client_ids": [mid["id"]]})
        again = (await api.post(url, json={"client_ids": [mid["id"]]})).json()
        assert again["results"][0]["outcome"] == "cooled_down"
        forced = (await api.post(url, json={"client_ids": [mid["id"]], "force": True})).json()
        assert forced["results"][0]["outcome"] == "fired"

    async def test_unknown_clients_are_each_named(self, api: httpx.AsyncClient) -> None:
        trigger = await create_trigger(api)
        mid = await create_client(api, tier="mid")
        response = await api.post(
            f"/v1/triggers/{trigger['id']}/run",
            json={"client_ids": [mid["id"], str(uuid.uuid4())]},
        )
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "client_ids", 1]]

    async def test_a_disabled_trigger_cannot_be_run(self, api: httpx.AsyncClient) -> None:
        trigger = await create_trigger(api, enabled=False)
        mid = await create_client(api, tier="mid")
        response = await api.post(
            f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [mid["id"]]}
        )
        assert response.status_code == 409


class TestRuns:
    async def test_filters_by_trigger_client_and_outcome_newest_first(
        self, api: httpx.AsyncClient
    ) -> None:
        one = await create_client(api, tier="mid")
        two = await create_client(api, tier="mid")
        trigger = await create_trigger(
            api, when={"kind": "manual"}, control={"debounce_seconds": 0}
        )
        other = await create_trigger(api, name="Other", when={"kind": "manual"})
        url = f"/v1/triggers/{trigger['id']}/run"
        await api.post(url, json={"client_ids": [one["id"], two["id"]]})
        await api.post(url, json={"client_ids": [one["id"]]})
        await api.post(f"/v1/triggers/{other['id']}/run", json={"client_ids": [two["id"]]})
        mine = (await api.get("/v1/trigger-runs", params={"trigger_id": trigger["id"]})).json()
        assert len(mine["data"]) == 3
        by_client = await api.get(
            "/v1/trigger-runs", params={"trigger_id": trigger["id"], "client_id": one["id"]}
        )
        assert [r["outcome"] for r in by_client.json()["data"]] == ["cooled_down", "fired"]
        fired = await api.get("/v1/trigger-runs", params={"outcome": "fired", "limit": 1})
        assert fired.json()["has_more"] is True
        rest = await api.get(
            "/v1/trigger-runs",
            params={"outcome": "fired", "limit": 10, "cursor": fired.json()["next_cursor"]},
        )
        assert len(rest.json()["data"]) == 2

    async def test_an_unknown_run_is_404(self, api: httpx.AsyncClient) -> None:
        assert (await api.get(f"/v1/trigger-runs/{uuid.uuid4()}")).status_code == 404


class TestSettings:
    async def test_the_cap_defaults_to_three_and_changes_with_its_etag(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.get("/v1/trigger-settings")
        assert response.json() == {"max_firings_per_client_per_day": 3}
        etag = response.headers["ETag"]
        changed = await api.patch(
            "/v1/trigger-settings",
            json={"max_firings_per_client_per_day": 1},
            headers={"If-Match": etag},
        )
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag

    async def test_the_cap_holds_across_triggers(self, api: httpx.AsyncClient) -> None:
        await api.patch("/v1/trigger-settings", json={"max_firings_per_client_per_day": 1})
        mid = await create_client(api, tier="mid")
        outcomes = []
        for name in ("One", "Two"):
            trigger = await create_trigger(api, name=name, when={"kind": "manual"})
            response = await api.post(
                f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [mid["id"]]}
            )
            outcomes.append(response.json()["results"][0]["outcome"])
        assert outcomes == ["fired", "capped"]


class TestFields:
    async def test_the_condition_catalogue_is_served(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/triggers/fields")
        assert response.status_code == 200
        assert "tier" in {f["field"] for f in response.json()}


@pytest.mark.parametrize("kind", ["health.changed", "signal.opened", "contract.ended"])
async def test_every_when_kind_is_accepted(api: httpx.AsyncClient, kind: str) -> None:
    await create_owner(api)
    await create_trigger(api, when={"kind": kind})
