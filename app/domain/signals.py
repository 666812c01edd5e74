"""Leading indicators: the warning signs a client shows now, from facts computed in SQL.

`detect` turns one client's facts into the signals that should be open; `plan` compares them
with the client's unresolved signals. The lifecycle of a signal:
- it **opens** when its condition first holds (at most one unresolved signal per client and
  kind, so a condition that keeps holding never opens a second one);
- while its condition holds it stays open, or acknowledged once an owner has acknowledged it;
  its `severity` and `figures` follow the latest evaluation, `opened_at` stays;
- it **resolves** by itself when its condition clears, whether acknowledged or not. An
  acknowledged signal is therefore never reopened while the condition lasts; once resolved,
  the next time the condition holds opens a new signal.
A churned client shows no signals (its open ones resolve); a disabled kind opens none and its
open signals resolve. A kind the caller did not evaluate (`score_drop` without a score trend)
is left exactly as it is.
"""

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from app.domain.signal_settings import SignalSettings


class SignalKind(StrEnum):
    USAGE_DROP = "usage_drop"
    GONE_QUIET = "gone_quiet"
    TICKET_SPIKE = "ticket_spike"
    TICKET_ESCALATED = "ticket_escalated"
    NPS_DETRACTOR = "nps_detractor"
    PAYMENT_FAILED = "payment_failed"
    RENEWAL_APPROACHING = "renewal_approaching"
    SCORE_DROP = "score_drop"
    STAGE_OVERDUE = "stage_overdue"
    RESPONSE_SLOWDOWN = "response_slowdown"
    SPEND_DROP = "spend_drop"
    ENGAGEMENT_DROP = "engagement_drop"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SignalStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


UNRESOLVED = frozenset({SignalStatus.OPEN, SignalStatus.ACKNOWLEDGED})


@dataclass(frozen=True)
class ScoreTrend:
    score: float  # the new score
    band: str  # the new band
    drop_in_window: (
        float  # highest stored score in the last 14 days minus the new score (0 if none)
    )
    band_worsened: bool  # new band ranks worse than the previous stored band


@dataclass(frozen=True)
class SignalFacts:
    """One client's aggregates, with the windows of the settings already applied in SQL."""

    client_id: uuid.UUID
    active: bool
    tier: str | None
    stage: str
    stage_since: datetime
    last_touchpoint_at: datetime | None
    quiet_since: datetime | None  # the last touchpoint, or acquisition when there was none
    usage_recent: int = 0  # usage events in the last `window_days`
    usage_previous: int = 0  # usage events in the `window_days` before
    tickets_recent: int = 0  # tickets opened in the last `window_days`
    tickets_baseline: int = 0  # tickets opened in the `baseline_days` before
    escalated_open: int = 0  # tickets escalated within the lookback and still unresolved
    last_escalated_at: datetime | None = None
    nps_score: float | None = None  # the latest NPS answer
    nps_at: datetime | None = None
    payments_failed: int = 0  # within the lookback
    last_payment_failed_at: datetime | None = None
    renews_on: date | None = None  # the nearest end, today or later, of an active contract
    held_band: str | None = None  # the band an unresolved score_drop signal fell into
    # Replies to outreach (a reply answers the latest send before it; a send's first reply
    # counts), by when the reply came: the last `window_days`, and the `baseline_days` before.
    replies_recent: int = 0
    replies_baseline: int = 0
    reply_hours_recent: float | None = None  # the median time to reply, None without replies
    reply_hours_baseline: float | None = None
    unanswered_outreaches: int = 0  # sends in the two periods after the last reply in them
    last_reply_at: datetime | None = None
    orders_recent: int = 0  # `order` events in the last `window_days`
    orders_baseline: int = 0  # and in the `baseline_days` before
    spend_recent: float = 0.0  # their summed values
    spend_baseline: float = 0.0
    engagement_recent: int = 0  # engagement events in the last `window_days`
    engagement_baseline: int = 0  # and in the `baseline_days` before


@dataclass(frozen=True)
class Detection:
    kind: SignalKind
    severity: Severity
    figures: dict[str, Any]  # JSON-ready


@dataclass(frozen=True)
class Evaluation:
    client_id: uuid.UUID
    evaluated: frozenset[SignalKind]
    holding: dict[SignalKind, Detection]


@dataclass(frozen=True)
class ExistingSignal:
    id: uuid.UUID
    kind: SignalKind
    severity: Severity
    figures: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    to_open: list[Detection]
    to_refresh: list[tuple[uuid.UUID, Detection]]
    to_resolve: list[ExistingSignal]


def detect(
    facts: SignalFacts, trend: ScoreTrend | None, settings: SignalSettings, now: datetime
) -> Evaluation:
    """The signals whose condition holds for this client at `now`."""
    evaluated = frozenset(SignalKind) - ({SignalKind.SCORE_DROP} if trend is None else set())
    if not facts.active:
        return Evaluation(facts.client_id, evaluated, {})
    found = [
        usage_drop(facts, settings),
        gone_quiet(facts, settings, now),
        ticket_spike(facts, settings),
        ticket_escalated(facts, settings),
        nps_detractor(facts, settings, now),
        payment_failed(facts, settings),
        renewal_approaching(facts, settings, now),
        score_drop(trend, facts.held_band, settings) if trend is not None else None,
        stage_overdue(facts, settings, now),
        response_slowdown(facts, settings),
        spend_drop(facts, settings),
        engagement_drop(facts, settings),
    ]
    return Evaluation(facts.client_id, evaluated, {d.kind: d for d in found if d is not None})


def plan(evaluation: Evaluation, unresolved: Mapping[SignalKind, ExistingSignal]) -> Plan:
    """What to write: new signals, changed figures of held ones, and resolutions."""
    to_open, to_refresh, to_resolve = [], [], []
    for kind, detection in evaluation.holding.items():
        existing = unresolved.get(kind)
        if existing is None:
            to_open.append(detection)
        elif (existing.severity, existing.figures) != (detection.severity, detection.figures):
            to_refresh.append((existing.id, detection))
    for kind, existing in unresolved.items():
        if kind in evaluation.evaluated and kind not in evaluation.holding:
            to_resolve.append(existing)
    return Plan(to_open, to_refresh, to_resolve)


def usage_drop(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    rule = settings.usage_drop
    previous = facts.usage_previous
    if not rule.enabled or previous < max(rule.min_baseline, 1):
        return None
    drop = (previous - facts.usage_recent) / previous * 100
    if drop < rule.drop_percent:
        return None
    severity = Severity.HIGH if drop >= rule.high_drop_percent else Severity.MEDIUM
    return Detection(
        SignalKind.USAGE_DROP,
        severity,
        {
            "event_types": list(rule.event_types),
            "window_days": rule.window_days,
            "recent": facts.usage_recent,
            "previous": previous,
            "drop_percent": round(drop, 1),
        },
    )


def gone_quiet(facts: SignalFacts, settings: SignalSettings, now: datetime) -> Detection | None:
    rule = settings.gone_quiet
    if not rule.enabled or facts.quiet_since is None:
        return None
    threshold = rule.threshold(facts.tier)
    days = _days_between(facts.quiet_since, now)
    if days < threshold:
        return None
    return Detection(
        SignalKind.GONE_QUIET,
        Severity.HIGH if days >= 2 * threshold else Severity.MEDIUM,
        {
            "days_without_touchpoint": days,
            "threshold_days": threshold,
            "last_touchpoint_at": _iso(facts.last_touchpoint_at),
        },
    )


def ticket_spike(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    rule = settings.ticket_spike
    if not rule.enabled:
        return None
    usual = facts.tickets_baseline * rule.window_days / rule.baseline_days
    needed = max(float(rule.min_tickets), rule.multiplier * usual)
    if facts.tickets_recent < needed:
        return None
    return Detection(
        SignalKind.TICKET_SPIKE,
        Severity.HIGH if facts.tickets_recent >= 2 * needed else Severity.MEDIUM,
        {
            "window_days": rule.window_days,
            "opened": facts.tickets_recent,
            "usual": round(usual, 2),
            "threshold": math.ceil(needed),
        },
    )


def ticket_escalated(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    rule = settings.ticket_escalated
    if not rule.enabled or facts.escalated_open < 1:
        return None
    return Detection(
        SignalKind.TICKET_ESCALATED,
        Severity.HIGH,
        {
            "open_escalated_tickets": facts.escalated_open,
            "last_escalated_at": _iso(facts.last_escalated_at),
            "lookback_days": rule.lookback_days,
        },
    )


def nps_detractor(facts: SignalFacts, settings: SignalSettings, now: datetime) -> Detection | None:
    rule = settings.nps_detractor
    if not rule.enabled or facts.nps_score is None or facts.nps_at is None:
        return None
    if _days_between(facts.nps_at, now) > rule.max_age_days or facts.nps_score > rule.max_score:
        return None
    return Detection(
        SignalKind.NPS_DETRACTOR,
        Severity.HIGH if facts.nps_score <= rule.high_max_score else Severity.MEDIUM,
        {"score": _number(facts.nps_score), "answered_at": _iso(facts.nps_at)},
    )


def payment_failed(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    rule = settings.payment_failed
    if not rule.enabled or facts.payments_failed < 1:
        return None
    return Detection(
        SignalKind.PAYMENT_FAILED,
        Severity.HIGH if facts.payments_failed >= rule.high_failures else Severity.MEDIUM,
        {
            "failures": facts.payments_failed,
            "last_failed_at": _iso(facts.last_payment_failed_at),
            "lookback_days": rule.lookback_days,
        },
    )


def renewal_approaching(
    facts: SignalFacts, settings: SignalSettings, now: datetime
) -> Detection | None:
    rule = settings.renewal_approaching
    if not rule.enabled or facts.renews_on is None:
        return None
    days_left = (facts.renews_on - now.date()).days
    if days_left < 0 or days_left > rule.low_days:
        return None
    if days_left <= rule.high_days:
        severity = Severity.HIGH
    elif days_left <= rule.medium_days:
        severity = Severity.MEDIUM
    else:
        severity = Severity.LOW
    return Detection(
        SignalKind.RENEWAL_APPROACHING,
        severity,
        {"renews_on": facts.renews_on.isoformat(), "days_left": days_left},
    )


def score_drop(
    trend: ScoreTrend, held_band: str | None, settings: SignalSettings
) -> Detection | None:
    """A fall of `points` within the window, or into a worse band. A signal raised by a band
    holds while the client stays in the band it fell into, so it does not resolve at the next
    evaluation just because the band did not worsen again."""
    rule = settings.score_drop
    if not rule.enabled:
        return None
    fell = trend.drop_in_window >= rule.points
    worse_band = rule.on_band_worsened and (trend.band_worsened or trend.band == held_band)
    if not (fell or worse_band):
        return None
    return Detection(
        SignalKind.SCORE_DROP,
        Severity.HIGH if trend.drop_in_window >= rule.high_points else Severity.MEDIUM,
        {
            "score": _number(trend.score),
            "band": trend.band,
            "drop_points": _number(trend.drop_in_window),
            "band_worsened": trend.band_worsened,
        },
    )


def stage_overdue(facts: SignalFacts, settings: SignalSettings, now: datetime) -> Detection | None:
    rule = settings.stage_overdue
    expected = rule.stage_days.get(facts.stage)
    if not rule.enabled or expected is None:
        return None
    days = _days_between(facts.stage_since, now)
    if days <= expected:
        return None
    return Detection(
        SignalKind.STAGE_OVERDUE,
        Severity.HIGH if days >= 2 * expected else Severity.MEDIUM,
        {"stage": facts.stage, "days_in_stage": days, "expected_days": expected},
    )


def response_slowdown(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    """Slower: the recent median time to reply is `ratio` times the earlier one, each taken of
    at least `min_pairs` replies, and at least `min_recent_hours`. Silent: the last
    `unanswered_outreaches` sends have no reply. Either holds it; twice either is high."""
    rule = settings.response_slowdown
    if not rule.enabled:
        return None
    recent, baseline = facts.reply_hours_recent, facts.reply_hours_baseline
    ratio = None
    enough = min(facts.replies_recent, facts.replies_baseline) >= max(rule.min_pairs, 1)
    if enough and recent is not None and baseline is not None:
        # A baseline of instant replies (0 h) makes any later delay infinitely slower.
        ratio = recent / baseline if baseline > 0 else math.inf
    slow_enough = recent is not None and recent >= rule.min_recent_hours
    slower = ratio is not None and ratio >= rule.ratio and slow_enough
    needed = max(rule.unanswered_outreaches, 1)
    silent = facts.unanswered_outreaches >= needed
    if not (slower or silent):
        return None
    much_slower = slower and ratio is not None and ratio >= 2 * rule.ratio
    high = much_slower or facts.unanswered_outreaches >= 2 * needed
    return Detection(
        SignalKind.RESPONSE_SLOWDOWN,
        Severity.HIGH if high else Severity.MEDIUM,
        {
            "slower": slower,
            "silent": silent,
            "window_days": rule.window_days,
            "baseline_days": rule.baseline_days,
            "recent_replies": facts.replies_recent,
            "baseline_replies": facts.replies_baseline,
            "recent_median_hours": None if recent is None else _number(recent),
            "baseline_median_hours": None if baseline is None else _number(baseline),
            "ratio": None if ratio is None or math.isinf(ratio) else round(ratio, 2),
            "unanswered_outreaches": facts.unanswered_outreaches,
            "last_reply_at": _iso(facts.last_reply_at),
        },
    )


def spend_drop(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    """Order value in the window against the window's share of the baseline's."""
    rule = settings.spend_drop
    if not rule.enabled or facts.orders_baseline < max(rule.min_baseline_orders, 1):
        return None
    if facts.spend_baseline < rule.min_baseline_value:
        return None
    usual = facts.spend_baseline * rule.window_days / rule.baseline_days
    if usual <= 0:
        return None
    drop = (usual - facts.spend_recent) / usual * 100
    if drop < rule.drop_percent:
        return None
    return Detection(
        SignalKind.SPEND_DROP,
        Severity.HIGH if drop >= rule.high_drop_percent else Severity.MEDIUM,
        {
            "window_days": rule.window_days,
            "baseline_days": rule.baseline_days,
            "recent_value": round(facts.spend_recent, 2),
            "usual_value": round(usual, 2),
            "recent_orders": facts.orders_recent,
            "baseline_orders": facts.orders_baseline,
            "drop_percent": round(drop, 1),
        },
    )


def engagement_drop(facts: SignalFacts, settings: SignalSettings) -> Detection | None:
    """Clicks and replies in the window against the window's share of the baseline's."""
    rule = settings.engagement_drop
    baseline = facts.engagement_baseline
    if not rule.enabled or baseline < max(rule.min_baseline, 1):
        return None
    usual = baseline * rule.window_days / rule.baseline_days
    drop = (usual - facts.engagement_recent) / usual * 100
    if drop < rule.drop_percent:
        return None
    return Detection(
        SignalKind.ENGAGEMENT_DROP,
        Severity.HIGH if drop >= rule.high_drop_percent else Severity.MEDIUM,
        {
            "event_types": list(rule.event_types),
            "window_days": rule.window_days,
            "baseline_days": rule.baseline_days,
            "recent": facts.engagement_recent,
            "baseline": baseline,
            "usual": round(usual, 2),
            "drop_percent": round(drop, 1),
        },
    )


def _days_between(start: datetime, end: datetime) -> int:
    """Whole days elapsed; a moment in the future counts as none."""
    return max((end - start).days, 0)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _number(value: float) -> float | int:
    """Whole numbers print as integers, others to one decimal."""
    rounded = round(value, 1)
    return int(rounded) if rounded == int(rounded) else rounded
