"""Email throughput: emails written by the `send_email` action's service (the per-contact cap
applied) and sent by ONE shipped `tenure worker` through a fake SendGrid on 127.0.0.1, against
raw httpx posting the same payloads, with the same API key, to the same fake at the worker's
concurrency (TENURE_WORKER_MAX_JOBS). A benchmark, not a test: it prints figures.

    .venv/bin/python bench/emails.py [--emails 10000] [--max-jobs 20] [--writers 4]
                                     [--compose-first]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, flushes the Redis database TENURE_BENCH_REDIS_URL (default
redis://127.0.0.1:6379/14), seeds clients with a primary contact each (set-based SQL), a
SendGrid integration pointing at the fake, a template, and the cap (3 emails in 7 days). The
worker (`tenure worker`, configured by TENURE_ variables only, with its own relay) runs while
this process composes the emails through `app.services.emails.compose` in transactions of 50
(--writers at once): 90% of the emails go to distinct contacts, the rest to a quarter as many
contacts five times each, so those get 3 queued and 2 suppressed by the cap.

End to end: first email's created_at to the last sent_at (both stamped by the app), over the
emails sent. The baseline posts the bodies the fake received, again, from one httpx client."""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import redis
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from throwaway import create_database, drop_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from app.db import migrate
from app.db.models import EmailSettingsRecord, Integration
from app.db.session import create_engine, create_sessionmaker
from app.domain.api_keys import Principal, Scope
from app.domain.emails import parse_params
from app.integrations.credentials import cipher_for
from app.services import email_templates as templates
from app.services import workspaces
from app.services.emails import EmailCause, compose
from tests.fakes.sendgrid import API_KEY, FakeSendGrid

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
KEY = "dGVudXJlLWJlbmNoLWtleS1ub3QtZm9yLXByb2R1Y3Q="  # a Fernet key for this run only
TENURE = Path(sys.executable).parent / "tenure"
CHUNK = 50
CAP = 3
REPEATS = 5
SEED_CLIENTS = """
INSERT INTO clients (id, workspace_id, name, tier, lifecycle_stage, stage_changed_at, status,
                     acquired_at, acquired_at_source, attributes, open_tickets,
                     version, created_at, updated_at)
SELECT gen_random_uuid(), $1::uuid, 'Client ' || g, 'mid', 'adoption', $2::timestamptz,
       'active', $2::timestamptz - interval '400 days', 'given', '{}'::jsonb, 0,
       1, $2::timestamptz, $2::timestamptz
FROM generate_series(1, $3::int) AS g
"""
SEED_CONTACTS = """
INSERT INTO contacts (id, workspace_id, client_id, name, email, is_primary, version,
                      created_at, updated_at)
SELECT gen_random_uuid(), c.workspace_id, c.id, 'Pat ' || c.name,
       'pat+' || replace(c.name, ' ', '-') || '@bench.example', true, 1,
       $2::timestamptz, $2::timestamptz
FROM clients c WHERE c.workspace_id = $1::uuid
"""


def plan(emails: int) -> tuple[int, int]:
    """(distinct clients, clients emailed REPEATS times): 90% of the emails go once each."""
    repeated = max(1, emails // 10 // REPEATS)
    return emails - repeated * REPEATS + repeated, repeated


@dataclass(frozen=True)
class Seeded:
    workspace_id: uuid.UUID
    template_id: str
    clients: list[uuid.UUID]


async def seed(url: str, dsn: str, settings: Settings, fake_url: str, clients: int) -> Seeded:
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            workspace, _ = await workspaces.create_workspace(session, "Bench CS")
            session.add(
                Integration(
                    workspace_id=workspace.id,
                    kind="sendgrid",
                    name="Bench SendGrid",
                    base_url=fake_url,
                    credentials_encrypted=cipher_for(settings).encrypt({"api_key": API_KEY}),
                    credential_names=["api_key"],
                    status="active",
                    options={"from_email": "success@tenure.example", "from_name": "Tenure"},
                )
            )
            session.add(
                EmailSettingsRecord(
                    workspace_id=workspace.id,
                    settings={"cap_count": CAP, "cap_days": 7, "review": False},
                )
            )
        conn = await asyncpg.connect(dsn)
        try:
            # The default playbooks would give every seeded client cadence tasks and their
            # jobs: the worker is to send emails only.
            await conn.execute(
                "UPDATE triggers SET enabled = false WHERE workspace_id = $1", workspace.id
            )
            await conn.execute(
                "UPDATE cadences SET enabled = false WHERE workspace_id = $1", workspace.id
            )
            await conn.execute(SEED_CLIENTS, workspace.id, now, clients)
            await conn.execute(SEED_CONTACTS, workspace.id, now)
            await conn.execute("VACUUM ANALYZE")
            client_ids = [
                r[0]
                for r in await conn.fetch(
                    "SELECT id FROM clients WHERE workspace_id = $1 ORDER BY name", workspace.id
                )
            ]
        finally:
            await conn.close()
        principal = Principal(workspace.id, uuid.uuid4(), (Scope.ADMIN,))
        async with create_sessionmaker(engine).begin() as session:
            template = await templates.create_template(
                session,
                principal,
                {
                    "name": "Check-in",
                    "subject": "Checking in on {{ client.name }}",
                    "text_body": "Hi {{ contact.first_name }}, how is {{ client.name }} doing "
                    "on the {{ client.tier }} plan?",
                },
            )
        return Seeded(workspace.id, str(template.id), client_ids)
    finally:
        await engine.dispose()


async def write_emails(url: str, seeded: Seeded, targets: list[uuid.UUID], writers: int) -> float:
    """Composes one email per target in transactions of CHUNK, `writers` at once."""
    params, problems = parse_params({"template_id": seeded.template_id})
    assert params is not None, problems
    engine = create_engine(url, pool_size=writers + 2)
    sessionmaker = create_sessionmaker(engine)
    chunks = [targets[i : i + CHUNK] for i in range(0, len(targets), CHUNK)]
    queue: asyncio.Queue[list[uuid.UUID]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def writer() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            for _ in range(5):
                try:
                    async with sessionmaker.begin() as session:
                        for client_id in chunk:
                            await compose(
                                session,
                                seeded.workspace_id,
                                client_id,
                                params,
                                EmailCause(),
                                datetime.now(UTC),
                            )
                    break
                except DBAPIError as exc:
                    # Chunks that wrap from one round of repeated clients to the next take
                    # the cap's address locks in opposite orders: PostgreSQL breaks the
                    # deadlock by failing one transaction, which a caller retries.
                    if "deadlock" not in str(exc):
                        raise

    started = time.perf_counter()
    try:
        await asyncio.gather(*(writer() for _ in range(writers)))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def wait_sent(dsn: str, expected: int, worker: subprocess.Popen[bytes], log: Path) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM emails WHERE status IN ('sent', 'failed')"
            )
            if done >= expected:
                return
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; its log: {log}")
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def figures(dsn: str) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM emails GROUP BY status")
        first, last_sent, first_sent = await conn.fetchrow(
            "SELECT min(created_at), max(sent_at), min(sent_at) FROM emails"
        )
    finally:
        await conn.close()
    return {
        "statuses": {r[0]: r[1] for r in rows},
        "first_created": first,
        "first_sent": first_sent,
        "last_sent": last_sent,
    }


async def raw_httpx(base_url: str, bodies: list[dict[str, object]], concurrency: int) -> float:
    """The same payloads, authenticated the same way, at the worker's concurrency."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def post(body: dict[str, object]) -> None:
            async with semaphore:
                response = await client.post("/v3/mail/send", json=body, headers=headers)
                assert response.status_code == 202, response.text

        started = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        return time.perf_counter() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=10_000, help="default 10000")
    parser.add_argument("--max-jobs", type=int, default=20, help="worker concurrency, default 20")
    parser.add_argument("--writers", type=int, default=4, help="composing transactions at once")
    parser.add_argument(
        "--compose-first",
        action="store_true",
        help="write every email before the worker starts: the send side alone, not bounded "
        "by the compose rate",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    admin_url = make_url(os.environ.get("TENURE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    admin_url = admin_url.set(drivername="postgresql+asyncpg")
    redis_url = os.environ.get("TENURE_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    name = f"tenure_bench_{uuid.uuid4().hex[:12]}"
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    settings = Settings(database_url=url, encryption_key=SecretStr(KEY))
    distinct, repeated = plan(args.emails)
    targets_order: list[int] = list(range(distinct)) + [
        i for _ in range(REPEATS - 1) for i in range(repeated)
    ]
    redis.Redis.from_url(redis_url).flushdb()
    asyncio.run(create_database(admin_url, name))
    workdir = Path(tempfile.mkdtemp(prefix="tenure-bench-email-"))
    try:
        migrate.upgrade(url)
        with FakeSendGrid() as fake:
            seeded = asyncio.run(seed(url, dsn, settings, fake.base_url, distinct))
            targets = [seeded.clients[i] for i in targets_order]
            say(f"database {name}: {distinct:,} clients, {len(targets):,} emails to write")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("TENURE_")},
                "TENURE_DATABASE_URL": url,
                "TENURE_REDIS_URL": redis_url,
                "TENURE_ENCRYPTION_KEY": KEY,
                "TENURE_ALLOW_LOOPBACK_URLS": "true",
                "TENURE_WORKER_MAX_JOBS": str(args.max_jobs),
                "TENURE_RELAY_POLL_SECONDS": "0.2",
                "TENURE_LOG_LEVEL": "WARNING",
            }
            log = workdir / "worker.log"
            if args.compose_first:
                compose_seconds = asyncio.run(write_emails(url, seeded, targets, args.writers))
                say(f"composed in {compose_seconds:.1f}s; starting the worker")
            with log.open("wb") as sink:
                worker = subprocess.Popen(
                    [str(TENURE), "worker"], env=env, stdout=sink, stderr=sink
                )
            try:
                if not args.compose_first:
                    time.sleep(3)  # the worker starts (imports, pools) before the first email
                    compose_seconds = asyncio.run(write_emails(url, seeded, targets, args.writers))
                    say(f"composed in {compose_seconds:.1f}s; waiting for the sends")
                queued = args.emails - repeated * (REPEATS - CAP)
                asyncio.run(wait_sent(dsn, queued, worker, log))
            finally:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            got = asyncio.run(figures(dsn))
            bodies = [m.body for m in fake.messages]
            baseline = asyncio.run(raw_httpx(fake.base_url, bodies, args.max_jobs))
    finally:
        asyncio.run(drop_database(admin_url, name))

    statuses = got["statuses"]
    assert isinstance(statuses, dict)
    sent = int(statuses.get("sent", 0))
    end_to_end = (got["last_sent"] - got["first_created"]).total_seconds()  # type: ignore[operator]
    sending = (got["last_sent"] - got["first_sent"]).total_seconds()  # type: ignore[operator]
    raw_rate = len(bodies) / baseline
    rows = [
        ("emails written / statuses", f"{args.emails:,} / {dict(sorted(statuses.items()))}"),
        ("expected suppressed by the cap", f"{repeated * (REPEATS - CAP):,}"),
        ("bodies received by the fake", f"{len(bodies):,}"),
        ("compose (action service) s", f"{compose_seconds:.1f}"),
        ("end to end s (first created -> last sent)", f"{end_to_end:.1f}"),
        ("end to end emails/s", f"{sent / end_to_end:.0f}"),
        ("send side emails/s (first sent -> last sent)", f"{sent / sending:.0f}"),
        (f"raw httpx emails/s ({args.max_jobs} at once)", f"{raw_rate:.0f}"),
        ("ratio raw / end to end", f"{raw_rate / (sent / end_to_end):.1f}x"),
        ("ratio raw / send side", f"{raw_rate / (sent / sending):.1f}x"),
    ]
    print(f"\n{os.cpu_count()} CPUs, one tenure worker, max_jobs {args.max_jobs}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
