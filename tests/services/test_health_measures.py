"""Every measure kind's aggregate, computed in SQL, against a fixture worked out by hand."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.repositories.health_aggregates import AsOf, Selection, measure_aggregates
from app.domain.scorecards import BreakpointScale, Measure, MeasureKind
from tests.factories import Workspace, create_client, create_contract
from tests.health_support import event, ingest

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
IDENTITY = BreakpointScale(((0, 0), (100, 100)))


def days(n: float) -> datetime:
    return NOW - timedelta(days=n)


def m(key: str, kind: MeasureKind, **fields: Any) -> Measure:
    return Measure(key, key, kind, IDENTITY, 1, **fields)


MEASURES = (
    m("usage", MeasureKind.COUNT, events=("login", "feature_used"), window_days=30),
    m("logins_30", MeasureKind.COUNT, events=("login",), window_days=30),
    m("revenue", MeasureKind.SUM, events=("order",), window_days=30),
    m("basket", MeasureKind.AVERAGE, events=("order",), window_days=30),
    m("nps", MeasureKind.LATEST_VALUE, events=("nps",), max_age_days=180),
    m("fresh_nps", MeasureKind.LATEST_VALUE, events=("nps",), max_age_days=30),
    m("touch", MeasureKind.DAYS_SINCE, events=("touchpoint",)),
    m("tenure", MeasureKind.DAYS_SINCE, attribute="acquired_at"),
    m("opens_trend", MeasureKind.TREND, events=("email_opened",), window_days=7),
    m(
        "revenue_trend",
        MeasureKind.TREND,
        events=("order",),
        window_days=7,
        trend_of=MeasureKind.SUM,
    ),
    m("tickets", MeasureKind.OPEN_TICKETS),
    m("mrr", MeasureKind.ATTRIBUTE, attribute="mrr"),
    m("tier", MeasureKind.ATTRIBUTE, attribute="tier"),
    m("seats", MeasureKind.ATTRIBUTE, attribute="seats"),
    m("plan", MeasureKind.ATTRIBUTE, attribute="plan"),
    m("trial", MeasureKind.ATTRIBUTE, attribute="trial"),
    m("absent", MeasureKind.ATTRIBUTE, attribute="nothing"),
)


@pytest.fixture
async def clients(app: FastAPI, api: httpx.AsyncClient, workspace: Workspace) -> tuple[str, str]:
    busy = await create_client(
        api,
        tier="enterprise",
        acquired_at=days(100).isoformat(),
        attributes={"seats": 12, "plan": "scale", "trial": True},
    )
    quiet = await create_client(api, tier="smb", acquired_at=days(10).isoformat())
    a = busy["id"]
    await create_contract(api, a, starts_on="2026-01-01", ends_on=None, amount="1000.00")
    await create_contract(api, a, starts_on="2026-01-01", ends_on="2026-09-30", amount="500.00")
    await create_contract(api, a, starts_on="2026-01-01", amount="250.00", status="cancelled")
    events = [
        *(event(a, "login", days(d)) for d in (1, 2, 10, 20, 40)),
        event(a, "feature_used", days(3), feature="reports"),
        event(a, "order", days(5), 100),
        event(a, "order", days(6), 300),
        event(a, "order", days(9), 50),
        event(a, "order", days(45), 50),
        event(a, "nps", days(100), 6),
        event(a, "nps", days(50), 9),
        event(a, "touchpoint", days(7), channel="call"),
        event(a, "touchpoint", days(60), channel="call"),
        event(a, "ticket_opened", days(9), ticket_id="t1"),
        event(a, "ticket_resolved", days(8), ticket_id="t1"),
        event(a, "ticket_opened", days(4), ticket_id="t2"),
        event(a, "ticket_resolved", days(31), ticket_id="t3"),
        event(a, "ticket_opened", days(30), ticket_id="t3"),
        *(event(a, "email_opened", days(8) - timedelta(hours=h)) for h in range(12)),
        *(event(a, "email_opened", days(1) - timedelta(hours=h)) for h in range(6)),
    ]
    await ingest(app, workspace.id, events, received_at=NOW)
    # Occurred before NOW but recorded after it; and one that occurs after NOW.
    await ingest(
        app, workspace.id, [event(a, "login", NOW - timedelta(hours=1))], NOW + timedelta(hours=1)
    )
    await ingest(
        app, workspace.id, [event(a, "login", NOW + timedelta(hours=1))], NOW + timedelta(hours=2)
    )
    return a, quiet["id"]


async def aggregates(
    app: FastAPI,
    workspace: Workspace,
    client_ids: tuple[str, str],
    as_of: AsOf,
    *,
    span: bool = False,
) -> dict[uuid.UUID, dict[str, object]]:
    ids = sorted(uuid.UUID(c) for c in client_ids)
    selection = Selection.span(ids) if span else Selection.of(ids)
    async with app.state.sessionmaker() as session:
        return await measure_aggregates(session, workspace.id, MEASURES, selection, as_of)


class TestAggregatesOfAnActiveClient:
    async def test_every_kind_matches_the_hand_computed_value(
        self, app: FastAPI, workspace: Workspace, clients: tuple[str, str]
    ) -> None:
        got = (await aggregates(app, workspace, clients, AsOf(NOW, known_by=NOW)))[
            uuid.UUID(clients[0])
        ]
        assert got == {
            "usage": 5.0,  # logins 1, 2, 10, 20 days ago + one feature use; 40 days is out
            "logins_30": 4.0,
            "revenue": 450.0,  # 100 + 300 + 50; the order 45 days ago is out
            "basket": 150.0,
            "nps": 9.0,  # the newest answer within 180 days
            "fresh_nps": None,  # none within 30 days
            "touch": days(7),
            "tenure": days(100),
            "opens_trend": (6.0, 12.0),  # last 7 days against the 7 before
            "revenue_trend": (400.0, 50.0),
            "tickets": 2.0,  # t2 open; t3 resolved before it was (re)opened; t1 resolved
            "mrr": Decimal("1000.0000"),  # the ended and the cancelled contracts do not count
            "tier": "enterprise",
            "seats": 12.0,
            "plan": "scale",
            "trial": "true",
            "absent": None,
        }

    async def test_events_recorded_later_count_only_without_known_by(
        self, app: FastAPI, workspace: Workspace, clients: tuple[str, str]
    ) -> None:
        client = uuid.UUID(clients[0])
        known = (await aggregates(app, workspace, clients, AsOf(NOW, known_by=NOW)))[client]
        everything = (await aggregates(app, workspace, clients, AsOf(NOW)))[client]
        assert known["logins_30"] == 4.0
        assert everything["logins_30"] == 5.0  # the late one; the future one never

    async def test_an_earlier_moment_sees_only_what_had_happened(
        self, app: FastAPI, workspace: Workspace, clients: tuple[str, str]
    ) -> None:
        got = (await aggregates(app, workspace, clients, AsOf(days(8), known_by=NOW)))[
            uuid.UUID(clients[0])
        ]
        assert got["logins_30"] == 2.0  # 10 and 20 days before NOW
        assert got["touch"] == days(60)
        assert got["tickets"] == 1.0  # t3; t1 was resolved at that very moment, t2 not yet open
        assert got["tenure"] == days(100)


class TestSelection:
    async def test_an_id_range_reads_what_the_id_list_reads(
        self, app: FastAPI, workspace: Workspace, clients: tuple[str, str]
    ) -> None:
        as_of = AsOf(NOW, known_by=NOW)
        listed = await aggregates(app, workspace, clients, as_of)
        spanned = await aggregates(app, workspace, clients, as_of, span=True)
        assert spanned == listed


class TestAggregatesOfAClientWithoutEvents:
    async def test_counts_are_zero_and_the_rest_is_missing(
        self, app: FastAPI, workspace: Workspace, clients: tuple[str, str]
    ) -> None:
        got = (await aggregates(app, workspace, clients, AsOf(NOW, known_by=NOW)))[
            uuid.UUID(clients[1])
        ]
        assert got == {
            "usage": 0.0,
            "logins_30": 0.0,
            "revenue": 0.0,
            "basket": None,
            "nps": None,
            "fresh_nps": None,
            "touch": None,
            "tenure": days(10),
            "opens_trend": (0.0, 0.0),
            "revenue_trend": (0.0, 0.0),
            "tickets": None,
            "mrr": None,
            "tier": "smb",
            "seats": None,
            "plan": None,
            "trial": None,
            "absent": None,
        }
