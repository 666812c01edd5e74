"""The signal API: lists with filters and pages, acknowledgement, settings, validation."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Workspace, create_client, create_owner, create_workspace
from tests.signals_support import FALL, T, evaluate, event, ingest, open_score_drop

PROBLEM = "application/problem+json"


async def signal_for(
    app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, **client: Any
) -> tuple[dict[str, Any], str]:
    created = await create_client(api, **client)
    return created, await open_score_drop(app, workspace.id, created["id"])


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["data"]]


class TestReadSignal:
    async def test_shows_kind_severity_figures_and_status(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client, signal_id = await signal_for(app, api, workspace)
        response = await api.get(f"/v1/signals/{signal_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["client_id"] == client["id"]
        assert (body["kind"], body["severity"], body["status"]) == ("score_drop", "medium", "open")
        assert body["figures"] == {
            "score": 50,
            "band": "neutral",
            "drop_points": 20,
            "band_worsened": True,
        }
        assert body["opened_at"] == "2026-06-01T12:00:00Z"
        assert body["resolved_at"] is None

    async def test_an_unknown_id_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/signals/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestListSignals:
    async def test_newest_first_with_cursor_pages(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        clients = [await create_client(api) for _ in range(3)]
        for days, client in enumerate(clients):
            moment = T + timedelta(days=days)
            await evaluate(
                app, workspace.id, [client["id"]], now=moment, trends={client["id"]: FALL}
            )
        first = await api.get("/v1/signals", params={"limit": 2})
        body = first.json()
        assert [s["client_id"] for s in body["data"]] == [clients[2]["id"], clients[1]["id"]]
        assert body["has_more"] is True
        second = await api.get("/v1/signals", params={"limit": 2, "cursor": body["next_cursor"]})
        assert [s["client_id"] for s in second.json()["data"]] == [clients[0]["id"]]
        assert second.json()["has_more"] is False

    async def test_filters_by_kind(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client, drop = await signal_for(app, api, workspace)
        await ingest(api, [event(client["id"], "payment_failed", 1)])
        await evaluate(app, workspace.id, [client["id"]])
        payment = [s for s in ids(await api.get("/v1/signals")) if s != drop]
        assert ids(await api.get("/v1/signals", params={"kind": "score_drop"})) == [drop]
        both = await api.get("/v1/signals?kind=score_drop&kind=payment_failed")
        assert sorted(ids(both)) == sorted([drop, *payment])

    async def test_filters_by_status(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        _, acknowledged = await signal_for(app, api, workspace)
        _, still_open = await signal_for(app, api, workspace)
        response = await api.post(
            f"/v1/signals/{acknowledged}/acknowledge", json={"owner_id": owner["id"]}
        )
        assert response.status_code == 200, response.text
        assert ids(await api.get("/v1/signals", params={"status": "open"})) == [still_open]
        assert ids(await api.get("/v1/signals", params={"status": "acknowledged"})) == [
            acknowledged
        ]
        assert ids(await api.get("/v1/signals", params={"status": "resolved"})) == []

    async def test_filters_by_severity(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        _, medium = await signal_for(app, api, workspace)
        client = await create_client(api)
        await ingest(api, [event(client["id"], "payment_failed", d) for d in (1, 2)])
        await evaluate(app, workspace.id, [client["id"]])
        (high,) = ids(await api.get("/v1/signals", params={"severity": "high"}))
        assert high != medium
        assert ids(await api.get("/v1/signals", params={"severity": "medium"})) == [medium]
        assert ids(await api.get("/v1/signals", params={"severity": "low"})) == []

    async def test_filters_by_owner_and_tier_of_the_client(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        _, owned = await signal_for(app, api, workspace, owner_id=owner["id"], tier="smb")
        _, other = await signal_for(app, api, workspace, tier="enterprise")
        assert ids(await api.get("/v1/signals", params={"owner_id": owner["id"]})) == [owned]
        assert ids(await api.get("/v1/signals", params={"tier": "enterprise"})) == [other]
        assert ids(await api.get("/v1/signals", params={"tier": "mid"})) == []

    async def test_filters_by_opening_time(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        early, late = await create_client(api), await create_client(api)
        await evaluate(app, workspace.id, [early["id"]], trends={early["id"]: FALL})
        later = T + timedelta(days=3)
        await evaluate(app, workspace.id, [late["id"]], now=later, trends={late["id"]: FALL})
        params = {"opened_from": (T + timedelta(days=1)).isoformat()}
        (found,) = (await api.get("/v1/signals", params=params)).json()["data"]
        assert found["client_id"] == late["id"]
        params = {"opened_to": later.isoformat()}
        (found,) = (await api.get("/v1/signals", params=params)).json()["data"]
        assert found["client_id"] == early["id"]

    @pytest.mark.parametrize(
        "params",
        [
            {"kind": "usage_dip"},
            {"status": "closed"},
            {"severity": "critical"},
            {"owner_id": "not-a-uuid"},
            {"opened_from": "yesterday"},
            {"opened_from": "2026-06-01T12:00:00"},  # no offset
            {"limit": "0"},
            {"cursor": "garbage"},
            {"tier": "x" * 65},
        ],
    )
    async def test_bad_filters_are_4xx_problems(
        self, api: httpx.AsyncClient, params: dict[str, str]
    ) -> None:
        response = await api.get("/v1/signals", params=params)
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == PROBLEM


class TestClientSignals:
    async def test_lists_only_that_client(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client, mine = await signal_for(app, api, workspace)
        await signal_for(app, api, workspace)
        assert ids(await api.get(f"/v1/clients/{client['id']}/signals")) == [mine]

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/signals")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM

    async def test_a_client_of_another_workspace_is_404(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, http: httpx.AsyncClient
    ) -> None:
        client, _ = await signal_for(app, api, workspace)
        other = await create_workspace(app, "Other CS")
        response = await http.get(
            f"/v1/clients/{client['id']}/signals",
            headers={"Authorization": f"Bearer {other.admin_key}"},
        )
        assert response.status_code == 404


class TestAcknowledge:
    async def test_records_who_when_and_why(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        _, signal_id = await signal_for(app, api, workspace)
        response = await api.post(
            f"/v1/signals/{signal_id}/acknowledge",
            json={"owner_id": owner["id"], "note": "  QBR booked  "},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "acknowledged"
        assert body["acknowledged_by"] == owner["id"]
        assert body["acknowledged_note"] == "QBR booked"
        assert body["acknowledged_at"] is not None

    async def test_twice_is_409(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        _, signal_id = await signal_for(app, api, workspace)
        url = f"/v1/signals/{signal_id}/acknowledge"
        assert (await api.post(url, json={"owner_id": owner["id"]})).status_code == 200
        response = await api.post(url, json={"owner_id": owner["id"]})
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    async def test_a_resolved_signal_is_409(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        client, signal_id = await signal_for(app, api, workspace)
        steady = FALL.__class__(score=90, band="healthy", drop_in_window=0, band_worsened=False)
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: steady})
        response = await api.post(
            f"/v1/signals/{signal_id}/acknowledge", json={"owner_id": owner["id"]}
        )
        assert response.status_code == 409

    async def test_an_inactive_or_unknown_owner_is_422(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        inactive = await create_owner(api)
        assert (
            await api.patch(f"/v1/owners/{inactive['id']}", json={"active": False})
        ).status_code == 200
        _, signal_id = await signal_for(app, api, workspace)
        for owner_id in (inactive["id"], str(uuid.uuid4())):
            response = await api.post(
                f"/v1/signals/{signal_id}/acknowledge", json={"owner_id": owner_id}
            )
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["loc"] == ["body", "owner_id"]

    @pytest.mark.parametrize(
        "body", [{}, {"owner_id": "nobody"}, {"owner_id": None}, {"note": "x"}, []]
    )
    async def test_a_malformed_body_is_422(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, body: Any
    ) -> None:
        _, signal_id = await signal_for(app, api, workspace)
        response = await api.post(f"/v1/signals/{signal_id}/acknowledge", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM

    async def test_a_read_key_may_not(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, http: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/api-keys", json={"name": "ro", "scopes": ["read"]})
        key = response.json()["api_key"]
        owner = await create_owner(api)
        _, signal_id = await signal_for(app, api, workspace)
        response = await http.post(
            f"/v1/signals/{signal_id}/acknowledge",
            json={"owner_id": owner["id"]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 403


class TestSettings:
    async def test_a_new_workspace_runs_on_the_defaults(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/signal-settings")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["usage_drop"]["drop_percent"] == 30.0
        assert body["gone_quiet"]["days"] == 45
        assert body["renewal_approaching"]["high_days"] == 30
        assert body["response_slowdown"]["ratio"] == 2.0
        assert body["response_slowdown"]["unanswered_outreaches"] == 3
        assert body["spend_drop"]["drop_percent"] == 30.0
        assert body["engagement_drop"]["drop_percent"] == 50.0
        assert response.headers["etag"]

    async def test_patch_changes_only_what_is_sent(self, api: httpx.AsyncClient) -> None:
        response = await api.patch(
            "/v1/signal-settings",
            json={"gone_quiet": {"tier_days": {"enterprise": 21}}, "score_drop": {"points": 10}},
        )
        assert response.status_code == 200, response.text
        body = (await api.get("/v1/signal-settings")).json()
        assert body["gone_quiet"] == {"enabled": True, "days": 45, "tier_days": {"enterprise": 21}}
        assert body["score_drop"]["points"] == 10
        assert body["usage_drop"]["drop_percent"] == 30.0

    async def test_if_match_guards_concurrent_edits(self, api: httpx.AsyncClient) -> None:
        tag = (await api.get("/v1/signal-settings")).headers["etag"]
        first = await api.patch(
            "/v1/signal-settings", json={"gone_quiet": {"days": 40}}, headers={"If-Match": tag}
        )
        assert first.status_code == 200, first.text
        assert first.headers["etag"] != tag
        second = await api.patch(
            "/v1/signal-settings", json={"gone_quiet": {"days": 50}}, headers={"If-Match": tag}
        )
        assert second.status_code == 412

    async def test_settings_change_what_opens(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await ingest(api, [event(client["id"], "nps", 2, value=7)])
        await evaluate(app, workspace.id, [client["id"]])
        assert ids(await api.get("/v1/signals")) == []
        response = await api.patch("/v1/signal-settings", json={"nps_detractor": {"max_score": 7}})
        assert response.status_code == 200, response.text
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = (await api.get("/v1/signals")).json()["data"]
        assert signal["kind"] == "nps_detractor"

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"gone_quiet": {"days": 0}}, ["body", "gone_quiet", "days"]),
            ({"gone_quiet": {"days": None}}, ["body", "gone_quiet", "days"]),
            ({"gone_quiet": {"tier_days": {"gold": 10}}}, ["body", "gone_quiet", "tier_days"]),
            (
                {"stage_overdue": {"stage_days": {"trial": 5}}},
                ["body", "stage_overdue", "stage_days"],
            ),
            ({"usage_drop": {"drop_percent": 0}}, ["body", "usage_drop", "drop_percent"]),
            ({"usage_drop": {"event_types": ["logon"]}}, ["body", "usage_drop", "event_types"]),
            ({"usage_drop": {"event_types": []}}, ["body", "usage_drop", "event_types"]),
            ({"usage_drop": {"window": 7}}, ["body", "usage_drop", "window"]),
            ({"renewal_approaching": {"high_days": 75}}, ["body", "renewal_approaching"]),
            ({"nps_detractor": {"max_score": 11}}, ["body", "nps_detractor", "max_score"]),
            ({"churn_risk": {}}, ["body", "churn_risk"]),
            ({"score_drop": {"enabled": 0}}, ["body", "score_drop", "enabled"]),
            ({"gone_quiet": {"days": "30"}}, ["body", "gone_quiet", "days"]),
            ({"response_slowdown": {"ratio": 1}}, ["body", "response_slowdown", "ratio"]),
            (
                {"response_slowdown": {"unanswered_outreaches": 0}},
                ["body", "response_slowdown", "unanswered_outreaches"],
            ),
            (
                {"spend_drop": {"min_baseline_value": -1}},
                ["body", "spend_drop", "min_baseline_value"],
            ),
            (
                {"spend_drop": {"high_drop_percent": 10}},
                ["body", "spend_drop", "high_drop_percent"],
            ),
            (
                {"engagement_drop": {"event_types": ["email_bounced"]}},
                ["body", "engagement_drop", "event_types"],
            ),
        ],
    )
    async def test_invalid_settings_are_422_naming_the_field(
        self, api: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
    ) -> None:
        response = await api.patch("/v1/signal-settings", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert loc in [e["loc"] for e in response.json()["errors"]]

    async def test_renamed_tiers_do_not_block_other_changes(self, api: httpx.AsyncClient) -> None:
        response = await api.patch("/v1/workspace", json={"tiers": ["gold", "silver"]})
        assert response.status_code == 200, response.text
        response = await api.patch("/v1/signal-settings", json={"usage_drop": {"min_baseline": 30}})
        assert response.status_code == 200, response.text
        response = await api.patch(
            "/v1/signal-settings", json={"gone_quiet": {"tier_days": {"gold": 14, "smb": 60}}}
        )
        assert response.status_code == 422
        response = await api.patch(
            "/v1/signal-settings", json={"gone_quiet": {"tier_days": {"gold": 14}}}
        )
        assert response.status_code == 200, response.text

    async def test_refused_settings_change_nothing(self, api: httpx.AsyncClient) -> None:
        before = (await api.get("/v1/signal-settings")).json()
        response = await api.patch(
            "/v1/signal-settings",
            json={"gone_quiet": {"days": 10}, "renewal_approaching": {"high_days": 99}},
        )
        assert response.status_code == 422
        assert (await api.get("/v1/signal-settings")).json() == before

    async def test_settings_belong_to_their_workspace(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        response = await api.patch("/v1/signal-settings", json={"gone_quiet": {"days": 12}})
        assert response.status_code == 200
        other = await create_workspace(app, "Other CS")
        theirs = await http.get(
            "/v1/signal-settings", headers={"Authorization": f"Bearer {other.admin_key}"}
        )
        assert theirs.json()["gone_quiet"]["days"] == 45
