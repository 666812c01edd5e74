import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    IsoDateTime,
    Name,
    Paginated,
    example,
    optional,
)
from app.api.rest.schemas.health import KNOWLEDGE_DOC
from app.domain.health import Knowledge
from app.domain.scorecard_documents import to_document
from app.domain.scorecards import DEFAULT_SCORECARD, MeasureKind

Word = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Days = Annotated[int, Strict()]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=80)]
MeasureKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DEFAULT_DOCUMENT = to_document(DEFAULT_SCORECARD)
EXAMPLE_MEASURES = DEFAULT_DOCUMENT["measures"][:2]
EXAMPLE_BANDS = DEFAULT_DOCUMENT["bands"]


class BreakpointScaleInput(InputModel):
    breakpoints: list[tuple[Number, Number]] = Field(
        min_length=1,
        max_length=50,
        description="(raw value, points) pairs by rising raw value; points are interpolated "
        "linearly between them and held flat outside.",
    )


class CategoricalScaleInput(InputModel):
    categories: dict[Annotated[str, StringConstraints(max_length=200)], Number] = Field(
        max_length=100, description="Points per value."
    )
    default: Number = Field(default=0, description="Points of any value not listed.")


class MissingInput(InputModel):
    policy: Literal["exclude", "worst", "fixed"] = Field(
        description="`exclude` drops the measure and renormalises the weights; `worst` scores "
        "0; `fixed` scores `points`."
    )
    points: Number | None = None


class MeasureInput(InputModel):
    key: MeasureKey
    label: Label | None = Field(default=None, description="Used in reasons; defaults to the key.")
    kind: MeasureKind
    group: Word = "engagement"
    weight: Number
    events: list[EventType] = Field(default_factory=list, max_length=20)
    window_days: Days | None = Field(default=None, description="count, sum, average, trend.")
    max_age_days: Days | None = Field(default=None, description="latest_value: older is no data.")
    attribute: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="attribute: `mrr`, `tier`, `lifecycle_stage`, `status` or a key of the "
        "client's attributes; days_since: `acquired_at`, `stage_changed_at` or `created_at`.",
    )
    trend_of: Literal["count", "sum"] | None = Field(default=None, description="trend only.")
    scale: BreakpointScaleInput | CategoricalScaleInput
    missing: MissingInput | None = None


class BandInput(InputModel):
    name: Word
    minimum: Number


class ScorecardCreate(InputModel):
    model_config = example(
        name="Enterprise accounts",
        tiers=["enterprise"],
        measures=EXAMPLE_MEASURES,
        bands=EXAMPLE_BANDS,
        min_delta=1.0,
    )

    name: Name
    tiers: list[Word] = Field(
        default_factory=list,
        max_length=50,
        description="The tiers it scores; empty for every client no tier scorecard claims.",
    )
    measures: list[MeasureInput] = Field(min_length=1, max_length=50)
    bands: list[BandInput] | None = Field(
        default=None, max_length=10, description="Highest first; defaults to 70/40/0."
    )
    min_delta: Number = Field(
        default=1.0, description="A score is stored when it moves by at least this much."
    )


class ScorecardUpdate(InputModel):
    """Any edit makes a new version."""

    model_config = example(min_delta=2.0, bands=EXAMPLE_BANDS)

    name: Name = optional()
    tiers: list[Word] = optional()
    measures: list[MeasureInput] = optional()
    bands: list[BandInput] = optional()
    min_delta: Number = optional()


class ScorecardDraft(InputModel):
    """What to try: fields left out keep the current version's."""

    model_config = example(bands=[{"name": "healthy", "minimum": 80}, *EXAMPLE_BANDS[1:]])

    measures: list[MeasureInput] = optional()
    bands: list[BandInput] = optional()
    min_delta: Number = optional()


class ScorecardRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="B2B services",
        tiers=[],
        version=2,
        measures=EXAMPLE_MEASURES,
        bands=EXAMPLE_BANDS,
        min_delta=1.0,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    tiers: list[str]
    version: int = Field(description="The current version; every edit adds one.")
    measures: list[dict[str, Any]]
    bands: list[dict[str, Any]]
    min_delta: float
    created_at: datetime
    updated_at: datetime


class ScorecardVersionRead(BaseModel):
    model_config = example(
        version=1,
        measures=EXAMPLE_MEASURES,
        bands=EXAMPLE_BANDS,
        min_delta=1.0,
        created_at=EXAMPLE_TIME,
    )

    version: int
    measures: list[dict[str, Any]]
    bands: list[dict[str, Any]]
    min_delta: float
    created_at: datetime


class ScorecardPage(Paginated[ScorecardRead]):
    pass


class BandChange(BaseModel):
    client_id: uuid.UUID
    client_name: str
    current_score: float | None
    current_band: str
    draft_score: float | None
    draft_band: str


class PreviewRead(BaseModel):
    model_config = example(
        clients=3,
        current={"healthy": 1, "neutral": 1, "at_risk": 1},
        draft={"healthy": 0, "neutral": 2, "at_risk": 1},
        changed_count=1,
        changed=[
            {
                "client_id": EXAMPLE_ID,
                "client_name": "Globex",
                "current_score": 72.5,
                "current_band": "healthy",
                "draft_score": 72.5,
                "draft_band": "neutral",
            }
        ],
    )

    clients: int = Field(description="Clients the scorecard scores.")
    current: dict[str, int] = Field(description="Clients per band with the current version.")
    draft: dict[str, int] = Field(description="Clients per band with the draft.")
    changed_count: int
    changed: list[BandChange] = Field(description="Clients whose band would change (first 100).")


class BackfillRequest(InputModel):
    model_config = example(**{"from": "2026-08-01T00:00:00Z", "to": EXAMPLE_TIME, "step_days": 7})

    from_: IsoDateTime = Field(alias="from")
    to: IsoDateTime
    step_days: Days = Field(default=1, ge=1, le=365)
    knowledge: Knowledge = Field(
        default=Knowledge.OCCURRED,
        description="Which events each moment counts; defaults to `occurred`, so imported "
        f"history gives the scorecard its past. {KNOWLEDGE_DOC} In the `recorded` view only "
        "clients created by each moment are scored.",
    )


class BackfillRead(BaseModel):
    model_config = example(steps=14, clients=120, evaluated=1680, written=211, knowledge="occurred")

    steps: int = Field(description="Moments scored: from, from + step, ... up to to.")
    clients: int
    evaluated: int
    written: int = Field(
        description="Snapshots stored (moves of at least min_delta, band changes)."
    )
    knowledge: Knowledge = Field(description="The view the moments were scored in.")


class BandOutcomeRead(BaseModel):
    band: str
    clients: int
    churned: int
    churn_rate: float | None


class BacktestRead(BaseModel):
    model_config = example(
        at="2026-06-01T00:00:00Z",
        horizon_days=90,
        clients=120,
        churned=9,
        bands=[{"band": "at_risk", "clients": 20, "churned": 6, "churn_rate": 0.3}],
        auc=0.81,
        knowledge="occurred",
    )

    at: datetime
    horizon_days: int
    clients: int = Field(
        description="Clients scored: acquired by `at` and not churned then (in the `recorded` "
        "view also created by then)."
    )
    churned: int = Field(
        description="Of those, churned within the horizon, by the churn's own date "
        "(`occurred_at` of the churn)."
    )
    bands: list[BandOutcomeRead]
    auc: float | None = Field(
        description="ROC AUC of the score against retained (higher) and churned; null without both."
    )
    knowledge: Knowledge = Field(description="The view the scores at `at` were read in.")
