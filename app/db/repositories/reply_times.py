"""How a client answers outreach, for `response_slowdown`: reply times and unanswered sends,
computed in SQL for a batch of clients in one statement; no event reaches Python."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.functions import seconds_between
from app.db.models import Event
from app.db.types import UTCDateTime
from app.domain.signal_settings import ResponseSlowdownRule

SENT, REPLIED = "email_sent", "email_replied"


async def reply_facts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    rule: ResponseSlowdownRule,
    now: datetime,
) -> dict[uuid.UUID, dict[str, Any]]:
    """Replies to outreach over both periods of `response_slowdown`. A reply answers the
    latest send before it and a send's first reply is the one timed, so a reply is timed
    when the event before it (sends first at the same moment) is a send. Per period, by
    when the reply came, the median of those times: the middle one or two of the ranked
    times, in SQL. And the sends after the last reply, which none answered: the events
    after it, counted by position, as every event after the last reply is a send."""
    split = now - timedelta(days=rule.window_days)
    start = split - timedelta(days=rule.baseline_days)
    sends_first = sa.case((Event.type == SENT, 0), else_=1)
    order = (Event.occurred_at, sends_first, Event.id)
    sequence = (
        sa.select(
            Event.client_id.label("cid"),
            Event.type.label("type"),
            Event.occurred_at.label("at"),
            sa.func.lag(Event.type)
            .over(partition_by=Event.client_id, order_by=order)
            .label("prev_type"),
            sa.func.lag(Event.occurred_at)
            .over(partition_by=Event.client_id, order_by=order)
            .label("prev_at"),
            sa.func.row_number()
            .over(partition_by=Event.client_id, order_by=order)
            .label("position"),
        )
        .where(
            Event.workspace_id == workspace_id,
            Event.client_id.in_(ids),
            Event.type.in_((SENT, REPLIED)),
            Event.occurred_at >= start,
            Event.occurred_at <= now,
        )
        .cte("sequence")
    )
    pairs = (
        sa.select(
            sequence.c.cid,
            sa.case((sequence.c.at >= split, 1), else_=0).label("recent"),
            seconds_between(sequence.c.at, sequence.c.prev_at).label("seconds"),
        )
        .where(sequence.c.type == REPLIED, sequence.c.prev_type == SENT)
        .subquery("pairs")
    )
    period = (pairs.c.cid, pairs.c.recent)
    ranked = sa.select(
        pairs.c.cid,
        pairs.c.recent,
        pairs.c.seconds,
        sa.func.row_number().over(partition_by=period, order_by=pairs.c.seconds).label("rank"),
        sa.func.count().over(partition_by=period).label("size"),
    ).subquery("ranked")
    middle = sa.and_(2 * ranked.c.rank >= ranked.c.size, 2 * ranked.c.rank <= ranked.c.size + 2)
    recent, earlier = ranked.c.recent == 1, ranked.c.recent == 0
    medians = (
        sa.select(
            ranked.c.cid,
            sa.func.count().filter(recent).label("replies_recent"),
            sa.func.count().filter(earlier).label("replies_baseline"),
            sa.func.avg(ranked.c.seconds).filter(recent, middle).label("recent_seconds"),
            sa.func.avg(ranked.c.seconds).filter(earlier, middle).label("baseline_seconds"),
        )
        .group_by(ranked.c.cid)
        .subquery("medians")
    )
    is_reply = sequence.c.type == REPLIED
    last_reply_position = sa.func.coalesce(sa.func.max(sequence.c.position).filter(is_reply), 0)
    tally = (
        sa.select(
            sequence.c.cid,
            (sa.func.max(sequence.c.position) - last_reply_position).label("unanswered"),
            sa.type_coerce(sa.func.max(sequence.c.at).filter(is_reply), UTCDateTime()).label(
                "last_reply_at"
            ),
        )
        .group_by(sequence.c.cid)
        .subquery("tally")
    )
    stmt = sa.select(
        tally.c.cid,
        tally.c.unanswered,
        tally.c.last_reply_at,
        medians.c.replies_recent,
        medians.c.replies_baseline,
        medians.c.recent_seconds,
        medians.c.baseline_seconds,
    ).select_from(tally.outerjoin(medians, medians.c.cid == tally.c.cid))
    return {
        r.cid: {
            "unanswered_outreaches": int(r.unanswered),
            "last_reply_at": r.last_reply_at,
            "replies_recent": int(r.replies_recent or 0),
            "replies_baseline": int(r.replies_baseline or 0),
            "reply_hours_recent": _hours(r.recent_seconds),
            "reply_hours_baseline": _hours(r.baseline_seconds),
        }
        for r in (await session.execute(stmt)).all()
    }


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else float(seconds) / 3600
