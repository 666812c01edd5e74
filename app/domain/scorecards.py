"""Scorecard definitions: what a health score measures, how raw values become points."""

import math
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.events import Problem

ENGAGEMENT = "engagement"
FIT = "fit"
MIN_POINTS = 0.0
MAX_POINTS = 100.0


class MeasureKind(StrEnum):
    DAYS_SINCE = "days_since"
    COUNT = "count"
    SUM = "sum"
    AVERAGE = "average"
    LATEST_VALUE = "latest_value"
    TREND = "trend"
    OPEN_TICKETS = "open_tickets"
    ATTRIBUTE = "attribute"


@dataclass(frozen=True)
class BreakpointScale:
    """Points interpolated linearly between (raw, points) pairs and clamped outside them."""

    breakpoints: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class CategoricalScale:
    """Points looked up by value; anything not listed gets the default."""

    points: dict[str, float]
    default: float = MIN_POINTS


Scale = BreakpointScale | CategoricalScale


class MissingKind(StrEnum):
    EXCLUDE = "exclude"
    WORST = "worst"
    FIXED = "fixed"


@dataclass(frozen=True)
class MissingPolicy:
    kind: MissingKind
    points: float = MIN_POINTS


EXCLUDE = MissingPolicy(MissingKind.EXCLUDE)
"""Drop the measure and share its weight among the others: no data is no evidence."""
WORST = MissingPolicy(MissingKind.WORST)
"""Score 0: for measures where silence itself is the bad news."""


def fixed(points: float) -> MissingPolicy:
    return MissingPolicy(MissingKind.FIXED, points)


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    kind: MeasureKind
    scale: Scale
    weight: float
    group: str = ENGAGEMENT
    missing: MissingPolicy = EXCLUDE
    events: tuple[str, ...] = ()
    window_days: int | None = None
    max_age_days: int | None = None
    attribute: str | None = None
    trend_of: MeasureKind = MeasureKind.COUNT
    """What a trend compares between its two windows: a count of events or a sum of values."""


@dataclass(frozen=True)
class Band:
    name: str
    minimum: float


DEFAULT_MIN_DELTA = 1.0
DEFAULT_BANDS = (Band("healthy", 70.0), Band("neutral", 40.0), Band("at_risk", 0.0))
UNKNOWN_BAND = "unknown"


@dataclass(frozen=True)
class Scorecard:
    name: str
    measures: tuple[Measure, ...]
    bands: tuple[Band, ...] = field(default=DEFAULT_BANDS)
    min_delta: float = DEFAULT_MIN_DELTA
    """A score is stored when it moves by at least this many points (or changes band)."""


def band_for(bands: tuple[Band, ...], score: float) -> str:
    """The first band, highest first, whose minimum the score reaches."""
    for band in bands:
        if score >= band.minimum:
            return band.name
    return bands[-1].name if bands else UNKNOWN_BAND


def validate_scorecard(scorecard: Scorecard) -> list[Problem]:
    """Every problem with a scorecard, so an editor can show them all at once."""
    problems: list[Problem] = []
    if not scorecard.measures:
        problems.append(Problem("measures", "needs at least one measure"))
    seen: dict[str, int] = {}
    for i, measure in enumerate(scorecard.measures):
        path = f"measures[{i}]"
        if not measure.key:
            problems.append(Problem(f"{path}.key", "must not be empty"))
        elif measure.key in seen:
            problems.append(Problem(f"{path}.key", f"duplicates measures[{seen[measure.key]}].key"))
        else:
            seen[measure.key] = i
        if not measure.group:
            problems.append(Problem(f"{path}.group", "must not be empty"))
        if not (math.isfinite(measure.weight) and measure.weight > 0):
            problems.append(Problem(f"{path}.weight", "must be greater than 0"))
        problems += _check_scale(measure, f"{path}.scale")
        if measure.missing.kind is MissingKind.FIXED and not _in_range(measure.missing.points):
            problems.append(Problem(f"{path}.missing.points", "must be between 0 and 100"))
    problems += _check_bands(scorecard.bands)
    return problems


CLIENT_DATES = ("acquired_at", "stage_changed_at", "created_at")
"""Client dates a `days_since` measure may count from instead of events."""
CLIENT_FIELDS = ("mrr", "tier", "lifecycle_stage", "status")
"""Client fields an `attribute` measure reads; any other name is a key of `attributes`."""
WINDOWED = frozenset({MeasureKind.COUNT, MeasureKind.SUM, MeasureKind.AVERAGE, MeasureKind.TREND})
MAX_WINDOW_DAYS = 3650


def validate_sources(scorecard: Scorecard) -> list[Problem]:
    """What each measure reads: its events, window, age or attribute fit its kind."""
    problems: list[Problem] = []
    if not (math.isfinite(scorecard.min_delta) and 0 <= scorecard.min_delta <= MAX_POINTS):
        problems.append(Problem("min_delta", "must be between 0 and 100"))
    for i, measure in enumerate(scorecard.measures):
        problems += _check_source(measure, f"measures[{i}]")
    return problems


def _check_source(measure: Measure, path: str) -> list[Problem]:
    kind = measure.kind
    problems = []
    wants_events = kind in WINDOWED or kind is MeasureKind.LATEST_VALUE
    if kind is MeasureKind.DAYS_SINCE:
        if bool(measure.events) == (measure.attribute is not None):
            problems.append(Problem(path, "days_since needs either events or a client date"))
        elif measure.attribute is not None and measure.attribute not in CLIENT_DATES:
            problems.append(
                Problem(f"{path}.attribute", f"must be one of {', '.join(CLIENT_DATES)}")
            )
    elif wants_events and not measure.events:
        problems.append(Problem(f"{path}.events", f"{kind.value} needs at least one event type"))
    if kind is MeasureKind.ATTRIBUTE and not measure.attribute:
        problems.append(Problem(f"{path}.attribute", "attribute needs a client field or key"))
    if kind in WINDOWED:
        if measure.window_days is None or not 1 <= measure.window_days <= MAX_WINDOW_DAYS:
            problems.append(
                Problem(f"{path}.window_days", f"{kind.value} needs 1 to {MAX_WINDOW_DAYS} days")
            )
    elif measure.window_days is not None:
        problems.append(Problem(f"{path}.window_days", f"{kind.value} takes no window"))
    if measure.max_age_days is not None and (
        kind is not MeasureKind.LATEST_VALUE or not 1 <= measure.max_age_days <= MAX_WINDOW_DAYS
    ):
        problems.append(
            Problem(f"{path}.max_age_days", f"latest_value only, 1 to {MAX_WINDOW_DAYS} days")
        )
    if kind is MeasureKind.TREND and measure.trend_of not in (MeasureKind.COUNT, MeasureKind.SUM):
        problems.append(Problem(f"{path}.trend_of", "must be count or sum"))
    return problems


def _in_range(points: float) -> bool:
    return MIN_POINTS <= points <= MAX_POINTS  # False for NaN too


def _check_scale(measure: Measure, path: str) -> list[Problem]:
    scale = measure.scale
    problems = []
    if isinstance(scale, CategoricalScale):
        if measure.kind is not MeasureKind.ATTRIBUTE:
            problems.append(Problem(path, "a categorical scale fits only attribute measures"))
        for value, points in scale.points.items():
            if not _in_range(points):
                # The category is the client's text: it goes in the message, never the path.
                message = f"{value!r}: points must be between 0 and 100"
                problems.append(Problem(f"{path}.categories", message))
        if not _in_range(scale.default):
            problems.append(Problem(f"{path}.default", "must be between 0 and 100"))
        return problems
    if not scale.breakpoints:
        return [Problem(f"{path}.breakpoints", "needs at least one breakpoint")]
    for k, (raw, points) in enumerate(scale.breakpoints):
        at = f"{path}.breakpoints[{k}]"
        if not math.isfinite(raw):
            problems.append(Problem(at, "raw value must be a finite number"))
        elif k > 0:
            before = scale.breakpoints[k - 1][0]
            if raw == before:
                problems.append(Problem(at, f"repeats raw value {raw:g}"))
            elif raw < before:
                problems.append(Problem(at, f"raw value {raw:g} is below the previous {before:g}"))
        if not _in_range(points):
            problems.append(Problem(at, "points must be between 0 and 100"))
    return problems


def _check_bands(bands: tuple[Band, ...]) -> list[Problem]:
    if not bands:
        return [Problem("bands", "needs at least one band")]
    problems = []
    names: set[str] = set()
    for i, band in enumerate(bands):
        if not band.name or band.name in names or band.name == UNKNOWN_BAND:
            problems.append(Problem(f"bands[{i}].name", "must be non-empty, unique, not unknown"))
        names.add(band.name)
        if not _in_range(band.minimum):
            problems.append(Problem(f"bands[{i}].minimum", "must be between 0 and 100"))
        elif i > 0 and band.minimum >= bands[i - 1].minimum:
            problems.append(
                Problem(f"bands[{i}].minimum", "must be below the previous band's minimum")
            )
    if bands[-1].minimum != MIN_POINTS:
        problems.append(
            Problem(f"bands[{len(bands) - 1}].minimum", "must be 0 so every score fits")
        )
    return problems


DEFAULT_SCORECARD = Scorecard(
    name="B2B services",
    measures=(
        Measure(
            "touchpoint_recency",
            "touchpoint",
            MeasureKind.DAYS_SINCE,
            BreakpointScale(((0, 100), (14, 100), (30, 70), (60, 25), (90, 0))),
            weight=25,
            missing=WORST,  # never touched is as bad as it gets
            events=("touchpoint",),
        ),
        Measure(
            "usage_level",
            "logins and feature uses",
            MeasureKind.COUNT,
            BreakpointScale(((0, 0), (5, 40), (20, 80), (40, 100))),
            weight=20,
            events=("login", "feature_used"),
            window_days=30,
        ),
        Measure(
            "usage_trend",
            "usage",
            MeasureKind.TREND,
            BreakpointScale(((-50, 0), (-20, 40), (0, 75), (20, 100))),
            weight=10,
            events=("login", "feature_used"),
            window_days=14,
        ),
        Measure(
            "open_tickets",
            "open tickets",
            MeasureKind.OPEN_TICKETS,
            BreakpointScale(((0, 100), (1, 80), (3, 40), (6, 0))),
            weight=10,
            missing=fixed(100),  # no ticket ever opened means nothing is open
            events=("ticket_opened", "ticket_resolved"),
        ),
        Measure(
            "latest_nps",
            "NPS",
            MeasureKind.LATEST_VALUE,
            BreakpointScale(((0, 0), (6, 30), (8, 70), (10, 100))),
            weight=10,
            events=("nps",),
            max_age_days=180,
        ),
        Measure(
            "outreach_replies",
            "replies to outreach",
            MeasureKind.COUNT,
            BreakpointScale(((0, 20), (1, 60), (3, 100))),
            weight=10,
            events=("email_replied",),
            window_days=90,
        ),
        Measure(
            "mrr",
            "monthly recurring revenue",
            MeasureKind.ATTRIBUTE,
            BreakpointScale(((0, 0), (500, 40), (2_000, 80), (10_000, 100))),
            weight=10,
            group=FIT,
            attribute="mrr",
        ),
        Measure(
            "tier",
            "tier",
            MeasureKind.ATTRIBUTE,
            CategoricalScale({"enterprise": 100, "mid": 75, "smb": 50}, default=30),
            weight=5,
            group=FIT,
            attribute="tier",
        ),
    ),
)
