import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    Paginated,
    example,
    optional,
)
from app.domain.signal_settings import DEFAULT_SETTINGS, to_document
from app.domain.signals import Severity, SignalKind, SignalStatus

Days = Annotated[int, Field(ge=1, le=3650)]
Percent = Annotated[float, Field(gt=0, le=100)]
Points = Annotated[float, Field(gt=0, le=100)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Word = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=80)]
DayMap = Annotated[dict[Word, Days], Field(max_length=50)]
CustomKind = Annotated[
    str,
    StringConstraints(pattern=r"^custom\.[a-z][a-z0-9_]{0,24}$"),
    Field(description="A custom kind a trigger's `open_signal` action raised."),
]
DEFAULTS = to_document(DEFAULT_SETTINGS)


FIGURES_DOC = """The numbers that raise the signal, as last evaluated. By kind:
`usage_drop`: event_types, window_days, recent, previous, drop_percent;
`gone_quiet`: days_without_touchpoint, threshold_days, last_touchpoint_at;
`ticket_spike`: window_days, opened, usual, threshold;
`ticket_escalated`: open_escalated_tickets, last_escalated_at, lookback_days;
`nps_detractor`: score, answered_at; `payment_failed`: failures, last_failed_at, lookback_days;
`renewal_approaching`: renews_on, days_left; `score_drop`: score, band, drop_points,
band_worsened; `stage_overdue`: stage, days_in_stage, expected_days;
`response_slowdown`: slower, silent (which condition holds), window_days, baseline_days,
recent_replies, baseline_replies, recent_median_hours, baseline_median_hours, ratio,
unanswered_outreaches, last_reply_at; `spend_drop`: window_days, baseline_days, recent_value,
usual_value, recent_orders, baseline_orders, drop_percent; `engagement_drop`: event_types,
window_days, baseline_days, recent, baseline, usual, drop_percent."""


class SignalRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        kind="usage_drop",
        severity="medium",
        status="open",
        figures={
            "event_types": ["login", "feature_used"],
            "window_days": 14,
            "recent": 28,
            "previous": 46,
            "drop_percent": 39.1,
        },
        opened_at=EXAMPLE_TIME,
        evaluated_at=EXAMPLE_TIME,
        acknowledged_at=None,
        acknowledged_by=None,
        acknowledged_note=None,
        resolved_at=None,
    )

    id: uuid.UUID
    client_id: uuid.UUID
    kind: SignalKind | CustomKind
    severity: Severity
    status: SignalStatus = Field(
        description="`open`, `acknowledged` (an owner took it in hand) or `resolved` (its "
        "condition cleared)."
    )
    figures: dict[str, Any] = Field(description=FIGURES_DOC)
    opened_at: datetime
    evaluated_at: datetime = Field(
        description="When an evaluation last changed its severity, figures or status."
    )
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None = Field(description="The owner who acknowledged it.")
    acknowledged_note: str | None
    resolved_at: datetime | None


class SignalPage(Paginated[SignalRead]):
    pass


class SignalAcknowledge(InputModel):
    model_config = example(owner_id=EXAMPLE_ID, note="Call booked with the sponsor for Tuesday.")

    owner_id: uuid.UUID = Field(description="The owner taking the signal in hand.")
    note: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
        | None
    ) = None


# Settings: one read model and one partial-update model per rule.


class RuleUpdate(InputModel):
    """Strict: `0` is not `false` and `"7"` is not 7, as the schema says."""

    model_config = ConfigDict(strict=True)


class UsageDropSettings(BaseModel):
    enabled: bool
    event_types: list[str] = Field(description="The events that count as usage.")
    window_days: int = Field(description="Recent period, compared with the same before it.")
    drop_percent: float
    high_drop_percent: float
    min_baseline: int = Field(description="Events the earlier period needs for a signal.")


class UsageDropUpdate(RuleUpdate):
    enabled: bool = optional()
    event_types: Annotated[list[EventTypeName], Field(min_length=1, max_length=20)] = optional()
    window_days: Days = optional()
    drop_percent: Percent = optional()
    high_drop_percent: Percent = optional()
    min_baseline: Count = optional()


class GoneQuietSettings(BaseModel):
    enabled: bool
    days: int = Field(description="Days without a touchpoint for clients of other tiers.")
    tier_days: dict[str, int] = Field(description="Days per tier.")


class GoneQuietUpdate(RuleUpdate):
    enabled: bool = optional()
    days: Days = optional()
    tier_days: DayMap = optional("Replaces the whole map.")


class TicketSpikeSettings(BaseModel):
    enabled: bool
    window_days: int
    min_tickets: int
    baseline_days: int = Field(description="The period before the window that sets the usual.")
    multiplier: float = Field(description="How many times the usual rate makes a spike.")


class TicketSpikeUpdate(RuleUpdate):
    enabled: bool = optional()
    window_days: Days = optional()
    min_tickets: Count = optional()
    baseline_days: Days = optional()
    multiplier: Annotated[float, Field(ge=1, le=100)] = optional()


class TicketEscalatedSettings(BaseModel):
    enabled: bool
    lookback_days: int


class TicketEscalatedUpdate(RuleUpdate):
    enabled: bool = optional()
    lookback_days: Days = optional()


class NpsDetractorSettings(BaseModel):
    enabled: bool
    max_score: int = Field(description="The highest answer that counts as a detractor.")
    high_max_score: int
    max_age_days: int


class NpsDetractorUpdate(RuleUpdate):
    enabled: bool = optional()
    max_score: Annotated[int, Field(ge=0, le=10)] = optional()
    high_max_score: Annotated[int, Field(ge=0, le=10)] = optional()
    max_age_days: Days = optional()


class PaymentFailedSettings(BaseModel):
    enabled: bool
    lookback_days: int
    high_failures: int


class PaymentFailedUpdate(RuleUpdate):
    enabled: bool = optional()
    lookback_days: Days = optional()
    high_failures: Count = optional()


class RenewalApproachingSettings(BaseModel):
    enabled: bool
    low_days: int
    medium_days: int
    high_days: int


class RenewalApproachingUpdate(RuleUpdate):
    enabled: bool = optional()
    low_days: Days = optional()
    medium_days: Days = optional()
    high_days: Annotated[int, Field(ge=0, le=3650)] = optional()


class ScoreDropSettings(BaseModel):
    enabled: bool
    points: float = Field(description="The fall within 14 days that raises the signal.")
    high_points: float
    on_band_worsened: bool


class ScoreDropUpdate(RuleUpdate):
    enabled: bool = optional()
    points: Points = optional()
    high_points: Points = optional()
    on_band_worsened: bool = optional()


class StageOverdueSettings(BaseModel):
    enabled: bool
    stage_days: dict[str, int] = Field(
        description="Expected days per lifecycle stage; a stage left out never goes overdue."
    )


class StageOverdueUpdate(RuleUpdate):
    enabled: bool = optional()
    stage_days: DayMap = optional("Replaces the whole map.")


class ResponseSlowdownSettings(BaseModel):
    enabled: bool
    window_days: int = Field(description="Recent period: replies that came within it.")
    baseline_days: int = Field(description="The period before the window it is compared with.")
    ratio: float = Field(description="How many times slower the recent median reply must be.")
    min_pairs: int = Field(description="Timed replies each period needs for a median.")
    min_recent_hours: float = Field(
        description="The recent median must be at least this long to count as slow."
    )
    unanswered_outreaches: int = Field(
        description="This many latest sends without a reply also raise the signal."
    )


class ResponseSlowdownUpdate(RuleUpdate):
    enabled: bool = optional()
    window_days: Days = optional()
    baseline_days: Days = optional()
    ratio: Annotated[float, Field(gt=1, le=100)] = optional()
    min_pairs: Count = optional()
    min_recent_hours: Annotated[float, Field(ge=0, le=8760)] = optional()
    unanswered_outreaches: Count = optional()


class SpendDropSettings(BaseModel):
    enabled: bool
    window_days: int = Field(description="Recent period.")
    baseline_days: int = Field(description="The period before it, scaled to the window.")
    drop_percent: float
    high_drop_percent: float
    min_baseline_orders: int = Field(description="Orders the baseline needs for a signal.")
    min_baseline_value: float = Field(
        description="Order value the baseline needs for a signal (0: none)."
    )


class SpendDropUpdate(RuleUpdate):
    enabled: bool = optional()
    window_days: Days = optional()
    baseline_days: Days = optional()
    drop_percent: Percent = optional()
    high_drop_percent: Percent = optional()
    min_baseline_orders: Count = optional()
    min_baseline_value: Annotated[float, Field(ge=0, le=1e15)] = optional()


class EngagementDropSettings(BaseModel):
    enabled: bool
    event_types: list[str] = Field(description="The events that count as engagement.")
    window_days: int = Field(description="Recent period.")
    baseline_days: int = Field(description="The period before it, scaled to the window.")
    drop_percent: float
    high_drop_percent: float
    min_baseline: int = Field(description="Events the baseline needs for a signal.")


class EngagementDropUpdate(RuleUpdate):
    enabled: bool = optional()
    event_types: Annotated[list[EventTypeName], Field(min_length=1, max_length=20)] = optional()
    window_days: Days = optional()
    baseline_days: Days = optional()
    drop_percent: Percent = optional()
    high_drop_percent: Percent = optional()
    min_baseline: Count = optional()


class SignalSettingsRead(BaseModel):
    model_config = example(**DEFAULTS)

    usage_drop: UsageDropSettings
    gone_quiet: GoneQuietSettings
    ticket_spike: TicketSpikeSettings
    ticket_escalated: TicketEscalatedSettings
    nps_detractor: NpsDetractorSettings
    payment_failed: PaymentFailedSettings
    renewal_approaching: RenewalApproachingSettings
    score_drop: ScoreDropSettings
    stage_overdue: StageOverdueSettings
    response_slowdown: ResponseSlowdownSettings
    spend_drop: SpendDropSettings
    engagement_drop: EngagementDropSettings


class SignalSettingsUpdate(InputModel):
    model_config = example(
        gone_quiet={"tier_days": {"enterprise": 21, "mid": 45, "smb": 90}},
        usage_drop={"drop_percent": 40},
    )

    usage_drop: UsageDropUpdate = optional()
    gone_quiet: GoneQuietUpdate = optional()
    ticket_spike: TicketSpikeUpdate = optional()
    ticket_escalated: TicketEscalatedUpdate = optional()
    nps_detractor: NpsDetractorUpdate = optional()
    payment_failed: PaymentFailedUpdate = optional()
    renewal_approaching: RenewalApproachingUpdate = optional()
    score_drop: ScoreDropUpdate = optional()
    stage_overdue: StageOverdueUpdate = optional()
    response_slowdown: ResponseSlowdownUpdate = optional()
    spend_drop: SpendDropUpdate = optional()
    engagement_drop: EngagementDropUpdate = optional()
