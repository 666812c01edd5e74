"""response_slowdown, spend_drop and engagement_drop raised from ingested events: the SQL
aggregates (reply timing, order value, clicks and replies) checked by hand, then resolved."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.models import Signal
from app.db.repositories.signal_facts import SignalFactsRepository
from app.domain.signal_settings import DEFAULT_SETTINGS
from app.domain.signals import SignalFacts
from tests.factories import Workspace, create_client
from tests.signals_support import T, days_before, evaluate, event, ingest, stored_signals

HOUR = 1 / 24


@pytest.fixture
async def client(api: httpx.AsyncClient) -> dict[str, Any]:
    return await create_client(api, tier="mid", acquired_at=days_before(10))


async def signal_facts(
    app: FastAPI, workspace: Workspace, client: dict[str, Any]
) -> list[SignalFacts]:
    async with app.state.sessionmaker() as session:
        return await SignalFactsRepository(session).facts(
            workspace.id, [uuid.UUID(client["id"])], DEFAULT_SETTINGS, T
        )


def only(signals: list[Signal], kind: str) -> list[Signal]:
    return [s for s in signals if s.kind == kind]


def sent(client: dict[str, Any], days: float) -> dict[str, Any]:
    return event(client["id"], "email_sent", days)


def replied(client: dict[str, Any], days: float) -> dict[str, Any]:
    return event(client["id"], "email_replied", days)


class TestResponseSlowdown:
    async def test_slower_replies_open_with_both_medians(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        earlier = [
            *(sent(client, 100), replied(client, 100 - 24 * HOUR)),
            *(sent(client, 80), replied(client, 80 - 24 * HOUR)),
            replied(client, 78),  # a second reply to the same send is not timed
            *(sent(client, 60), replied(client, 60 - 30 * HOUR)),
            sent(client, 50),  # answered by no reply: the next send is the latest before it
            *(sent(client, 49), replied(client, 49 - 24 * HOUR)),
        ]
        recent = [
            *(sent(client, 25), replied(client, 25 - 60 * HOUR)),
            *(sent(client, 15), replied(client, 15 - 72 * HOUR)),
            *(sent(client, 8), replied(client, 8 - 40 * HOUR)),
        ]
        too_old = [sent(client, 130), replied(client, 125)]
        noise = [event(client["id"], "email_opened", 3), event(client["id"], "login", 2)]
        await ingest(api, earlier + recent + too_old + noise)
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "response_slowdown")
        assert signal.severity == "medium"
        figures = signal.figures
        assert (figures["baseline_replies"], figures["recent_replies"]) == (4, 3)
        assert figures["baseline_median_hours"] == 24  # 24, 24, 24, 30
        assert figures["recent_median_hours"] == 60  # 40, 60, 72
        assert figures["ratio"] == 2.5
        assert (figures["slower"], figures["silent"]) == (True, False)
        assert figures["unanswered_outreaches"] == 0
        assert figures["last_reply_at"] == days_before(8 - 40 * HOUR)

    async def test_unanswered_outreaches_open_and_a_reply_resolves(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(
            api,
            [
                *(sent(client, 41), replied(client, 40)),
                *(sent(client, 20), sent(client, 10), sent(client, 3)),
            ],
        )
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "response_slowdown")
        assert (signal.status, signal.severity) == ("open", "medium")
        assert signal.figures["unanswered_outreaches"] == 3
        assert (signal.figures["slower"], signal.figures["silent"]) == (False, True)
        assert signal.figures["last_reply_at"] == days_before(40)

        await ingest(api, [replied(client, 1)])
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "response_slowdown")
        assert (signal.status, signal.resolved_at) == ("resolved", T)

    async def test_a_send_and_its_reply_at_the_same_moment_are_a_pair(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        """Ties order sends first, so an instant auto-reply answers the send it shares a
        moment with (replies first would time each against the send before: days)."""
        earlier = [e for d in (100, 80, 60) for e in (sent(client, d), replied(client, d - 1))]
        ties = [e for d in (20, 12, 6, 2) for e in (replied(client, d), sent(client, d))]
        await ingest(api, earlier + ties)
        (found,) = await signal_facts(app, workspace, client)
        assert (found.replies_recent, found.reply_hours_recent) == (4, 0)
        assert found.replies_baseline == 3
        assert found.reply_hours_baseline == pytest.approx(24)
        assert found.unanswered_outreaches == 0
        await evaluate(app, workspace.id, [client["id"]])
        assert only(await stored_signals(app), "response_slowdown") == []


class TestSpendDrop:
    async def test_order_value_below_the_usual_month_opens_then_recovers(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        baseline = [event(client["id"], "order", d, value=150) for d in (35, 50, 65, 80, 95, 110)]
        recent = [event(client["id"], "order", 5, value=100)]
        noise = [
            event(client["id"], "order", 125, value=5000),  # before the baseline
            event(client["id"], "renewal", 60, value=9000),  # not an order
            event(client["id"], "expansion", 4, value=9000),
        ]
        await ingest(api, baseline + recent + noise)
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "spend_drop")
        assert signal.severity == "high"
        assert signal.figures == {
            "window_days": 30,
            "baseline_days": 90,
            "recent_value": 100.0,
            "usual_value": 300.0,  # 900 over 90 days
            "recent_orders": 1,
            "baseline_orders": 6,
            "drop_percent": 66.7,
        }

        await ingest(api, [event(client["id"], "order", 2, value=200)])
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "spend_drop")
        assert signal.status == "resolved"

    async def test_a_client_ordering_monthly_is_left_out(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "order", d, value=500) for d in (31, 61, 91)])
        await evaluate(app, workspace.id, [client["id"]])
        assert only(await stored_signals(app), "spend_drop") == []


class TestEngagementDrop:
    async def test_fewer_clicks_and_replies_open_then_recover(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        baseline = [event(client["id"], "email_clicked", 31 + 5 * i) for i in range(12)]
        baseline += [replied(client, 33 + 20 * i) for i in range(3)]  # 15 in all
        recent = [event(client["id"], "email_clicked", 4), replied(client, 9)]
        noise = [event(client["id"], "email_opened", 2)] * 6 + [sent(client, 3)]
        await ingest(api, baseline + recent + noise)
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "engagement_drop")
        assert signal.severity == "medium"
        assert signal.figures == {
            "event_types": ["email_clicked", "email_replied"],
            "window_days": 30,
            "baseline_days": 90,
            "recent": 2,
            "baseline": 15,
            "usual": 5.0,
            "drop_percent": 60.0,
        }

        await ingest(api, [event(client["id"], "email_clicked", 1)] * 2)
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "engagement_drop")
        assert signal.status == "resolved"

    async def test_settings_choose_the_events(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "email_opened", 31 + i) for i in range(30)])
        await evaluate(app, workspace.id, [client["id"]])
        assert only(await stored_signals(app), "engagement_drop") == []
        response = await api.patch(
            "/v1/signal-settings", json={"engagement_drop": {"event_types": ["email_opened"]}}
        )
        assert response.status_code == 200, response.text
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = only(await stored_signals(app), "engagement_drop")
        assert (signal.severity, signal.figures["baseline"]) == ("high", 30)
