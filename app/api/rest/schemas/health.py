import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, Strict, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    IsoDateTime,
    Paginated,
    example,
)
from app.domain.health import Knowledge

EXAMPLE_EXPLANATION = [
    {
        "key": "touchpoint_recency",
        "label": "touchpoint",
        "group": "engagement",
        "raw_value": 52.0,
        "points": 40.0,
        "weight": 0.25,
        "contribution": 10.0,
        "delta": -4.5,
        "reason": "No touchpoint for 52 days: -15.0",
        "excluded": False,
    }
]
EXAMPLE_SCORECARD = {"id": EXAMPLE_ID, "version": 1}
KNOWLEDGE_DOC = (
    "`recorded` (the audit view): only the events recorded by then, what Tenure could have "
    "shown at that moment. `occurred` (the analyst's view): every event stored now that had "
    "occurred by then, so history imported later counts at the moments it describes. Client "
    "fields are today's and MRR comes from the contracts live that day, in both views; "
    "without `as_of` (now) both views are the same."
)
EXAMPLE_GROUPS = {"engagement": 61.2, "fit": 80.0}


class MeasureExplanation(BaseModel):
    key: str
    label: str
    group: str
    raw_value: float | str | None = Field(description="What was measured, before the scale.")
    points: float | None = Field(description="0-100 from the scale; null when excluded.")
    weight: float = Field(description="Share of the score after renormalisation (sums to 1).")
    contribution: float = Field(description="points x weight.")
    delta: float | None = Field(description="Change of the contribution since the stored score.")
    reason: str
    excluded: bool


class ScorecardRef(BaseModel):
    id: uuid.UUID
    version: int


class ComputedScore(BaseModel):
    score: float | None
    band: str


class OverrideRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        score=None,
        band="at_risk",
        reason="Champion left; renewal in doubt",
        author="jane@acme.example",
        api_key_id=EXAMPLE_ID,
        expires_at="2026-12-31T00:00:00Z",
        created_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    client_id: uuid.UUID
    score: float | None
    band: str
    reason: str
    author: str
    api_key_id: uuid.UUID | None = Field(
        description="The API key that made it (null once that key is deleted)."
    )
    expires_at: datetime
    created_at: datetime


class ClientHealthRead(BaseModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        score=64.3,
        band="neutral",
        computed={"score": 64.3, "band": "neutral"},
        override=None,
        groups=EXAMPLE_GROUPS,
        scorecard=EXAMPLE_SCORECARD,
        computed_at=EXAMPLE_TIME,
        knowledge="recorded",
        explanation=EXAMPLE_EXPLANATION,
    )

    client_id: uuid.UUID
    score: float | None = Field(description="The override's score while one is in force.")
    band: str = Field(description="The override's band while one is in force.")
    computed: ComputedScore = Field(description="What the scorecard computed, override or not.")
    override: OverrideRead | None
    groups: dict[str, float | None]
    scorecard: ScorecardRef
    computed_at: datetime = Field(description="The moment scored: now, or `as_of`.")
    knowledge: Knowledge = Field(description=f"The view the score was read in. {KNOWLEDGE_DOC}")
    explanation: list[MeasureExplanation]


class HealthSnapshotRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        score=64.3,
        band="neutral",
        groups=EXAMPLE_GROUPS,
        scorecard=EXAMPLE_SCORECARD,
        computed_at=EXAMPLE_TIME,
        source="live",
        explanation=EXAMPLE_EXPLANATION,
    )

    id: uuid.UUID
    score: float | None
    band: str
    groups: dict[str, float | None]
    scorecard: ScorecardRef
    computed_at: datetime
    source: str = Field(description="`live` evaluation or `backfill`.")
    explanation: list[MeasureExplanation]


class HealthHistoryPage(Paginated[HealthSnapshotRead]):
    pass


class PortfolioItemRead(BaseModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        client_name="Globex",
        tier="enterprise",
        owner_id=EXAMPLE_ID,
        score=64.3,
        band="neutral",
        change=-12.5,
        scorecard=EXAMPLE_SCORECARD,
        computed_at=EXAMPLE_TIME,
    )

    client_id: uuid.UUID
    client_name: str
    tier: str | None
    owner_id: uuid.UUID | None
    score: float | None
    band: str = Field(description="`unknown` until the client is first scored.")
    change: float | None = Field(description="Score minus the score in force `period_days` ago.")
    scorecard: ScorecardRef | None = Field(description="Null until the client is first scored.")
    computed_at: datetime | None


class PortfolioPage(Paginated[PortfolioItemRead]):
    pass


class OverrideCreate(InputModel):
    model_config = example(
        band="at_risk",
        reason="Champion left; renewal in doubt",
        author="jane@acme.example",
        expires_at="2026-12-31T00:00:00Z",
    )

    score: Annotated[float, Strict()] | None = Field(
        default=None, ge=0, le=100, description="Or give a band."
    )
    band: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    author: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = Field(
        default=None,
        description="Who decided it; left out, the name of the API key that makes the request.",
    )
    expires_at: IsoDateTime


class OverridePage(Paginated[OverrideRead]):
    pass
