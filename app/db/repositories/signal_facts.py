"""The facts that raise signals: aggregates computed in SQL for many clients per statement,
with the windows of the workspace's settings in WHERE; no event reaches Python."""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Contract, Event, Signal, Ticket
from app.db.repositories.reply_times import reply_facts
from app.domain.contracts import ContractStatus
from app.domain.signal_settings import SignalSettings
from app.domain.signals import SignalFacts, SignalKind

CHUNK = 500
"""Clients per statement: far below the bind-parameter limits of SQLite and asyncpg."""


class SignalFactsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def facts(
        self,
        workspace_id: uuid.UUID,
        client_ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> list[SignalFacts]:
        """One SignalFacts per client of the workspace among `client_ids`, in id order."""
        found: list[SignalFacts] = []
        ids = sorted(set(client_ids))
        for start in range(0, len(ids), CHUNK):
            found += await self._facts(workspace_id, ids[start : start + CHUNK], settings, now)
        return found

    async def _facts(
        self,
        workspace_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> list[SignalFacts]:
        clients = await self._clients(workspace_id, ids)
        if not clients:
            return []
        ids = list(clients)
        events = await self._event_counts(workspace_id, ids, settings, now)
        volumes = await self._volumes(workspace_id, ids, settings, now)
        replies = await reply_facts(
            self.session, workspace_id, ids, settings.response_slowdown, now
        )
        nps = await self._latest_nps(workspace_id, ids, settings, now)
        escalated = await self._open_escalations(workspace_id, ids, settings, now)
        renewals = await self._renewals(workspace_id, ids, now)
        held = await self._held_bands(workspace_id, ids)
        result = []
        for client_id, base in clients.items():
            nps_score, nps_at = nps.get(client_id, (None, None))
            escalations, last_escalated = escalated.get(client_id, (0, None))
            # One replace per client: it copies every field, and a rescore makes thousands.
            result.append(
                replace(
                    base,
                    **events.get(client_id, {}),
                    **volumes.get(client_id, {}),
                    **replies.get(client_id, {}),
                    nps_score=nps_score,
                    nps_at=nps_at,
                    escalated_open=escalations,
                    last_escalated_at=last_escalated,
                    renews_on=renewals.get(client_id),
                    held_band=held.get(client_id),
                )
            )
        return result

    async def _clients(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, SignalFacts]:
        stmt = (
            sa.select(
                Client.id,
                Client.status,
                Client.tier,
                Client.lifecycle_stage,
                Client.stage_changed_at,
                Client.last_touchpoint_at,
                Client.acquired_at,
                Client.created_at,
            )
            .where(Client.workspace_id == workspace_id, Client.id.in_(ids))
            .order_by(Client.id)
        )
        return {
            r.id: SignalFacts(
                client_id=r.id,
                active=r.status == "active",
                tier=r.tier,
                stage=r.lifecycle_stage,
                stage_since=r.stage_changed_at,
                last_touchpoint_at=r.last_touchpoint_at,
                quiet_since=r.last_touchpoint_at or r.acquired_at or r.created_at,
            )
            for r in (await self.session.execute(stmt)).all()
        }

    async def _event_counts(
        self,
        workspace_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> dict[uuid.UUID, dict[str, Any]]:
        usage, spike, pay = settings.usage_drop, settings.ticket_spike, settings.payment_failed
        usage_split = now - timedelta(days=usage.window_days)
        usage_start = now - timedelta(days=2 * usage.window_days)
        spike_split = now - timedelta(days=spike.window_days)
        spike_start = spike_split - timedelta(days=spike.baseline_days)
        pay_start = now - timedelta(days=pay.lookback_days)
        start = min(usage_start, spike_start, pay_start)
        at, kind = Event.occurred_at, Event.type
        is_usage = kind.in_(usage.event_types)
        is_ticket = kind == "ticket_opened"
        is_failure = sa.and_(kind == "payment_failed", at >= pay_start)

        stmt = (
            sa.select(
                Event.client_id,
                _count(is_usage, at >= usage_split).label("usage_recent"),
                _count(is_usage, at >= usage_start, at < usage_split).label("usage_previous"),
                _count(is_ticket, at >= spike_split).label("tickets_recent"),
                _count(is_ticket, at >= spike_start, at < spike_split).label("tickets_baseline"),
                _count(is_failure).label("payments_failed"),
                sa.func.max(sa.case((is_failure, at))).label("last_payment_failed_at"),
            )
            .where(
                Event.workspace_id == workspace_id,
                Event.client_id.in_(ids),
                at >= start,
                at <= now,
                kind.in_({*usage.event_types, "ticket_opened", "payment_failed"}),
            )
            .group_by(Event.client_id)
        )
        rows = (await self.session.execute(stmt)).all()
        return {
            r.client_id: {
                "usage_recent": int(r.usage_recent),
                "usage_previous": int(r.usage_previous),
                "tickets_recent": int(r.tickets_recent),
                "tickets_baseline": int(r.tickets_baseline),
                "payments_failed": int(r.payments_failed),
                "last_payment_failed_at": r.last_payment_failed_at,
            }
            for r in rows
        }

    async def _volumes(
        self,
        workspace_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """Orders (count and value) and engagement events, each in its window and baseline.
        A statement apart from `_event_counts`: folding these 120-day periods into it made it
        read the frequent usage types over 120 days too, or lose the index on type (measured
        on PostgreSQL: its time grew six-fold)."""
        spend, engage = settings.spend_drop, settings.engagement_drop
        spend_split = now - timedelta(days=spend.window_days)
        spend_start = spend_split - timedelta(days=spend.baseline_days)
        engage_split = now - timedelta(days=engage.window_days)
        engage_start = engage_split - timedelta(days=engage.baseline_days)
        at, kind = Event.occurred_at, Event.type
        is_order = kind == "order"
        is_engagement = kind.in_(engage.event_types)

        def value(*conditions: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), Event.value))), 0)

        stmt = (
            sa.select(
                Event.client_id,
                _count(is_order, at >= spend_split).label("orders_recent"),
                _count(is_order, at >= spend_start, at < spend_split).label("orders_baseline"),
                value(is_order, at >= spend_split).label("spend_recent"),
                value(is_order, at >= spend_start, at < spend_split).label("spend_baseline"),
                _count(is_engagement, at >= engage_split).label("engagement_recent"),
                _count(is_engagement, at >= engage_start, at < engage_split).label(
                    "engagement_baseline"
                ),
            )
            .where(
                Event.workspace_id == workspace_id,
                Event.client_id.in_(ids),
                at >= min(spend_start, engage_start),
                at <= now,
                kind.in_({*engage.event_types, "order"}),
            )
            .group_by(Event.client_id)
        )
        return {
            r.client_id: {
                "orders_recent": int(r.orders_recent),
                "orders_baseline": int(r.orders_baseline),
                "spend_recent": float(r.spend_recent),
                "spend_baseline": float(r.spend_baseline),
                "engagement_recent": int(r.engagement_recent),
                "engagement_baseline": int(r.engagement_baseline),
            }
            for r in (await self.session.execute(stmt)).all()
        }

    async def _latest_nps(
        self,
        workspace_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> dict[uuid.UUID, tuple[float | None, datetime | None]]:
        oldest = now - timedelta(days=settings.nps_detractor.max_age_days)
        ranked = (
            sa.select(
                Event.client_id,
                Event.value,
                Event.occurred_at,
                sa.func.row_number()
                .over(
                    partition_by=Event.client_id,
                    order_by=(Event.occurred_at.desc(), Event.id.desc()),
                )
                .label("rank"),
            )
            .where(
                Event.workspace_id == workspace_id,
                Event.client_id.in_(ids),
                Event.type == "nps",
                Event.occurred_at >= oldest,
                Event.occurred_at <= now,
            )
            .subquery()
        )
        stmt = sa.select(ranked.c.client_id, ranked.c.value, ranked.c.occurred_at).where(
            ranked.c.rank == 1
        )
        rows = (await self.session.execute(stmt)).all()
        return {r.client_id: (r.value, r.occurred_at) for r in rows}

    async def _open_escalations(
        self,
        workspace_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        settings: SignalSettings,
        now: datetime,
    ) -> dict[uuid.UUID, tuple[int, datetime | None]]:
        """Tickets escalated within the lookback and not resolved since the escalation."""
        oldest = now - timedelta(days=settings.ticket_escalated.lookback_days)
        ticket_id = Event.properties["ticket_id"].as_string()
        stmt = (
            sa.select(
                Event.client_id,
                sa.func.count(sa.distinct(ticket_id)).label("tickets"),
                sa.func.max(Event.occurred_at).label("last_at"),
            )
            .select_from(Event)
            .outerjoin(
                Ticket,
                sa.and_(
                    Ticket.workspace_id == Event.workspace_id,
                    Ticket.client_id == Event.client_id,
                    Ticket.ticket_id == ticket_id,
                ),
            )
            .where(
                Event.workspace_id == workspace_id,
                Event.client_id.in_(ids),
                Event.type == "ticket_escalated",
                Event.occurred_at >= oldest,
                Event.occurred_at <= now,
                sa.or_(
                    Ticket.last_resolved_at.is_(None),
                    Ticket.last_resolved_at < Event.occurred_at,
                ),
            )
            .group_by(Event.client_id)
        )
        rows = (await self.session.execute(stmt)).all()
        return {r.client_id: (int(r.tickets), r.last_at) for r in rows}

    async def _renewals(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, Any]:
        stmt = (
            sa.select(Contract.client_id, sa.func.min(Contract.ends_on).label("ends_on"))
            .where(
                Contract.workspace_id == workspace_id,
                Contract.client_id.in_(ids),
                Contract.status == ContractStatus.ACTIVE.value,
                Contract.ends_on >= now.date(),
            )
            .group_by(Contract.client_id)
        )
        return {r.client_id: r.ends_on for r in (await self.session.execute(stmt)).all()}

    async def _held_bands(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        band = Signal.figures["band"].as_string()
        stmt = sa.select(Signal.client_id, band.label("band")).where(
            Signal.workspace_id == workspace_id,
            Signal.client_id.in_(ids),
            Signal.kind == SignalKind.SCORE_DROP.value,
            Signal.resolved_at.is_(None),
        )
        return {
            r.client_id: r.band
            for r in (await self.session.execute(stmt)).all()
            if r.band is not None
        }


def _count(*conditions: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)
