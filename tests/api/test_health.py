"""Client health over HTTP: explained scores now and as of a moment, history, portfolio,
overrides, what-if, backfill and backtest."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.api.deps import get_now
from app.db.models import HealthSnapshot, OutboxMessage
from app.services import scorecard_analysis
from tests.factories import Workspace, api_client, create_client, create_key, create_owner
from tests.health_support import create_scorecard, evaluate, event, ingest, measure

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
SEATS = measure("seats", "attribute", attribute="seats")
LOGINS = measure("logins", "count", events=["login"], window_days=30, weight=3)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[list[datetime]]:
    """Pins the API's `now`; append to move it."""
    moments = [datetime.now(UTC)]
    app.dependency_overrides[get_now] = lambda: moments[-1]
    yield moments
    app.dependency_overrides.pop(get_now, None)


async def scored_client(api: httpx.AsyncClient, seats: int, **fields: Any) -> dict[str, Any]:
    return await create_client(api, tier="mid", attributes={"seats": seats}, **fields)


async def health(api: httpx.AsyncClient, client_id: str, **params: str) -> dict[str, Any]:
    response = await api.get(f"/v1/clients/{client_id}/health", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


class TestClientHealth:
    async def test_explains_every_measure(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS, LOGINS])
        client = await scored_client(api, seats=40)
        now = datetime.now(UTC)
        await ingest(
            app,
            workspace.id,
            [event(client["id"], "login", now - timedelta(days=d)) for d in range(1, 11)],
            now,
        )
        got = await health(api, client["id"])
        # seats 40 -> 40 points x 1/4; 10 logins -> 10 points x 3/4: 10 + 7.5
        assert got["score"] == 17.5
        assert got["band"] == "at_risk"
        assert got["computed"] == {"score": 17.5, "band": "at_risk"}
        assert got["override"] is None
        assert got["scorecard"] == {"id": card["id"], "version": 1}
        assert got["groups"] == {"engagement": 17.5}
        by_key = {m["key"]: m for m in got["explanation"]}
        assert by_key["logins"]["raw_value"] == 10
        assert by_key["logins"]["weight"] == 0.75
        assert by_key["logins"]["contribution"] == 7.5
        assert by_key["logins"]["reason"] == "10 logins in the last 30 days: -67.5"
        assert by_key["seats"]["delta"] is None

    async def test_a_client_of_another_workspace_is_not_found(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/health")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        "as_of",
        ["yesterday", "2026-13-01T00:00:00Z", "2999-01-01T00:00:00Z", "2026-10-01T00:00:00"],
    )
    async def test_a_bad_as_of_is_a_422(self, api: httpx.AsyncClient, as_of: str) -> None:
        client = await scored_client(api, seats=1)
        response = await api.get(f"/v1/clients/{client['id']}/health", params={"as_of": as_of})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


class TestAsOf:
    async def test_reads_what_was_stored_then(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[SEATS, LOGINS])
        client = await scored_client(api, seats=60)
        cid = client["id"]
        stored = []
        for step in range(3):
            moment = at(step * 5)
            logins = [
                event(cid, "login", moment - timedelta(hours=h)) for h in range(1, 6 + step * 10)
            ]
            await ingest(app, workspace.id, logins, moment)
            assert (await evaluate(app, workspace.id, [cid], moment)).stored == 1
            stored.append(moment)
        history = (await api.get(f"/v1/clients/{cid}/health/history")).json()["data"]
        assert [h["computed_at"] for h in history] == [
            m.isoformat().replace("+00:00", "Z") for m in reversed(stored)
        ]
        for snapshot in history:
            got = await health(api, cid, as_of=snapshot["computed_at"])
            assert (got["score"], got["band"], got["groups"]) == (
                snapshot["score"],
                snapshot["band"],
                snapshot["groups"],
            )
            assert got["explanation"] == snapshot["explanation"]
        assert history[0]["explanation"][1]["delta"] is not None  # against the snapshot before

    async def test_uses_the_scorecard_version_in_force_then(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, clock: list[datetime]
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        cid = (await scored_client(api, seats=60))["id"]
        before_edit = clock[-1]
        clock.append(before_edit + timedelta(hours=1))
        edited = {"bands": [{"name": "healthy", "minimum": 50}, {"name": "at_risk", "minimum": 0}]}
        assert (await api.patch(f"/v1/scorecards/{card['id']}", json=edited)).status_code == 200
        then = await health(api, cid, as_of=before_edit.isoformat().replace("+00:00", "Z"))
        now = await health(api, cid)
        assert (then["band"], then["scorecard"]["version"]) == ("neutral", 1)
        assert (now["band"], now["scorecard"]["version"]) == ("healthy", 2)

    async def test_ignores_events_recorded_after_the_moment(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        cid = (await scored_client(api, seats=1))["id"]
        await ingest(app, workspace.id, [event(cid, "login", at(-1))], at(0))
        await ingest(app, workspace.id, [event(cid, "login", at(-1) + timedelta(hours=1))], at(2))
        then = await health(api, cid, as_of=at(1).isoformat())
        now = await health(api, cid)
        assert then["explanation"][0]["raw_value"] == 1
        assert now["explanation"][0]["raw_value"] == 0  # both are more than 30 days old now


class TestEvaluation:
    async def test_stores_only_moves_of_min_delta_and_announces_them(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS], min_delta=5)
        cid = (await scored_client(api, seats=1))["id"]
        assert (await evaluate(app, workspace.id, [cid], at(0))).stored == 1  # the first
        await ingest(app, workspace.id, [event(cid, "login", at(1))], at(1))
        assert (await evaluate(app, workspace.id, [cid], at(1))).stored == 0  # +1 point
        await ingest(
            app,
            workspace.id,
            [event(cid, "login", at(2) - timedelta(hours=h)) for h in range(5)],
            at(2),
        )
        assert (await evaluate(app, workspace.id, [cid], at(2))).stored == 1  # +6 points
        assert (await evaluate(app, workspace.id, [cid], at(2))).stored == 0  # nothing moved
        async with app.state.sessionmaker() as session:
            rows = (
                await session.scalars(
                    sa.select(OutboxMessage).where(OutboxMessage.kind == "health.changed")
                )
            ).all()
        changes = [c for r in rows for c in r.payload["changes"]]
        assert [(c["previous_score"], c["score"]) for c in changes] == [(None, 0.0), (0.0, 6.0)]


class TestHistory:
    async def test_pages_newest_first_within_a_range(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS], min_delta=0)
        cid = (await scored_client(api, seats=1))["id"]
        for day in range(5):
            await ingest(app, workspace.id, [event(cid, "login", at(day))], at(day))
            await evaluate(app, workspace.id, [cid], at(day))
        url = f"/v1/clients/{cid}/health/history"
        params = {
            "computed_from": at(1).isoformat(),
            "computed_to": at(3).isoformat(),
            "limit": "2",
        }
        first = (await api.get(url, params=params)).json()
        second = (await api.get(url, params={**params, "cursor": first["next_cursor"]})).json()
        scores = [h["score"] for h in first["data"] + second["data"]]
        assert scores == [4.0, 3.0, 2.0]
        assert second["has_more"] is False


class TestPortfolio:
    async def test_filters_sorts_and_pages(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        owner = await create_owner(api)
        ids = {}
        for seats in (90, 50, 10, 75):
            client = await scored_client(
                api, seats=seats, owner_id=owner["id"] if seats > 60 else None
            )
            ids[seats] = client["id"]
        unscored = await create_client(api, name="Never scored")
        await evaluate(app, workspace.id, list(ids.values()), datetime.now(UTC))

        async def walk(**params: str) -> list[str]:
            seen, cursor = [], None
            while True:
                query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
                page = (await api.get("/v1/health", params=query)).json()
                seen += [i["client_id"] for i in page["data"]]
                if not page["has_more"]:
                    return seen
                cursor = page["next_cursor"]

        assert await walk(sort="-score") == [ids[90], ids[75], ids[50], ids[10], unscored["id"]]
        assert await walk(sort="score") == [unscored["id"], ids[10], ids[50], ids[75], ids[90]]
        assert await walk(band="healthy") == [ids[75], ids[90]]
        assert await walk(owner_id=owner["id"], sort="-score") == [ids[90], ids[75]]
        assert await walk(tier="smb") == []

    async def test_sorts_the_biggest_decliners_first(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS], min_delta=0)
        now = datetime.now(UTC)
        start = now - timedelta(days=40)
        a = (await scored_client(api, seats=1))["id"]
        b = (await scored_client(api, seats=1))["id"]
        logins = [event(a, "login", start - timedelta(hours=h)) for h in range(20)]
        logins += [event(b, "login", start - timedelta(hours=h)) for h in range(5)]
        await ingest(app, workspace.id, logins, start)
        await evaluate(app, workspace.id, [a, b], start)  # a 20, b 5
        await evaluate(app, workspace.id, [a, b], now)  # both 0: a fell 20, b 5
        page = (await api.get("/v1/health", params={"sort": "change", "period_days": "35"})).json()
        assert [(i["client_id"], i["change"]) for i in page["data"]] == [(a, -20.0), (b, -5.0)]

    async def test_as_of_scores_the_page_then(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[LOGINS])
        cid = (await scored_client(api, seats=1))["id"]
        await ingest(app, workspace.id, [event(cid, "login", at(-1))], at(0))
        page = (await api.get("/v1/health", params={"as_of": at(0).isoformat()})).json()
        assert [(i["client_id"], i["score"]) for i in page["data"]] == [(cid, 1.0)]
        response = await api.get(
            "/v1/health", params={"as_of": at(0).isoformat(), "band": "healthy"}
        )
        assert response.status_code == 422


class TestOverride:
    async def test_shows_instead_of_the_computed_score_until_it_expires(
        self, api: httpx.AsyncClient, clock: list[datetime]
    ) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        cid = (await scored_client(api, seats=90))["id"]
        expires = clock[-1] + timedelta(days=7)
        body = {
            "band": "at_risk",
            "reason": "champion left",
            "author": "jane",
            "expires_at": expires.isoformat(),
        }
        response = await api.post(f"/v1/clients/{cid}/health/override", json=body)
        assert response.status_code == 201, response.text
        got = await health(api, cid)
        assert (got["band"], got["score"]) == ("at_risk", None)
        assert got["computed"] == {"score": 90.0, "band": "healthy"}
        assert got["override"]["reason"] == "champion left"
        clock.append(expires + timedelta(seconds=1))
        got = await health(api, cid)
        assert (got["band"], got["score"], got["override"]) == ("healthy", 90.0, None)
        kept = (await api.get(f"/v1/clients/{cid}/health/overrides")).json()["data"]
        assert [o["band"] for o in kept] == ["at_risk"]

    async def test_a_score_takes_its_band_from_the_scorecard(self, api: httpx.AsyncClient) -> None:
        await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        cid = (await scored_client(api, seats=90))["id"]
        body = {"score": 55, "reason": "r", "author": "a", "expires_at": "2999-01-01T00:00:00Z"}
        override = (await api.post(f"/v1/clients/{cid}/health/override", json=body)).json()
        assert override["band"] == "neutral"
        got = await health(api, cid)
        assert (got["score"], got["band"]) == (55.0, "neutral")

    async def test_without_an_author_records_the_calling_api_key(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        cid = (await scored_client(api, seats=90))["id"]
        key = await create_key(app, workspace, ["write"])
        body = {"band": "at_risk", "reason": "r", "expires_at": "2999-01-01T00:00:00Z"}
        async with api_client(app, key) as writer:
            response = await writer.post(f"/v1/clients/{cid}/health/override", json=body)
        assert response.status_code == 201, response.text
        made = response.json()
        keys = (await api.get("/v1/api-keys")).json()
        listed = keys["data"] if isinstance(keys, dict) else keys
        (writer_key,) = [k for k in listed if k["id"] == made["api_key_id"]]
        assert made["author"] == writer_key["name"] == "test key"
        named = {**body, "author": "jane"}
        again = (await api.post(f"/v1/clients/{cid}/health/override", json=named)).json()
        assert (again["author"], again["api_key_id"]) == ("jane", str(workspace.admin_key_id))

    @pytest.mark.parametrize(
        ("fields", "loc"),
        [
            ({"band": "golden"}, ["body", "band"]),
            ({}, ["body"]),
            ({"band": "at_risk", "score": 10}, ["body"]),
            ({"band": "at_risk", "expires_at": "2020-01-01T00:00:00Z"}, ["body", "expires_at"]),
            ({"score": 101}, ["body", "score"]),
        ],
    )
    async def test_bad_input_is_a_422(
        self, api: httpx.AsyncClient, fields: dict[str, Any], loc: list[str]
    ) -> None:
        cid = (await scored_client(api, seats=90))["id"]
        body = {"reason": "r", "author": "a", "expires_at": "2999-01-01T00:00:00Z", **fields}
        response = await api.post(f"/v1/clients/{cid}/health/override", json=body)
        assert response.status_code == 422, response.text
        assert loc in [e["loc"] for e in response.json()["errors"]]


class TestPreview:
    async def test_reports_band_changes_and_stores_nothing(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        ids = {s: (await scored_client(api, seats=s))["id"] for s in (90, 75, 50, 10)}
        draft = {
            "bands": [
                {"name": "healthy", "minimum": 80},
                {"name": "neutral", "minimum": 40},
                {"name": "at_risk", "minimum": 0},
            ]
        }
        response = await api.post(f"/v1/scorecards/{card['id']}/preview", json=draft)
        assert response.status_code == 200, response.text
        got = response.json()
        assert got["clients"] == 4
        assert got["current"] == {"healthy": 2, "neutral": 1, "at_risk": 1}
        assert got["draft"] == {"healthy": 1, "neutral": 2, "at_risk": 1}
        assert [(c["client_id"], c["current_band"], c["draft_band"]) for c in got["changed"]] == [
            (ids[75], "healthy", "neutral")
        ]
        async with app.state.sessionmaker() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(HealthSnapshot)) == 0
        assert (await api.get(f"/v1/scorecards/{card['id']}")).json()["version"] == 1

    async def test_an_invalid_draft_is_a_422(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        response = await api.post(f"/v1/scorecards/{card['id']}/preview", json={"min_delta": -2})
        assert response.status_code == 422, response.text


class TestBackfill:
    async def test_writes_what_live_scoring_stored(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS, LOGINS], min_delta=2)
        acquired = at(-30).isoformat()
        clients = [
            (await scored_client(api, seats=s, acquired_at=acquired))["id"] for s in (20, 80)
        ]
        for day in range(6):
            logins = [
                event(c, "login", at(day) - timedelta(hours=h))
                for c in clients
                for h in range(1 + day * (3 if c == clients[0] else 1))
            ]
            await ingest(app, workspace.id, logins, at(day) - timedelta(minutes=1))
        for day in range(6):
            await evaluate(app, workspace.id, clients, at(day))

        def key(h: dict[str, Any]) -> tuple[Any, ...]:
            return (h["computed_at"], h["score"], h["band"], h["scorecard"]["version"])

        live = {
            c: [key(h) for h in (await api.get(f"/v1/clients/{c}/health/history")).json()["data"]]
            for c in clients
        }
        async with app.state.sessionmaker() as session:
            await session.execute(sa.delete(HealthSnapshot))
            await session.commit()
        body = {"from": at(0).isoformat(), "to": at(5).isoformat(), "step_days": 1}
        response = await api.post(f"/v1/scorecards/{card['id']}/backfill", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "steps": 6,
            "clients": 2,
            "evaluated": 12,
            "written": sum(map(len, live.values())),
            "knowledge": "occurred",
        }
        for c in clients:
            history = (await api.get(f"/v1/clients/{c}/health/history")).json()["data"]
            assert [key(h) for h in history] == live[c]
            assert {h["source"] for h in history} == {"backfill"}
        again = await api.post(f"/v1/scorecards/{card['id']}/backfill", json=body)
        assert again.json() == response.json()  # replaces its own rows

    async def test_refuses_more_work_than_the_cap(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        body = {"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "step_days": 1}
        response = await api.post(f"/v1/scorecards/{card['id']}/backfill", json=body)
        assert response.status_code == 422, response.text
        assert "exceed" in response.json()["detail"]

    async def test_refuses_more_evaluations_than_the_cap(
        self, app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(scorecard_analysis, "MAX_BACKFILL_EVALUATIONS", 5)
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        for _ in range(2):
            await scored_client(api, seats=1)
        body = {"from": at(0).isoformat(), "to": at(2).isoformat(), "step_days": 1}
        response = await api.post(f"/v1/scorecards/{card['id']}/backfill", json=body)
        assert response.status_code == 422, response.text
        assert "3 moments x 2 clients exceeds 5" in response.json()["detail"]

    @pytest.mark.parametrize(
        "body",
        [
            {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            {"from": "2026-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"},
            {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "step_days": 0},
        ],
    )
    async def test_a_bad_range_is_a_422(self, api: httpx.AsyncClient, body: dict[str, Any]) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        response = await api.post(f"/v1/scorecards/{card['id']}/backfill", json=body)
        assert response.status_code == 422, response.text


class TestBacktest:
    async def test_reports_churn_per_band_and_the_auc(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        now = datetime.now(UTC)
        acquired = (now - timedelta(days=100)).isoformat()
        ids = {
            s: (await scored_client(api, seats=s, acquired_at=acquired))["id"]
            for s in (10, 20, 80, 90)
        }
        late = await scored_client(api, seats=5, acquired_at=(now - timedelta(days=2)).isoformat())
        for seats in (10, 80):
            churn = {"reason": "budget", "occurred_at": (now - timedelta(days=5)).isoformat()}
            assert (
                await api.post(f"/v1/clients/{ids[seats]}/churn", json=churn)
            ).status_code == 200
        params = {"at": (now - timedelta(days=10)).isoformat(), "horizon_days": "30"}
        response = await api.get(f"/v1/scorecards/{card['id']}/backtest", params=params)
        assert response.status_code == 200, response.text
        got = response.json()
        assert (got["clients"], got["churned"]) == (4, 2)  # `late` was not a client yet
        assert late["id"] not in response.text
        # retained 20, 90 against churned 10, 80: 20>10, 90>10, 90>80 win; 20<80 loses
        assert got["auc"] == 0.75
        assert got["bands"] == [
            {"band": "healthy", "clients": 2, "churned": 1, "churn_rate": 0.5},
            {"band": "neutral", "clients": 0, "churned": 0, "churn_rate": None},
            {"band": "at_risk", "clients": 2, "churned": 1, "churn_rate": 0.5},
        ]

    async def test_a_future_date_is_a_422(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"], measures=[SEATS])
        response = await api.get(
            f"/v1/scorecards/{card['id']}/backtest", params={"at": "2999-01-01T00:00:00Z"}
        )
        assert response.status_code == 422, response.text
