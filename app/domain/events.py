"""The event catalogue: which activity events exist and what makes one valid."""

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

CUSTOM_PREFIX = "custom."
CUSTOM_NAME = re.compile(r"custom\.[a-z][a-z0-9_]{0,63}")
MAX_FUTURE = timedelta(minutes=5)
MAX_PROPERTIES_BYTES = 16_384


class PropertyKind(StrEnum):
    STRING = "string"
    NUMBER = "number"


@dataclass(frozen=True)
class PropertyRule:
    kind: PropertyKind
    required: bool = False
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ValueRule:
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    description: str = ""


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    value: ValueRule = ValueRule()
    properties: dict[str, PropertyRule] = field(default_factory=dict)


TICKET_ID = PropertyRule(
    PropertyKind.STRING, required=True, description="Links open, escalate, resolve."
)
AMOUNT = ValueRule(required=True, minimum=0, description="The amount.")
OPTIONAL_AMOUNT = ValueRule(minimum=0, description="The amount, when known.")
MESSAGE_ID = PropertyRule(PropertyKind.STRING, description="The message the event is about.")

CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("login", "A user of the client signed in."),
        EventType(
            "feature_used",
            "A user used a feature.",
            properties={"feature": PropertyRule(PropertyKind.STRING, required=True)},
        ),
        EventType(
            "ticket_opened", "A support ticket was opened.", properties={"ticket_id": TICKET_ID}
        ),
        EventType(
            "ticket_resolved", "A support ticket was resolved.", properties={"ticket_id": TICKET_ID}
        ),
        EventType(
            "ticket_escalated",
            "A support ticket was escalated.",
            properties={"ticket_id": TICKET_ID},
        ),
        EventType(
            "order",
            "The client placed an order.",
            value=AMOUNT,
            properties={"currency": PropertyRule(PropertyKind.STRING, description="ISO 4217.")},
        ),
        EventType("payment_failed", "A payment by the client failed.", value=OPTIONAL_AMOUNT),
        EventType(
            "touchpoint",
            "An owner logged a call, email, meeting or note with the client.",
            properties={
                "channel": PropertyRule(
                    PropertyKind.STRING, required=True, choices=("call", "email", "meeting", "note")
                ),
                "owner_id": PropertyRule(PropertyKind.STRING, description="Who logged it."),
            },
        ),
        EventType(
            "nps",
            "A Net Promoter Score answer.",
            value=ValueRule(
                required=True, minimum=0, maximum=10, integer=True, description="0-10."
            ),
        ),
        EventType(
            "survey",
            "An answer to a survey question.",
            value=ValueRule(required=True, description="The answer's score."),
            properties={"question": PropertyRule(PropertyKind.STRING, required=True)},
        ),
        EventType("email_sent", "Outreach was sent.", properties={"message_id": MESSAGE_ID}),
        EventType("email_opened", "Outreach was opened.", properties={"message_id": MESSAGE_ID}),
        EventType(
            "email_clicked",
            "A link in outreach was clicked.",
            properties={"message_id": MESSAGE_ID},
        ),
        EventType(
            "email_replied",
            "The client replied to outreach.",
            properties={"message_id": MESSAGE_ID},
        ),
        EventType("referral", "The client referred someone."),
        EventType("renewal", "The client renewed.", value=OPTIONAL_AMOUNT),
        EventType("downgrade", "The client reduced its spend.", value=OPTIONAL_AMOUNT),
        EventType("expansion", "The client increased its spend.", value=OPTIONAL_AMOUNT),
    )
}
CUSTOM_TYPE = EventType(
    "custom.<name>",
    "A workspace's own event type; any finite value and free properties.",
)

NOT_HISTORY = ("email_sent",)
ACTIVITY_TYPES = frozenset(CATALOGUE) - set(NOT_HISTORY)
"""What counts as the client being active: everything but our own outreach. The same events
show when a client was acquired (app.domain.clients.history_start)."""


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def event_type(name: str) -> EventType | None:
    if name in CATALOGUE:
        return CATALOGUE[name]
    if CUSTOM_NAME.fullmatch(name):  # `$` would let a trailing newline through
        return CUSTOM_TYPE
    return None


def validate_event(
    type_name: str,
    value: float | None,
    properties: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> list[Problem]:
    """Every problem with one event, so a caller can fix them all at once."""
    problems: list[Problem] = []
    kind = event_type(type_name)
    if kind is None:
        problems.append(
            Problem("type", f"unknown event type {type_name!r}; use the catalogue or custom.<name>")
        )
        return problems
    if occurred_at.tzinfo is None:
        problems.append(Problem("occurred_at", "must carry a timezone"))
    elif occurred_at > now + MAX_FUTURE:
        problems.append(Problem("occurred_at", "is more than 5 minutes in the future"))
    problems += _check_value(kind.value, value)
    problems += _check_properties(kind, properties)
    return problems


def _check_value(rule: ValueRule, value: float | None) -> list[Problem]:
    if value is None:
        return [Problem("value", "is required for this type")] if rule.required else []
    if not math.isfinite(value):
        return [Problem("value", "must be a finite number")]
    problems = []
    if rule.integer and value != int(value):
        problems.append(Problem("value", "must be a whole number"))
    if rule.minimum is not None and value < rule.minimum:
        problems.append(Problem("value", f"must be at least {rule.minimum:g}"))
    if rule.maximum is not None and value > rule.maximum:
        problems.append(Problem("value", f"must be at most {rule.maximum:g}"))
    return problems


def _check_properties(kind: EventType, properties: dict[str, Any]) -> list[Problem]:
    problems = []
    for name, rule in kind.properties.items():
        present = properties.get(name)
        if present is None:
            if rule.required:
                problems.append(Problem(f"properties.{name}", "is required for this type"))
            continue
        if rule.kind is PropertyKind.STRING and not (isinstance(present, str) and present):
            problems.append(Problem(f"properties.{name}", "must be a non-empty string"))
        elif rule.kind is PropertyKind.NUMBER and (
            isinstance(present, bool) or not isinstance(present, int | float)
        ):
            problems.append(Problem(f"properties.{name}", "must be a number"))
        elif rule.choices and present not in rule.choices:
            problems.append(
                Problem(f"properties.{name}", f"must be one of {', '.join(rule.choices)}")
            )
    return problems
