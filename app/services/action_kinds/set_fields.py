"""`set_fields`: change the client's stage, tier, attributes or tags through the same service
as `PATCH /v1/clients/{id}`, so its version, stage history and facts follow as for any edit.

Tags live in `attributes["tags"]`, a sorted list of short words: scorecards and conditions
already read attributes, so a tag is usable wherever an attribute is."""

from collections.abc import Mapping
from typing import Any

from app.db.repositories.clients import ClientRepository
from app.domain.actions import check_known
from app.domain.limits import json_fault
from app.errors import AppError
from app.services.actions import ActionContext, ActionFailed
from app.services.clients import ClientLimits, change_client

TAGS = "tags"
MAX_TAGS = 50
MAX_TAG_LENGTH = 64


class SetFields:
    name = "set_fields"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        problems = check_known(params, ("stage", "tier", "attributes", "tags"))
        if not set(params) & {"stage", "tier", "attributes", "tags"}:
            problems.append("name at least one of `stage`, `tier`, `attributes`, `tags`")
        for name in ("stage", "tier"):
            value = params.get(name)
            if name in params and not (isinstance(value, str) and 0 < len(value) <= 64):
                problems.append(f"`{name}` must be a name of at most 64 characters")
        if "attributes" in params:
            attributes = params["attributes"]
            if not isinstance(attributes, dict):
                problems.append("`attributes` must be an object (null values remove keys)")
            elif TAGS in attributes:
                problems.append("set tags with `tags`, not `attributes.tags`")
            elif fault := json_fault(attributes):
                problems.append(f"`attributes`: {fault.message}")
        if "tags" in params:
            problems += _tag_problems(params["tags"])
        return problems

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "stage" in params:
            changes["lifecycle_stage"] = params["stage"]
        if "tier" in params:
            changes["tier"] = params["tier"]
        attributes = dict(params.get("attributes") or {})
        if "tags" in params:
            client = await ClientRepository(context.session).get(
                context.workspace_id, context.client_id
            )
            current = client.attributes.get(TAGS) if client is not None else None
            attributes[TAGS] = apply_tags(current, params["tags"])
        if attributes:
            changes["attributes"] = attributes
        limits = ClientLimits(max_attributes_bytes=context.settings.max_attributes_bytes)
        try:
            await change_client(
                context.session,
                context.workspace_id,
                context.client_id,
                changes,
                limits,
                context.now,
            )
        except AppError as exc:  # an unknown stage, attributes too large: retrying cannot help
            raise ActionFailed(exc.detail, retryable=False) from exc
        return {"changed": sorted(changes)}


def _tag_problems(tags: Any) -> list[str]:
    if not isinstance(tags, dict) or not tags or set(tags) - {"add", "remove"}:
        return ["`tags` must be an object with `add` and/or `remove` lists"]
    problems = []
    for key in ("add", "remove"):
        words = tags.get(key, [])
        if not isinstance(words, list) or len(words) > MAX_TAGS:
            problems.append(f"`tags.{key}` must be a list of at most {MAX_TAGS} tags")
        elif not all(isinstance(w, str) and 0 < len(w) <= MAX_TAG_LENGTH for w in words):
            problems.append(f"`tags.{key}` holds tags of 1..{MAX_TAG_LENGTH} characters")
    return problems


def apply_tags(current: Any, change: Mapping[str, Any]) -> list[str]:
    """The client's tags after the change; whatever else was stored under `tags` is replaced."""
    tags = {t for t in current if isinstance(t, str)} if isinstance(current, list) else set()
    tags |= set(change.get("add", []))
    tags -= set(change.get("remove", []))
    return sorted(tags)[:MAX_TAGS]
