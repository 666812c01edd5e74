"""Probe jobs for the pipeline's fault tests: a visible, non-idempotent effect (a counter on a
client) so a job applied twice shows, plus knobs to sleep, fail, or fail for good."""

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import Client
from app.domain.jobs import Cadence, OutboxKind, RetryPolicy, Timetable
from app.facts import HealthChanged
from app.workers.job import Job, JobRun, PermanentJobError, Registry, TransientJobError
from app.workers.registry import default_registry
from tests.factories import Workspace

PROBE_KIND = "probe.count"
PROBE_TIMEOUT_SECONDS = 3.0
PROBE_MAX_ATTEMPTS = 4


async def count_run(run: JobRun) -> dict[str, Any]:
    """Adds 1 to the client's `probe_runs` in the job's transaction and, as the payload asks,
    sleeps (once: `sleep_marker` is a file the first sleeper creates) before or after that
    write, or fails. A run killed while sleeping after the write has flushed its effect but
    not committed it."""
    payload = run.payload
    if payload.get("sleep_at") == "before":
        await _sleep_once(payload)
    client_id = uuid.UUID(payload["client_id"])
    attributes = await run.session.scalar(
        sa.select(Client.attributes).where(Client.id == client_id)
    )
    assert attributes is not None
    runs = int(attributes.get("probe_runs", 0)) + 1
    await run.session.execute(
        sa.update(Client)
        .where(Client.id == client_id)
        .values(attributes={**attributes, "probe_runs": runs})
    )
    await run.session.flush()
    if payload.get("sleep_at") == "after":
        await _sleep_once(payload)
    if payload.get("permanent") or (
        "fail_while" in payload and await asyncio.to_thread(Path(payload["fail_while"]).exists)
    ):
        raise PermanentJobError("the probe refuses for good")
    if payload.get("always_fail") or run.attempt <= int(payload.get("fail_attempts", 0)):
        raise TransientJobError(f"probe failure on attempt {run.attempt}")
    return {"runs": runs}


async def _sleep_once(payload: dict[str, Any]) -> None:
    if await asyncio.to_thread(_claim_marker, Path(payload["sleep_marker"])):
        await asyncio.sleep(float(payload["sleep_seconds"]))


def _claim_marker(marker: Path) -> bool:
    """True for the first caller only, across processes."""
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


async def create_probe_client(app: FastAPI, workspace: Workspace) -> uuid.UUID:
    """A bare client whose `probe_runs` attribute counts the probe's committed runs."""
    async with app.state.sessionmaker() as session:
        client = Client(
            workspace_id=workspace.id,
            name=f"Probe {uuid.uuid4().hex[:6]}",
            lifecycle_stage="onboarding",
            status="active",
            attributes={},
        )
        session.add(client)
        await session.commit()
        return client.id


def counting_consumer(name: str, failures: int = 0) -> Job:
    """A consumer of `health.changed` that adds 1 per change to the client's `<name>` attribute
    in the run's transaction, and (on its first `failures` attempts) then fails transiently,
    so a retried run that applied its effect twice would show."""

    async def count(run: JobRun) -> dict[str, Any]:
        for change in run.fact_as(HealthChanged).changes:
            attributes = await run.session.scalar(
                sa.select(Client.attributes).where(Client.id == change.client_id)
            )
            assert attributes is not None
            runs = int(attributes.get(name, 0)) + 1
            await run.session.execute(
                sa.update(Client)
                .where(Client.id == change.client_id)
                .values(attributes={**attributes, name: runs})
            )
        await run.session.flush()
        if run.attempt <= failures:
            raise TransientJobError(f"{name} fails on attempt {run.attempt}")
        return {"changes": len(run.fact_as(HealthChanged).changes)}

    return Job(
        name,
        count,
        consumes=(OutboxKind.HEALTH_CHANGED.value,),
        retry=RetryPolicy(max_attempts=PROBE_MAX_ATTEMPTS, base_seconds=0.05, cap_seconds=0.2),
    )


STEADY_CONSUMER = "probe.steady"
FLAKY_CONSUMER = "probe.flaky"
FLAKY_FAILURES = 2
FAN_OUT = (counting_consumer(STEADY_CONSUMER), counting_consumer(FLAKY_CONSUMER, FLAKY_FAILURES))

PROBE = Job(
    PROBE_KIND,
    count_run,
    timeout_seconds=PROBE_TIMEOUT_SECONDS,
    retry=RetryPolicy(max_attempts=PROBE_MAX_ATTEMPTS, base_seconds=0.05, cap_seconds=0.2),
)
FAST_SWEEP = Timetable(Cadence.SECONDS, every=2)


def probe_registry() -> Registry:
    """The real registry plus the probe, with the sweeper every 2 s so faults heal quickly."""
    base = default_registry()
    schedules = [
        replace(s, timetable=FAST_SWEEP) if s.job.name == "outbox.sweep" else s
        for s in base.schedules
    ]
    return Registry([*base.jobs.values(), PROBE], schedules)


def fan_out_registry() -> Registry:
    """The probe registry plus two consumers of `health.changed`: kept apart, since their
    read-modify-write of a client's attributes would race the probe's own."""
    return probe_registry().extended(FAN_OUT)
