"""Cron expressions: five fields in UTC, the next due minute, and every problem named."""

from datetime import UTC, datetime

import pytest

from app.domain.cron import CronInvalid, check_cron, parse_cron

FRIDAY_EVENING = datetime(2026, 11, 27, 17, 50, tzinfo=UTC)


class TestNextAfter:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("* * * * *", datetime(2026, 11, 27, 17, 51, tzinfo=UTC)),
            ("*/15 * * * *", datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
            ("0 9 * * *", datetime(2026, 11, 28, 9, 0, tzinfo=UTC)),
            ("*/15 9-17 * * mon-fri", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
            ("0 0 1 * *", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
            ("30 6 * jan *", datetime(2027, 1, 1, 6, 30, tzinfo=UTC)),
            ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
            ("0 12 * * 7", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),  # 7 is Sunday too
            ("0 12 * * 0", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
            ("5,10 18 * * *", datetime(2026, 11, 27, 18, 5, tzinfo=UTC)),
            ("10/20 18 * * *", datetime(2026, 11, 27, 18, 10, tzinfo=UTC)),
        ],
    )
    def test_the_first_due_minute_strictly_after(self, expression: str, expected: datetime) -> None:
        assert parse_cron(expression).next_after(FRIDAY_EVENING) == expected

    def test_restricted_day_fields_match_either_as_in_vixie_cron(self) -> None:
        cron = parse_cron("0 12 1 * sun")  # the 1st, or any Sunday
        assert cron.next_after(FRIDAY_EVENING) == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
        after_sunday = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
        assert cron.next_after(after_sunday) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def test_a_due_moment_itself_is_not_due_again(self) -> None:
        moment = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
        assert parse_cron("0 9 * * *").next_after(moment) == datetime(
            2026, 11, 29, 9, 0, tzinfo=UTC
        )


class TestProblems:
    @pytest.mark.parametrize(
        ("expression", "fragment"),
        [
            ("* * * *", "five fields"),
            ("61 * * * *", "minute: 61 is outside 0..59"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("x * * * *", "not a number"),
            ("0 0 31 2 *", "never falls due"),
            ("0 0 31 4,6 *", "never falls due"),
        ],
    )
    def test_each_is_named(self, expression: str, fragment: str) -> None:
        problems = check_cron(expression)
        assert any(fragment in p for p in problems), problems

    def test_every_bad_field_is_reported_at_once(self) -> None:
        with pytest.raises(CronInvalid) as caught:
            parse_cron("61 25 * * *")
        assert len(caught.value.problems) == 2

    def test_the_31st_is_fine_when_a_month_has_one(self) -> None:
        assert check_cron("0 0 31 1-12 *") == []
