"""Job rules on plain values: backoff, timetables, keys."""

from datetime import UTC, datetime

import pytest

from app.domain.jobs import Cadence, RetryPolicy, Timetable, job_key, schedule_key

AT = datetime(2026, 11, 22, 10, 17, 42, 500_000, tzinfo=UTC)


class TestRetryPolicy:
    @pytest.mark.parametrize(
        ("attempt", "jitter", "expected"),
        [(1, 0.0, 1.0), (1, 0.999, 1.999), (2, 0.5, 3.0), (3, 0.0, 4.0), (10, 0.0, 300.0)],
    )
    def test_delay_grows_exponentially_with_jitter_and_is_capped(
        self, attempt: int, jitter: float, expected: float
    ) -> None:
        policy = RetryPolicy(max_attempts=10, base_seconds=2.0, cap_seconds=600.0)
        assert policy.delay(attempt, jitter) == pytest.approx(expected)

    def test_retry_after_is_a_floor(self) -> None:
        assert RetryPolicy(base_seconds=2.0).delay(1, 0.0, retry_after=30.0) == 30.0

    def test_a_short_retry_after_does_not_shorten_the_backoff(self) -> None:
        assert RetryPolicy(base_seconds=8.0).delay(1, 0.0, retry_after=1.0) == 4.0

    def test_exhausted_at_the_last_attempt(self) -> None:
        policy = RetryPolicy(max_attempts=3)
        assert [policy.exhausted(n) for n in (1, 2, 3)] == [False, False, True]


class TestTimetable:
    @pytest.mark.parametrize(
        ("timetable", "expected"),
        [
            (Timetable(Cadence.SECONDS, every=15), datetime(2026, 11, 22, 10, 17, 45, tzinfo=UTC)),
            (
                Timetable(Cadence.EVERY_MINUTE, second=30),
                datetime(2026, 11, 22, 10, 18, 30, tzinfo=UTC),
            ),
            (Timetable(Cadence.HOURLY, minute=5), datetime(2026, 11, 22, 11, 5, tzinfo=UTC)),
            (Timetable(Cadence.HOURLY, minute=30), datetime(2026, 11, 22, 10, 30, tzinfo=UTC)),
            (Timetable(Cadence.DAILY, hour=3, minute=7), datetime(2026, 11, 23, 3, 7, tzinfo=UTC)),
            (Timetable(Cadence.DAILY, hour=23), datetime(2026, 11, 22, 23, 0, tzinfo=UTC)),
        ],
    )
    def test_next_after(self, timetable: Timetable, expected: datetime) -> None:
        assert timetable.next_after(AT) == expected

    def test_next_after_a_tick_is_the_following_tick(self) -> None:
        tick = datetime(2026, 11, 22, 11, 5, tzinfo=UTC)
        hourly = Timetable(Cadence.HOURLY, minute=5)
        assert hourly.next_after(tick) == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)

    def test_the_tick_owed_is_the_latest_at_or_before(self) -> None:
        daily = Timetable(Cadence.DAILY, hour=3, minute=7)
        assert daily.last_at_or_before(AT) == datetime(2026, 11, 22, 3, 7, tzinfo=UTC)
        exact = datetime(2026, 11, 22, 3, 7, tzinfo=UTC)
        assert daily.last_at_or_before(exact) == exact

    def test_seconds_must_divide_a_minute(self) -> None:
        with pytest.raises(ValueError, match="divide"):
            Timetable(Cadence.SECONDS, every=7)


def test_keys_name_the_row_and_its_generation_or_the_tick() -> None:
    assert job_key("abc", 2) == "outbox:abc:2"
    tick = datetime(2026, 11, 22, 3, 7, tzinfo=UTC)
    assert schedule_key("health.rescore_portfolio", tick) == (
        "schedule:health.rescore_portfolio:2026-11-22T03:07:00+00:00"
    )
