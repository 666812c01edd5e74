"""A workspace's signal settings: which leading indicators it watches and their thresholds.

The defaults follow common customer-success practice:
- `usage_drop`: logins and feature use in the last 14 days at least 30% below the 14 days
  before, only when the earlier 14 days held at least 20 events (so a small account going
  from 4 logins to 2 does not flap). High severity from a 60% drop.
- `gone_quiet`: no logged touchpoint for 45 days (counted from acquisition when there was
  none); per tier 30 days for `enterprise` (high-touch, monthly contact), 45 for `mid`, 60
  for `smb` (low-touch). High severity at twice the threshold.
- `ticket_spike`: at least 3 tickets opened in 7 days and at least twice the client's usual
  weekly rate (measured over the 28 days before). High severity at twice the minimum.
- `ticket_escalated`: a ticket escalated in the last 30 days is still unresolved. High.
- `nps_detractor`: the latest NPS answer, at most 180 days old, is 0-6 (a detractor). High
  severity for 0-3.
- `payment_failed`: a failed payment in the last 14 days. High severity from 2 failures.
- `renewal_approaching`: an active contract ends within 90 (low), 60 (medium) or 30 (high)
  days.
- `score_drop`: the health score fell at least 15 points within 14 days, or into a worse
  band. High severity from a 30-point fall.
- `stage_overdue`: longer in a lifecycle stage than expected: `onboarding` 30 days,
  `first_value` 60, `renewal` 90, `expansion` 90; `adoption` is where clients are meant to
  stay, so it has no limit. High severity at twice the expected time.
- `response_slowdown`: the client answers outreach slowly or not at all. Slower: the median
  time from an `email_sent` to the reply it got (the first `email_replied` before the next
  send) over replies of the last 30 days is at least twice that of the 90 days before, each
  period holding at least 3 such replies (three is the fewest a median is worth taking of),
  and the recent median is at least 24 hours (a client answering within a day is not slow,
  whatever the ratio: 20 minutes against 8 is noise). Silent: the last 3 outreaches within
  those 120 days have no reply (a cadence's three touches gone unanswered). High severity at
  twice either threshold.
- `spend_drop`: the value of `order` events in the last 30 days at least 30% below the 30-day
  share of the 90 days before, only when those 90 days held at least 6 orders: a client that
  orders monthly has 0 or 1 orders in a 30-day window depending on the calendar (an order on
  the 1st leaves the window on the 31st), so it would flap; two a month cannot fall to none
  by the calendar alone. No minimum value by default: values are in each workspace's currency.
  High severity from a 60% drop.
- `engagement_drop`: clicks and replies (`email_clicked`, `email_replied`; opens are left out,
  as mail privacy proxies open every message) in the last 30 days at least 50% below the
  30-day share of the 90 days before, which held at least 15 (5 a month: a client steady at
  that rate shows 2 or fewer in a month about 12% of the time, near the 10% usage_drop's
  minimum gives). High severity from an 80% drop.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from app.domain.events import event_type
from app.errors import InvalidInput


@dataclass(frozen=True)
class UsageDropRule:
    enabled: bool = True
    event_types: tuple[str, ...] = ("login", "feature_used")
    window_days: int = 14
    drop_percent: float = 30.0
    high_drop_percent: float = 60.0
    min_baseline: int = 20


@dataclass(frozen=True)
class GoneQuietRule:
    enabled: bool = True
    days: int = 45
    tier_days: Mapping[str, int] = field(
        default_factory=lambda: {"enterprise": 30, "mid": 45, "smb": 60}
    )

    def threshold(self, tier: str | None) -> int:
        return self.tier_days.get(tier, self.days) if tier is not None else self.days


@dataclass(frozen=True)
class TicketSpikeRule:
    enabled: bool = True
    window_days: int = 7
    min_tickets: int = 3
    baseline_days: int = 28
    multiplier: float = 2.0


@dataclass(frozen=True)
class TicketEscalatedRule:
    enabled: bool = True
    lookback_days: int = 30


@dataclass(frozen=True)
class NpsDetractorRule:
    enabled: bool = True
    max_score: int = 6
    high_max_score: int = 3
    max_age_days: int = 180


@dataclass(frozen=True)
class PaymentFailedRule:
    enabled: bool = True
    lookback_days: int = 14
    high_failures: int = 2


@dataclass(frozen=True)
class RenewalApproachingRule:
    enabled: bool = True
    low_days: int = 90
    medium_days: int = 60
    high_days: int = 30


@dataclass(frozen=True)
class ScoreDropRule:
    enabled: bool = True
    points: float = 15.0
    high_points: float = 30.0
    on_band_worsened: bool = True


@dataclass(frozen=True)
class StageOverdueRule:
    enabled: bool = True
    stage_days: Mapping[str, int] = field(
        default_factory=lambda: {
            "onboarding": 30,
            "first_value": 60,
            "renewal": 90,
            "expansion": 90,
        }
    )


@dataclass(frozen=True)
class ResponseSlowdownRule:
    enabled: bool = True
    window_days: int = 30
    baseline_days: int = 90
    ratio: float = 2.0
    min_pairs: int = 3
    min_recent_hours: float = 24.0
    unanswered_outreaches: int = 3


@dataclass(frozen=True)
class SpendDropRule:
    enabled: bool = True
    window_days: int = 30
    baseline_days: int = 90
    drop_percent: float = 30.0
    high_drop_percent: float = 60.0
    min_baseline_orders: int = 6
    min_baseline_value: float = 0.0


@dataclass(frozen=True)
class EngagementDropRule:
    enabled: bool = True
    event_types: tuple[str, ...] = ("email_clicked", "email_replied")
    window_days: int = 30
    baseline_days: int = 90
    drop_percent: float = 50.0
    high_drop_percent: float = 80.0
    min_baseline: int = 15


@dataclass(frozen=True)
class SignalSettings:
    usage_drop: UsageDropRule = UsageDropRule()
    gone_quiet: GoneQuietRule = GoneQuietRule()
    ticket_spike: TicketSpikeRule = TicketSpikeRule()
    ticket_escalated: TicketEscalatedRule = TicketEscalatedRule()
    nps_detractor: NpsDetractorRule = NpsDetractorRule()
    payment_failed: PaymentFailedRule = PaymentFailedRule()
    renewal_approaching: RenewalApproachingRule = RenewalApproachingRule()
    score_drop: ScoreDropRule = ScoreDropRule()
    stage_overdue: StageOverdueRule = StageOverdueRule()
    response_slowdown: ResponseSlowdownRule = ResponseSlowdownRule()
    spend_drop: SpendDropRule = SpendDropRule()
    engagement_drop: EngagementDropRule = EngagementDropRule()


DEFAULT_SETTINGS = SignalSettings()
RULE_NAMES = tuple(f.name for f in fields(SignalSettings))


def to_document(settings: SignalSettings) -> dict[str, dict[str, Any]]:
    """Plain JSON, as stored and as the API shows it."""
    document: dict[str, dict[str, Any]] = {}
    for name in RULE_NAMES:
        rule = getattr(settings, name)
        values: dict[str, Any] = {}
        for f in fields(rule):
            value = getattr(rule, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            values[f.name] = value
        document[name] = values
    return document


def from_document(document: Mapping[str, Any]) -> SignalSettings:
    """Stored settings over the defaults: a setting added later takes its default."""
    return apply_changes(DEFAULT_SETTINGS, document)


def apply_changes(settings: SignalSettings, changes: Mapping[str, Any]) -> SignalSettings:
    """A partial update: each given field replaces its value; maps and lists are replaced
    whole. Unknown names are ignored here; the API refuses them before."""
    rules: dict[str, Any] = {}
    for name in RULE_NAMES:
        given = changes.get(name)
        rule = getattr(settings, name)
        if not isinstance(given, Mapping):
            continue
        known = {f.name for f in fields(rule)}
        updates = {k: _frozen(v) for k, v in given.items() if k in known and v is not None}
        rules[name] = replace(rule, **updates)
    return replace(settings, **rules)


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def validate(
    settings: SignalSettings, tiers: list[str] | None, stages: list[str] | None
) -> SignalSettings:
    """The rules no single field states: names that must exist, thresholds in order. `tiers`
    or `stages` None skips that check: a workspace that renamed its tiers keeps the stale keys
    harmlessly until it sends a new map."""
    problems: list[tuple[str, str]] = []
    event_types = {
        "usage_drop": settings.usage_drop.event_types,
        "engagement_drop": settings.engagement_drop.event_types,
    }
    for name, types in event_types.items():
        for type_name in types:
            if event_type(type_name) is None:
                problems.append((f"{name}.event_types", f"unknown event type {type_name!r}"))
        if not types:
            problems.append((f"{name}.event_types", "needs at least one event type"))
    drops = {
        "usage_drop": (settings.usage_drop.drop_percent, settings.usage_drop.high_drop_percent),
        "spend_drop": (settings.spend_drop.drop_percent, settings.spend_drop.high_drop_percent),
        "engagement_drop": (
            settings.engagement_drop.drop_percent,
            settings.engagement_drop.high_drop_percent,
        ),
    }
    for name, (least, high) in drops.items():
        if high < least:
            problems.append((f"{name}.high_drop_percent", "must be at least drop_percent"))
    for tier in settings.gone_quiet.tier_days:
        if tiers is not None and tier not in tiers:
            problems.append(("gone_quiet.tier_days", f"unknown tier {tier!r}"))
    for stage in settings.stage_overdue.stage_days:
        if stages is not None and stage not in stages:
            problems.append(("stage_overdue.stage_days", f"unknown lifecycle stage {stage!r}"))
    renewal = settings.renewal_approaching
    if not renewal.low_days >= renewal.medium_days >= renewal.high_days:
        problems.append(
            ("renewal_approaching", "needs low_days >= medium_days >= high_days (e.g. 90/60/30)")
        )
    nps = settings.nps_detractor
    if nps.high_max_score > nps.max_score:
        problems.append(("nps_detractor.high_max_score", "must be at most max_score"))
    drop = settings.score_drop
    if drop.high_points < drop.points:
        problems.append(("score_drop.high_points", "must be at least points"))
    if problems:
        raise InvalidInput(
            "; ".join(f"{where}: {message}" for where, message in problems),
            errors=[
                {"loc": ["body", *where.split(".")], "msg": message, "type": "value_error"}
                for where, message in problems
            ],
        )
    return settings
