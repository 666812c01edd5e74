"""Ingest throughput: Tenure's POST /v1/events against hand-written asyncpg doing the same SQL
work (resolve clients, claim dedupe keys, insert events, move client facts, upsert tickets and
recount open ones), then Tenure on SQLite. A benchmark, not a test: it prints a table.

    .venv/bin/python bench/ingest.py [--seconds 30] [--batch 1000] [--concurrency 4]
                                     [--clients 200] [--rounds 3] [--sqlite-seconds 15]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, makes a workspace and clients through the services, runs the real server
(`tenure serve`) against it, and drops it at the end. Tenure and the hand-written inserts take
turns on the same database; then the server runs again on a SQLite file. CPU times come from
/proc, so the figures assume PostgreSQL runs on this machine."""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from throwaway import create_database, drop_database

from app.db import migrate
from app.db.session import create_engine, create_sessionmaker
from app.domain import ingestion
from app.domain.api_keys import Principal, Scope
from app.domain.ingestion import AcceptedEvent
from app.services import clients as client_service
from app.services import workspaces

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TENURE = Path(sys.executable).parent / "tenure"
TARGET_RATIO = 0.5
# A CRM-and-product mix: mostly usage, some support, success and revenue events.
MIX: tuple[tuple[str, int], ...] = (
    ("login", 40),
    ("feature_used", 32),
    ("ticket_opened", 5),
    ("ticket_resolved", 4),
    ("ticket_escalated", 1),
    ("touchpoint", 5),
    ("nps", 3),
    ("email_sent", 5),
    ("email_opened", 3),
    ("order", 2),
)
SOURCES = {"ticket": "zendesk", "touchpoint": "crm", "nps": "delighted", "email": "mailer"}
FEATURES = ("dashboards", "reports", "exports", "alerts", "integrations", "api")
CHANNELS = ("call", "email", "meeting", "note")

CLAIM_KEYS = """
INSERT INTO event_keys (workspace_id, source, external_id, event_id, client_id)
SELECT $1::uuid, s, x, i, c FROM unnest($2::text[], $3::text[], $4::uuid[], $5::uuid[])
  AS t(s, x, i, c)
ON CONFLICT DO NOTHING
RETURNING event_id
"""
INSERT_EVENTS = """
INSERT INTO events (id, occurred_at, workspace_id, client_id, type, value, properties,
                    contact_id, source, external_id, received_at)
SELECT i, o, $1::uuid, c, t, v, p, k, s, x, $2::timestamptz
FROM unnest($3::uuid[], $4::timestamptz[], $5::uuid[], $6::text[], $7::float8[],
            $8::text[]::jsonb[], $9::uuid[], $10::text[], $11::text[])
  AS u(i, o, c, t, v, p, k, s, x)
"""
RESOLVE_CLIENTS = """
SELECT id, external_id, acquired_at, acquired_at_source FROM clients
WHERE workspace_id = $1 AND external_id = ANY($2::text[])
"""
MOVE_FACTS = """
UPDATE clients SET
  last_activity_at = CASE WHEN $2::timestamptz IS NULL THEN last_activity_at
    WHEN last_activity_at IS NULL OR $2 > last_activity_at THEN $2 ELSE last_activity_at END,
  last_touchpoint_at = CASE WHEN $3::timestamptz IS NULL THEN last_touchpoint_at
    WHEN last_touchpoint_at IS NULL OR $3 > last_touchpoint_at THEN $3 ELSE last_touchpoint_at END,
  first_escalation_at = CASE WHEN $4::timestamptz IS NULL THEN first_escalation_at
    WHEN first_escalation_at IS NULL OR $4 < first_escalation_at THEN $4
    ELSE first_escalation_at END,
  acquired_at = CASE WHEN acquired_at_source = 'given' OR $5::timestamptz IS NULL THEN acquired_at
    WHEN acquired_at IS NULL OR $5 < acquired_at THEN $5 ELSE acquired_at END,
  acquired_at_source = CASE WHEN acquired_at_source <> 'given' AND $5::timestamptz IS NOT NULL
    AND (acquired_at IS NULL OR $5 < acquired_at) THEN 'history' ELSE acquired_at_source END
WHERE id = $1
"""
UPSERT_TICKETS = """
INSERT INTO tickets AS t (workspace_id, client_id, ticket_id, last_opened_at, last_resolved_at)
SELECT $1::uuid, c, k, o, r
FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(c, k, o, r)
ON CONFLICT (workspace_id, client_id, ticket_id) DO UPDATE
SET last_opened_at = GREATEST(t.last_opened_at, excluded.last_opened_at),
    last_resolved_at = GREATEST(t.last_resolved_at, excluded.last_resolved_at)
"""
COUNT_OPEN_TICKETS = """
UPDATE clients SET open_tickets = (
  SELECT count(*) FROM tickets t
  WHERE t.workspace_id = clients.workspace_id AND t.client_id = clients.id
    AND t.last_opened_at IS NOT NULL
    AND (t.last_resolved_at IS NULL OR t.last_opened_at > t.last_resolved_at))
WHERE id = ANY($1::uuid[])
"""

Step = Callable[[int], Awaitable[int]]
"""One batch by worker n; returns the events stored."""


@dataclass(frozen=True)
class Book:
    workspace_id: uuid.UUID
    api_key: str
    clients: list[tuple[uuid.UUID, str]]
    """(id, external id) of each client."""


@dataclass(frozen=True, slots=True)
class Event:
    client: int
    type: str
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    source: str
    external_id: str


@dataclass
class Run:
    events: int = 0
    batches: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent meanwhile, per process kind."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    def cpu_ms_per_1000(self, kind: str) -> str:
        if kind not in self.cpu or not self.events:
            return "n/a"
        return f"{self.cpu[kind] / self.events * 1_000_000:.0f}"


@dataclass(frozen=True)
class CpuSample:
    bench: float
    server: float | None
    postgres: dict[int, float]
    """CPU seconds so far of each PostgreSQL process, by pid."""


class CpuMeter:
    """CPU time of the bench itself, the server, and PostgreSQL's processes, from /proc.

    A PostgreSQL process that exits meanwhile (an autovacuum worker) is not counted."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int | None, *, postgres: bool = True) -> None:
        self.server_pid = server_pid
        self.postgres = postgres

    def sample(self) -> CpuSample:
        postgres = {}
        for entry in Path("/proc").iterdir() if self.postgres else ():
            if entry.name.isdigit():
                seconds = self._seconds(int(entry.name), "postgres")
                if seconds is not None:
                    postgres[int(entry.name)] = seconds
        server = None if self.server_pid is None else self._seconds(self.server_pid)
        return CpuSample(time.process_time(), server, postgres)

    @staticmethod
    def spent(before: CpuSample, after: CpuSample) -> dict[str, float]:
        spent = {"bench": after.bench - before.bench}
        if before.server is not None and after.server is not None:
            spent["server"] = after.server - before.server
        if after.postgres:
            spent["postgres"] = sum(
                seconds - before.postgres.get(pid, 0.0) for pid, seconds in after.postgres.items()
            )
        return spent

    def _seconds(self, pid: int, name: str | None = None) -> float | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name is not None and comm != name:
            return None
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / self.TICK


class EventMaker:
    """Realistic events spread across the clients; every external id is new."""

    def __init__(self, clients: int, prefix: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clients = clients
        self.prefix = prefix
        self.sequence = 0
        self.now = datetime.now(UTC)
        self.types = [name for name, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    def batch(self, size: int) -> list[Event]:
        rng = self.rng
        chosen = rng.choices(self.types, weights=self.weights, k=size)
        batch = []
        for kind in chosen:
            self.sequence += 1
            client = rng.randrange(self.clients)
            value: float | None = None
            properties: dict[str, Any] = {}
            if kind == "login":
                properties = {"user": f"u{rng.randrange(50):02d}"}
            elif kind == "feature_used":
                properties = {"feature": rng.choice(FEATURES)}
            elif kind.startswith("ticket"):
                properties = {"ticket_id": f"T-{client}-{rng.randrange(40)}"}
            elif kind == "touchpoint":
                properties = {"channel": rng.choice(CHANNELS)}
            elif kind == "nps":
                value = float(rng.randint(0, 10))
            elif kind.startswith("email"):
                properties = {"message_id": f"M-{rng.randrange(1000)}"}
            elif kind == "order":
                value = round(rng.uniform(20, 2000), 2)
                properties = {"currency": "USD"}
            source = SOURCES.get(kind.split("_")[0], "app")
            at = self.now - timedelta(seconds=rng.randrange(30 * 86400))
            external_id = f"{self.prefix}-{self.sequence:09d}"
            batch.append(Event(client, kind, at, value, properties, source, external_id))
        return batch


def api_body(batch: list[Event], book: Book) -> bytes:
    events = []
    for s in batch:
        event: dict[str, Any] = {
            "client_external_id": book.clients[s.client][1],
            "type": s.type,
            "occurred_at": s.occurred_at.isoformat(),
            "properties": s.properties,
            "source": s.source,
            "external_id": s.external_id,
        }
        if s.value is not None:
            event["value"] = s.value
        events.append(event)
    return json.dumps({"events": events}).encode()


async def timed(run: Run, seconds: float, concurrency: int, step: Step, meter: CpuMeter) -> None:
    """Runs `step` (one batch; returns the events stored) in `concurrency` loops for `seconds`,
    adding what happened to `run`."""
    before = meter.sample()
    started = time.perf_counter()
    deadline = started + seconds

    async def loop(worker: int) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            stored = await step(worker)  # not `+= await`: it would read the sum before awaiting
            run.events += stored
            run.latencies.append(time.perf_counter() - began)
            run.batches += 1

    await asyncio.gather(*(loop(w) for w in range(concurrency)))
    run.seconds += time.perf_counter() - started
    for kind, seconds in meter.spent(before, meter.sample()).items():
        run.cpu[kind] = run.cpu.get(kind, 0.0) + seconds


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def peak_rss_mb(self) -> float:
        """VmHWM: the high-water mark of resident memory, from the kernel."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def serving(database_url: str, workdir: Path) -> Iterator[Server]:
    """`tenure serve` in a subprocess, as in production; stopped with SIGINT afterwards."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    env = {
        **os.environ,
        "TENURE_DATABASE_URL": database_url,
        "TENURE_LOG_LEVEL": "WARNING",
        "TENURE_HOST": "127.0.0.1",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(TENURE), "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready in {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def posting(
    base_url: str, book: Book, args: argparse.Namespace, prefix: str
) -> AsyncIterator[Step]:
    """One batch through Tenure's API per call; returns the events it created."""
    makers = [EventMaker(len(book.clients), f"{prefix}{w}", w) for w in range(args.concurrency)]
    headers = {"Authorization": f"Bearer {book.api_key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=120, limits=limits
    ) as http:

        async def step(worker: int) -> int:
            body = api_body(makers[worker].batch(args.batch), book)
            response = await http.post("/v1/events", content=body)
            if response.status_code != 200:
                raise RuntimeError(f"POST /v1/events: {response.status_code} {response.text[:500]}")
            created: int = response.json()["created"]
            return created

        yield step


@asynccontextmanager
async def inserting(
    dsn: str, book: Book, args: argparse.Namespace, prefix: str
) -> AsyncIterator[Step]:
    """The same SQL work as Tenure's PostgreSQL path, with nothing around it: resolve the
    clients, claim the dedupe keys, insert the events, move the client facts, upsert the
    tickets and recount open ones, in one transaction per batch."""
    makers = [
        EventMaker(len(book.clients), f"{prefix}{w}", 100 + w) for w in range(args.concurrency)
    ]
    pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)
    try:

        async def step(worker: int) -> int:
            events = sorted(
                makers[worker].batch(args.batch), key=lambda s: (s.source, s.external_id)
            )
            ids = [uuid.uuid4() for _ in events]
            async with pool.acquire() as conn, conn.transaction():
                external_ids = sorted({book.clients[s.client][1] for s in events})
                rows = await conn.fetch(RESOLVE_CLIENTS, book.workspace_id, external_ids)
                clients = {
                    r["external_id"]: (
                        r["id"],
                        r["acquired_at"] if r["acquired_at_source"] == "given" else None,
                    )
                    for r in rows
                }
                claimed = {
                    r[0]
                    for r in await conn.fetch(
                        CLAIM_KEYS,
                        book.workspace_id,
                        [s.source for s in events],
                        [s.external_id for s in events],
                        ids,
                        [clients[book.clients[s.client][1]][0] for s in events],
                    )
                }
                new = [
                    AcceptedEvent(
                        index=n,
                        id=i,
                        client_id=clients[book.clients[s.client][1]][0],
                        type=s.type,
                        occurred_at=s.occurred_at,
                        value=s.value,
                        properties=s.properties,
                        contact_id=None,
                        source=s.source,
                        external_id=s.external_id,
                    )
                    for n, (i, s) in enumerate(zip(ids, events, strict=True))
                    if i in claimed
                ]
                await conn.execute(
                    INSERT_EVENTS,
                    book.workspace_id,
                    datetime.now(UTC),
                    [e.id for e in new],
                    [e.occurred_at for e in new],
                    [e.client_id for e in new],
                    [e.type for e in new],
                    [e.value for e in new],
                    [json.dumps(e.properties) for e in new],
                    [None for _ in new],
                    [e.source for e in new],
                    [e.external_id for e in new],
                )
                acquired = dict(clients.values())
                facts = ingestion.client_facts(new, acquired)
                await conn.executemany(
                    MOVE_FACTS,
                    [
                        (
                            f.client_id,
                            f.last_activity_at,
                            f.last_touchpoint_at,
                            f.first_escalation_at,
                            f.first_activity_at,
                        )
                        for f in facts
                    ],
                )
                moments = ingestion.ticket_moments(new)
                if moments:
                    await conn.execute(
                        UPSERT_TICKETS,
                        book.workspace_id,
                        [m.client_id for m in moments],
                        [m.ticket_id for m in moments],
                        [m.last_opened_at for m in moments],
                        [m.last_resolved_at for m in moments],
                    )
                    await conn.execute(COUNT_OPEN_TICKETS, sorted({m.client_id for m in moments}))
            return len(new)

        yield step
    finally:
        await pool.close()


async def compare(
    server: Server, dsn: str, book: Book, args: argparse.Namespace
) -> tuple[Run, Run]:
    """Tenure and hand-written inserts take turns in short rounds, so neither gets the emptier
    table: inserts slow down as the indexes grow."""
    tenure, by_hand = Run(), Run()
    meter = CpuMeter(server.process.pid)
    async with (
        posting(server.base_url, book, args, "pg") as post,
        inserting(dsn, book, args, "raw") as insert,
    ):
        for step in (post, insert):  # warm-up: connections, prepared statements, caches
            await asyncio.gather(*(step(w) for w in range(args.concurrency)))
        turns = [(tenure, post), (by_hand, insert)]
        for round_ in range(args.rounds):
            for run, step in turns if round_ % 2 == 0 else turns[::-1]:
                await timed(run, args.seconds / args.rounds, args.concurrency, step, meter)
    return tenure, by_hand


async def post_only(server: Server, book: Book, args: argparse.Namespace, seconds: float) -> Run:
    run = Run()
    async with posting(server.base_url, book, args, "lite") as post:
        await asyncio.gather(*(post(w) for w in range(args.concurrency)))
        meter = CpuMeter(server.process.pid, postgres=False)
        await timed(run, seconds, args.concurrency, post, meter)
    return run


async def make_book(database_url: str, clients: int) -> Book:
    """A workspace with an admin key and clients, made through the services."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            workspace, issued = await workspaces.create_workspace(session, "Ingest bench")
            principal = Principal(workspace.id, issued.api_key.id, (Scope.ADMIN,))
            limits = client_service.ClientLimits(max_attributes_bytes=16_384)
            now = datetime.now(UTC)
            made = []
            for n in range(clients):
                external_id = f"bench-client-{n:05d}"
                data = {"name": f"Bench client {n}", "external_id": external_id, "tier": "mid"}
                view = await client_service.create_client(session, principal, data, limits, now)
                made.append((view.client.id, external_id))
        return Book(workspace.id, issued.secret, made)
    finally:
        await engine.dispose()


async def count_events(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM events"))).scalar_one())
    finally:
        await engine.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=30,
        help="time for each PostgreSQL contender, tenure and hand-written (default 30)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the PostgreSQL contenders alternate this many times (default 3)",
    )
    parser.add_argument(
        "--sqlite-seconds",
        type=float,
        default=None,
        help="length of the SQLite run (default: --seconds / 2)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="events per batch (default 1000)")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight (default 4)")
    parser.add_argument(
        "--clients", type=int, default=200, help="clients the events spread across (default 200)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sqlite_seconds = args.sqlite_seconds or args.seconds / 2
    admin_url = make_url(os.environ.get("TENURE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    admin_url = admin_url.set(drivername="postgresql+asyncpg")
    name = f"tenure_bench_{uuid.uuid4().hex[:12]}"
    bench_url = admin_url.set(database=name).render_as_string(hide_password=False)
    bench_dsn = (
        make_url(bench_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with tempfile.TemporaryDirectory(prefix="tenure-bench-") as tmp:
        workdir = Path(tmp)
        asyncio.run(create_database(admin_url, name))
        try:
            say(f"database {name}: migrating, {args.clients} clients")
            migrate.upgrade(bench_url)
            book = asyncio.run(make_book(bench_url, args.clients))
            say(
                f"PostgreSQL: tenure and hand-written asyncpg, {args.seconds:g}s each, "
                f"in {args.rounds} rounds"
            )
            with serving(bench_url, workdir) as server:
                tenure, by_hand = asyncio.run(compare(server, bench_dsn, book, args))
                rss = server.peak_rss_mb()
            stored = asyncio.run(count_events(bench_url))
        finally:
            asyncio.run(drop_database(admin_url, name))

        say(f"SQLite: tenure, {sqlite_seconds:g}s")
        sqlite_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        migrate.upgrade(sqlite_url)
        sqlite_book = asyncio.run(make_book(sqlite_url, args.clients))
        with serving(sqlite_url, workdir) as server:
            on_sqlite = asyncio.run(post_only(server, sqlite_book, args, sqlite_seconds))
            sqlite_rss = server.peak_rss_mb()

    ratio = tenure.rate / by_hand.rate if by_hand.rate else float("nan")
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    rows = [
        ("tenure events/s (PostgreSQL)", f"{tenure.rate:,.0f}"),
        ("hand-written asyncpg events/s", f"{by_hand.rate:,.0f}"),
        ("ratio tenure / hand-written", f"{ratio:.2f} ({verdict} the {TARGET_RATIO} target)"),
        ("server peak RSS MB", f"{rss:,.0f} (SQLite run: {sqlite_rss:,.0f})"),
        ("tenure events/s (SQLite)", f"{on_sqlite.rate:,.0f}"),
    ]
    print(
        f"\nbatch {args.batch}, {args.concurrency} in flight, {args.clients} clients, "
        f"{args.seconds:g}s per PostgreSQL contender in {args.rounds} rounds, "
        f"{sqlite_seconds:g}s on SQLite, {os.cpu_count()} CPUs"
    )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(
        "\n  per contender        batch p50 ms   CPU ms per 1,000 events: server  postgres  bench"
    )
    for label, run in (
        ("tenure (PostgreSQL)", tenure),
        ("hand-written", by_hand),
        ("tenure (SQLite)", on_sqlite),
    ):
        print(
            f"  {label:<20} {run.p50_ms:>12.0f}   {'':>24}{run.cpu_ms_per_1000('server'):>6}"
            f"  {run.cpu_ms_per_1000('postgres'):>8}  {run.cpu_ms_per_1000('bench'):>5}"
        )
    expected = tenure.events + by_hand.events + 2 * args.concurrency * args.batch
    print(f"\n  PostgreSQL rows stored: {stored:,} (counted + warm-up: {expected:,})")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
