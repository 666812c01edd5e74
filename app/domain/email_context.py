"""What an email template can say about a client: the context, its variables and their meaning.

Every variable is always present; a value the client lacks (no contact, no score yet, no
contract) is None, which prints as nothing and which `default` replaces:
`{{ contact.first_name|default("there") }}`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.domain.contracts import ContractStatus, ContractTerms, mrr, next_renewal_on
from app.domain.limits import json_size


@dataclass(frozen=True)
class Variable:
    description: str
    fields: Mapping[str, str] | None = None
    """The fields of an object variable; None for a plain value."""
    free_form: frozenset[str] = frozenset()
    """Fields whose own keys are the client's (attributes): any key may be read."""


VARIABLES: dict[str, Variable] = {
    "contact": Variable(
        "The recipient: the client's primary contact, or the contact chosen.",
        {
            "first_name": "First word of the name.",
            "name": "Full name.",
            "email": "Email address.",
            "role": "Role, as recorded (e.g. CFO).",
        },
    ),
    "owner": Variable(
        "The client's account owner (the sender, by default).",
        {"first_name": "First word of the name.", "name": "Full name.", "email": "Email."},
    ),
    "client": Variable(
        "The client.",
        {
            "name": "Name.",
            "tier": "Tier.",
            "stage": "Lifecycle stage.",
            "status": "`active` or `churned`.",
            "domain": "Web domain.",
            "external_id": "Id in your CRM or billing system.",
            "attributes": "Free-form attributes (read-only), e.g. `client.attributes.plan`.",
        },
        free_form=frozenset({"attributes"}),
    ),
    "health": Variable(
        "The latest stored health score (what triggers decide on).",
        {
            "score": "0-100, one decimal.",
            "band": "Band, e.g. `healthy`, `at_risk`.",
            "weakest": (
                "The measure with the fewest points: `weakest.label`, `weakest.key`, "
                "`weakest.value` (its raw value), `weakest.points` (0-100); None when unscored."
            ),
        },
        free_form=frozenset({"weakest"}),
    ),
    "days_since_last_touchpoint": Variable("Whole days since the last logged touchpoint."),
    "mrr": Variable(
        "Monthly recurring revenue of the live contracts. `{{ mrr|money }}` writes it. "
        "When the contracts are in several currencies, `amount` and `currency` are None and "
        "`by_currency` lists each (amounts are never added across currencies).",
        {
            "amount": "A decimal amount.",
            "currency": "ISO 4217 code.",
            "by_currency": "Every currency's `{amount, currency}`.",
        },
    ),
    "renewal_date": Variable("The nearest end date, today or later, of an active contract."),
    "days_to_renewal": Variable("Days from today to `renewal_date`."),
    "workspace": Variable("Your workspace.", {"name": "Its name."}),
    "today": Variable("Today's date (UTC)."),
}

CENTS = Decimal("0.01")
MAX_ATTRIBUTES_SIZE = 16_384
"""Bytes of client attributes a template sees; larger ones are left out whole (as `{}`),
so a template never reads a document cut in the middle."""


def describe_variables() -> str:
    """Markdown list of the variables, for the API's description."""
    lines = []
    for name, variable in VARIABLES.items():
        lines.append(f"- `{name}`: {variable.description}")
        for field, text in (variable.fields or {}).items():
            lines.append(f"  - `{name}.{field}`: {text}")
    return "\n".join(lines)


@dataclass(frozen=True)
class PersonFacts:
    name: str | None
    email: str | None
    role: str | None = None


@dataclass(frozen=True)
class ClientFacts:
    name: str
    tier: str | None
    stage: str | None
    status: str | None
    domain: str | None
    external_id: str | None
    attributes: Mapping[str, Any]
    last_touchpoint_at: datetime | None


@dataclass(frozen=True)
class MeasureFacts:
    key: str
    label: str
    value: Any
    points: float


@dataclass(frozen=True)
class HealthFacts:
    score: float | None
    band: str | None
    measures: Sequence[Mapping[str, Any]]
    """The stored snapshot's measures document (`app.domain.health.measures_document`)."""


@dataclass(frozen=True)
class ContextFacts:
    """Everything read about one client, as plain values."""

    workspace_name: str
    client: ClientFacts
    contact: PersonFacts | None
    owner: PersonFacts | None
    health: HealthFacts | None
    contracts: Sequence[ContractTerms]


def first_name(name: str | None) -> str | None:
    words = (name or "").split()
    return words[0] if words else None


def weakest(measures: Sequence[Mapping[str, Any]]) -> MeasureFacts | None:
    """The included measure with the fewest points; ties go to the heavier weight, then key."""
    scored = [
        m
        for m in measures
        if isinstance(m, Mapping)
        and not m.get("excluded")
        and isinstance(m.get("points"), int | float)
    ]
    if not scored:
        return None
    worst = min(scored, key=lambda m: (m["points"], -(m.get("weight") or 0), str(m.get("key"))))
    return MeasureFacts(
        key=str(worst.get("key")),
        label=str(worst.get("label") or worst.get("key")),
        value=worst.get("raw_value"),
        points=float(worst["points"]),
    )


def build(facts: ContextFacts, now: datetime) -> dict[str, Any]:
    """The variables of `VARIABLES` for one client, as of `now`."""
    today = now.astimezone(UTC).date()
    client = facts.client
    contact = facts.contact
    owner = facts.owner
    health = facts.health
    totals = mrr(list(facts.contracts), today)
    renewal = next_renewal_on(list(facts.contracts), today)
    last = client.last_touchpoint_at
    measure = weakest(health.measures) if health else None
    attributes = dict(client.attributes or {})
    if json_size(attributes) > MAX_ATTRIBUTES_SIZE:
        attributes = {}
    return {
        "contact": {
            "first_name": first_name(contact.name) if contact else None,
            "name": contact.name if contact else None,
            "email": contact.email if contact else None,
            "role": contact.role if contact else None,
        },
        "owner": {
            "first_name": first_name(owner.name) if owner else None,
            "name": owner.name if owner else None,
            "email": owner.email if owner else None,
        },
        "client": {
            "name": client.name,
            "tier": client.tier,
            "stage": client.stage,
            "status": client.status,
            "domain": client.domain,
            "external_id": client.external_id,
            "attributes": attributes,
        },
        "health": {
            "score": health.score if health else None,
            "band": health.band if health else None,
            "weakest": None
            if measure is None
            else {
                "key": measure.key,
                "label": measure.label,
                "value": measure.value,
                "points": measure.points,
            },
        },
        "days_since_last_touchpoint": None if last is None else (now - last).days,
        "mrr": _money(totals),
        "renewal_date": renewal,
        "days_to_renewal": None if renewal is None else (renewal - today).days,
        "workspace": {"name": facts.workspace_name},
        "today": today,
    }


def _money(totals: Mapping[str, Decimal]) -> dict[str, Any]:
    each = [{"amount": amount, "currency": code} for code, amount in totals.items()]
    one = each[0] if len(each) == 1 else None
    return {
        "amount": one["amount"] if one else None,
        "currency": one["currency"] if one else None,
        "by_currency": each,
    }


def as_json(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as JSON values: amounts as decimal strings, dates in ISO 8601."""
    return {key: _json(value) for key, value in variables.items()}


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):  # as the API writes amounts: at least two decimals
        cents = value.quantize(CENTS)
        return str(cents if value == cents else value.normalize())
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


EXAMPLE_NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
EXAMPLE = build(
    ContextFacts(
        workspace_name="Acme CS",
        client=ClientFacts(
            name="Globex",
            tier="enterprise",
            stage="adoption",
            status="active",
            domain="globex.example",
            external_id="hs-1042",
            attributes={"plan": "scale", "seats": 40},
            last_touchpoint_at=datetime(2026, 10, 1, 15, 0, tzinfo=UTC),
        ),
        contact=PersonFacts("Hank Scorpio", "hank@globex.example", "CEO"),
        owner=PersonFacts("Dana Scully", "dana@acme.example"),
        health=HealthFacts(
            score=48.5,
            band="at_risk",
            measures=[
                {"key": "logins", "label": "Logins", "raw_value": 3, "points": 15.0},
                {"key": "nps", "label": "NPS", "raw_value": 40, "points": 70.0},
            ],
        ),
        contracts=[
            ContractTerms(
                date(2026, 1, 1),
                date(2027, 1, 31),
                Decimal("1250.00"),
                "USD",
                ContractStatus.ACTIVE,
            )
        ],
    ),
    EXAMPLE_NOW,
)
"""A full context: templates are tried on it when written, and it is the API's example."""

EMPTY = build(
    ContextFacts(
        workspace_name="Acme CS",
        client=ClientFacts("Globex", None, None, None, None, None, {}, None),
        contact=None,
        owner=None,
        health=None,
        contracts=[],
    ),
    EXAMPLE_NOW,
)
"""A client with nothing but a name: templates must render for it too (missing values)."""
