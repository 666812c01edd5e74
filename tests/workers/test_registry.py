"""The registry: every kind of follow-up work has its job, and the schedules are data."""

import re

import pytest

from app.config import Settings
from app.domain.jobs import Cadence, OutboxKind, Timetable
from app.workers.registry import Job, Registry, Schedule, default_registry
from app.workers.settings import cron_fields, worker_options


async def _noop(_run: object) -> None:
    return None


class TestDefaultRegistry:
    @pytest.mark.parametrize("kind", list(OutboxKind))
    def test_every_outbox_kind_has_a_consuming_job(self, kind: OutboxKind) -> None:
        assert default_registry().for_kind(kind.value) is not None

    def test_ingestion_changes_are_evaluated_by_clients_evaluate(self) -> None:
        job = default_registry().for_kind(OutboxKind.CLIENTS_CHANGED.value)
        assert job is not None
        assert job.name == "clients.evaluate"

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
    def test_two_jobs_cannot_consume_one_kind(self) -> None:
        with pytest.raises(ValueError, match="two jobs consume"):
            Registry([Job("a.one", _noop, consumes=("x",)), Job("a.two", _noop, consumes=("x",))])

    def test_a_schedule_needs_a_registered_job(self) -> None:
        stray = Job("a.stray", _noop)
        with pytest.raises(ValueError, match="unregistered"):
            Registry([], [Schedule(stray, Timetable(Cadence.HOURLY))])

    def test_a_scheduled_job_consumes_its_own_name(self) -> None:
        job = Job("a.tick", _noop)
        assert Registry([job]).for_kind("a.tick") is job


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
