"""Health scoring on plain values; every expected number is worked out by hand in the test."""

import math
from decimal import Decimal

import pytest

from app.domain.health import (
    HealthScore,
    MeasureScore,
    percent_change,
    points_for,
    round_score,
    score,
)
from app.domain.scorecards import (
    DEFAULT_SCORECARD,
    EXCLUDE,
    FIT,
    WORST,
    Band,
    BreakpointScale,
    CategoricalScale,
    Measure,
    MeasureKind,
    MissingPolicy,
    Scale,
    Scorecard,
    fixed,
    validate_scorecard,
)

IDENTITY = BreakpointScale(((0, 0), (100, 100)))


def measure(
    key: str,
    weight: float = 1,
    *,
    group: str = "engagement",
    missing: MissingPolicy = EXCLUDE,
    scale: Scale = IDENTITY,
    kind: MeasureKind = MeasureKind.LATEST_VALUE,
    label: str | None = None,
    window_days: int | None = None,
) -> Measure:
    return Measure(
        key,
        label or key,
        kind,
        scale,
        weight,
        group=group,
        missing=missing,
        window_days=window_days,
    )


def card(*measures: Measure, bands: tuple[Band, ...] | None = None) -> Scorecard:
    if bands is None:
        return Scorecard("test", measures)
    return Scorecard("test", measures, bands)


def only(result: HealthScore, key: str) -> MeasureScore:
    found = result.measure(key)
    assert found is not None
    return found


def fields(scorecard: Scorecard) -> list[str]:
    return [p.field for p in validate_scorecard(scorecard)]


class TestBreakpointScale:
    def test_interpolates_between_breakpoints(self) -> None:
        assert points_for(BreakpointScale(((0, 0), (10, 100))), 2.5) == pytest.approx(25)

    def test_interpolates_within_the_right_segment(self) -> None:
        scale = BreakpointScale(((0, 0), (10, 50), (20, 100)))
        assert points_for(scale, 15) == pytest.approx(50 + 50 * 5 / 10)

    def test_returns_the_points_at_a_breakpoint(self) -> None:
        scale = BreakpointScale(((0, 0), (10, 50), (20, 100)))
        assert points_for(scale, 10) == 50

    def test_clamps_below_the_first_breakpoint(self) -> None:
        assert points_for(BreakpointScale(((5, 20), (10, 100))), -3) == 20

    def test_clamps_above_the_last_breakpoint(self) -> None:
        assert points_for(BreakpointScale(((5, 20), (10, 90))), 1_000) == 90

    def test_decreasing_scale_loses_points_as_the_raw_value_grows(self) -> None:
        scale = BreakpointScale(((0, 100), (30, 40)))
        assert points_for(scale, 10) == pytest.approx(100 - 60 * 10 / 30)
        assert points_for(scale, 45) == 40

    def test_a_string_on_a_numeric_scale_is_a_caller_error(self) -> None:
        with pytest.raises(TypeError):
            points_for(IDENTITY, "high")


class TestCategoricalScale:
    def test_looks_up_a_listed_value(self) -> None:
        assert points_for(CategoricalScale({"gold": 90}, default=20), "gold") == 90

    def test_unlisted_value_gets_the_default(self) -> None:
        assert points_for(CategoricalScale({"gold": 90}, default=20), "tin") == 20

    def test_a_number_is_looked_up_by_its_text(self) -> None:
        assert points_for(CategoricalScale({"3": 60}, default=0), 3.0) == 60


class TestMissingData:
    def test_exclude_renormalises_the_remaining_weights(self) -> None:
        result = score(card(measure("a", 2), measure("b", 3), measure("c", 5)), {"a": 100, "b": 50})
        # c drops out; a and b share 2/5 and 3/5 of the score: 100*0.4 + 50*0.6
        assert result.score == 70.0
        assert only(result, "a").weight == pytest.approx(0.4)
        assert only(result, "b").weight == pytest.approx(0.6)
        assert only(result, "b").contribution == pytest.approx(30)

    def test_an_excluded_measure_weighs_and_contributes_nothing(self) -> None:
        result = score(card(measure("a", 3), measure("b", 1)), {"a": None, "b": 40})
        a = only(result, "a")
        assert (a.points, a.weight, a.contribution, a.excluded) == (None, 0.0, 0.0, True)
        assert a.reason == "A: no data (excluded)"
        assert result.score == 40.0

    def test_an_absent_key_counts_as_missing(self) -> None:
        result = score(card(measure("a", 3), measure("b", 1)), {"b": 40})
        assert only(result, "a").excluded

    def test_worst_scores_zero_and_keeps_its_weight(self) -> None:
        result = score(card(measure("a", 3, missing=WORST), measure("b", 1)), {"b": 40})
        assert only(result, "a").points == 0
        assert result.score == (0 * 3 + 40 * 1) / 4

    def test_fixed_scores_the_given_points(self) -> None:
        result = score(card(measure("a", 3, missing=fixed(50)), measure("b", 1)), {"b": 40})
        assert result.score == (50 * 3 + 40 * 1) / 4

    def test_a_non_finite_number_is_no_data(self) -> None:
        result = score(card(measure("a"), measure("b")), {"a": math.nan, "b": 80})
        assert only(result, "a").excluded
        assert result.score == 80.0

    def test_every_measure_missing_and_excluded_gives_no_score(self) -> None:
        result = score(card(measure("a"), measure("b", group=FIT)), {})
        assert result.score is None
        assert result.band == "unknown"
        assert result.groups == {"engagement": None, "fit": None}


class TestScore:
    def test_contributions_are_points_times_weight_share(self) -> None:
        result = score(card(measure("a", 3), measure("b", 1)), {"a": 80, "b": 40})
        assert only(result, "a").contribution == pytest.approx(80 * 3 / 4)
        assert only(result, "b").contribution == pytest.approx(40 * 1 / 4)
        assert result.score == 70.0

    def test_score_is_rounded_to_one_decimal(self) -> None:
        result = score(card(measure("a"), measure("b"), measure("c")), {"a": 100, "b": 0, "c": 0})
        assert result.score == 33.3

    def test_rounding_is_half_up(self) -> None:
        assert round_score(69.95) == 70.0
        assert round_score(0.25) == 0.3

    def test_accepts_decimal_raw_values(self) -> None:
        result = score(card(measure("a")), {"a": Decimal("42.5")})
        assert result.score == 42.5

    @pytest.mark.parametrize(
        ("raw", "band"),
        [(100, "healthy"), (70, "healthy"), (69.9, "neutral"), (40, "neutral"), (39.9, "at_risk")],
    )
    def test_default_band_boundaries(self, raw: float, band: str) -> None:
        assert score(card(measure("a")), {"a": raw}).band == band

    def test_custom_bands(self) -> None:
        bands = (Band("great", 90), Band("fine", 0))
        assert score(card(measure("a"), bands=bands), {"a": 89.9}).band == "fine"


class TestGroups:
    def test_each_group_is_renormalised_within_itself(self) -> None:
        scorecard = card(measure("a", 1), measure("b", 3), measure("c", 1, group=FIT))
        result = score(scorecard, {"a": 80, "b": 40, "c": 100})
        assert result.groups == {"engagement": (80 * 1 + 40 * 3) / 4, "fit": 100.0}
        assert result.score == (80 * 1 + 40 * 3 + 100 * 1) / 5

    def test_a_group_with_nothing_included_has_no_score(self) -> None:
        scorecard = card(measure("a"), measure("c", group=FIT))
        assert score(scorecard, {"a": 60}).groups == {"engagement": 60.0, "fit": None}

    def test_an_excluded_measure_is_left_out_of_its_group(self) -> None:
        scorecard = card(measure("a", 1), measure("b", 9))
        assert score(scorecard, {"a": 30}).groups == {"engagement": 30.0}


class TestDeltas:
    def test_no_previous_means_no_delta(self) -> None:
        result = score(card(measure("a")), {"a": 50})
        assert only(result, "a").delta is None

    def test_delta_is_the_change_in_contribution(self) -> None:
        scorecard = card(measure("a", 3), measure("b", 1))
        before = score(scorecard, {"a": 80, "b": 40})
        after = score(scorecard, {"a": 40, "b": 40}, previous=before)
        assert only(after, "a").delta == pytest.approx(40 * 0.75 - 80 * 0.75)
        assert only(after, "b").delta == pytest.approx(0)

    def test_a_measure_coming_back_shifts_the_others(self) -> None:
        scorecard = card(measure("a", 1), measure("b", 1))
        before = score(scorecard, {"b": 40})
        after = score(scorecard, {"a": 100, "b": 40}, previous=before)
        assert only(after, "a").delta == pytest.approx(50 - 0)
        assert only(after, "b").delta == pytest.approx(20 - 40)

    def test_a_measure_new_to_the_scorecard_has_no_delta(self) -> None:
        before = score(card(measure("a")), {"a": 50})
        after = score(card(measure("a"), measure("b")), {"a": 50, "b": 50}, previous=before)
        assert only(after, "b").delta is None


class TestReasons:
    def test_days_since_names_the_gap_and_its_cost(self) -> None:
        recency = measure(
            "recency",
            kind=MeasureKind.DAYS_SINCE,
            label="touchpoint",
            scale=BreakpointScale(((0, 100), (90, 0))),
        )
        result = score(card(recency, measure("other")), {"recency": 45, "other": 100})
        # 50 points at half the weight gives 25 of the 50 it could give
        assert only(result, "recency").reason == "No touchpoint for 45 days: -25.0"

    def test_count_names_the_window(self) -> None:
        usage = measure("usage", kind=MeasureKind.COUNT, label="logins", window_days=30)
        assert score(card(usage), {"usage": 12}).measures[0].reason == (
            "12 logins in the last 30 days: -88.0"
        )

    def test_trend_says_which_way(self) -> None:
        trend = measure(
            "trend",
            kind=MeasureKind.TREND,
            label="usage",
            scale=BreakpointScale(((-50, 0), (50, 100))),
        )
        result = score(card(trend), {"trend": -34})
        # -34 sits 16 of 100 along the scale: 16 points of 100
        assert result.measures[0].reason == "Usage down 34% against the previous period: -84.0"

    def test_full_marks_cost_nothing(self) -> None:
        result = score(card(measure("nps", label="NPS")), {"nps": 100})
        assert result.measures[0].reason == "Latest NPS is 100: +0.0"

    def test_a_scored_gap_names_its_points(self) -> None:
        result = score(card(measure("a", missing=fixed(50)), measure("b")), {"b": 100})
        assert only(result, "a").reason == "A: no data (scored 50): -25.0"

    def test_the_costs_add_up_to_the_gap_to_a_perfect_score(self) -> None:
        scorecard = card(measure("a", 2), measure("b", 3), measure("c", 5, missing=WORST))
        result = score(scorecard, {"a": 70, "b": 20})
        assert result.score is not None
        costs = [float(m.reason.rsplit(": ", 1)[1]) for m in result.measures]
        assert sum(costs) == pytest.approx(result.score - 100, abs=0.15)


class TestPercentChange:
    def test_change_against_the_previous_period(self) -> None:
        assert percent_change(66, 100) == pytest.approx(-34)

    def test_below_the_baseline_the_trend_is_missing(self) -> None:
        assert percent_change(5, 9) is None

    def test_at_the_baseline_the_trend_counts(self) -> None:
        assert percent_change(20, 10) == pytest.approx(100)

    def test_the_baseline_can_be_lowered(self) -> None:
        assert percent_change(3, 2, min_baseline=1) == pytest.approx(50)

    def test_a_zero_previous_period_is_never_a_baseline(self) -> None:
        assert percent_change(5, 0, min_baseline=0) is None


class TestValidation:
    def test_a_good_scorecard_has_no_problems(self) -> None:
        assert validate_scorecard(card(measure("a"), measure("b"))) == []

    def test_no_measures(self) -> None:
        assert fields(card()) == ["measures"]

    def test_duplicate_keys(self) -> None:
        assert fields(card(measure("a"), measure("a"))) == ["measures[1].key"]

    @pytest.mark.parametrize("weight", [0, -1, math.nan])
    def test_weight_must_be_positive(self, weight: float) -> None:
        assert fields(card(measure("a", weight))) == ["measures[0].weight"]

    def test_unsorted_breakpoints(self) -> None:
        scale = BreakpointScale(((0, 0), (20, 50), (10, 100)))
        assert fields(card(measure("a", scale=scale))) == ["measures[0].scale.breakpoints[2]"]

    def test_duplicate_breakpoints(self) -> None:
        scale = BreakpointScale(((0, 0), (0, 100)))
        assert fields(card(measure("a", scale=scale))) == ["measures[0].scale.breakpoints[1]"]

    def test_no_breakpoints(self) -> None:
        scale = BreakpointScale(())
        assert fields(card(measure("a", scale=scale))) == ["measures[0].scale.breakpoints"]

    @pytest.mark.parametrize("points", [-1, 100.5])
    def test_breakpoint_points_outside_0_to_100(self, points: float) -> None:
        scale = BreakpointScale(((0, 0), (10, points)))
        assert fields(card(measure("a", scale=scale))) == ["measures[0].scale.breakpoints[1]"]

    def test_categorical_points_outside_0_to_100(self) -> None:
        scale = CategoricalScale({"gold": 120}, default=-5)
        tier = measure("a", scale=scale, kind=MeasureKind.ATTRIBUTE)
        assert fields(card(tier)) == ["measures[0].scale.categories", "measures[0].scale.default"]

    def test_categorical_scale_only_on_attributes(self) -> None:
        scale = CategoricalScale({"gold": 100})
        assert fields(card(measure("a", scale=scale))) == ["measures[0].scale"]

    def test_fixed_missing_points_outside_0_to_100(self) -> None:
        assert fields(card(measure("a", missing=fixed(101)))) == ["measures[0].missing.points"]

    def test_bands_unsorted(self) -> None:
        bands = (Band("neutral", 40), Band("healthy", 70), Band("at_risk", 0))
        assert fields(card(measure("a"), bands=bands)) == ["bands[1].minimum"]

    def test_lowest_band_must_start_at_zero(self) -> None:
        bands = (Band("healthy", 70), Band("neutral", 40))
        assert fields(card(measure("a"), bands=bands)) == ["bands[1].minimum"]

    def test_band_names_are_unique(self) -> None:
        bands = (Band("ok", 50), Band("ok", 0))
        assert fields(card(measure("a"), bands=bands)) == ["bands[1].name"]

    def test_every_problem_is_reported_at_once(self) -> None:
        broken = card(measure("a", 0), measure("a", scale=BreakpointScale(((1, 0), (1, 0)))))
        assert fields(broken) == [
            "measures[0].weight",
            "measures[1].key",
            "measures[1].scale.breakpoints[1]",
        ]


class TestDefaultScorecard:
    def test_validates(self) -> None:
        assert validate_scorecard(DEFAULT_SCORECARD) == []

    def test_weights_sum_to_100(self) -> None:
        assert sum(m.weight for m in DEFAULT_SCORECARD.measures) == 100

    def test_has_engagement_and_fit(self) -> None:
        assert {m.group for m in DEFAULT_SCORECARD.measures} == {"engagement", "fit"}

    def test_an_engaged_client_is_healthy(self) -> None:
        result = score(
            DEFAULT_SCORECARD,
            {
                "touchpoint_recency": 3,  # within two weeks: 100
                "usage_level": 45,  # past 40: 100
                "usage_trend": 25.0,  # past +20%: 100
                "open_tickets": 0,  # 100
                "latest_nps": 9,  # halfway from 8 (70) to 10 (100): 85
                "outreach_replies": 4,  # past 3: 100
                "mrr": Decimal("12000"),  # past 10,000: 100
                "tier": "enterprise",  # 100
            },
        )
        # only NPS falls short: 15 points at 10% weight
        assert result.score == 100 - 15 * 10 / 100
        assert result.band == "healthy"

    def test_a_neglected_client_is_at_risk(self) -> None:
        result = score(
            DEFAULT_SCORECARD,
            {
                "touchpoint_recency": 75,  # halfway from 60 (25) to 90 (0): 12.5
                "usage_level": 2,  # 2/5 of the way to 40: 16
                "usage_trend": -40.0,  # 10/30 of the way from 0 to 40: 13.33
                "open_tickets": 4,  # 1/3 of the way from 40 to 0: 26.67
                "latest_nps": None,  # too old or never asked: excluded
                "outreach_replies": 0,  # 20
                "mrr": 300,  # 300/500 of 40: 24
                "tier": "smb",  # 50
            },
        )
        weighted = 25 * 12.5 + 20 * 16 + 10 * 40 / 3 + 10 * 80 / 3 + 10 * 20 + 10 * 24 + 5 * 50
        assert result.score == round(weighted / 90, 1)
        assert result.band == "at_risk"
        assert only(result, "latest_nps").excluded
        assert only(result, "touchpoint_recency").reason.startswith("No touchpoint for 75 days: -")

    def test_a_client_never_touched_scores_zero_on_recency(self) -> None:
        result = score(DEFAULT_SCORECARD, {"usage_level": 40})
        assert only(result, "touchpoint_recency").points == 0
        assert only(result, "open_tickets").points == 100
