"""evaluate_signals on a real database: facts from SQL, open, dedupe, refresh, resolve, outbox."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from app.db.models import Signal
from app.db.repositories.signals import NewSignal, SignalRepository
from app.domain.api_keys import Principal, Scope
from app.services.signals import acknowledge_signal, evaluate_signals
from tests.databases import backend
from tests.factories import (
    Workspace,
    create_client,
    create_contract,
    create_owner,
    create_workspace,
)
from tests.signals_support import (
    FALL,
    STEADY,
    T,
    days_before,
    evaluate,
    event,
    ingest,
    open_score_drop,
    outbox,
    stored_signals,
)


@pytest.fixture
async def client(api: httpx.AsyncClient) -> dict[str, Any]:
    return await create_client(api, tier="mid", acquired_at=days_before(10))


def kinds(signals: list[Signal]) -> dict[str, str]:
    return {s.kind: s.status for s in signals}


async def acknowledge(app: FastAPI, workspace: Workspace, signal_id: str, owner_id: str) -> None:
    principal = Principal(workspace.id, workspace.admin_key_id, (Scope.ADMIN,))
    async with app.state.sessionmaker.begin() as session:
        await acknowledge_signal(
            session, principal, uuid.UUID(signal_id), uuid.UUID(owner_id), "on it", T
        )


class TestOpening:
    async def test_a_failed_payment_opens_a_signal_with_its_figures(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2, value=99)])
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = await stored_signals(app)
        assert (signal.kind, signal.status, signal.severity) == ("payment_failed", "open", "medium")
        assert signal.figures["failures"] == 1
        assert signal.figures["last_failed_at"] == days_before(2)
        assert signal.opened_at == T
        assert signal.resolved_at is None

    async def test_writes_one_signal_opened_outbox_row(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        (row,) = await outbox(app, "signal.opened")
        (signal,) = await stored_signals(app)
        assert row.workspace_id == workspace.id
        assert row.payload == {
            "signals": [
                {
                    "signal_id": str(signal.id),
                    "client_id": client["id"],
                    "kind": "payment_failed",
                    "severity": "medium",
                    "figures": signal.figures,
                    "opened_at": T.isoformat().replace("+00:00", "Z"),
                }
            ]
        }

    async def test_signals_opened_together_share_an_outbox_row(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        clients = [await create_client(api) for _ in range(3)]
        await ingest(api, [event(c["id"], "payment_failed", 1) for c in clients])
        await evaluate(app, workspace.id, [c["id"] for c in clients])
        (row,) = await outbox(app, "signal.opened")
        assert sorted(s["client_id"] for s in row.payload["signals"]) == sorted(
            c["id"] for c in clients
        )

    async def test_many_clients_are_evaluated_together(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        clients = [await create_client(api) for _ in range(3)]
        await ingest(api, [event(c["id"], "payment_failed", 1) for c in clients[:2]])
        await evaluate(app, workspace.id, [c["id"] for c in clients])
        assert sorted(str(s.client_id) for s in await stored_signals(app)) == sorted(
            c["id"] for c in clients[:2]
        )


class TestDedupe:
    async def test_a_condition_that_keeps_holding_opens_one_signal(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        await evaluate(app, workspace.id, [client["id"]], now=T + timedelta(hours=1))
        assert len(await stored_signals(app)) == 1
        assert len(await outbox(app, "signal.opened")) == 1

    async def test_new_figures_refresh_the_open_signal(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        await ingest(api, [event(client["id"], "payment_failed", 1)])
        later = T + timedelta(hours=1)
        await evaluate(app, workspace.id, [client["id"]], now=later)
        (signal,) = await stored_signals(app)
        assert (signal.severity, signal.figures["failures"]) == ("high", 2)
        assert (signal.opened_at, signal.evaluated_at) == (T, later)

    async def test_the_database_refuses_a_second_unresolved_signal(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await open_score_drop(app, workspace.id, client["id"])
        async with app.state.sessionmaker() as session:
            session.add(
                Signal(
                    workspace_id=workspace.id,
                    client_id=uuid.UUID(client["id"]),
                    kind="score_drop",
                    severity="medium",
                    status="open",
                    figures={},
                    opened_at=T,
                    evaluated_at=T,
                )
            )
            with pytest.raises(IntegrityError):
                await session.flush()

    async def test_the_database_accepts_a_new_signal_after_a_resolved_one(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await open_score_drop(app, workspace.id, client["id"])
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: STEADY})
        later = T + timedelta(days=1)
        await evaluate(app, workspace.id, [client["id"]], now=later, trends={client["id"]: FALL})
        assert [s.status for s in await stored_signals(app)] == ["resolved", "open"]


class TestResolving:
    async def test_a_cleared_condition_resolves_with_an_outbox_row(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        later = T + timedelta(days=13)  # the failure is now 15 days old: past the lookback
        await evaluate(app, workspace.id, [client["id"]], now=later)
        (signal,) = await stored_signals(app)
        assert (signal.status, signal.resolved_at) == ("resolved", later)
        (row,) = await outbox(app, "signal.resolved")
        (resolved,) = row.payload["signals"]
        assert resolved["signal_id"] == str(signal.id)
        assert resolved["resolved_at"] == later.isoformat().replace("+00:00", "Z")
        assert resolved["acknowledged"] is False

    async def test_a_churned_client_has_its_signals_resolved(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        response = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        assert response.status_code == 200, response.text
        await evaluate(app, workspace.id, [client["id"]])
        assert kinds(await stored_signals(app)) == {"payment_failed": "resolved"}

    async def test_a_disabled_kind_resolves(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        response = await api.patch(
            "/v1/signal-settings", json={"payment_failed": {"enabled": False}}
        )
        assert response.status_code == 200, response.text
        await evaluate(app, workspace.id, [client["id"]])
        assert kinds(await stored_signals(app)) == {"payment_failed": "resolved"}

    async def test_a_late_evaluation_does_not_undo_a_newer_one(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        await evaluate(app, workspace.id, [client["id"]], now=T - timedelta(days=3))
        (signal,) = await stored_signals(app)
        assert (signal.status, signal.evaluated_at) == ("open", T)


class TestScoreDrop:
    async def test_without_a_trend_the_open_signal_is_left_alone(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await open_score_drop(app, workspace.id, client["id"])
        await evaluate(app, workspace.id, [client["id"]], now=T + timedelta(days=1))
        assert kinds(await stored_signals(app)) == {"score_drop": "open"}

    async def test_a_recovered_score_resolves_it(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await open_score_drop(app, workspace.id, client["id"])
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: STEADY})
        assert kinds(await stored_signals(app)) == {"score_drop": "resolved"}

    async def test_staying_in_the_worse_band_holds_it(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await open_score_drop(app, workspace.id, client["id"])
        still = FALL.__class__(score=52.0, band="neutral", drop_in_window=0, band_worsened=False)
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: still})
        assert kinds(await stored_signals(app)) == {"score_drop": "open"}


class TestAcknowledged:
    async def test_stays_acknowledged_while_the_condition_holds(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        owner = await create_owner(api)
        signal_id = await open_score_drop(app, workspace.id, client["id"])
        await acknowledge(app, workspace, signal_id, owner["id"])
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: FALL})
        (signal,) = await stored_signals(app)
        assert (signal.status, str(signal.acknowledged_by)) == ("acknowledged", owner["id"])
        assert len(await outbox(app, "signal.opened")) == 1

    async def test_resolves_when_the_condition_clears(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        owner = await create_owner(api)
        signal_id = await open_score_drop(app, workspace.id, client["id"])
        await acknowledge(app, workspace, signal_id, owner["id"])
        await evaluate(app, workspace.id, [client["id"]], trends={client["id"]: STEADY})
        (signal,) = await stored_signals(app)
        assert signal.status == "resolved"
        assert signal.acknowledged_at == T
        assert len(await outbox(app, "signal.resolved")) == 1


class TestFactsFromSql:
    """Each kind raised from stored rows, so the SQL aggregates are checked by hand."""

    async def test_usage_drop_counts_both_windows(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        previous = [event(client["id"], "login", 15 + i * 0.5) for i in range(24)]  # 15-26.5
        recent = [event(client["id"], "feature_used", 1, properties={"feature": "x"})] * 1
        recent += [event(client["id"], "login", 2 + i) for i in range(9)]
        noise = [event(client["id"], "email_opened", 3)] * 5 + [event(client["id"], "login", 40)]
        await ingest(api, previous + recent + noise)
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = await stored_signals(app)
        assert signal.kind == "usage_drop"
        assert signal.figures["previous"] == 24
        assert signal.figures["recent"] == 10
        assert signal.figures["drop_percent"] == 58.3  # (24 - 10) / 24

    async def test_gone_quiet_counts_from_the_last_touchpoint(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api, tier="enterprise", acquired_at=days_before(400))
        touch = event(client["id"], "touchpoint", 31, properties={"channel": "call"})
        await ingest(api, [touch])
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = await stored_signals(app)
        assert signal.kind == "gone_quiet"
        assert signal.figures["days_without_touchpoint"] == 31
        assert signal.figures["threshold_days"] == 30

    async def test_gone_quiet_counts_from_acquisition_without_touchpoints(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api, acquired_at=days_before(46))
        await evaluate(app, workspace.id, [client["id"]])
        assert kinds(await stored_signals(app)) == {"gone_quiet": "open"}

    async def test_ticket_spike_and_escalation(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        tickets = [
            event(client["id"], "ticket_opened", 1 + i, properties={"ticket_id": f"T{i}"})
            for i in range(3)
        ]
        escalated = event(client["id"], "ticket_escalated", 1, properties={"ticket_id": "T0"})
        await ingest(api, [*tickets, escalated])
        await evaluate(app, workspace.id, [client["id"]])
        signals = {s.kind: s for s in await stored_signals(app)}
        assert set(signals) == {"ticket_spike", "ticket_escalated"}
        assert signals["ticket_spike"].figures["opened"] == 3
        assert signals["ticket_escalated"].figures == {
            "open_escalated_tickets": 1,
            "last_escalated_at": days_before(1),
            "lookback_days": 30,
        }

    async def test_resolving_the_escalated_ticket_clears_the_escalation(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        props = {"properties": {"ticket_id": "T9"}}
        await ingest(
            api,
            [
                event(client["id"], "ticket_opened", 5, **props),
                event(client["id"], "ticket_escalated", 4, **props),
            ],
        )
        await evaluate(app, workspace.id, [client["id"]])
        await ingest(api, [event(client["id"], "ticket_resolved", 1, **props)])
        await evaluate(app, workspace.id, [client["id"]])
        assert kinds(await stored_signals(app)) == {"ticket_escalated": "resolved"}

    async def test_nps_takes_the_latest_answer(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "nps", 30, value=2)])
        await evaluate(app, workspace.id, [client["id"]])
        await ingest(api, [event(client["id"], "nps", 3, value=9)])
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = await stored_signals(app)
        assert (signal.kind, signal.severity, signal.status) == (
            "nps_detractor",
            "high",
            "resolved",
        )
        assert signal.figures == {"score": 2, "answered_at": days_before(30)}

    async def test_renewal_approaching_from_the_nearest_active_contract(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await create_contract(api, client["id"], ends_on="2026-08-30")  # 90 days after T
        await create_contract(api, client["id"], ends_on="2026-06-21")  # 20 days after T
        await create_contract(
            api, client["id"], ends_on="2026-06-05", status="cancelled", starts_on="2026-01-01"
        )
        await evaluate(app, workspace.id, [client["id"]])
        (signal,) = await stored_signals(app)
        assert signal.kind == "renewal_approaching"
        assert signal.severity == "high"
        assert signal.figures == {"renews_on": "2026-06-21", "days_left": 20}

    async def test_stage_overdue_after_the_expected_time(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api, lifecycle_stage="onboarding")
        later = datetime.now(UTC) + timedelta(days=31)
        await evaluate(app, workspace.id, [client["id"]], now=later)
        signals = {s.kind: s for s in await stored_signals(app)}
        assert signals["stage_overdue"].figures["stage"] == "onboarding"
        assert signals["stage_overdue"].figures["days_in_stage"] == 31


class TestIsolation:
    async def test_clients_of_another_workspace_are_ignored(
        self, app: FastAPI, api: httpx.AsyncClient, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        other = await create_workspace(app, "Other CS")
        await evaluate(app, other.id, [client["id"]], trends={client["id"]: FALL})
        assert await stored_signals(app) == []

    async def test_another_workspace_settings_do_not_apply(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        other = await create_workspace(app, "Other CS")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tenure.test",
            headers={"Authorization": f"Bearer {other.admin_key}"},
        ) as other_api:
            response = await other_api.patch(
                "/v1/signal-settings", json={"payment_failed": {"enabled": False}}
            )
            assert response.status_code == 200, response.text
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        await evaluate(app, workspace.id, [client["id"]])
        assert kinds(await stored_signals(app)) == {"payment_failed": "open"}

    async def test_no_row_is_written_for_an_unknown_client(
        self, app: FastAPI, workspace: Workspace
    ) -> None:
        await evaluate(app, workspace.id, [uuid.uuid4()], trends={})
        async with app.state.sessionmaker() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(Signal)) == 0


class TestSetBased:
    async def test_the_reads_do_not_grow_with_the_clients(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """Facts are aggregated in SQL for all clients at once, never per client."""
        clients = [await create_client(api) for _ in range(12)]
        await ingest(api, [event(c["id"], "payment_failed", 1) for c in clients])
        await ingest(api, [event(c["id"], "login", 20) for c in clients])

        async def reads(client_ids: list[str]) -> int:
            seen: list[str] = []

            def record(*args: Any) -> None:
                seen.append(args[2])

            engine = app.state.engine.sync_engine
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                await evaluate(app, workspace.id, client_ids)
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
            return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

        one = await reads([clients[0]["id"]])
        many = await reads([c["id"] for c in clients[1:]])
        assert one >= 6  # settings, clients, events, NPS, escalations, renewals, ...
        assert many == one
        assert len(await stored_signals(app)) == 12


class TestConcurrentEvaluations:
    async def test_an_insert_racing_an_unresolved_signal_is_skipped_not_an_error(
        self, app: FastAPI, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        """What a second evaluation that read before the first committed ends up doing."""
        await open_score_drop(app, workspace.id, client["id"])
        async with app.state.sessionmaker() as session:
            racing = NewSignal(uuid.UUID(client["id"]), "score_drop", "high", {})
            assert await SignalRepository(session).open(workspace.id, [racing], T) == set()
            await session.commit()
        (signal,) = await stored_signals(app)
        assert signal.severity == "medium"

    @pytest.mark.skipif(
        backend() != "postgresql", reason="SQLite serialises writers, so nothing can race"
    )
    async def test_two_evaluations_at_once_open_one_signal(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, client: dict[str, Any]
    ) -> None:
        await ingest(api, [event(client["id"], "payment_failed", 2)])
        ids = [uuid.UUID(client["id"])]
        async with app.state.sessionmaker() as first, app.state.sessionmaker() as second:
            await evaluate_signals(first, workspace.id, ids, T, {})  # inserted, not committed
            racing = asyncio.create_task(evaluate_signals(second, workspace.id, ids, T, {}))
            await asyncio.sleep(0.3)  # the second has read nothing unresolved and now waits
            await first.commit()
            await racing
            await second.commit()
        assert len(await stored_signals(app)) == 1
        assert len(await outbox(app, "signal.opened")) == 1
