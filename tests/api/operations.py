"""Every /v1 operation, read from the OpenAPI document, with a valid request body for each.

Sweeping tests are parametrized from here, so a new endpoint is covered the day it is added,
or its tests fail until it gets a body below.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app

Ids = Mapping[str, str]
BodyMaker = Callable[[Ids], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    path_params: tuple[str, ...]
    has_body: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def path_ids(self, ids: Ids) -> dict[str, str]:
        """The value of each path parameter, read from the key the operation takes it from."""
        keys = {name: ID_KEYS.get((self.operation_id, name), name) for name in self.path_params}
        keys = {name: key if key in ids else name for name, key in keys.items()}
        missing = [key for key in keys.values() if key not in ids]
        if missing:
            pytest.fail(f"{self.label}: no id for path parameter(s) {missing}; add them to the ids")
        return {name: ids[key] for name, key in keys.items()}

    def url(self, ids: Ids) -> str:
        return self.path.format(**self.path_ids(ids))

    def body(self, ids: Ids) -> dict[str, Any] | None:
        if not self.has_body:
            return None
        make = VALID_BODIES.get(self.operation_id)
        if make is None:
            pytest.fail(f"{self.operation_id} takes a body: add a valid one to VALID_BODIES")
        return make(ids)

    async def send(self, api: httpx.AsyncClient, ids: Ids, **kwargs: Any) -> httpx.Response:
        return await api.request(self.method, self.url(ids), json=self.body(ids), **kwargs)


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def an_hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def login_event(client_id: str, **overrides: Any) -> dict[str, Any]:
    return {"client_id": client_id, "type": "login", "occurred_at": an_hour_ago(), **overrides}


# Path parameters an operation reads from another key of the ids: the CRM imports need a CRM
# integration, while the sweeps' `integration_id` is the `log` kind (its test call stays in
# process).
ID_KEYS: dict[tuple[str, str], str] = {
    (operation_id, "integration_id"): "crm_integration_id"
    for operation_id in ("startCrmSync", "listCrmSyncs", "getCrmSync")
}

# Bodies valid in any workspace that holds the objects named by `ids`.
VALID_BODIES: dict[str, BodyMaker] = {
    "updateWorkspace": lambda ids: {"name": "Renamed workspace"},
    "createApiKey": lambda ids: {"name": "another key", "scopes": ["read"]},
    "createOwner": lambda ids: {"name": "New owner", "email": f"new-{_suffix()}@example.com"},
    "updateOwner": lambda ids: {"name": "Renamed owner", "active": False},
    "createClient": lambda ids: {"name": "New client"},
    "upsertClientByExternalId": lambda ids: {"name": "Upserted client"},
    "upsertClientsBatch": lambda ids: {
        "clients": [
            {"external_id": f"crm-{_suffix()}", "name": "Batch client", "attributes": {"a": 1}}
        ]
    },
    "updateClient": lambda ids: {"name": "Renamed client", "attributes": {"plan": "scale"}},
    "churnClient": lambda ids: {"reason": "budget cut"},
    "createContact": lambda ids: {"name": "New contact", "email": f"new-{_suffix()}@example.com"},
    "updateContact": lambda ids: {"name": "Renamed contact", "role": "CFO"},
    "createContract": lambda ids: {
        "client_id": ids["client_id"],
        "starts_on": "2026-01-01",
        "ends_on": None,
        "amount": "10.00",
        "currency": "EUR",
    },
    "updateContract": lambda ids: {"amount": "1.50"},
    "ingestEvents": lambda ids: {"events": [login_event(ids["client_id"])]},
    "createScorecard": lambda ids: {
        "name": f"Scorecard {_suffix()}",
        "tiers": ["smb"],
        "measures": [
            {
                "key": "logins",
                "kind": "count",
                "weight": 1,
                "events": ["login"],
                "window_days": 30,
                "scale": {"breakpoints": [[0, 0], [20, 100]]},
            }
        ],
    },
    "updateScorecard": lambda ids: {"name": "Renamed scorecard", "min_delta": 2},
    "previewScorecard": lambda ids: {"min_delta": 2},
    "backfillScorecard": lambda ids: {
        "from": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        "to": an_hour_ago(),
        "step_days": 1,
    },
    "overrideClientHealth": lambda ids: {
        "band": "at_risk",
        "reason": "champion left",
        "author": "jane@example.com",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    },
    "acknowledgeSignal": lambda ids: {"owner_id": ids["owner_id"], "note": "on it"},
    "updateSignalSettings": lambda ids: {"gone_quiet": {"days": 40}},
    "createCadence": lambda ids: {
        "name": f"Cadence {_suffix()}",
        "tier": "smb",
        "interval_days": 45,
    },
    "updateCadence": lambda ids: {"name": "Renamed cadence", "interval_days": 21},
    "enrollClientInCadence": lambda ids: {"client_id": ids["client_id"]},
    "createTask": lambda ids: {"client_id": ids["client_id"], "title": "Call about the renewal"},
    "updateTask": lambda ids: {"title": "Renamed task", "priority": "high"},
    "completeTask": lambda ids: {"outcome": "spoke with the champion", "channel": "call"},
    "snoozeTask": lambda ids: {"until": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    "updateTaskSettings": lambda ids: {"escalation": {"after_hours": 24}},
    "createTrigger": lambda ids: {
        "name": f"Trigger {_suffix()}",
        "when": {"kind": "health.band_changed", "to": ["at_risk"]},
        "condition": {"field": "tier", "op": "eq", "value": "mid"},
        "actions": [{"kind": "create_task", "params": {"title": "Call {{client.name}}"}}],
    },
    "updateTrigger": lambda ids: {"name": "Renamed trigger", "control": {"cooldown_hours": 48}},
    "previewTrigger": lambda ids: {"condition": {"field": "tier", "op": "eq", "value": "smb"}},
    "runTrigger": lambda ids: {"client_ids": [ids["client_id"]]},
    "updateTriggerSettings": lambda ids: {"max_firings_per_client_per_day": 5},
    "createEmailTemplate": lambda ids: {
        "name": f"Template {_suffix()}",
        "subject": "Hi {{ client.name }}",
        "text_body": "Hello {{ contact.first_name|default('there') }}",
    },
    "updateEmailTemplate": lambda ids: {"subject": "Renamed {{ client.name }}"},
    "previewEmailTemplate": lambda ids: {"client_id": ids["client_id"]},
    "previewEmailTemplateSource": lambda ids: {
        "subject": "Hi",
        "text_body": "{{ client.name }}",
        "client_id": ids["client_id"],
    },
    "updateEmailSettings": lambda ids: {"cap_count": 5, "review": False},
    "createEmailSuppression": lambda ids: {
        "email": f"gone-{_suffix()}@example.com",
        "reason": "unsubscribe",
    },
    "createIntegration": lambda ids: {
        "kind": "log",
        "name": f"Integration {_suffix()}",
        "credentials": {},
    },
    "updateIntegration": lambda ids: {"name": f"Renamed {_suffix()}", "options": {"a": 1}},
}

ADMIN_OPERATIONS = frozenset(
    {
        "listApiKeys",
        "createApiKey",
        "revokeApiKey",
        "updateWorkspace",
        "listJobs",
        "getJob",
        "retryJob",
        "createIntegration",
        "listIntegrations",
        "getIntegration",
        "updateIntegration",
        "deleteIntegration",
        "testIntegration",
        "listIntegrationCalls",
        "startCrmSync",
        "listCrmSyncs",
        "getCrmSync",
    }
)


def v1_operations(document: Mapping[str, Any]) -> list[Operation]:
    operations = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, spec in item.items():
            params = tuple(p["name"] for p in spec.get("parameters", []) if p["in"] == "path")
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=spec["operationId"],
                    path_params=params,
                    has_body="requestBody" in spec,
                )
            )
    return operations


def _document() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()


OPERATIONS = v1_operations(_document())


def random_ids() -> dict[str, str]:
    """Ids that name nothing, for checks that must answer before any lookup."""
    ids = {name: str(uuid.uuid4()) for op in OPERATIONS for name in op.path_params}
    ids |= {key: str(uuid.uuid4()) for key in ID_KEYS.values()}
    ids["external_id"] = f"crm-{_suffix()}"
    return ids
