"""Random portfolios and conditions for the condition language's agreement test, and the rows
that hold a portfolio, written straight to the tables the language reads."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Client,
    Contract,
    HealthSnapshot,
    Owner,
    Scorecard,
    Signal,
    Task,
    Workspace,
)

NOW = datetime(2026, 6, 15, 12, 0, 0, 250_000, tzinfo=UTC)
TODAY = NOW.date()

NAMES = ("Acme", "acme", "Globex")
TIERS = (None, "mid", "smb")
STAGES = ("onboarding", "adoption")
STATUSES = ("active", "churned")
BANDS = ("healthy", "at_risk", "unknown")
KINDS = ("gone_quiet", "usage_drop", "custom_kind")
SEVERITIES = ("low", "medium", "high", "critical")  # `critical`: a severity no rank knows
ATTRIBUTE_KEYS = ("plan", "seats", "beta")
GROUPS = ("engagement", "fit")
CURRENCIES = ("USD", "EUR")
TASK_STATUSES = ("open", "snoozed", "done", "cancelled")
CHANGE_DAYS = (1, 7, 30, 365)

numbers = st.one_of(
    st.integers(-3, 10),
    st.sampled_from([5.0, 0.1, 0.30000000000000004, -0.0, 1e16, 2.5, 2**53 + 1, 5e-324]),
    st.integers(-(2**63) + 1, 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_scalars = st.one_of(st.sampled_from(["pro", "5", "", "Pro", "true"]), numbers, st.booleans())
attribute_values = st.one_of(json_scalars, st.none(), st.just([1, "pro"]), st.just({"x": 1}))
# Moments on and around the boundaries the SQL turns day counts into.
day_offsets = st.one_of(
    st.sampled_from([0, 1, 6, 7, 8, 29, 30, 31, 364, 365, 366, 400]),
    st.integers(-2, 400),
)
micro_offsets = st.sampled_from([-1, 0, 1, 43_200_000_000])
"""A microsecond either side of a whole day, or half a day."""
recent_days = st.one_of(st.sampled_from([0, 1, 7, 30, 31]), st.integers(-3, 45))
score_values = st.one_of(st.sampled_from([40.0, 50.0, 50.5, 70.0]), st.floats(0, 100))


@dataclass
class SnapshotData:
    days_ago: int
    micros: int
    score: float | None
    band: str
    groups: dict[str, Any]


@dataclass
class ContractData:
    status: str
    starts_in: int
    length: int | None
    units: int
    currency: str


@dataclass
class ClientData:
    name: str
    tier: str | None
    stage: str
    status: str
    owner: int | None
    attributes: dict[str, Any]
    snapshots: list[SnapshotData]
    signals: list[tuple[str, str, bool]]  # kind, severity, resolved
    contracts: list[ContractData]
    touchpoint: tuple[int, int] | None  # days ago, microseconds
    tasks: list[str]


@dataclass
class Portfolio:
    workspace_id: uuid.UUID
    client_ids: list[uuid.UUID]
    owner_ids: list[uuid.UUID] = field(default_factory=list)


snapshots = st.builds(
    SnapshotData,
    days_ago=day_offsets,
    micros=micro_offsets,
    score=st.one_of(st.none(), score_values.map(lambda x: round(x, 1))),
    band=st.sampled_from(BANDS),
    groups=st.dictionaries(
        st.sampled_from(GROUPS),
        st.one_of(st.none(), score_values.map(lambda x: round(x, 1)), st.just("n/a")),
    ),
)
contracts = st.builds(
    ContractData,
    status=st.sampled_from(("active", "cancelled")),
    starts_in=st.integers(-60, 5),
    length=st.one_of(st.none(), st.integers(0, 100)),
    units=st.one_of(st.sampled_from([0, 1, 25_000_000, 25_005_000]), st.integers(0, 10**9)),
    currency=st.sampled_from(CURRENCIES),
)
clients = st.builds(
    ClientData,
    name=st.sampled_from(NAMES),
    tier=st.sampled_from(TIERS),
    stage=st.sampled_from(STAGES),
    status=st.sampled_from(STATUSES),
    owner=st.sampled_from((None, 0, 1)),
    attributes=st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), attribute_values),
    snapshots=st.lists(snapshots, max_size=4),
    signals=st.lists(
        st.tuples(st.sampled_from(KINDS), st.sampled_from(SEVERITIES), st.booleans()), max_size=4
    ),
    contracts=st.lists(contracts, max_size=3),
    touchpoint=st.one_of(st.none(), st.tuples(recent_days, micro_offsets)),
    tasks=st.lists(st.sampled_from(TASK_STATUSES), max_size=3),
)
portfolios = st.lists(clients, min_size=1, max_size=8)


async def insert_portfolio(session: AsyncSession, data: list[ClientData]) -> Portfolio:
    """A fresh workspace holding the clients, so examples never see each other's rows."""
    workspace = Workspace(name="conditions", tiers=[], lifecycle_stages=[])
    session.add(workspace)
    await session.flush()
    ws = workspace.id
    scorecard = Scorecard(workspace_id=ws, name="default", tiers=[])
    owners = [Owner(workspace_id=ws, name=f"o{i}", email=f"o{i}@example.com") for i in (0, 1)]
    session.add_all([scorecard, *owners])
    await session.flush()
    portfolio = Portfolio(ws, [], [o.id for o in owners])
    rows: dict[type[Any], list[dict[str, Any]]] = {
        HealthSnapshot: [],
        Signal: [],
        Contract: [],
        Task: [],
    }
    client_rows = []
    for item in data:
        client_id = uuid.uuid4()
        portfolio.client_ids.append(client_id)
        touched = None
        if item.touchpoint is not None:
            days, micros = item.touchpoint
            touched = NOW - timedelta(days=days, microseconds=micros)
        client_rows.append(
            {
                "id": client_id,
                "workspace_id": ws,
                "name": item.name,
                "tier": item.tier,
                "lifecycle_stage": item.stage,
                "status": item.status,
                "owner_id": None if item.owner is None else portfolio.owner_ids[item.owner],
                "attributes": item.attributes,
                "last_touchpoint_at": touched,
            }
        )
        rows[HealthSnapshot] += _snapshots(ws, client_id, scorecard.id, item.snapshots)
        unresolved: set[str] = set()
        for kind, severity, resolved in item.signals:
            if not resolved and kind in unresolved:
                continue  # one unresolved signal per client and kind
            unresolved |= set() if resolved else {kind}
            rows[Signal].append(
                {
                    "workspace_id": ws,
                    "client_id": client_id,
                    "kind": kind,
                    "severity": severity,
                    "status": "resolved" if resolved else "open",
                    "figures": {},
                    "opened_at": NOW - timedelta(days=3),
                    "evaluated_at": NOW,
                    "resolved_at": NOW - timedelta(days=1) if resolved else None,
                }
            )
        for c in item.contracts:
            starts = TODAY + timedelta(days=c.starts_in)
            rows[Contract].append(
                {
                    "workspace_id": ws,
                    "client_id": client_id,
                    "starts_on": starts,
                    "ends_on": None if c.length is None else starts + timedelta(days=c.length),
                    "amount": Decimal(c.units).scaleb(-4),
                    "currency": c.currency,
                    "status": c.status,
                }
            )
        for status in item.tasks:
            rows[Task].append(
                {
                    "workspace_id": ws,
                    "client_id": client_id,
                    "title": "follow up",
                    "priority": "normal",
                    "status": status,
                    "source": "manual",
                }
            )
    await session.execute(sa.insert(Client), client_rows)
    for model, values in rows.items():
        if values:
            await session.execute(sa.insert(model), values)
    await session.commit()
    return portfolio


def _snapshots(
    ws: uuid.UUID, client_id: uuid.UUID, scorecard_id: uuid.UUID, items: list[SnapshotData]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "workspace_id": ws,
            "client_id": client_id,
            "scorecard_id": scorecard_id,
            "scorecard_version": 1,
            "computed_at": NOW - timedelta(days=s.days_ago, microseconds=s.micros),
            "score": s.score,
            "band": s.band,
            "groups": s.groups,
            "measures": [],
            "source": "live",
            "latest": False,
        }
        for s in items
    ]
    if rows:  # the newest, as HealthRepository.relabel_latest orders them
        max(rows, key=lambda r: (r["computed_at"], r["id"]))["latest"] = True
    return rows


def _leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    doc = {"field": field, "op": op, **extra}
    if op not in ("exists", "not_exists"):
        doc["value"] = value
    return doc


def _pick(field: str, ops: tuple[str, ...], values: Any, **extra: Any) -> Any:
    return st.builds(lambda op, v: _leaf(field, op, v, **extra), st.sampled_from(ops), values)


def _equality(field: str, pool: Any, nullable: bool) -> Any:
    ops = ("eq", "ne", "exists", "not_exists") if nullable else ("eq", "ne")
    return st.one_of(
        _pick(field, ops, pool),
        _pick(field, ("in", "not_in"), st.lists(pool, min_size=1, max_size=3)),
    )


COMPARE = ("eq", "ne", "lt", "lte", "gt", "gte")
NULLABLE = (*COMPARE, "exists", "not_exists")


@dataclass
class Pools:
    """Values the portfolio holds, and their neighbours, for conditions to compare with: random
    values alone would almost never land on a boundary (a touchpoint exactly 30 days ago)."""

    days_since: list[int]
    days_to_renewal: list[int]
    scores: list[float]
    changes: list[float]
    mrr: list[str]
    attributes: list[Any]

    @classmethod
    def of(cls, data: list[ClientData]) -> "Pools":
        near = (-1, 0, 1)
        touch = {c.touchpoint[0] + e for c in data if c.touchpoint for e in near}
        live = [k for c in data for k in c.contracts if k.status == "active"]
        ends = {k.starts_in + k.length + e for k in live if k.length is not None for e in near}
        scores = {s.score for c in data for s in c.snapshots if s.score is not None}
        scores |= {
            v for c in data for s in c.snapshots for v in s.groups.values() if isinstance(v, float)
        }
        sums = {
            sum(
                k.units
                for k in c.contracts
                if k.status == "active"
                and k.currency == currency
                and k.starts_in <= 0
                and (k.length is None or k.starts_in + k.length >= 0)
            )
            for c in data
            for currency in CURRENCIES
        }
        scalars = [
            v
            for c in data
            for v in c.attributes.values()
            if isinstance(v, str | int | float) and not (isinstance(v, str) and not v)
        ]
        return cls(
            days_since=sorted(touch),
            days_to_renewal=sorted(ends),
            scores=sorted(scores),
            changes=sorted({a - b for a in scores for b in scores}),
            mrr=sorted(str(Decimal(u).scaleb(-4)) for u in sums | {u + 1 for u in sums}),
            attributes=scalars,
        )


def _or_from(pool: list[Any], other: Any) -> Any:
    return st.one_of(st.sampled_from(pool), other) if pool else other


def leaves(owner_ids: list[uuid.UUID], pools: Pools) -> Any:
    """Every field, with values drawn from the data's (and around them) as well as at random."""
    scores = _or_from(pools.scores, st.one_of(st.sampled_from([0, 50, 100]), st.floats(-10, 110)))
    attribute_scalars = _or_from(pools.attributes, json_scalars)
    attribute_numbers = _or_from(
        [v for v in pools.attributes if isinstance(v, int | float) and not isinstance(v, bool)],
        numbers,
    )
    keyed = st.sampled_from(ATTRIBUTE_KEYS).map(lambda k: f"attributes.{k}")
    attribute = st.one_of(
        st.builds(_leaf, keyed, st.sampled_from(("eq", "ne")), attribute_scalars),
        st.builds(_leaf, keyed, st.sampled_from(("lt", "lte", "gt", "gte")), attribute_numbers),
        st.builds(
            _leaf,
            keyed,
            st.sampled_from(("in", "not_in")),
            st.lists(attribute_scalars, min_size=1, max_size=3),
        ),
        st.builds(_leaf, keyed, st.sampled_from(("exists", "not_exists"))),
    )
    group = st.builds(
        lambda g, op, v: _leaf(f"health.groups.{g}", op, v),
        st.sampled_from((*GROUPS, "missing")),
        st.sampled_from(NULLABLE),
        scores,
    )
    change = st.builds(
        lambda days, op, v: _leaf("health.score_change", op, v, days=days),
        st.one_of(st.sampled_from(CHANGE_DAYS), st.integers(1, 365)),
        st.sampled_from(NULLABLE),
        _or_from(pools.changes, st.floats(-110, 110)),
    )
    signal_value = st.one_of(
        st.sampled_from((*KINDS, "other")),
        st.fixed_dictionaries(
            {},
            optional={
                "kind": st.sampled_from(KINDS),
                "min_severity": st.sampled_from(("low", "medium", "high")),
            },
        ).filter(bool),
    )
    counts = st.integers(-1, 4)
    mrr = st.builds(
        lambda cur, op, v: _leaf("mrr", op, v, currency=cur),
        st.sampled_from((*CURRENCIES, "GBP")),
        st.sampled_from(COMPARE),
        _or_from(pools.mrr, st.integers(0, 10**9).map(lambda u: str(Decimal(u).scaleb(-4)))),
    )
    return st.one_of(
        _equality("name", st.sampled_from(NAMES), False),
        _equality("tier", st.sampled_from(("mid", "smb", "enterprise")), True),
        _equality("stage", st.sampled_from(STAGES), False),
        _equality("status", st.sampled_from(STATUSES), False),
        _equality("owner_id", st.sampled_from([str(o) for o in owner_ids]), True),
        _equality("health.band", st.sampled_from(BANDS), True),
        attribute,
        _pick("health.score", NULLABLE, scores),
        group,
        change,
        _pick("signals.open", ("includes", "not_includes"), signal_value),
        _pick("signals.open_count", COMPARE, counts),
        _pick("tasks.open_count", COMPARE, counts),
        mrr,
        _pick("days_to_renewal", NULLABLE, _or_from(pools.days_to_renewal, st.integers(-2, 100))),
        _pick("days_since_touchpoint", NULLABLE, _or_from(pools.days_since, recent_days)),
    )


def conditions(owner_ids: list[uuid.UUID], data: list[ClientData]) -> Any:
    return st.recursive(
        leaves(owner_ids, Pools.of(data)),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            inner.map(lambda x: {"not": x}),
        ),
        max_leaves=6,
    )


def depth(doc: dict[str, Any]) -> int:
    if "not" in doc:
        return 1 + depth(doc["not"])
    children = doc.get("all") or doc.get("any")
    return 1 + max(depth(c) for c in children) if children else 1
