"""A scheduled trigger over the portfolio: the real `triggers.evaluate` job body (the condition
as one SQL statement per page, the control policy on each page in bulk, the runs recorded and
the fired runs' actions scheduled, committed as the runner commits) against one hand-written
SQL statement selecting the same clients. A benchmark, not a test: it prints a table.

    .venv/bin/python bench/triggers.py [--clients 100000] [--rounds 3]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, makes a workspace through the service, seeds clients (tiers, last touchpoints) and
their latest health snapshots with set-based SQL, and drops it at the end. The trigger: every
`mid` client in the `at_risk` band without a touchpoint for more than 30 days gets a task.

Per round the statement and the job take turns. A *first* sweep fires for every matching client
(a run, an action run and its outbox row each); the runs are then deleted, so every round's
first sweep does the same work. A *steady* sweep is the next tick's: every client is still
cooling down, nothing is recorded. The job's clients are checked to be the statement's."""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from throwaway import create_database, drop_database

from app.config import Settings
from app.db import migrate
from app.db.session import create_engine, create_sessionmaker
from app.domain.api_keys import Principal, Scope
from app.facts import JobRequest
from app.services import triggers as trigger_service
from app.services import workspaces
from app.workers import triggers as trigger_jobs
from app.workers.job import JobRun

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_RATIO = 2.0
SEED_CHUNK = 20_000

CONDITION = {
    "all": [
        {"field": "tier", "op": "eq", "value": "mid"},
        {"field": "health.band", "op": "eq", "value": "at_risk"},
        {"field": "days_since_touchpoint", "op": "gt", "value": 30},
    ]
}
# Whole days since the touchpoint > 30 is a touchpoint at least 31 days ago.
BASELINE = """
SELECT c.id
FROM clients c
JOIN health_scores h ON h.client_id = c.id AND h.latest
WHERE c.workspace_id = $1 AND c.tier = 'mid' AND h.band = 'at_risk'
  AND c.last_touchpoint_at <= $2::timestamptz - interval '31 days'
"""
SEED_CLIENTS = """
INSERT INTO clients (id, workspace_id, name, tier, lifecycle_stage, stage_changed_at, status,
                     acquired_at, acquired_at_source, attributes, open_tickets,
                     last_touchpoint_at, version, created_at, updated_at)
SELECT gen_random_uuid(), $1::uuid, 'Client ' || g,
       (ARRAY['enterprise', 'mid', 'smb', NULL])[1 + g % 4], 'adoption', $2::timestamptz,
       'active', $2::timestamptz - interval '400 days', 'given', '{}'::jsonb, 0,
       CASE WHEN g % 10 <> 0 THEN $2::timestamptz - (g % 97) * interval '1 day' END,
       1, $2::timestamptz, $2::timestamptz
FROM generate_series($3::int, $4::int) AS g
"""
SEED_SCORES = """
INSERT INTO health_scores (id, workspace_id, client_id, scorecard_id, scorecard_version,
                           computed_at, score, band, groups, measures, source, latest,
                           created_at)
SELECT gen_random_uuid(), c.workspace_id, c.id, $2::uuid, 1, $3::timestamptz, s.score,
       CASE WHEN s.score >= 70 THEN 'healthy' WHEN s.score >= 40 THEN 'neutral'
            ELSE 'at_risk' END,
       '{}'::jsonb, '[]'::jsonb, 'evaluation', true, $3::timestamptz
FROM clients c, LATERAL (SELECT floor(random() * 100 + length(c.id::text) * 0) AS score) s
WHERE c.workspace_id = $1::uuid
"""


async def seed(url: str, dsn: str, clients: int, now: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    """The workspace and the bench trigger (its default playbooks are left alone)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            workspace, issued = await workspaces.create_workspace(session, "Bench CS")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT setseed(0.42)")
            for start in range(1, clients + 1, SEED_CHUNK):
                end = min(start + SEED_CHUNK - 1, clients)
                await conn.execute(SEED_CLIENTS, workspace.id, now, start, end)
            scorecard = await conn.fetchval(
                "SELECT id FROM scorecards WHERE workspace_id = $1", workspace.id
            )
            await conn.execute(SEED_SCORES, workspace.id, scorecard, now)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        principal = Principal(workspace.id, uuid.uuid4(), (Scope.ADMIN,))
        async with create_sessionmaker(engine).begin() as session:
            view = await trigger_service.create_trigger(
                session,
                principal,
                {
                    "name": "Quiet at-risk mid-tier",
                    "when": {"kind": "schedule", "cron": "0 8 * * *"},
                    "condition": CONDITION,
                    "actions": [
                        {
                            "kind": "create_task",
                            "params": {"title": "Call {{client.name}}", "due_in_days": 2},
                        }
                    ],
                    "control": {"cooldown_hours": 24, "holdout_percent": 10},
                },
                now,
            )
        del issued
        return workspace.id, view.trigger.id
    finally:
        await engine.dispose()


async def run_job(
    url: str, workspace_id: uuid.UUID, trigger_id: uuid.UUID, now: datetime
) -> tuple[float, dict[str, Any]]:
    """The job's body on a schedule's request, in one transaction committed at the end, on a
    connection opened beforehand, as a worker's pool holds them (and, as the worker's, not
    pinged at every checkout)."""
    engine = create_engine(url, pre_ping=False)
    try:
        async with engine.connect() as warm:  # connects and reads the server's settings
            await warm.execute(sa.text("SELECT 1"))
        async with create_sessionmaker(engine)() as session:
            payload = {"trigger_id": str(trigger_id), "due_at": now.isoformat()}
            run = JobRun(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                kind="triggers.evaluate",
                payload=payload,
                attempt=1,
                now=now,
                session=session,
                settings=Settings(database_url=url),
                fact=JobRequest.model_validate(payload),
            )
            started = time.perf_counter()
            result = await trigger_jobs.evaluate(run)
            await session.commit()
            return time.perf_counter() - started, result
    finally:
        await engine.dispose()


async def run_baseline(dsn: str, workspace_id: uuid.UUID, now: datetime) -> tuple[float, set[Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        rows = await conn.fetch(BASELINE, workspace_id, now)
        return time.perf_counter() - started, {row[0] for row in rows}
    finally:
        await conn.close()


async def recorded(dsn: str) -> tuple[set[Any], dict[str, int], int]:
    """The clients the job recorded, its outcomes, and the actions it scheduled."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT client_id, outcome FROM trigger_runs")
        actions = int(await conn.fetchval("SELECT count(*) FROM action_runs"))
    finally:
        await conn.close()
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    return {row["client_id"] for row in rows}, outcomes, actions


async def forget_runs(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM outbox WHERE kind = 'actions.run'")
        await conn.execute("TRUNCATE action_runs, trigger_runs")
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100_000, help="default 100000")
    parser.add_argument("--rounds", type=int, default=3, help="default 3")
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
        workspace_id, trigger_id = asyncio.run(seed(url, dsn, args.clients, now))
        say(f"seeded in {time.perf_counter() - started:.0f}s")
        _, expected = asyncio.run(run_baseline(dsn, workspace_id, now))  # warms the cache
        baseline: list[float] = []
        first: list[float] = []
        steady: list[float] = []
        agree = True
        outcomes: dict[str, int] = {}
        actions = 0
        for round_ in range(args.rounds):
            seconds, selected = asyncio.run(run_baseline(dsn, workspace_id, now))
            baseline.append(seconds)
            seconds, result = asyncio.run(run_job(url, workspace_id, trigger_id, now))
            first.append(seconds)
            clients, outcomes, actions = asyncio.run(recorded(dsn))
            agree = agree and clients == selected == expected
            seconds, later = asyncio.run(run_job(url, workspace_id, trigger_id, now))
            steady.append(seconds)
            say(
                f"round {round_ + 1}: statement {baseline[-1]:.3f}s ({len(selected):,} clients), "
                f"first sweep {first[-1]:.3f}s ({result['outcomes']}), "
                f"steady sweep {steady[-1]:.3f}s ({later['outcomes']})"
            )
            asyncio.run(forget_runs(dsn))
    finally:
        asyncio.run(drop_database(admin_url, name))

    base, job, calm = (statistics.median(x) for x in (baseline, first, steady))
    rows_out = [
        ("clients / matching", f"{args.clients:,} / {len(expected):,}"),
        ("hand-written statement s", f"{base:.3f}"),
        ("first sweep s (records and schedules)", f"{job:.3f}"),
        ("steady sweep s (all cooling down)", f"{calm:.3f}"),
        ("ratio first sweep / statement", _ratio(job, base)),
        ("ratio steady sweep / statement", _ratio(calm, base)),
        ("first sweep outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))),
        ("actions scheduled", f"{actions:,}"),
        ("same clients as the statement", "yes" if agree else "NO"),
    ]
    print(f"\n{os.cpu_count()} CPUs, medians of {args.rounds} rounds")
    width = max(len(label) for label, _ in rows_out)
    for label, value in rows_out:
        print(f"  {label:<{width}}  {value}")
    if not agree:
        sys.exit(1)


def _ratio(value: float, base: float) -> str:
    ratio = value / base
    verdict = "meets" if ratio <= TARGET_RATIO else "above"
    return f"{ratio:.2f} ({verdict} the {TARGET_RATIO} target)"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
