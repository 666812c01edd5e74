"""`knowledge` on every read as of a past moment: `recorded` (the audit view, the default of
health reads) or `occurred` (imported history counts at the moments it describes, the default
of backfill and backtest)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Workspace, create_client
from tests.health_support import create_scorecard, event, ingest, measure

NOW = datetime.now(UTC).replace(microsecond=0)
LOGINS = measure("logins", "count", events=["login"], window_days=30)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def imported_client(
    app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, logins: list[float]
) -> dict[str, Any]:
    """A client created today with logins that occurred `logins` days ago, all recorded now."""
    client = await create_client(api, tier="mid")
    history = [event(client["id"], "login", days_ago(d)) for d in logins]
    await ingest(app, workspace.id, history, NOW)
    return client


async def get(api: httpx.AsyncClient, path: str, **params: str) -> dict[str, Any]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


class TestClientHealth:
    async def test_occurred_counts_imported_history_and_recorded_does_not(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        client = await imported_client(app, api, workspace, [40, 45, 50, 70])
        path = f"/v1/clients/{client['id']}/health"
        as_of = text(days_ago(30))  # the window (60, 30] days ago holds three of the logins
        default = await get(api, path, as_of=as_of)
        recorded = await get(api, path, as_of=as_of, knowledge="recorded")
        occurred = await get(api, path, as_of=as_of, knowledge="occurred")
        assert (default["knowledge"], default["explanation"][0]["raw_value"]) == ("recorded", 0)
        assert recorded == default
        assert (occurred["knowledge"], occurred["explanation"][0]["raw_value"]) == ("occurred", 3)
        assert occurred["score"] == 3.0  # identity scale, one measure
        assert occurred["computed_at"] == as_of

    async def test_now_both_views_are_the_same(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        client = await imported_client(app, api, workspace, [1, 2])
        path = f"/v1/clients/{client['id']}/health"
        recorded = await get(api, path, knowledge="recorded")
        occurred = await get(api, path, knowledge="occurred")
        assert recorded["score"] == occurred["score"] == 2.0

    @pytest.mark.parametrize("path", ["/v1/health", "/v1/clients/{id}/health"])
    async def test_an_unknown_view_is_a_422(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, path: str
    ) -> None:
        client = await create_client(api, tier="mid")
        response = await api.get(
            path.format(id=client["id"]), params={"as_of": text(days_ago(1)), "knowledge": "later"}
        )
        assert response.status_code == 422, response.text


class TestPortfolio:
    async def test_as_of_pages_score_in_the_chosen_view(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        first = await imported_client(app, api, workspace, [35, 36])
        second = await imported_client(app, api, workspace, [31, 32, 33, 34, 70])
        params = {"as_of": text(days_ago(30))}
        recorded = await get(api, "/v1/health", **params)
        occurred = await get(api, "/v1/health", **params, knowledge="occurred")
        assert [(i["client_id"], i["score"]) for i in recorded["data"]] == [
            (first["id"], 0.0),
            (second["id"], 0.0),
        ]
        assert [(i["client_id"], i["score"]) for i in occurred["data"]] == [
            (first["id"], 2.0),
            (second["id"], 4.0),
        ]


class TestBacktestOnImportedHistory:
    async def test_a_churn_dated_60_days_ago_is_labelled_within_the_horizon(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """Clients created today, two years of history loaded after: the churn date and the
        history, not the day of the import, decide who was a client and who left."""
        card = await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        churner = await imported_client(app, api, workspace, [100, 700])
        await imported_client(app, api, workspace, [100 - d for d in range(10)])  # retained
        churn = {"reason": "budget cut", "occurred_at": text(days_ago(60))}
        response = await api.post(f"/v1/clients/{churner['id']}/churn", json=churn)
        assert response.status_code == 200, response.text
        assert response.json()["acquired_at"] == text(days_ago(700))
        path = f"/v1/scorecards/{card['id']}/backtest"
        params = {"at": text(days_ago(90)), "horizon_days": "90"}
        got = await get(api, path, **params)
        assert got["knowledge"] == "occurred"
        # scores at 90 days ago: the churner had 1 login in its 30-day window, the other 10
        assert (got["clients"], got["churned"], got["auc"]) == (2, 1, 1.0)
        assert got["bands"] == [
            {"band": "healthy", "clients": 0, "churned": 0, "churn_rate": None},
            {"band": "neutral", "clients": 0, "churned": 0, "churn_rate": None},
            {"band": "at_risk", "clients": 2, "churned": 1, "churn_rate": 0.5},
        ]
        shorter = await get(api, path, at=text(days_ago(90)), horizon_days="29")
        assert (shorter["clients"], shorter["churned"]) == (2, 0)  # churned on day 30
        recorded = await get(api, path, **params, knowledge="recorded")
        # Tenure knew neither client 90 days ago
        assert (recorded["knowledge"], recorded["clients"], recorded["auc"]) == (
            "recorded",
            0,
            None,
        )


class TestBackfill:
    async def test_occurred_writes_the_imported_past_and_recorded_knew_nothing(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[LOGINS], min_delta=1)
        client = await imported_client(app, api, workspace, [45, 44, 43])
        body = {"from": text(days_ago(50)), "to": text(days_ago(40)), "step_days": 5}
        path = f"/v1/scorecards/{card['id']}/backfill"
        recorded = await api.post(path, json={**body, "knowledge": "recorded"})
        assert recorded.status_code == 200, recorded.text
        assert recorded.json() == {
            "steps": 3,
            "clients": 1,
            "evaluated": 0,
            "written": 0,
            "knowledge": "recorded",
        }
        occurred = await api.post(path, json=body)
        assert occurred.status_code == 200, occurred.text
        assert occurred.json() == {
            "steps": 3,
            "clients": 1,
            "evaluated": 2,  # acquired 45 days ago (its first login): 50 days ago it was not
            "written": 2,  # 45 days ago one login in the window, 40 days ago three
            "knowledge": "occurred",
        }
        history = await get(api, f"/v1/clients/{client['id']}/health/history")
        assert [(h["computed_at"], h["score"]) for h in history["data"]] == [
            (text(days_ago(40)), 3.0),
            (text(days_ago(45)), 1.0),
        ]
