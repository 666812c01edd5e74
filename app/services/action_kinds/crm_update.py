"""`crm_update`: push the client's health to its CRM record now, whatever the threshold says,
with optional static properties (`{"properties": {"lifecyclestage": "customer"}}`).

The action only marks the client's link and asks for an immediate `crm.push`: the provider
call, its retries and its failures are the push job's, handled once for every way a push is
asked for."""

import uuid
from collections.abc import Mapping
from typing import Any

from app.domain.actions import check_known, check_uuid
from app.domain.crm import extra_property_problems
from app.services.actions import ActionContext
from app.services.crm_push import force_push


class CrmUpdate:
    name = "crm_update"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        problems = [
            *check_known(params, ("integration_id", "properties")),
            *check_uuid(params, "integration_id"),
        ]
        if "properties" in params:
            problems += extra_property_problems(params["properties"])
        return problems

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = params.get("integration_id")
        integrations = await force_push(
            context.session,
            context.workspace_id,
            context.client_id,
            context.now,
            integration_id=uuid.UUID(raw) if raw else None,
            properties=params.get("properties"),
        )
        if not integrations:
            return {"pending": [], "skipped": "the client has no linked CRM record"}
        return {"pending": [str(integration_id) for integration_id in integrations]}
