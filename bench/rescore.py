"""Portfolio rescore: the real `health.rescore_portfolio` job against one hand-written SQL
statement computing the same aggregates. A benchmark, not a test: it prints a table.

    .venv/bin/python bench/rescore.py [--clients 100000] [--events-per-client 30] [--rounds 2]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, makes a workspace through the service (so it has the default B2B scorecard),
seeds clients, contracts and events with set-based SQL (generate_series), and drops it at the
end. Then, per round, the job rescoring every client (aggregates in SQL per batch of clients,
scores in the domain, snapshots and outbox rows written, signals evaluated, committed) and the
single statement (aggregates for the whole workspace, fetched by asyncpg) take turns. The
first job run stores a snapshot for every client; later runs are the daily steady state,
where only moved scores are stored. The job is also timed without the signals half (the first
run too, after emptying the stored scores), to show what the health engine itself costs.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from throwaway import create_database, drop_database

from app.config import Settings
from app.db import migrate
from app.db.session import create_engine, create_sessionmaker
from app.services import health as health_service
from app.services import workspaces
from app.workers import health as health_jobs
from app.workers.job import JobRun

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_RATIO = 1.5
SEED_CHUNK = 10_000

SEED_CLIENTS = """
INSERT INTO clients (id, workspace_id, name, tier, lifecycle_stage, stage_changed_at, status,
                     acquired_at, attributes, open_tickets, version, created_at, updated_at)
SELECT gen_random_uuid(), $1::uuid, 'Client ' || g,
       (ARRAY['enterprise', 'mid', 'smb', NULL])[1 + g % 4], 'adoption', $2::timestamptz,
       'active', $2::timestamptz - interval '400 days', jsonb_build_object('seats', g % 50),
       0, 1, $2::timestamptz, $2::timestamptz
FROM generate_series($3::int, $4::int) AS g
"""
SEED_CONTRACTS = """
INSERT INTO contracts (id, workspace_id, client_id, starts_on, ends_on, amount, currency,
                       status, version, created_at, updated_at)
SELECT gen_random_uuid(), workspace_id, id, date '2025-01-01',
       CASE WHEN random() < 0.2 THEN date '2026-06-30' END,
       (100 + floor(random() * 5000))::bigint * 10000, 'USD', 'active', 1, $2, $2
FROM clients WHERE workspace_id = $1::uuid AND random() < 0.75
"""
# Each client gets a random number of events around the mean, over the last 120 days; the
# inner query names the client so PostgreSQL draws new random values for each one.
SEED_EVENTS = """
INSERT INTO events (id, occurred_at, workspace_id, client_id, type, value, properties,
                    contact_id, source, external_id, received_at)
SELECT gen_random_uuid(), x.o, c.workspace_id, c.id, x.t,
       CASE x.t WHEN 'nps' THEN floor(random() * 11) WHEN 'order' THEN floor(random() * 500) END,
       CASE WHEN x.t LIKE 'ticket_%'
              THEN jsonb_build_object('ticket_id', 't' || floor(random() * 4))
            WHEN x.t = 'touchpoint' THEN '{"channel": "call"}'::jsonb
            WHEN x.t = 'feature_used' THEN '{"feature": "reports"}'::jsonb
            ELSE '{}'::jsonb END,
       NULL, 'bench', NULL, x.o
FROM (SELECT id, workspace_id FROM clients WHERE workspace_id = $1::uuid
      ORDER BY id OFFSET $3 LIMIT $4) AS c,
LATERAL (
  SELECT $2::timestamptz - random() * interval '120 days' AS o,
         (ARRAY['login', 'login', 'login', 'login', 'login', 'feature_used', 'feature_used',
                'feature_used', 'feature_used', 'touchpoint', 'nps', 'ticket_opened',
                'ticket_resolved', 'email_replied', 'email_sent', 'email_sent', 'order'])
           [1 + floor(random() * 17)::int] AS t
  FROM generate_series(1, (random() * 2 * $5)::int + length(c.id::text) * 0)
) AS x
"""
# The aggregates the default scorecard reads, for the whole workspace, in one statement.
BASELINE = """
WITH w AS (
  SELECT client_id,
         count(*) FILTER (WHERE type IN ('login', 'feature_used')
                          AND occurred_at > $2::timestamptz - interval '30 days') AS usage_level,
         count(*) FILTER (WHERE type IN ('login', 'feature_used')
                          AND occurred_at > $2::timestamptz - interval '14 days') AS trend_now,
         count(*) FILTER (WHERE type IN ('login', 'feature_used')
                          AND occurred_at > $2::timestamptz - interval '28 days'
                          AND occurred_at <= $2::timestamptz - interval '14 days') AS trend_before,
         count(*) FILTER (WHERE type = 'email_replied') AS replies
  FROM events
  WHERE workspace_id = $1::uuid AND type IN ('login', 'feature_used', 'email_replied')
    AND occurred_at > $2::timestamptz - interval '90 days'
    AND occurred_at <= $2::timestamptz AND received_at <= $2::timestamptz
  GROUP BY client_id
), d AS (
  SELECT client_id, max(occurred_at) AS last_touchpoint
  FROM events
  WHERE workspace_id = $1::uuid AND type = 'touchpoint'
    AND occurred_at <= $2::timestamptz AND received_at <= $2::timestamptz
  GROUP BY client_id
), n AS (
  SELECT DISTINCT ON (client_id) client_id, value AS nps
  FROM events
  WHERE workspace_id = $1::uuid AND type = 'nps'
    AND occurred_at > $2::timestamptz - interval '180 days'
    AND occurred_at <= $2::timestamptz AND received_at <= $2::timestamptz
  ORDER BY client_id, occurred_at DESC, id DESC
), t AS (
  SELECT client_id, count(*) FILTER (WHERE o IS NOT NULL AND (r IS NULL OR o > r)) AS open
  FROM (
    SELECT client_id,
           max(occurred_at) FILTER (WHERE type = 'ticket_opened') AS o,
           max(occurred_at) FILTER (WHERE type = 'ticket_resolved') AS r
    FROM events
    WHERE workspace_id = $1::uuid AND type IN ('ticket_opened', 'ticket_resolved')
      AND occurred_at <= $2::timestamptz AND received_at <= $2::timestamptz
    GROUP BY client_id, properties ->> 'ticket_id'
  ) AS per_ticket
  GROUP BY client_id
), m AS (
  SELECT client_id,
         sum(amount) FILTER (WHERE status = 'active' AND starts_on <= $3
                             AND (ends_on IS NULL OR ends_on >= $3)) AS mrr,
         count(*) AS contracts
  FROM contracts WHERE workspace_id = $1
  GROUP BY client_id
)
SELECT c.id, c.tier, c.attributes, w.usage_level, w.trend_now, w.trend_before, w.replies,
       d.last_touchpoint, n.nps, t.open, m.mrr, m.contracts
FROM clients c
LEFT JOIN w ON w.client_id = c.id
LEFT JOIN d ON d.client_id = c.id
LEFT JOIN n ON n.client_id = c.id
LEFT JOIN t ON t.client_id = c.id
LEFT JOIN m ON m.client_id = c.id
WHERE c.workspace_id = $1
"""


async def seed(url: str, dsn: str, clients: int, per_client: int, now: datetime) -> uuid.UUID:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            workspace, _ = await workspaces.create_workspace(session, "Bench CS")
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.42)")
        for start in range(1, clients + 1, SEED_CHUNK):
            end = min(start + SEED_CHUNK - 1, clients)
            await conn.execute(SEED_CLIENTS, workspace.id, now, start, end)
        await conn.execute(SEED_CONTRACTS, workspace.id, now)
        for offset in range(0, clients, SEED_CHUNK):
            await conn.execute(SEED_EVENTS, workspace.id, now, offset, SEED_CHUNK, per_client)
            say(f"seeded events for {min(offset + SEED_CHUNK, clients):,} clients")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return workspace.id


async def execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def count(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def run_job(url: str, now: datetime, *, signals: bool) -> tuple[float, dict[str, Any]]:
    """The scheduled job's body in one transaction committed at the end, as the runner does."""
    settings = Settings(database_url=url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            run = JobRun(
                id=uuid.uuid4(),
                workspace_id=None,
                kind="health.rescore_portfolio",
                payload={},
                attempt=1,
                now=now,
                session=session,
                settings=settings,
            )
            started = time.perf_counter()
            if signals:
                result = await health_jobs.rescore_portfolio(run)
            else:
                with mock.patch.object(health_service, "evaluate_signals", _no_signals):
                    result = await health_jobs.rescore_portfolio(run)
            await session.commit()
            return time.perf_counter() - started, result
    finally:
        await engine.dispose()


async def _no_signals(*args: Any) -> None:
    return None


async def run_baseline(dsn: str, workspace_id: uuid.UUID, now: datetime) -> tuple[float, int]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        rows = await conn.fetch(BASELINE, workspace_id, now, now.date())
        return time.perf_counter() - started, len(rows)
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100_000, help="default 100000")
    parser.add_argument(
        "--events-per-client", type=int, default=30, help="mean events per client (default 30)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="steady-state rounds (default 2)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
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
        started = time.perf_counter()
        workspace_id = asyncio.run(seed(url, dsn, args.clients, args.events_per_client, now))
        events = asyncio.run(count(dsn, "events"))
        say(f"seeded {events:,} events in {time.perf_counter() - started:.0f}s")

        baseline: list[float] = []
        seconds, rows = asyncio.run(run_baseline(dsn, workspace_id, now))  # warms the cache
        say(f"baseline warm-up {seconds:.2f}s, {rows:,} rows")
        first, first_result = asyncio.run(run_job(url, now, signals=True))
        say(f"first job run {first:.2f}s: {first_result}")
        asyncio.run(execute(dsn, "TRUNCATE health_scores"))
        first_only, _ = asyncio.run(run_job(url, now, signals=False))
        say(f"first run again without signals (scores truncated) {first_only:.2f}s")
        steady: list[float] = []
        health_only: list[float] = []
        for round_ in range(args.rounds):
            seconds, rows = asyncio.run(run_baseline(dsn, workspace_id, now))
            baseline.append(seconds)
            seconds, result = asyncio.run(run_job(url, now, signals=True))
            steady.append(seconds)
            seconds, _ = asyncio.run(run_job(url, now, signals=False))
            health_only.append(seconds)
            say(
                f"round {round_ + 1}: baseline {baseline[-1]:.2f}s, job {steady[-1]:.2f}s "
                f"({result}), without signals {health_only[-1]:.2f}s"
            )
        snapshots = asyncio.run(count(dsn, "health_scores"))
    finally:
        asyncio.run(drop_database(admin_url, name))

    base = statistics.median(baseline)
    job = statistics.median(steady)
    only = statistics.median(health_only)
    rows_out = [
        ("clients / events", f"{args.clients:,} / {events:,}"),
        ("hand-written statement s", f"{base:.2f} ({args.clients / base:,.0f} clients/s)"),
        ("job, first run s (stores all)", f"{first:.2f} ({args.clients / first:,.0f} clients/s)"),
        (
            "job, first run without signals s",
            f"{first_only:.2f} ({args.clients / first_only:,.0f} clients/s)",
        ),
        ("job, steady state s", f"{job:.2f} ({args.clients / job:,.0f} clients/s)"),
        ("job without signals s", f"{only:.2f} ({args.clients / only:,.0f} clients/s)"),
        ("ratio job / statement", _ratio(job, base)),
        ("ratio job without signals", _ratio(only, base)),
        ("ratio first run", _ratio(first, base)),
        ("ratio first run without signals", _ratio(first_only, base)),
        ("snapshots stored", f"{snapshots:,}"),
    ]
    print(f"\n{os.cpu_count()} CPUs, medians of {args.rounds} rounds")
    width = max(len(label) for label, _ in rows_out)
    for label, value in rows_out:
        print(f"  {label:<{width}}  {value}")


def _ratio(value: float, base: float) -> str:
    ratio = value / base
    verdict = "meets" if ratio <= TARGET_RATIO else "above"
    return f"{ratio:.2f} ({verdict} the {TARGET_RATIO} target)"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
