"""The engine's pure parts: aggregates to raw values, when to store, documents, backtest."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.backtest import Outcome, by_band, roc_auc
from app.domain.health import StoredScore, quick_score, raw_values, score, should_store
from app.domain.scorecard_documents import from_document, to_document
from app.domain.scorecards import (
    DEFAULT_SCORECARD,
    BreakpointScale,
    Measure,
    MeasureKind,
    Scorecard,
    validate_sources,
)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
IDENTITY = BreakpointScale(((0, 0), (100, 100)))
VERSION = ("card", 1)


def card(*measures: Measure, min_delta: float = 1.0) -> Scorecard:
    return Scorecard("test", measures, min_delta=min_delta)


def m(key: str, kind: MeasureKind, **fields: object) -> Measure:
    return Measure(key, key, kind, IDENTITY, 1, **fields)  # type: ignore[arg-type]


class TestRawValues:
    def test_days_since_counts_fractional_days_to_the_moment(self) -> None:
        scorecard = card(m("seen", MeasureKind.DAYS_SINCE, events=("login",)))
        raw = raw_values(scorecard, {"seen": NOW - timedelta(days=2, hours=12)}, NOW)
        assert raw["seen"] == pytest.approx(2.5)

    def test_days_since_without_a_moment_is_missing(self) -> None:
        scorecard = card(m("seen", MeasureKind.DAYS_SINCE, events=("login",)))
        assert raw_values(scorecard, {"seen": None}, NOW)["seen"] is None

    def test_trend_is_the_percent_change_of_the_two_windows(self) -> None:
        scorecard = card(m("t", MeasureKind.TREND, events=("login",), window_days=14))
        assert raw_values(scorecard, {"t": (14.0, 20.0)}, NOW)["t"] == pytest.approx(-30)

    def test_trend_below_the_baseline_is_missing(self) -> None:
        scorecard = card(m("t", MeasureKind.TREND, events=("login",), window_days=14))
        assert raw_values(scorecard, {"t": (3.0, 2.0)}, NOW)["t"] is None

    def test_numbers_and_text_pass_through(self) -> None:
        scorecard = card(m("n", MeasureKind.COUNT), m("a", MeasureKind.ATTRIBUTE))
        assert raw_values(scorecard, {"n": 4.0, "a": "smb"}, NOW) == {"n": 4.0, "a": "smb"}


class TestShouldStore:
    def stored(self, value: float | None, band: str = "neutral") -> StoredScore:
        return StoredScore(value, band, VERSION, {"a": value or 0.0})

    def test_the_first_score_is_stored(self) -> None:
        assert should_store(None, 50.0, "neutral", 1, VERSION)

    def test_a_move_below_the_delta_is_not_stored(self) -> None:
        assert not should_store(self.stored(50.0), 50.9, "neutral", 1, VERSION)

    def test_a_move_of_the_delta_is_stored(self) -> None:
        assert should_store(self.stored(50.0), 51.0, "neutral", 1, VERSION)

    def test_a_band_change_is_stored_however_small(self) -> None:
        assert should_store(self.stored(69.9, "neutral"), 70.0, "healthy", 5, VERSION)

    def test_another_scorecard_version_is_stored(self) -> None:
        assert should_store(self.stored(50.0), 50.0, "neutral", 1, ("card", 2))


class TestQuickScore:
    @pytest.mark.parametrize(
        "raw",
        [
            {},
            {"touchpoint_recency": 3.3, "usage_level": 17, "tier": "mid"},
            {"usage_trend": -12.5, "open_tickets": 2, "latest_nps": 7, "mrr": 1234.5},
            {"touchpoint_recency": 200, "outreach_replies": 0, "tier": "unknown", "mrr": 0},
        ],
    )
    def test_agrees_with_the_explained_score(self, raw: dict[str, float | str]) -> None:
        full = score(DEFAULT_SCORECARD, raw)
        assert quick_score(DEFAULT_SCORECARD, raw) == (full.score, full.band)

    def test_without_any_data_the_band_is_unknown(self) -> None:
        assert quick_score(card(m("a", MeasureKind.COUNT)), {}) == (None, "unknown")


class TestDeltas:
    def test_are_taken_against_the_previous_contributions(self) -> None:
        scorecard = card(m("a", MeasureKind.COUNT), m("b", MeasureKind.COUNT))
        result = score(scorecard, {"a": 60, "b": 20}, {"a": 25.0})
        # shares of 1/2 each: a contributes 30 (+5 on 25), b 10 (no previous)
        assert [x.delta for x in result.measures] == [5.0, None]


class TestDocuments:
    def test_the_default_scorecard_round_trips(self) -> None:
        document = to_document(DEFAULT_SCORECARD)
        assert from_document(DEFAULT_SCORECARD.name, document) == DEFAULT_SCORECARD

    def test_the_default_scorecard_reads_valid_sources(self) -> None:
        assert validate_sources(DEFAULT_SCORECARD) == []


class TestSources:
    def fields(self, *measures: Measure, min_delta: float = 1.0) -> list[str]:
        return [p.field for p in validate_sources(card(*measures, min_delta=min_delta))]

    def test_a_count_needs_events_and_a_window(self) -> None:
        assert self.fields(m("c", MeasureKind.COUNT)) == [
            "measures[0].events",
            "measures[0].window_days",
        ]

    def test_days_since_takes_events_or_a_client_date_not_both(self) -> None:
        both = m("d", MeasureKind.DAYS_SINCE, events=("login",), attribute="acquired_at")
        assert self.fields(both) == ["measures[0]"]

    def test_days_since_reads_only_known_client_dates(self) -> None:
        assert self.fields(m("d", MeasureKind.DAYS_SINCE, attribute="birthday")) == [
            "measures[0].attribute"
        ]

    def test_an_attribute_needs_its_name(self) -> None:
        assert self.fields(m("a", MeasureKind.ATTRIBUTE)) == ["measures[0].attribute"]

    def test_max_age_is_for_latest_values(self) -> None:
        wrong = m("c", MeasureKind.COUNT, events=("login",), window_days=7, max_age_days=3)
        assert self.fields(wrong) == ["measures[0].max_age_days"]

    def test_a_trend_compares_counts_or_sums(self) -> None:
        wrong = m(
            "t", MeasureKind.TREND, events=("x",), window_days=7, trend_of=MeasureKind.AVERAGE
        )
        assert self.fields(wrong) == ["measures[0].trend_of"]

    def test_min_delta_is_a_point_count(self) -> None:
        ok = m("a", MeasureKind.ATTRIBUTE, attribute="tier")
        assert self.fields(ok, min_delta=-1) == ["min_delta"]


def outcome(value: float, churned: bool, band: str = "neutral") -> Outcome:
    return Outcome(value, band, churned)


class TestRocAuc:
    def test_perfect_ranking_is_one(self) -> None:
        outcomes = [outcome(10, True), outcome(20, True), outcome(80, False), outcome(90, False)]
        assert roc_auc(outcomes) == 1.0

    def test_inverted_ranking_is_zero(self) -> None:
        outcomes = [outcome(90, True), outcome(10, False)]
        assert roc_auc(outcomes) == 0.0

    def test_ties_count_half(self) -> None:
        assert roc_auc([outcome(50, True), outcome(50, False)]) == 0.5

    def test_a_worked_example(self) -> None:
        # retained 30, 60, 90 against churned 20, 70: pairs won 1+2+2... count by hand:
        # 30>20 yes, 30>70 no; 60>20 yes, 60>70 no; 90>20 yes, 90>70 yes -> 4 of 6
        outcomes = [outcome(v, False) for v in (30, 60, 90)] + [outcome(v, True) for v in (20, 70)]
        assert roc_auc(outcomes) == pytest.approx(4 / 6)

    def test_without_both_outcomes_there_is_no_auc(self) -> None:
        assert roc_auc([outcome(10, True)]) is None
        assert roc_auc([]) is None


class TestByBand:
    def test_every_band_in_order_with_its_churn_rate(self) -> None:
        outcomes = [outcome(10, True, "at_risk"), outcome(20, False, "at_risk")]
        bands = by_band(outcomes, ["healthy", "at_risk"])
        assert [(b.band, b.clients, b.churned, b.churn_rate) for b in bands] == [
            ("healthy", 0, 0, None),
            ("at_risk", 2, 1, 0.5),
        ]
