"""Client rules: tier and stage vocabulary, acquisition, churn and reactivation, attribute
limits."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from app.domain.limits import json_size
from app.errors import Conflict, InvalidInput


class ClientStatus(StrEnum):
    ACTIVE = "active"
    CHURNED = "churned"


class AcquiredAtSource(StrEnum):
    """Why a client's `acquired_at` is what it is.

    Only a `given` date is the caller's word: it stays put and refuses a churn dated before
    it. The others are derived and move earlier as older history arrives, so a client created
    today can take two years of imported history."""

    GIVEN = "given"
    """Sent by the caller (create, update, upsert, batch)."""
    HISTORY = "history"
    """The earliest fact its history shows, before its creation in Tenure."""
    CREATED = "created"
    """No history before its creation in Tenure: the moment it was created."""


def history_start(
    *,
    first_contract_on: date | None = None,
    first_activity_at: datetime | None = None,
    churned_at: datetime | None = None,
) -> datetime | None:
    """The earliest moment a client's history shows: the start (midnight UTC) of its first
    contract, whatever its status (a churned client's contracts are cancelled), its first
    activity event, or its churn. Our own `email_sent` is not history: outreach reaches
    prospects before they are clients, so it says nothing about when one was acquired."""
    moments = [first_activity_at, churned_at]
    if first_contract_on is not None:
        moments.append(datetime.combine(first_contract_on, time(), tzinfo=UTC))
    return earliest(moments)


def earliest(moments: Iterable[datetime | None]) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def derived_acquisition(
    created_at: datetime, history: datetime | None
) -> tuple[datetime, AcquiredAtSource]:
    """A client never given an acquisition date was acquired at the earliest of its creation
    and its history."""
    if history is not None and history < created_at:
        return history, AcquiredAtSource.HISTORY
    return created_at, AcquiredAtSource.CREATED


@dataclass(frozen=True)
class StageChange:
    from_stage: str | None
    to_stage: str
    changed_at: datetime


def check_tier(tier: str | None, allowed: list[str]) -> None:
    if tier is not None and tier not in allowed:
        raise InvalidInput(
            f"unknown tier {tier!r}; this workspace's tiers are {', '.join(allowed)}",
            errors=[{"loc": ["body", "tier"], "msg": "unknown tier", "type": "enum"}],
        )


def check_stage(stage: str, allowed: list[str]) -> None:
    if stage not in allowed:
        raise InvalidInput(
            f"unknown lifecycle stage {stage!r}; this workspace's stages are {', '.join(allowed)}",
            errors=[{"loc": ["body", "lifecycle_stage"], "msg": "unknown stage", "type": "enum"}],
        )


def stage_change(current: str | None, new: str, now: datetime) -> StageChange | None:
    """A change worth recording, or None when the stage stays the same."""
    if current == new:
        return None
    return StageChange(from_stage=current, to_stage=new, changed_at=now)


def check_attributes(attributes: dict[str, Any], max_bytes: int) -> None:
    size = json_size(attributes)
    if size > max_bytes:
        raise InvalidInput(
            f"attributes take {size} bytes; the limit is {max_bytes}",
            errors=[{"loc": ["body", "attributes"], "msg": "too large", "type": "too_large"}],
        )


@dataclass(frozen=True)
class Churn:
    churned_at: datetime
    reason: str


def churn(
    status: ClientStatus,
    acquired_at: datetime | None,
    occurred_at: datetime,
    reason: str,
    now: datetime,
) -> Churn:
    """A client churns once, not in the future, and not before an acquisition date that was
    given (`acquired_at`; None for a derived one, which the churn moves instead)."""
    if status is ClientStatus.CHURNED:
        raise Conflict("the client has already churned; reactivate it first")
    if occurred_at > now:
        raise InvalidInput(
            "occurred_at is in the future",
            errors=[
                {"loc": ["body", "occurred_at"], "msg": "in the future", "type": "value_error"}
            ],
        )
    if acquired_at is not None and occurred_at < acquired_at:
        raise InvalidInput(
            "occurred_at is before the client was acquired",
            errors=[
                {"loc": ["body", "occurred_at"], "msg": "before acquired_at", "type": "value_error"}
            ],
        )
    return Churn(churned_at=occurred_at, reason=reason)


def check_reactivation(status: ClientStatus) -> None:
    if status is not ClientStatus.CHURNED:
        raise Conflict("only a churned client can be reactivated")
