"""The health score: raw measure values in, a 0-100 score with a reason per measure out.

Each included measure gets an effective weight, its share of the included weights (the
shares sum to 1), and contributes `points x share`; the score is the sum of contributions.
A measure excluded for missing data has share 0 and contribution 0, and the others grow to
fill its place. Each reason ends with a signed number: the contribution minus the measure's
share of a perfect score (`share x 100`), i.e. what this measure costs against full marks.
That number is 0 or negative, and the numbers of all measures add up to `score - 100`, so
the reasons explain the whole gap to 100 and nothing else.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise

from app.domain.scorecards import (
    MAX_POINTS,
    UNKNOWN_BAND,
    BreakpointScale,
    CategoricalScale,
    Measure,
    MeasureKind,
    MissingKind,
    Scale,
    Scorecard,
    band_for,
)

MIN_TREND_BASELINE = 10.0


class Knowledge(StrEnum):
    """What a score as of a past moment may know.

    `recorded` is the audit view: only events recorded by then, so the score is what Tenure
    could have shown at that moment. `occurred` is the analyst's view: every event stored now
    that had occurred by then, so history imported later counts at the moments it describes.
    Now, both are the same."""

    RECORDED = "recorded"
    OCCURRED = "occurred"


"""Below this previous-period volume a change in percent is noise, so the trend is missing."""

RawValue = float | Decimal | str | None


@dataclass(frozen=True)
class MeasureScore:
    key: str
    label: str
    group: str
    raw_value: float | str | None
    points: float | None
    weight: float
    contribution: float
    delta: float | None
    reason: str
    excluded: bool = False


@dataclass(frozen=True)
class HealthScore:
    score: float | None
    band: str
    groups: dict[str, float | None]
    measures: tuple[MeasureScore, ...]

    def measure(self, key: str) -> MeasureScore | None:
        return next((m for m in self.measures if m.key == key), None)


def percent_change(
    current: float, previous: float, min_baseline: float = MIN_TREND_BASELINE
) -> float | None:
    """Change against the previous period in percent; None when the previous is too small."""
    if previous < min_baseline or previous <= 0:
        return None
    return (current - previous) / previous * 100


def points_for(scale: Scale, raw: float | str) -> float:
    if isinstance(scale, CategoricalScale):
        return scale.points.get(_category(raw), scale.default)
    if isinstance(raw, str):
        raise TypeError(f"a breakpoint scale needs a number, not {raw!r}")
    return _interpolate(scale, raw)


def _interpolate(scale: BreakpointScale, raw: float) -> float:
    points = scale.breakpoints
    if raw <= points[0][0]:
        return float(points[0][1])
    for (x0, p0), (x1, p1) in pairwise(points):
        if raw <= x1:
            return p0 + (p1 - p0) * (raw - x0) / (x1 - x0)
    return float(points[-1][1])


def _category(raw: float | str) -> str:
    if isinstance(raw, str):
        return raw
    return f"{raw:g}"


def round_score(value: float) -> float:
    """Half up to one decimal, on the decimal text, so 69.95 shows and bands as 70.0."""
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def score(
    scorecard: Scorecard,
    raw_values: Mapping[str, RawValue],
    previous: HealthScore | Mapping[str, float] | None = None,
) -> HealthScore:
    """Score one client; `previous` (a score, or its contributions by measure key) only feeds
    each measure's delta."""
    cleaned = {m.key: _clean(raw_values.get(m.key)) for m in scorecard.measures}
    points = {m.key: _points(m, cleaned[m.key]) for m in scorecard.measures}
    total = sum(m.weight for m in scorecard.measures if points[m.key] is not None)
    if isinstance(previous, HealthScore):
        before: Mapping[str, float] = {m.key: m.contribution for m in previous.measures}
    else:
        before = previous or {}
    results = []
    for measure in scorecard.measures:
        raw = cleaned[measure.key]
        got = points[measure.key]
        share = measure.weight / total if got is not None else 0.0
        contribution = (got or 0.0) * share
        earlier = before.get(measure.key)
        results.append(
            MeasureScore(
                key=measure.key,
                label=measure.label,
                group=measure.group,
                raw_value=raw,
                points=got,
                weight=share,
                contribution=contribution,
                delta=None if earlier is None else contribution - earlier,
                reason=_reason(measure, raw, got, contribution - share * MAX_POINTS),
                excluded=got is None,
            )
        )
    groups = {
        g: _group_score(scorecard, g, points)
        for g in dict.fromkeys(m.group for m in scorecard.measures)
    }
    if not total:
        return HealthScore(None, UNKNOWN_BAND, groups, tuple(results))
    value = round_score(sum(r.contribution for r in results))
    return HealthScore(value, band_for(scorecard.bands, value), groups, tuple(results))


def _clean(raw: RawValue) -> float | str | None:
    """Numbers become floats; NaN and infinities are no data, not a score."""
    if raw is None or isinstance(raw, str):
        return raw
    number = float(raw)
    return number if math.isfinite(number) else None


def _points(measure: Measure, raw: float | str | None) -> float | None:
    if raw is not None:
        return points_for(measure.scale, raw)
    if measure.missing.kind is MissingKind.EXCLUDE:
        return None
    if measure.missing.kind is MissingKind.WORST:
        return 0.0
    return measure.missing.points


def _group_score(
    scorecard: Scorecard, group: str, points: Mapping[str, float | None]
) -> float | None:
    """The group's own weighted average, renormalised over its included measures."""
    weighted = [
        (m.weight, got)
        for m in scorecard.measures
        if m.group == group and (got := points[m.key]) is not None
    ]
    if not weighted:
        return None
    total = sum(w for w, _ in weighted)
    return round_score(sum(w * p for w, p in weighted) / total)


def _reason(measure: Measure, raw: float | str | None, got: float | None, cost: float) -> str:
    if got is None:
        return f"{_start(measure.label)}: no data (excluded)"
    signed = f"{round(cost, 1) + 0.0:+.1f}"  # + 0.0 turns -0.0 into 0.0
    if raw is None:
        return f"{_start(measure.label)}: no data (scored {got:g}): {signed}"
    return f"{_describe(measure, raw)}: {signed}"


def _describe(measure: Measure, raw: float | str) -> str:
    label = measure.label
    if isinstance(raw, str):
        return f"{_start(label)} is {raw}"
    match measure.kind:
        case MeasureKind.DAYS_SINCE:
            days = round(raw)
            return f"No {_mid(label)} for {days} day{'' if days == 1 else 's'}"
        case MeasureKind.COUNT:
            window = f"the last {measure.window_days} days" if measure.window_days else "the window"
            return f"{raw:g} {_mid(label)} in {window}"
        case MeasureKind.TREND:
            if round(raw) == 0:
                return f"{_start(label)} flat against the previous period"
            direction = "up" if raw > 0 else "down"
            return f"{_start(label)} {direction} {abs(raw):.0f}% against the previous period"
        case MeasureKind.OPEN_TICKETS:
            return f"{raw:g} {_mid(label)}"
        case MeasureKind.SUM:
            return f"{_start(label)} totals {raw:g}"
        case MeasureKind.AVERAGE:
            return f"{_start(label)} averages {raw:g}"
        case MeasureKind.LATEST_VALUE:
            return f"Latest {_mid(label)} is {raw:g}"
        case MeasureKind.ATTRIBUTE:
            return f"{_start(label)} is {raw:g}"


def _start(label: str) -> str:
    return label[:1].upper() + label[1:]


def _mid(label: str) -> str:
    """Lower-case the first letter unless the label opens with an acronym (NPS)."""
    if label[1:2].isupper():
        return label
    return label[:1].lower() + label[1:]


DAY_SECONDS = 86_400.0


def raw_values(
    scorecard: Scorecard, aggregates: Mapping[str, object], as_of: datetime
) -> dict[str, RawValue]:
    """Aggregates read from the database (a last moment, a count, two windows' totals) become
    the raw values the scales read: days since, counts, percent change."""
    values: dict[str, RawValue] = {}
    for measure in scorecard.measures:
        got = aggregates.get(measure.key)
        if measure.kind is MeasureKind.DAYS_SINCE:
            values[measure.key] = (
                max((as_of - got).total_seconds(), 0.0) / DAY_SECONDS
                if isinstance(got, datetime)
                else None
            )
        elif measure.kind is MeasureKind.TREND:
            current, previous = got if isinstance(got, tuple) else (0.0, 0.0)
            values[measure.key] = percent_change(float(current or 0), float(previous or 0))
        elif isinstance(got, float | int | Decimal | str) and not isinstance(got, bool):
            values[measure.key] = got
        else:
            values[measure.key] = None
    return values


def quick_score(
    scorecard: Scorecard, raw_values: Mapping[str, RawValue]
) -> tuple[float | None, str]:
    """The score and band alone, exactly as `score` computes them, without the explanation:
    a portfolio rescore explains only the scores it stores."""
    points = [(m.weight, _points(m, _clean(raw_values.get(m.key)))) for m in scorecard.measures]
    total = sum(w for w, got in points if got is not None)
    if not total:
        return None, UNKNOWN_BAND
    value = round_score(sum(got * (w / total) for w, got in points if got is not None))
    return value, band_for(scorecard.bands, value)


def should_store(
    previous: "StoredScore | None",
    score: float | None,
    band: str,
    min_delta: float,
    version: tuple[str, int],
) -> bool:
    """A new snapshot when there is none, the band or scorecard version changed, or the score
    moved by at least `min_delta` points."""
    if previous is None or previous.band != band or previous.version != version:
        return True
    if previous.score is None or score is None:
        return previous.score != score
    return abs(score - previous.score) >= min_delta - 1e-9


@dataclass(frozen=True)
class StoredScore:
    """The last stored snapshot, as far as the next evaluation needs it."""

    score: float | None
    band: str
    version: tuple[str, int]
    contributions: Mapping[str, float] = field(default_factory=dict)
    """Each measure's contribution then, which the next score's deltas are taken against."""


def measures_document(health: HealthScore) -> list[dict[str, object]]:
    return [
        {
            "key": m.key,
            "label": m.label,
            "group": m.group,
            "raw_value": m.raw_value,
            "points": m.points,
            "weight": m.weight,
            "contribution": m.contribution,
            "delta": m.delta,
            "reason": m.reason,
            "excluded": m.excluded,
        }
        for m in health.measures
    ]
