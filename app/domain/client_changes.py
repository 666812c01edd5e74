"""The client fields whose changes are announced (`client.updated`), for `client.changed`
triggers: the ones a CS lead's playbooks hinge on."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ClientField(StrEnum):
    STAGE = "stage"
    TIER = "tier"
    OWNER = "owner"
    STATUS = "status"


WATCHED_COLUMNS = {
    "lifecycle_stage": ClientField.STAGE,
    "tier": ClientField.TIER,
    "owner_id": ClientField.OWNER,
    "status": ClientField.STATUS,
}
"""Each watched column by the name a trigger watches it by."""


def watched_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[ClientField, str | None, str | None]]:
    """The watched fields whose value an edit changed: (field, before, after) as text."""
    changes = []
    for column, name in WATCHED_COLUMNS.items():
        old, new = before.get(column), after.get(column)
        if old != new:
            changes.append((name, _text(old), _text(new)))
    return changes


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
