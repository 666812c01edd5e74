"""Client import throughput: POST /v1/clients/batch against the same clients one by one
through PUT /v1/clients/by-external-id/{id} (and POST /v1/clients/{id}/churn for the churned
ones), as an integrator without the batch would. A benchmark, not a test: it prints a table.

    .venv/bin/python bench/clients_batch.py [--clients 25000] [--batch 5000]
                                            [--churned 0.74] [--one-by-one-seconds 20]

It creates a throwaway PostgreSQL database `tenure_bench_<random>` next to the admin database
(TENURE_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
migrates it, makes a workspace, runs the real server (`tenure serve`, as bench/ingest.py does;
its background jobs off unless --background, so the import is measured as it runs beside a
separate worker) and drops the database at the end. The batch imports every client (a first
import: all new, three in four churned, as the 23,570 clients with 17,486 churns of the issue),
then sends them again (a re-import: all unchanged) and once more with a new stage and
attributes (all updated). The one-by-one baseline runs for a fixed time on other external
ids, sequentially, as a CRM's sync loop does."""

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from ingest import CpuMeter, make_book, say, serving
from sqlalchemy import text
from sqlalchemy.engine import make_url
from throwaway import create_database, drop_database

from app.db import migrate
from app.db.session import create_engine

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TIERS = ("enterprise", "mid", "smb")
STAGES = ("onboarding", "adoption", "renewal")
REASONS = ("budget cut", "switched vendor", "no adoption", "acquired", "price")


def make_clients(count: int, churned: float, prefix: str, seed: int) -> list[dict[str, Any]]:
    """Realistic CRM rows: two years of acquisitions, most of them since churned."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    clients = []
    for n in range(count):
        acquired = now - timedelta(days=rng.uniform(30, 730))
        item: dict[str, Any] = {
            "external_id": f"{prefix}-{n:07d}",
            "name": f"Client {prefix} {n}",
            "domain": f"client-{prefix}-{n}.example",
            "tier": rng.choice(TIERS),
            "lifecycle_stage": rng.choice(STAGES),
            "attributes": {"plan": rng.choice(("starter", "scale", "enterprise")), "seats": n % 90},
        }
        if rng.random() < churned:
            ended = acquired + (now - acquired) * rng.uniform(0.1, 0.95)
            item |= {
                "status": "churned",
                "churned_at": ended.isoformat(),
                "churn_reason": rng.choice(REASONS),
            }
        clients.append(item)
    return clients


async def import_batches(
    http: httpx.AsyncClient, clients: list[dict[str, Any]], batch: int
) -> tuple[float, dict[str, int]]:
    """Seconds taken and the summed item outcomes."""
    totals = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    started = time.perf_counter()
    for start in range(0, len(clients), batch):
        body = json.dumps({"clients": clients[start : start + batch]}).encode()
        response = await http.post("/v1/clients/batch", content=body)
        if response.status_code != 200:
            raise RuntimeError(
                f"POST /v1/clients/batch: {response.status_code} {response.text[:500]}"
            )
        result = response.json()
        for key in totals:
            totals[key] += result[key]
    return time.perf_counter() - started, totals


async def one_by_one(
    http: httpx.AsyncClient, clients: list[dict[str, Any]], seconds: float
) -> tuple[int, float, int]:
    """Clients imported within `seconds`, the time taken, and the requests sent."""
    started = time.perf_counter()
    deadline = started + seconds
    done = requests = 0
    for item in clients:
        if time.perf_counter() >= deadline:
            break
        churn = {k: item[k] for k in ("churned_at", "churn_reason") if k in item}
        body = {k: v for k, v in item.items() if k not in ("external_id", "status", *churn)}
        put = await http.put(f"/v1/clients/by-external-id/{item['external_id']}", json=body)
        requests += 1
        if put.status_code not in (200, 201):
            raise RuntimeError(f"PUT: {put.status_code} {put.text[:500]}")
        if churn:
            payload = {"reason": churn["churn_reason"], "occurred_at": churn["churned_at"]}
            response = await http.post(f"/v1/clients/{put.json()['id']}/churn", json=payload)
            requests += 1
            if response.status_code != 200:
                raise RuntimeError(f"churn: {response.status_code} {response.text[:500]}")
        done += 1
    return done, time.perf_counter() - started, requests


async def run(base_url: str, key: str, server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    batch_clients = make_clients(args.clients, args.churned, "b", 1)
    single_clients = make_clients(args.clients, args.churned, "s", 2)
    meter = CpuMeter(server_pid)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as http:
        await import_batches(http, make_clients(200, args.churned, "warm", 3), args.batch)
        before = meter.sample()
        first, first_totals = await import_batches(http, batch_clients, args.batch)
        cpu = meter.spent(before, meter.sample())
        again, again_totals = await import_batches(http, batch_clients, args.batch)
        changed = [
            {
                **c,
                "lifecycle_stage": "renewal",
                "attributes": {"seats": 1 + c["attributes"]["seats"]},
            }
            for c in batch_clients
        ]
        updated, updated_totals = await import_batches(http, changed, args.batch)
        single, single_seconds, requests = await one_by_one(
            http, single_clients, args.one_by_one_seconds
        )
    return {
        "first": first,
        "first_totals": first_totals,
        "first_cpu": cpu,
        "again": again,
        "again_totals": again_totals,
        "updated": updated,
        "updated_totals": updated_totals,
        "single": single,
        "single_seconds": single_seconds,
        "requests": requests,
    }


async def count_clients(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT count(*), count(*) FILTER (WHERE status = 'churned') FROM clients")
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await engine.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=25_000, help="clients (default 25,000)")
    parser.add_argument(
        "--batch", type=int, default=5_000, help="clients per batch (default 5,000)"
    )
    parser.add_argument(
        "--churned", type=float, default=0.74, help="share of churned clients (default 0.74)"
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="let the server run its background jobs meanwhile (scoring every imported client); "
        "off by default, so the import path is measured alone, as with a separate worker",
    )
    parser.add_argument(
        "--one-by-one-seconds",
        type=float,
        default=20,
        help="time for the one-by-one baseline (default 20)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.background:  # read by `tenure serve` through the environment serving() passes
        os.environ["TENURE_EMBEDDED_RUNNER"] = "false"
    admin_url = make_url(os.environ.get("TENURE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    admin_url = admin_url.set(drivername="postgresql+asyncpg")
    name = f"tenure_bench_{uuid.uuid4().hex[:12]}"
    bench_url = admin_url.set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="tenure-bench-") as tmp:
        asyncio.run(create_database(admin_url, name))
        try:
            say(f"database {name}: migrating")
            migrate.upgrade(bench_url)
            book = asyncio.run(make_book(bench_url, 0))
            say(
                f"batch import of {args.clients:,} clients in batches of {args.batch:,}, 3 times; "
                f"then one by one for {args.one_by_one_seconds:g}s"
            )
            with serving(bench_url, Path(tmp)) as server:
                got = asyncio.run(run(server.base_url, book.api_key, server.process.pid, args))
                rss = server.peak_rss_mb()
            stored, churned = asyncio.run(count_clients(bench_url))
        finally:
            asyncio.run(drop_database(admin_url, name))

    batch_rate = args.clients / got["first"]
    again_rate = args.clients / got["again"]
    updated_rate = args.clients / got["updated"]
    single_rate = got["single"] / got["single_seconds"]
    cpu = got["first_cpu"]
    per_1000 = {k: f"{v / args.clients * 1_000_000:.0f}" for k, v in cpu.items()}
    rows = [
        (
            "first import, POST /v1/clients/batch",
            f"{batch_rate:,.0f} clients/s ({got['first']:.1f} s)",
        ),
        ("re-import (all unchanged)", f"{again_rate:,.0f} clients/s ({got['again']:.1f} s)"),
        (
            "re-import (all updated: stage, attributes)",
            f"{updated_rate:,.0f} clients/s ({got['updated']:.1f} s)",
        ),
        (
            "one by one (PUT, + churn when churned)",
            f"{single_rate:,.0f} clients/s ({got['single']:,} clients, "
            f"{got['requests']:,} requests)",
        ),
        ("ratio batch / one by one", f"{batch_rate / single_rate:,.0f}x"),
        (
            "CPU ms per 1,000 clients, first import",
            f"server {per_1000.get('server', 'n/a')}, postgres {per_1000.get('postgres', 'n/a')}",
        ),
        ("server peak RSS MB", f"{rss:,.0f}"),
    ]
    print(f"\n{args.clients:,} clients, batches of {args.batch:,}, {os.cpu_count()} CPUs")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(
        f"\n  first import: {got['first_totals']}; re-import: {got['again_totals']}; "
        f"updating re-import: {got['updated_totals']}"
    )
    print(
        f"  stored: {stored:,} clients, {churned:,} churned (warm-up 200 and one-by-one included)"
    )
    if (
        got["first_totals"]["created"] != args.clients
        or got["again_totals"]["unchanged"] != args.clients
        or got["updated_totals"]["updated"] != args.clients
    ):
        print("  WARNING: the outcomes do not match a first import and an unchanged re-import")
        sys.exit(1)


if __name__ == "__main__":
    main()
