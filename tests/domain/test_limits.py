from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.limits import (
    EARLIEST_DATE,
    EARLIEST_TIME,
    LATEST_DATE,
    LATEST_TIME,
    MAX_JSON_DEPTH,
    MAX_NUMBER,
    date_fault,
    json_fault,
    json_size,
    time_fault,
)
from app.domain.scorecards import MAX_WINDOW_DAYS


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def code(value: object, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    fault = json_fault(value, max_depth)
    return fault.code if fault else None


class TestDepth:
    def test_the_limit_itself_is_accepted(self) -> None:
        assert code(nested(MAX_JSON_DEPTH)) is None

    def test_one_level_more_is_refused(self) -> None:
        assert code(nested(MAX_JSON_DEPTH + 1)) == "json_too_deep"

    def test_arrays_count_as_levels(self) -> None:
        assert code({"a": [[1]]}, max_depth=2) == "json_too_deep"
        assert code({"a": [1]}, max_depth=2) is None

    def test_a_hundred_thousand_levels_cost_no_recursion(self) -> None:
        assert code(nested(100_000)) == "json_too_deep"


class TestText:
    @pytest.mark.parametrize("value", [{"k": "\ud800"}, {"\udfff": 1}, ["a", ["\udc00b"]]])
    def test_a_lone_surrogate_as_value_or_key_is_refused(self, value: object) -> None:
        assert code(value) == "text_surrogate"

    def test_a_surrogate_pair_is_an_ordinary_character(self) -> None:
        assert code({"😀": "😀", "k": "\U0001f600"}) is None

    @pytest.mark.parametrize("value", [{"k": "a\x00"}, {"k\x00": 1}])
    def test_nul_is_refused(self, value: object) -> None:
        assert code(value) == "text_nul"


class TestNumbers:
    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_floats_are_refused(self, value: float) -> None:
        assert code({"k": value}) == "number_not_finite"

    def test_integers_beyond_a_float_are_refused(self) -> None:
        assert code({"k": 10**309}) == "number_too_large"
        assert code({"k": -(10**309)}) == "number_too_large"

    def test_the_largest_float_and_integers_below_it_are_accepted(self) -> None:
        assert code({"a": MAX_NUMBER, "b": -MAX_NUMBER, "c": 10**308, "d": True}) is None


class TestTimes:
    def test_the_range_is_half_open(self) -> None:
        assert time_fault(EARLIEST_TIME) is None
        assert time_fault(LATEST_TIME - timedelta(microseconds=1)) is None
        assert time_fault(LATEST_TIME) is not None
        assert time_fault(EARLIEST_TIME - timedelta(microseconds=1)) is not None

    @pytest.mark.parametrize(
        "value", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
    )
    def test_the_calendars_ends_are_refused(self, value: datetime) -> None:
        fault = time_fault(value)
        assert fault is not None
        assert "1900-01-01" in fault.message

    def test_dates_follow_the_same_range(self) -> None:
        assert date_fault(EARLIEST_DATE) is None
        assert date_fault(LATEST_DATE - timedelta(days=1)) is None
        assert date_fault(LATEST_DATE) is not None
        assert date_fault(date(1899, 12, 31)) is not None

    def test_a_range_bound_leaves_room_for_every_window(self) -> None:
        """Ten-year windows (twice for trends) and two-year horizons stay in the calendar."""
        margin = timedelta(days=2 * MAX_WINDOW_DAYS + 730)
        assert (EARLIEST_TIME - margin).year >= 1
        assert (LATEST_TIME + margin).year <= 9999


class TestJsonSize:
    def test_counts_compact_utf8_bytes_whatever_the_spacing(self) -> None:
        # {"a":"é","b":[1,2]}: 19 characters, é two bytes in UTF-8
        assert json_size({"a": "é", "b": [1, 2]}) == 20
