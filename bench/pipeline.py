"""Durable pipeline speed: no-op jobs through outbox -> relay -> arq -> worker, against the same
coroutine run with `asyncio.gather` in one process; then latency from the commit of an outbox
row to the start of its job. A benchmark, not a test: it prints figures.

    .venv/bin/python bench/pipeline.py [--jobs 5000] [--batch 500] [--rate 20] [--seconds 10]
                                       [--poll 0.05] [--max-jobs 20] [--relay-poll 1.0]
                                       [--no-relay] [--worker-log-level INFO]
                                       [--profile-worker FILE]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, flushes the Redis database TENURE_BENCH_REDIS_URL (default
redis://127.0.0.1:6379/14), and starts ONE arq worker as a subprocess (this script with
`--worker`: `run_worker` over the default registry plus a `bench.noop` job, configured like
`tenure worker`, with its own relay). This process commits the outbox rows and, like the API
process with Redis configured, runs the relay that a commit wakes (`start_background`); with
`--no-relay` only the worker's relay moves rows, on its poll. Everything is dropped and flushed
at the end, and the worker is stopped whatever happens.

Throughput: the jobs' rows are committed in batches; the rate is jobs / (last job's
finished_at - first row's created_at), both stamped by the app. Latency: rows committed one at
a time at --rate per second, the worker idle in between; started_at - created_at (created_at is
stamped just before the commit), and started_at - the moment the commit returned here. CPU times
come from /proc, so they assume PostgreSQL and Redis run on this machine; other work on the
machine shows up in the PostgreSQL and Redis figures."""

import argparse
import asyncio
import cProfile
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from throwaway import create_database, drop_database

from app.config import Settings
from app.db.migrate import upgrade_on
from app.db.models import OutboxMessage
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.db.session import create_engine, create_sessionmaker
from app.domain.jobs import JobStatus
from app.workers.job import Job, JobRun, Registry
from app.workers.pipeline import start_background
from app.workers.registry import default_registry

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
NOOP = "bench.noop"
TARGET_RATE = 500.0
TARGET_P95 = 1.0
WARM_UP_JOBS = 100


async def noop(run: JobRun) -> None:
    """The job body under test: nothing at all."""
    return None


def bench_registry() -> Registry:
    return default_registry().extended([Job(NOOP, noop)])


# --- the worker subprocess ---------------------------------------------------------------


def worker_main(profile: str | None) -> None:
    """`tenure worker` with the bench registry: settings from TENURE_*, JSON logs at
    TENURE_LOG_LEVEL; SIGTERM stops it gracefully (and writes the profile, if asked)."""
    from app.logging import configure_logging
    from app.workers.settings import run_worker

    settings = Settings()
    configure_logging(settings.log_level)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    try:
        asyncio.run(run_worker(settings, bench_registry()))
    finally:
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the worker exited ({self.process.returncode}):\n{tail}")


@contextmanager
def worker_process(
    args: argparse.Namespace, database_url: str, redis_url: str, workdir: Path
) -> Iterator[Worker]:
    """One worker subprocess; SIGTERM at the end (running jobs are released), SIGKILL if it
    does not stop within 15 s, and always waited for."""
    env = {
        **os.environ,
        "TENURE_DATABASE_URL": database_url,
        "TENURE_REDIS_URL": redis_url,
        "TENURE_WORKER_POLL_SECONDS": str(args.poll),
        "TENURE_WORKER_MAX_JOBS": str(args.max_jobs),
        "TENURE_RELAY_POLL_SECONDS": str(args.relay_poll),
        "TENURE_LOG_LEVEL": args.worker_log_level,
    }
    env.pop("TENURE_WORKER_METRICS_PORT", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    if args.profile_worker:
        command += ["--profile-worker", str(Path(args.profile_worker).resolve())]
    log = workdir / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    try:
        yield Worker(process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    bench: float
    worker: float
    by_name: dict[str, dict[int, float]]


class CpuMeter:
    """CPU seconds of this process, the worker, and every PostgreSQL and Redis process, from
    /proc. A process that exits meanwhile is not counted."""

    TICK = os.sysconf("SC_CLK_TCK")
    NAMES = ("postgres", "redis-server")

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid

    def sample(self) -> CpuSample:
        by_name: dict[str, dict[int, float]] = {name: {} for name in self.NAMES}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                found = self._read(int(entry.name))
                if found is not None and found[0] in by_name:
                    by_name[found[0]][int(entry.name)] = found[1]
        worker = self._read(self.worker_pid)
        return CpuSample(time.process_time(), worker[1] if worker else 0.0, by_name)

    def spent(self, before: CpuSample, after: CpuSample) -> dict[str, float]:
        spent = {"worker": after.worker - before.worker, "bench": after.bench - before.bench}
        for name in self.NAMES:
            earlier = before.by_name[name]
            spent[name] = sum(s - earlier.get(pid, 0.0) for pid, s in after.by_name[name].items())
        return spent

    def _read(self, pid: int) -> tuple[str, float] | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
        return name, (int(utime) + int(stime)) / self.TICK


@dataclass
class Throughput:
    jobs: int
    seconds: float
    """First row's created_at to the last job's finished_at, as the app stamped them."""
    observed_seconds: float
    """First commit returning here to this process seeing every row succeeded."""
    write_seconds: float
    relayed_after: float
    last_start_after: float
    retried: int
    cpu: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


@dataclass
class Latency:
    from_created: list[float]
    from_commit: list[float]
    enqueue: list[float]
    """created_at to enqueued_at: the relay's part."""
    sent: int
    load: tuple[float, float] = (0.0, 0.0)


def elapsed(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        raise RuntimeError("a finished outbox row lacks a timestamp")
    return (end - start).total_seconds()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def write(
    sessionmaker: async_sessionmaker[AsyncSession], tag: str, numbers: range
) -> datetime:
    """One transaction of outbox rows; returns the moment its commit returned."""
    async with sessionmaker() as session:
        messages = [NewMessage(NOOP, {"n": n}, dedupe_key=f"{tag}:{n}") for n in numbers]
        await OutboxRepository(session).add(messages, datetime.now(UTC))
        await session.commit()
    return datetime.now(UTC)


def tagged(tag: str) -> sa.ColumnElement[bool]:
    return sa.and_(OutboxMessage.kind == NOOP, OutboxMessage.dedupe_key.like(f"{tag}:%"))


async def wait_done(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    tag: str,
    expected: int,
    within: float,
) -> None:
    deadline = time.monotonic() + within
    query = (
        sa.select(OutboxMessage.status, sa.func.count())
        .where(tagged(tag))
        .group_by(OutboxMessage.status)
    )
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        async with sessionmaker() as session:
            counts = {str(s): int(c) for s, c in (await session.execute(query)).all()}
        if counts.get(JobStatus.FAILED.value):
            raise RuntimeError(f"bench jobs failed: {counts}")
        if counts.get(JobStatus.SUCCEEDED.value, 0) >= expected:
            return
        worker.check()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{tag}: not done after {within:.0f}s: {counts}")


async def throughput(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    meter: CpuMeter,
    args: argparse.Namespace,
    tag: str,
) -> Throughput:
    before = meter.sample()
    load = os.getloadavg()[0]
    began = time.perf_counter()
    first_commit: float | None = None
    for start in range(0, args.jobs, args.batch):
        await write(sessionmaker, tag, range(start, min(start + args.batch, args.jobs)))
        first_commit = first_commit or time.perf_counter()
    written = time.perf_counter()
    await wait_done(sessionmaker, worker, tag, args.jobs, args.timeout)
    observed = time.perf_counter() - (first_commit or began)
    cpu = meter.spent(before, meter.sample())
    async with sessionmaker() as session:
        row = (
            await session.execute(
                sa.select(
                    sa.func.min(OutboxMessage.created_at),
                    sa.func.max(OutboxMessage.enqueued_at),
                    sa.func.max(OutboxMessage.started_at),
                    sa.func.max(OutboxMessage.finished_at),
                    sa.func.count().filter(OutboxMessage.attempts > 1),
                ).where(tagged(tag))
            )
        ).one()
    first, relayed, last_start, last_finish, retried = row
    return Throughput(
        jobs=args.jobs,
        seconds=elapsed(first, last_finish),
        observed_seconds=observed,
        write_seconds=written - began,
        relayed_after=elapsed(first, relayed),
        last_start_after=elapsed(first, last_start),
        retried=int(retried),
        cpu=cpu,
        load=(load, os.getloadavg()[0]),
    )


async def latency(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    args: argparse.Namespace,
    tag: str,
) -> Latency:
    load = os.getloadavg()[0]
    count = max(1, round(args.rate * args.seconds))
    committed: dict[str, datetime] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / args.rate - loop.time()))
        committed[f"{tag}:{n}"] = await write(sessionmaker, tag, range(n, n + 1))
    await wait_done(sessionmaker, worker, tag, count, args.timeout)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                sa.select(
                    OutboxMessage.dedupe_key,
                    OutboxMessage.created_at,
                    OutboxMessage.enqueued_at,
                    OutboxMessage.started_at,
                ).where(tagged(tag))
            )
        ).all()
    result = Latency([], [], [], sent=count, load=(load, os.getloadavg()[0]))
    for key, created, enqueued, started in rows:
        result.from_created.append(elapsed(created, started))
        result.from_commit.append(elapsed(committed[str(key)], started))
        result.enqueue.append(elapsed(created, enqueued))
    return result


async def gather_baseline(settings: Settings, jobs: int) -> float:
    """The same no-op coroutine, `jobs` times, under one `asyncio.gather`; best of three."""
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:  # never connects
            run = JobRun(
                id=uuid.uuid4(),
                workspace_id=None,
                kind=NOOP,
                payload={},
                attempt=1,
                now=datetime.now(UTC),
                session=session,
                settings=settings,
            )
            best = float("inf")
            for _ in range(3):
                began = time.perf_counter()
                await asyncio.gather(*(noop(run) for _ in range(jobs)))
                best = min(best, time.perf_counter() - began)
    finally:
        await engine.dispose()
    return jobs / best


@dataclass
class Results:
    baseline: float
    throughput: Throughput
    latency: Latency


async def measure(args: argparse.Namespace, settings: Settings, worker: Worker) -> Results:
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    background = None
    try:
        if not args.no_relay:
            background = await start_background(settings, sessionmaker, bench_registry())
        say(f"warming up: {WARM_UP_JOBS} jobs")
        await write(sessionmaker, "warm", range(WARM_UP_JOBS))
        await wait_done(sessionmaker, worker, "warm", WARM_UP_JOBS, within=120)
        say(f"throughput: {args.jobs:,} jobs in commits of {args.batch}")
        result = await throughput(sessionmaker, worker, CpuMeter(worker.process.pid), args, "tp")
        await asyncio.sleep(1.0)  # let the worker go idle
        say(f"latency: {args.rate:g} commits/s for {args.seconds:g}s")
        lat = await latency(sessionmaker, worker, args, "lat")
    finally:
        if background is not None:
            await background.stop()
        await engine.dispose()
    baseline = await gather_baseline(settings, args.jobs)
    return Results(baseline, result, lat)


# --- setup and report --------------------------------------------------------------------


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_on, url)
    finally:
        await engine.dispose()


async def flush_redis(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000, help="throughput jobs (default 5000)")
    parser.add_argument(
        "--batch", type=int, default=500, help="outbox rows per commit for throughput (default 500)"
    )
    parser.add_argument(
        "--rate", type=float, default=20, help="latency: single-row commits per second (20)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="latency: duration (10)")
    parser.add_argument(
        "--poll", type=float, default=None, help="worker poll delay, s (default: Settings')"
    )
    parser.add_argument(
        "--max-jobs", type=int, default=None, help="worker max_jobs (default: Settings')"
    )
    parser.add_argument(
        "--relay-poll", type=float, default=None, help="relay poll, s (default: Settings')"
    )
    parser.add_argument(
        "--no-relay",
        action="store_true",
        help="no relay in this process: only the worker's relay moves rows, on its poll",
    )
    parser.add_argument(
        "--worker-log-level",
        default="INFO",
        help="the worker's log level (default INFO, as `tenure worker`: arq logs every job)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="per phase, s (default 300)")
    parser.add_argument(
        "--profile-worker", metavar="FILE", help="run the worker under cProfile, stats to FILE"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        worker_main(args.profile_worker)
        return
    for option, setting in (
        ("poll", "worker_poll_seconds"),
        ("max_jobs", "worker_max_jobs"),
        ("relay_poll", "relay_poll_seconds"),
    ):
        if getattr(args, option) is None:
            setattr(args, option, Settings.model_fields[setting].default)

    admin_url = make_url(os.environ.get("TENURE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    admin_url = admin_url.set(drivername="postgresql+asyncpg")
    redis_url = os.environ.get("TENURE_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    name = f"tenure_bench_{uuid.uuid4().hex[:12]}"
    database_url = admin_url.set(database=name).render_as_string(hide_password=False)
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        worker_poll_seconds=args.poll,
        worker_max_jobs=args.max_jobs,
        relay_poll_seconds=args.relay_poll,
    )
    with tempfile.TemporaryDirectory(prefix="tenure-bench-") as tmp:
        asyncio.run(create_database(admin_url, name))
        try:
            say(f"database {name}: migrating; flushing {redis_url}")
            asyncio.run(migrate(database_url))
            asyncio.run(flush_redis(redis_url))
            with worker_process(args, database_url, redis_url, Path(tmp)) as worker:
                results = asyncio.run(measure(args, settings, worker))
        finally:
            asyncio.run(flush_redis(redis_url))
            asyncio.run(drop_database(admin_url, name))
    report(args, results)


def report(args: argparse.Namespace, results: Results) -> None:
    tp, lat = results.throughput, results.latency
    ratio = tp.rate / results.baseline if results.baseline else float("nan")
    relay = "worker's relay only (--no-relay)" if args.no_relay else "this process's + worker's"
    print(
        f"\n1 worker (poll_delay {args.poll:g}s, max_jobs {args.max_jobs}, log level "
        f"{args.worker_log_level}), relays: {relay}, relay poll {args.relay_poll:g}s; "
        f"{os.cpu_count()} CPUs"
    )
    verdict = "meets" if tp.rate >= TARGET_RATE else "below"
    rows = [
        ("pipeline jobs/s (outbox -> relay -> arq -> worker)", f"{tp.rate:,.0f}"),
        ("asyncio.gather jobs/s (same coroutine, one process)", f"{results.baseline:,.0f}"),
        ("ratio pipeline / gather", f"{ratio:.6f}"),
        ("target", f"{verdict} the {TARGET_RATE:,.0f} jobs/s per worker target"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"\nthroughput: {tp.jobs:,} no-op jobs, {args.batch} rows per commit")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(
        f"  from the first row's created_at: rows written {tp.write_seconds:.2f}s, all "
        f"enqueued {tp.relayed_after:.2f}s, last started {tp.last_start_after:.2f}s, last "
        f"finished {tp.seconds:.2f}s (seen here after {tp.observed_seconds:.2f}s); "
        f"rows run more than once: {tp.retried}"
    )
    per_job = "  ".join(
        f"{name} {seconds / tp.jobs * 1e6:,.0f}" for name, seconds in tp.cpu.items()
    )
    print(f"  CPU us per job: {per_job}")
    print(f"  load average (1 min) before/after: {tp.load[0]:.2f} / {tp.load[1]:.2f}")

    verdict = "meets" if percentile(lat.from_created, 95) < TARGET_P95 else "misses"
    print(
        f"\nlatency: {lat.sent} single-row commits at {args.rate:g}/s, "
        f"{len(lat.from_created)} measured ({verdict} p95 < {TARGET_P95:g}s)"
    )
    print(f"  {'ms':<40}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for label, values in (
        ("started_at - created_at (app)", lat.from_created),
        ("started_at - commit returned (bench)", lat.from_commit),
        ("enqueued_at - created_at (relay)", lat.enqueue),
    ):
        figures = [percentile(values, p) * 1000 for p in (50, 95, 99)] + [
            max(values, default=float("nan")) * 1000
        ]
        print(f"  {label:<40}" + "".join(f"{f:>8.1f}" for f in figures))
    print(f"  load average (1 min) before/after: {lat.load[0]:.2f} / {lat.load[1]:.2f}")
    if lat.from_commit:
        print(f"  mean from commit: {statistics.fmean(lat.from_commit) * 1000:.1f} ms")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
