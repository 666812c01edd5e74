"""The registry: every kind of follow-up work has its job, and the schedules are data."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Settings
from app.domain.jobs import Cadence, OutboxKind, Timetable
from app.facts import CATALOGUE
from app.workers.job import Job, Registry, Schedule
from app.workers.registry import default_registry
from app.workers.settings import cron_fields, worker_options


async def _noop(_run: object) -> None:
    return None


class TestDefaultRegistry:
    @pytest.mark.parametrize("kind", list(OutboxKind))
    def test_every_fact_kind_has_a_typed_model(self, kind: OutboxKind) -> None:
        assert CATALOGUE[kind.value].kind is kind

    def test_ingestion_changes_are_evaluated_by_clients_evaluate(self) -> None:
        consumers = default_registry().consumers(OutboxKind.CLIENTS_CHANGED.value)
        assert [job.name for job in consumers] == ["clients.evaluate"]

    def test_job_names_are_area_dot_verb(self) -> None:
        for name in default_registry().jobs:
            assert re.fullmatch(r"[a-z_]+\.[a-z_]+", name), name

    def test_schedules_hold_the_daily_rescore_hourly_cadence_tick_and_sweeper(self) -> None:
        schedules = {s.job.name: s for s in default_registry().schedules}
        assert schedules["health.rescore_portfolio"].timetable.cadence is Cadence.DAILY
        assert schedules["cadences.tick"].timetable.cadence is Cadence.HOURLY
        sweeper = schedules["outbox.sweep"]
        assert sweeper.timetable.cadence is Cadence.SECONDS
        assert not sweeper.through_outbox  # it repairs the outbox, so it cannot depend on it


class TestRegistryRules:
    def test_a_kind_reaches_every_job_that_consumes_it_in_registration_order(self) -> None:
        one, two = Job("a.one", _noop, consumes=("x",)), Job("a.two", _noop, consumes=("x",))
        assert Registry([one, two]).consumers("x") == (one, two)
        assert Registry([one, two]).consumers("y") == ()

    def test_two_jobs_cannot_share_a_name(self) -> None:
        with pytest.raises(ValueError, match="two jobs are named"):
            Registry([Job("a.one", _noop), Job("a.one", _noop)])

    def test_a_schedule_needs_a_registered_job(self) -> None:
        stray = Job("a.stray", _noop)
        with pytest.raises(ValueError, match="unregistered"):
            Registry([], [Schedule(stray, Timetable(Cadence.HOURLY))])

    def test_a_job_runs_the_rows_addressed_to_its_name(self) -> None:
        job = Job("a.tick", _noop)
        assert Registry([job]).consumers("a.tick") == (job,)
        assert Registry([job]).job("a.tick") is job


LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("app.workers"))))
"""


def _workers_loaded_by(module: str) -> set[str]:
    """Imports in a fresh interpreter: an import cycle would fail there, or load the list."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED, module],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return set(json.loads(result.stdout))


class TestNoImportCycle:
    @pytest.mark.parametrize(
        "module", ["app.workers.health", "app.workers.maintenance", "app.workers.sweeper"]
    )
    def test_a_job_module_imports_the_contracts_not_the_job_list(self, module: str) -> None:
        loaded = _workers_loaded_by(module)
        assert "app.workers.job" in loaded
        assert "app.workers.registry" not in loaded

    def test_the_contracts_import_no_job_module(self) -> None:
        assert _workers_loaded_by("app.workers.job") == {"app.workers", "app.workers.job"}


class TestArqOptions:
    def test_every_job_and_schedule_becomes_an_arq_function_and_unique_cron(self) -> None:
        options = worker_options(Settings(redis_url="redis://127.0.0.1:6379/9"))
        names = {f.name for f in options["functions"]}
        assert names == set(default_registry().jobs)
        crons = options["cron_jobs"]
        assert {c.name for c in crons} == {
            f"cron:{s.job.name}" for s in default_registry().schedules
        }
        assert all(c.unique for c in crons)
        assert options["poll_delay"] == Settings().worker_poll_seconds

    def test_without_redis_there_is_no_worker(self) -> None:
        with pytest.raises(ValueError, match="TENURE_REDIS_URL"):
            worker_options(Settings(redis_url=None))

    @pytest.mark.parametrize(
        ("timetable", "expected"),
        [
            (Timetable(Cadence.SECONDS, every=15), {"second": {0, 15, 30, 45}, "microsecond": 0}),
            (Timetable(Cadence.HOURLY, minute=5), {"minute": 5, "second": 0, "microsecond": 0}),
            (
                Timetable(Cadence.DAILY, hour=3, minute=7),
                {"hour": 3, "minute": 7, "second": 0, "microsecond": 0},
            ),
        ],
    )
    def test_timetables_translate_to_arq_cron_fields(
        self, timetable: Timetable, expected: dict[str, object]
    ) -> None:
        assert cron_fields(timetable) == expected
