"""Client rules: tier and stage vocabulary, churn and reactivation, attribute limits."""

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.errors import Conflict, InvalidInput


class ClientStatus(StrEnum):
    ACTIVE = "active"
    CHURNED = "churned"


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
    size = len(json.dumps(attributes, separators=(",", ":"), ensure_ascii=False).encode())
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
    """A client churns once, not before it was acquired and not in the future."""
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
