"""A bulk upsert of clients by external id: what each item of a batch does to its client.

An item is the body of PUT /v1/clients/by-external-id/{external_id} plus the client's
`status`, with `churned_at` (the churn's own date) and `churn_reason` for a churned one. It is
applied on top of the stored client as that PUT would (attributes merge key by key, a key set
to null is removed), but as a state to reach, not an action: churning a churned client moves
its churn date, `status: active` reactivates. Items are planned one by one, so a bad item
never sinks the batch, and one external id appears once per batch: a repeat is refused (the
first item wins), since two rows for one client in one export are a mistake to show, not to
resolve silently.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.clients import (
    AcquiredAtSource,
    ClientStatus,
    StageChange,
    derived_acquisition,
    stage_change,
)
from app.domain.limits import json_size

COLUMNS = (
    "name",
    "domain",
    "owner_id",
    "tier",
    "lifecycle_stage",
    "stage_changed_at",
    "status",
    "acquired_at",
    "acquired_at_source",
    "churned_at",
    "churn_reason",
    "attributes",
)
"""What an item may change: everything of a client that is not its key or a derived fact."""


@dataclass(frozen=True)
class ClientItem:
    index: int
    external_id: str
    fields: dict[str, Any]
    """Only the fields sent, already valid in shape (an absent field keeps its value)."""


@dataclass(frozen=True)
class StoredClient:
    id: uuid.UUID
    created_at: datetime
    values: dict[str, Any]
    """Each of COLUMNS."""


@dataclass(frozen=True)
class Vocabulary:
    """What the workspace allows, looked up once per batch."""

    tiers: list[str]
    stages: list[str]
    owners: set[uuid.UUID]
    max_attributes_bytes: int


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Planned:
    index: int
    external_id: str
    outcome: Outcome
    client_id: uuid.UUID
    values: dict[str, Any]
    """Each of COLUMNS, as the client will be."""
    stage_change: StageChange | None = None
    recount_escalations: bool = False
    """A given acquisition date changed: the first escalation counts from it."""
    rederive: bool = False
    """A derived acquisition lost its anchor (a churn moved or undone, a date forgotten):
    it is derived from the whole history again."""


@dataclass(frozen=True)
class Rejected:
    index: int
    external_id: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def detail(self) -> str:
        return "; ".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in self.errors)


def repeats(items: list[ClientItem]) -> dict[int, int]:
    """Index of each item whose external id came earlier → index of that first item."""
    first: dict[str, int] = {}
    repeated: dict[int, int] = {}
    for item in items:
        if item.external_id in first:
            repeated[item.index] = first[item.external_id]
        else:
            first[item.external_id] = item.index
    return repeated


def plan(
    item: ClientItem, stored: StoredClient | None, vocabulary: Vocabulary, now: datetime
) -> Planned | Rejected:
    """The client's next state, or every reason the item cannot be applied."""
    sent = item.fields
    errors = _vocabulary_errors(sent, vocabulary)
    if stored is None and "name" not in sent:
        errors.append(_error("name", "is required to create a client", "missing"))
    before = stored.values if stored is not None else _blank(vocabulary, now)
    after = {**before, **{k: v for k, v in sent.items() if k in COLUMNS}}
    if "attributes" in sent:
        merged = {**before["attributes"], **sent["attributes"]}
        after["attributes"] = {k: v for k, v in merged.items() if v is not None}
        size = json_size(after["attributes"])
        if size > vocabulary.max_attributes_bytes:
            message = f"take {size} bytes; the limit is {vocabulary.max_attributes_bytes}"
            errors.append(_error("attributes", message, "too_large"))
    errors += _churn(sent, after, now)
    rederive = recount = False
    if sent.get("acquired_at") is not None:
        after["acquired_at_source"] = AcquiredAtSource.GIVEN.value
        recount = stored is not None and before["acquired_at"] != sent["acquired_at"]
    elif "acquired_at" in sent or before["acquired_at_source"] != AcquiredAtSource.GIVEN:
        created_at = stored.created_at if stored is not None else now
        after["acquired_at"], rederive = _derived(before, after, created_at, stored is None)
    churned_at = after["churned_at"]
    given = after["acquired_at_source"] == AcquiredAtSource.GIVEN
    if given and churned_at is not None and churned_at < after["acquired_at"]:
        errors.append(_error("churned_at", "is before the given acquired_at", "value_error"))
    if errors:
        return Rejected(item.index, item.external_id, errors)
    change = None
    if stored is None or "lifecycle_stage" in sent:
        current = None if stored is None else before["lifecycle_stage"]
        change = stage_change(current, after["lifecycle_stage"], now)
        if change is not None:
            after["stage_changed_at"] = change.changed_at
    if stored is None:
        return Planned(item.index, item.external_id, Outcome.CREATED, uuid.uuid4(), after, change)
    outcome = Outcome.UPDATED if after != before else Outcome.UNCHANGED
    return Planned(
        item.index, item.external_id, outcome, stored.id, after, change, recount, rederive
    )


def _blank(vocabulary: Vocabulary, now: datetime) -> dict[str, Any]:
    """A new client before its item applies: what POST /v1/clients would default."""
    return {
        "name": None,
        "domain": None,
        "owner_id": None,
        "tier": None,
        "lifecycle_stage": vocabulary.stages[0],
        "stage_changed_at": now,
        "status": ClientStatus.ACTIVE.value,
        "acquired_at": now,
        "acquired_at_source": AcquiredAtSource.CREATED.value,
        "churned_at": None,
        "churn_reason": None,
        "attributes": {},
    }


def _vocabulary_errors(sent: dict[str, Any], vocabulary: Vocabulary) -> list[dict[str, Any]]:
    errors = []
    if sent.get("tier") is not None and sent["tier"] not in vocabulary.tiers:
        errors.append(_error("tier", "is not one of the workspace's tiers", "enum"))
    if "lifecycle_stage" in sent and sent["lifecycle_stage"] not in vocabulary.stages:
        errors.append(_error("lifecycle_stage", "is not one of the workspace's stages", "enum"))
    if sent.get("owner_id") is not None and sent["owner_id"] not in vocabulary.owners:
        errors.append(_error("owner_id", "names no owner of this workspace", "reference"))
    return errors


def _churn(sent: dict[str, Any], after: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """`status` sets the state: churned (with its date and reason) or active (reactivated).
    A reason left out keeps the stored one, as any field left out does."""
    status = sent.get("status")
    if status is None:
        for name in ("churned_at", "churn_reason"):
            if name in sent:
                errors = [_error(name, "needs status churned in the same item", "value_error")]
                return errors
        return []
    if status == ClientStatus.ACTIVE:
        for name in ("churned_at", "churn_reason"):
            if name in sent:
                return [_error(name, "is only for status churned", "value_error")]
        after["churned_at"] = after["churn_reason"] = None
        return []
    if "churned_at" not in sent:
        return [_error("churned_at", "is required with status churned", "missing")]
    if sent["churned_at"] > now:
        return [_error("churned_at", "is in the future", "value_error")]
    return []


def _derived(
    before: dict[str, Any], after: dict[str, Any], created_at: datetime, new: bool
) -> tuple[datetime, bool]:
    """A derived acquisition after this item, and whether the whole history must be read
    again: the churn is the only history an item carries, so it moves the date earlier; a
    churn that anchored the date and moved later or went away (or a forgotten given date)
    leaves only the stored history to say."""
    if new:
        at, source = derived_acquisition(created_at, after["churned_at"])
        after["acquired_at_source"] = source.value
        return at, False
    if before["acquired_at_source"] == AcquiredAtSource.GIVEN:  # forgotten: read it all
        after["acquired_at_source"] = AcquiredAtSource.CREATED.value
        return before["acquired_at"], True
    current: datetime = before["acquired_at"]
    churned = after["churned_at"]
    if churned is not None and churned < current:
        after["acquired_at_source"] = AcquiredAtSource.HISTORY.value
        return churned, False
    anchor = before["churned_at"]
    return current, anchor is not None and anchor == current and churned != anchor


def _error(name: str, message: str, kind: str) -> dict[str, Any]:
    return {"loc": [name], "msg": message, "type": kind}
