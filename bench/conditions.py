"""Trigger conditions compiled to SQL (`ConditionQuery.matching_client_ids`, as the app runs it)
against a hand-written statement selecting the same clients, over a 100,000-client portfolio
on PostgreSQL. A benchmark, not a test: it prints a table, one row per condition.

    .venv/bin/python bench/conditions.py [--clients 100000] [--rounds 5]

It creates a throwaway database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, seeds one workspace with set-based SQL (clients with tiers, attributes and
touchpoints; a year of score history; open and resolved signals; contracts; tasks), and drops
it at the end. Each condition is timed for the whole portfolio in one statement and, since a
scheduled sweep reads it in pages, as keyset pages of 5,000; the hand-written statement is run
over the portfolio through asyncpg alone and through SQLAlchemy (`text`), the path the compiled
statement takes: the ratio on the same path compares the SQL, the other adds SQLAlchemy's cost
per row (a few microseconds, which tells at 100,000 ids). All return the same ids or the run
fails."""

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from throwaway import create_database, drop_database

from app.db import migrate
from app.db.repositories.conditions import ConditionQuery
from app.db.session import create_engine, create_sessionmaker
from app.domain.conditions import parse_condition

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_RATIO = 2.0
PAGE = 5_000

# (name, condition, hand-written statement over $1 workspace and $2 now)
CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "tier, band, days since touchpoint",
        {
            "all": [
                {"field": "tier", "op": "eq", "value": "mid"},
                {"field": "health.band", "op": "eq", "value": "at_risk"},
                {"field": "days_since_touchpoint", "op": "gt", "value": 30},
            ]
        },
        """SELECT c.id FROM clients c
           JOIN health_scores h ON h.client_id = c.id AND h.latest
           WHERE c.workspace_id = $1 AND c.tier = 'mid' AND h.band = 'at_risk'
             AND c.last_touchpoint_at <= $2::timestamptz - interval '31 days'""",
    ),
    (
        "renewal within 90 days, no touchpoint in 30",
        {
            "all": [
                {"field": "days_to_renewal", "op": "lte", "value": 90},
                {"field": "days_since_touchpoint", "op": "gte", "value": 30},
            ]
        },
        """SELECT c.id FROM clients c
           WHERE c.workspace_id = $1
             AND c.last_touchpoint_at <= $2::timestamptz - interval '30 days'
             AND EXISTS (SELECT 1 FROM contracts k WHERE k.client_id = c.id
                         AND k.status = 'active' AND k.ends_on >= $2::date
                         AND k.ends_on <= $2::date + 90)""",
    ),
    (
        "gone quiet (high), no open task",
        {
            "all": [
                {
                    "field": "signals.open",
                    "op": "includes",
                    "value": {"kind": "gone_quiet", "min_severity": "high"},
                },
                {"field": "tasks.open_count", "op": "eq", "value": 0},
            ]
        },
        """SELECT c.id FROM clients c
           WHERE c.workspace_id = $1
             AND EXISTS (SELECT 1 FROM signals s WHERE s.client_id = c.id
                         AND s.kind = 'gone_quiet' AND s.severity = 'high'
                         AND s.resolved_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.client_id = c.id
                             AND t.status IN ('open', 'snoozed'))""",
    ),
    (
        "score fell 10+ in 30 days",
        {"field": "health.score_change", "op": "lte", "value": -10, "days": 30},
        """SELECT c.id FROM clients c
           JOIN health_scores h ON h.client_id = c.id AND h.latest
           JOIN LATERAL (SELECT b.score FROM health_scores b WHERE b.client_id = c.id
                         AND b.computed_at <= $2::timestamptz - interval '30 days'
                         ORDER BY b.computed_at DESC, b.id DESC LIMIT 1) t ON true
           WHERE c.workspace_id = $1 AND h.score - t.score <= -10""",
    ),
    (
        "MRR >= 1,000 USD, plan pro",
        {
            "all": [
                {"field": "mrr", "op": "gte", "value": "1000", "currency": "USD"},
                {"field": "attributes.plan", "op": "eq", "value": "pro"},
            ]
        },
        """SELECT c.id FROM clients c
           JOIN (SELECT client_id FROM contracts
                 WHERE workspace_id = $1 AND currency = 'USD' AND status = 'active'
                   AND starts_on <= $2::date AND (ends_on IS NULL OR ends_on >= $2::date)
                 GROUP BY client_id HAVING sum(amount) >= 10000000) m ON m.client_id = c.id
           WHERE c.workspace_id = $1 AND c.attributes ->> 'plan' = 'pro'""",
    ),
    (
        "not (mid or enterprise) or no owner",
        {
            "any": [
                {"not": {"field": "tier", "op": "in", "value": ["mid", "enterprise"]}},
                {"field": "owner_id", "op": "not_exists"},
            ]
        },
        """SELECT c.id FROM clients c
           WHERE c.workspace_id = $1
             AND (c.tier IS NULL OR c.tier NOT IN ('mid', 'enterprise') OR c.owner_id IS NULL)""",
    ),
]

SEED = [
    # clients: a tier (or none), a plan, a touchpoint 0-96 days ago (or none)
    """INSERT INTO clients (id, workspace_id, name, tier, lifecycle_stage, stage_changed_at, status,
                            acquired_at, acquired_at_source, attributes, open_tickets,
                            last_touchpoint_at, version, created_at, updated_at)
       SELECT gen_random_uuid(), $1::uuid, 'Client ' || g,
              (ARRAY['enterprise', 'mid', 'smb', NULL])[1 + g % 4], 'adoption', $2::timestamptz,
              'active', $2::timestamptz - interval '400 days', 'given',
              jsonb_build_object('plan', (ARRAY['pro', 'basic', 'trial'])[1 + g % 3],
                                 'seats', g % 50),
              0,
              CASE WHEN g % 10 <> 0 THEN $2::timestamptz - (g % 97) * interval '1 day' END,
              1, $2::timestamptz, $2::timestamptz
       FROM generate_series(1, $3::int) AS g""",
    # three snapshots each: 60 and 20 days ago, and the latest one today
    """INSERT INTO health_scores (id, workspace_id, client_id, scorecard_id, scorecard_version,
                                  computed_at, score, band, groups, measures, source, latest,
                                  created_at)
       SELECT gen_random_uuid(), c.workspace_id, c.id, $3::uuid, 1,
              $2::timestamptz - d * interval '1 day', s.score,
              CASE WHEN s.score >= 70 THEN 'healthy' WHEN s.score >= 40 THEN 'neutral'
                   ELSE 'at_risk' END,
              jsonb_build_object('engagement', s.score), '[]'::jsonb, 'evaluation', d = 0,
              $2::timestamptz
       FROM clients c, unnest(ARRAY[60, 20, 0]) AS d,
            LATERAL (SELECT floor(random() * 100 + length(c.id::text) * 0 + d * 0) AS score) s
       WHERE c.workspace_id = $1::uuid""",
    # a signal for one client in five, a quarter of them resolved
    """INSERT INTO signals (id, workspace_id, client_id, kind, severity, status, figures,
                            opened_at, evaluated_at, resolved_at)
       SELECT gen_random_uuid(), c.workspace_id, c.id,
              (ARRAY['gone_quiet', 'usage_drop', 'ticket_spike'])[1 + n % 3],
              (ARRAY['low', 'medium', 'high'])[1 + n / 15 % 3],
              CASE WHEN n / 5 % 4 = 0 THEN 'resolved' ELSE 'open' END, '{}'::jsonb,
              $2::timestamptz, $2::timestamptz,
              CASE WHEN n / 5 % 4 = 0 THEN $2::timestamptz END
       FROM (SELECT c.*, row_number() OVER (ORDER BY c.id) AS n FROM clients c
             WHERE c.workspace_id = $1::uuid) c
       WHERE n % 5 = 0""",
    # one or two contracts each, ending within two years
    """INSERT INTO contracts (id, workspace_id, client_id, starts_on, ends_on, amount, currency,
                              status, version, created_at, updated_at)
       SELECT gen_random_uuid(), c.workspace_id, c.id, $2::date - 300, $2::date + (n % 700)::int,
              (n % 30) * 1000000, CASE WHEN k = 1 THEN 'USD' ELSE 'EUR' END, 'active', 1,
              $2::timestamptz, $2::timestamptz
       FROM (SELECT c.*, row_number() OVER (ORDER BY c.id) AS n FROM clients c
             WHERE c.workspace_id = $1::uuid) c, generate_series(1, 1 + (n % 2)::int) AS k""",
    # an open, snoozed or done task for one client in seven
    """INSERT INTO tasks (id, workspace_id, client_id, title, priority, status, source,
                          version, created_at, updated_at)
       SELECT gen_random_uuid(), c.workspace_id, c.id, 'Follow up', 'normal',
              (ARRAY['open', 'snoozed', 'done'])[1 + n / 3 % 3], 'manual', 1,
              $2::timestamptz, $2::timestamptz
       FROM (SELECT c.*, row_number() OVER (ORDER BY c.id) AS n FROM clients c
             WHERE c.workspace_id = $1::uuid) c
       WHERE n % 7 = 0""",
]


async def seed(dsn: str, clients: int, now: datetime) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        workspace = uuid.uuid4()
        scorecard = uuid.uuid4()
        await conn.execute(
            "INSERT INTO workspaces (id, name, tiers, lifecycle_stages, version, created_at,"
            " updated_at) VALUES ($1, 'Bench', '[]', '[]', 1, $2, $2)",
            workspace,
            now,
        )
        await conn.execute(
            "INSERT INTO scorecards (id, workspace_id, name, tiers, current_version, created_at,"
            " updated_at) VALUES ($1, $2, 'default', '[]', 1, $3, $3)",
            scorecard,
            workspace,
            now,
        )
        await conn.execute("SELECT setseed(0.42)")
        for statement in SEED:  # $3 is the clients' count, or the scorecard
            third = scorecard if "scorecard_id" in statement else clients
            args = (workspace, now, third) if "$3" in statement else (workspace, now)
            await conn.execute(statement, *args)
        await conn.execute("VACUUM ANALYZE")
        return workspace
    finally:
        await conn.close()


@dataclass
class Timings:
    raw: list[float] = field(default_factory=list)  # hand-written, asyncpg alone
    text: list[float] = field(default_factory=list)  # hand-written, through SQLAlchemy
    whole: list[float] = field(default_factory=list)  # compiled, the whole portfolio
    paged: list[float] = field(default_factory=list)  # compiled, keyset pages of PAGE


async def measure(
    url: str, workspace: uuid.UUID, now: datetime, rounds: int
) -> tuple[list[tuple[str, ...]], bool]:
    """Every path on one warm connection, taking turns, so that load from elsewhere on the
    machine falls on all of them alike."""
    engine = create_engine(url, pre_ping=False)
    table: list[tuple[str, ...]] = []
    agree = True
    try:
        async with create_sessionmaker(engine)() as session:
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            query = ConditionQuery(session)
            for label, condition, sql in CASES:
                args = (workspace, now) if "$2" in sql else (workspace,)
                text = sa.text(re.sub(r"\$2::(\w+)", r"CAST(:n AS \1)", sql).replace("$1", ":w"))
                params = {"w": workspace, "n": now} if "$2" in sql else {"w": workspace}
                expected = {r[0] for r in await driver.fetch(sql, *args)}  # warms the cache
                t = Timings()
                for _ in range(rounds):
                    started = time.perf_counter()
                    await driver.fetch(sql, *args)
                    t.raw.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    (await connection.execute(text, params)).scalars().all()
                    t.text.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    ids = await query.matching_client_ids(
                        workspace, parse_condition(condition), now
                    )
                    t.whole.append(time.perf_counter() - started)
                    agree = agree and set(ids) == expected and ids == sorted(ids)
                    started = time.perf_counter()
                    ids = await pages(query, condition, workspace, now)
                    t.paged.append(time.perf_counter() - started)
                    agree = agree and set(ids) == expected
                raw, via, whole, paged = (
                    statistics.median(x) for x in (t.raw, t.text, t.whole, t.paged)
                )
                table.append(
                    (
                        label,
                        f"{len(expected):,}",
                        f"{raw * 1000:.0f} / {via * 1000:.0f}",
                        f"{whole * 1000:.0f}",
                        f"{paged * 1000:.0f}",
                        _ratio(whole, via),
                        _ratio(whole, raw),
                    )
                )
                say(f"{label}: {table[-1][1:]}")
    finally:
        await engine.dispose()
    return table, agree


async def pages(
    query: ConditionQuery, condition: dict[str, Any], workspace: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    parsed = parse_condition(condition)
    ids: list[uuid.UUID] = []
    after = None
    while got := await query.matching_client_ids(workspace, parsed, now, after=after, limit=PAGE):
        ids += got
        after = got[-1]
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    admin_url = make_url(os.environ.get("TENURE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    admin_url = admin_url.set(drivername="postgresql+asyncpg")
    name = f"tenure_bench_{uuid.uuid4().hex[:12]}"
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC)
    asyncio.run(create_database(admin_url, name))
    try:
        migrate.upgrade(url)
        say(f"database {name}: seeding {args.clients:,} clients")
        workspace = asyncio.run(seed(dsn, args.clients, now))
        rows, agree = asyncio.run(measure(url, workspace, now, args.rounds))
    finally:
        asyncio.run(drop_database(admin_url, name))
    header = (
        "condition",
        "matching",
        "hand-written ms (asyncpg / SQLAlchemy)",
        "compiled ms",
        f"paged by {PAGE:,} ms",
        "ratio (same path)",
        "ratio (to asyncpg)",
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{args.clients:,} clients, {os.cpu_count()} CPUs, medians of {args.rounds} rounds")
    for row in [header, *rows]:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("  same clients as the hand-written statements:", "yes" if agree else "NO")
    if not agree:
        sys.exit(1)


def _ratio(value: float, base: float) -> str:
    ratio = value / base
    return f"{ratio:.2f}" + ("" if ratio <= TARGET_RATIO else f" (above {TARGET_RATIO})")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
