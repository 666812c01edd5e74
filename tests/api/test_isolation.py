"""One workspace never reaches another's objects, through any operation of the API."""

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from app.domain.jobs import JobStatus
from tests.api.operations import OPERATIONS, Ids, Operation, an_hour_ago, login_event, random_ids
from tests.crm_support import create_hubspot_integration, finish_syncs, start_sync
from tests.emails_support import write_email
from tests.factories import (
    create_client,
    create_contact,
    create_contract,
    create_owner,
    create_workspace,
)
from tests.health_support import create_scorecard
from tests.signals_support import open_score_drop

PROBLEM = "application/problem+json"
UPSERT = "upsertClientByExternalId"

WITH_PATH_ID = [op for op in OPERATIONS if op.path_params]
LOOKUPS = [op for op in WITH_PATH_ID if op.operation_id != UPSERT]
WRITE_LOOKUPS = [op for op in LOOKUPS if op.method != "GET"]
NESTED_LOOKUPS = [op for op in LOOKUPS if len(op.path_params) > 1]
LISTS = [op for op in OPERATIONS if op.method == "GET" and not op.path_params]
CATALOGUES = {
    "listEventTypes",
    "listConditionFields",
}  # the same for every workspace: no rows of its own
SETTINGS = {
    "getSignalSettings",
    "getTaskSettings",
    "getTriggerSettings",
    "getEmailSettings",
}  # one object per workspace with nothing that names it
ROW_LISTS = [op for op in LISTS if op.operation_id not in CATALOGUES | SETTINGS]
ID_FILTERS = [
    ("listClients", "owner_id"),
    ("listContracts", "client_id"),
    ("listEmails", "client_id"),
    ("listEvents", "client_id"),
    ("listHealth", "owner_id"),
    ("listSignals", "owner_id"),
    ("listTasks", "client_id"),
    ("listTasks", "owner_id"),
    ("listTriggerRuns", "client_id"),
    ("listTriggerRuns", "trigger_id"),
]


def labels(operations: list[Operation]) -> list[str]:
    return [op.label for op in operations]


@dataclass(frozen=True)
class Tenant:
    """A workspace holding one of each object, and every string that identifies its data."""

    api: httpx.AsyncClient
    ids: dict[str, str]
    values: frozenset[str]
    app: FastAPI

    def leaked_into(self, text: str) -> list[str]:
        return sorted(value for value in self.values if value in text)


async def _populate(
    api: httpx.AsyncClient, label: str, amount: str
) -> tuple[dict[str, str], set[str]]:
    owner = await create_owner(
        api, name=f"{label} owner", email=f"owner@{label}.example", external_id=f"{label}-am"
    )
    client = await create_client(
        api,
        name=f"{label} client",
        external_id=f"{label}-crm-1",
        domain=f"{label}.example",
        owner_id=owner["id"],
        tier="enterprise",
        attributes={"plan": f"{label}-plan"},
    )
    contact = await create_contact(
        api, client["id"], name=f"{label} contact", email=f"contact@{label}.example"
    )
    contract = await create_contract(
        api, client["id"], external_id=f"{label}-contract", amount=amount
    )
    response = await api.post("/v1/api-keys", json={"name": f"{label} key", "scopes": ["read"]})
    assert response.status_code == 201, response.text
    key = response.json()
    event = {
        "client_id": client["id"],
        "type": "feature_used",
        "occurred_at": an_hour_ago(),
        "properties": {"feature": f"{label}-feature"},
        "contact_id": contact["id"],
        "source": f"{label}-src",
        "external_id": f"{label}-evt-1",
    }
    response = await api.post("/v1/events", json={"events": [event]})
    assert response.status_code == 200, response.text
    (stored,) = response.json()["results"]
    # The client's one signal is the score drop opened below: its contract dates its
    # acquisition months back and it has no touchpoint, so it would also have gone quiet.
    response = await api.patch("/v1/signal-settings", json={"gone_quiet": {"enabled": False}})
    assert response.status_code == 200, response.text
    response = await api.post(
        "/v1/tasks",
        json={"client_id": client["id"], "title": f"{label} task", "body": f"{label}-task-body"},
    )
    assert response.status_code == 201, response.text
    task = response.json()
    workspace = (await api.get("/v1/workspace")).json()
    jobs = (await api.get("/v1/jobs", params={"kind": "clients.changed"})).json()["data"]
    ids = {
        "job_id": jobs[0]["id"],
        "owner_id": owner["id"],
        "client_id": client["id"],
        "contact_id": contact["id"],
        "contract_id": contract["id"],
        "key_id": key["id"],
        "external_id": client["external_id"],
        "task_id": task["id"],
    }
    values = {
        *ids.values(),
        workspace["id"],
        owner["name"],
        owner["email"],
        owner["external_id"],
        client["name"],
        client["domain"],
        f"{label}-plan",
        contact["name"],
        contact["email"],
        contract["external_id"],
        amount,
        key["name"],
        key["prefix"],
        stored["id"],
        f"{label}-feature",
        f"{label}-src",
        f"{label}-evt-1",
        task["title"],
        f"{label}-task-body",
    }
    return ids, values


@asynccontextmanager
async def _tenant(app: FastAPI, label: str, amount: str) -> AsyncIterator[Tenant]:
    workspace = await create_workspace(app, f"{label} CS")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://tenure.test",
        headers={"Authorization": f"Bearer {workspace.admin_key}"},
    ) as api:
        ids, values = await _populate(api, label, amount)
        scorecard = await create_scorecard(api, name=f"{label} scorecard", tiers=["mid"])
        ids["scorecard_id"] = scorecard["id"]
        values |= {scorecard["id"], scorecard["name"]}
        ids["signal_id"] = await open_score_drop(app, workspace.id, ids["client_id"])
        values.add(ids["signal_id"])
        ids["trigger_id"], ids["run_id"] = await _fire(api, label, ids["client_id"])
        values |= {ids["trigger_id"], ids["run_id"], f"{label} trigger"}
        ids["cadence_id"], ids["enrollment_id"] = await _enrol(api, label, ids["client_id"])
        values |= {ids["cadence_id"], ids["enrollment_id"], f"{label} cadence"}
        ids["template_id"] = await _email_template(api, label)
        values |= {ids["template_id"], f"{label} template", f"{label}-subject"}
        ids["integration_id"] = await _integrate(api, label)
        values |= {ids["integration_id"], f"{label} integration", f"{label}-option"}
        crm_id = await create_hubspot_integration(api, f"{label} CRM")
        ids["crm_integration_id"] = crm_id
        ids["sync_id"] = await start_sync(api, crm_id)
        await finish_syncs(app, crm_id)  # so that another may start
        values |= {crm_id, ids["sync_id"], f"{label} CRM"}
        ids["email_id"] = await write_email(
            app, workspace.id, ids["client_id"], ids["template_id"], to="owner"
        )
        ids["suppression_id"], suppressed = await _suppress(api, label)
        values |= {ids["email_id"], ids["suppression_id"], suppressed}
        yield Tenant(api=api, ids=ids, values=frozenset(values | {workspace.admin_key}), app=app)


async def _integrate(api: httpx.AsyncClient, label: str) -> str:
    """An integration of the tenant's own (the `log` kind: its test call stays in process)."""
    body = {
        "kind": "log",
        "name": f"{label} integration",
        "credentials": {},
        "options": {"label": f"{label}-option"},
    }
    response = await api.post("/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


async def _suppress(api: httpx.AsyncClient, label: str) -> tuple[str, str]:
    address = f"gone@{label}-suppressed.example"
    body = {"email": address, "reason": "bounce"}
    response = await api.post("/v1/email-suppressions", json=body)
    assert response.status_code == 201, response.text
    suppression_id: str = response.json()["id"]
    return suppression_id, address


async def _enrol(api: httpx.AsyncClient, label: str, client_id: str) -> tuple[str, str]:
    """A cadence of the tenant's own (no tier: by hand) with its client enrolled."""
    body = {"name": f"{label} cadence", "interval_days": 30}
    response = await api.post("/v1/cadences", json=body)
    assert response.status_code == 201, response.text
    cadence_id: str = response.json()["id"]
    url = f"/v1/cadences/{cadence_id}/enrollments"
    response = await api.post(url, json={"client_id": client_id})
    assert response.status_code == 201, response.text
    enrollment_id: str = response.json()["id"]
    return cadence_id, enrollment_id


async def _email_template(api: httpx.AsyncClient, label: str) -> str:
    body = {"name": f"{label} template", "subject": f"{label}-subject", "text_body": "Hi"}
    response = await api.post("/v1/email-templates", json=body)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


async def _fire(api: httpx.AsyncClient, label: str, client_id: str) -> tuple[str, str]:
    """A trigger of the tenant's own, run by hand once for its client."""
    body = {
        "name": f"{label} trigger",
        "when": {"kind": "manual"},
        "actions": [{"kind": "create_task", "params": {"title": f"{label} trigger task"}}],
    }
    response = await api.post("/v1/triggers", json=body)
    assert response.status_code == 201, response.text
    trigger_id: str = response.json()["id"]
    response = await api.post(f"/v1/triggers/{trigger_id}/run", json={"client_ids": [client_id]})
    assert response.status_code == 200, response.text
    run_id: str = response.json()["results"][0]["trigger_run_id"]
    return trigger_id, run_id


@pytest.fixture
async def alpha(app: FastAPI) -> AsyncIterator[Tenant]:
    """The workspace whose objects the other one tries to reach."""
    async with _tenant(app, "alpha", "1111.1111") as tenant:
        yield tenant


@pytest.fixture
async def bravo(app: FastAPI) -> AsyncIterator[Tenant]:
    """The caller: an admin key of another workspace, which may do anything in its own."""
    async with _tenant(app, "bravo", "2222.2222") as tenant:
        yield tenant


async def _churn(tenant: Tenant) -> None:
    url = f"/v1/clients/{tenant.ids['client_id']}/churn"
    response = await tenant.api.post(url, json={"reason": "moved away"})
    assert response.status_code == 200, response.text


async def _release_owner(tenant: Tenant) -> None:
    url = f"/v1/clients/{tenant.ids['client_id']}"
    response = await tenant.api.patch(url, json={"owner_id": None})
    assert response.status_code == 200, response.text


async def _snooze_task(tenant: Tenant) -> None:
    url = f"/v1/tasks/{tenant.ids['task_id']}/snooze"
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await tenant.api.post(url, json={"until": until})
    assert response.status_code == 200, response.text


async def _fail_job(tenant: Tenant) -> None:
    async with tenant.app.state.sessionmaker() as session:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == uuid.UUID(tenant.ids["job_id"]))
            .values(status=JobStatus.FAILED.value, last_error="gave up")
        )
        await session.commit()


# What makes an operation succeed on the owner's own objects; applied to the target workspace,
# so a lookup that ignored the workspace would succeed instead of answering 404.
PRECONDITIONS: dict[str, Callable[[Tenant], Awaitable[None]]] = {
    "reactivateClient": _churn,
    "deleteOwner": _release_owner,
    "retryJob": _fail_job,
    "reopenTask": _snooze_task,
}


async def _prepare(op: Operation, target: Tenant) -> None:
    if op.operation_id in PRECONDITIONS:
        await PRECONDITIONS[op.operation_id](target)


async def _snapshot(tenant: Tenant) -> dict[str, Any]:
    """Everything the workspace can read about its objects, with their ETags."""
    ids = tenant.ids
    reads = [
        "/v1/workspace",
        f"/v1/owners/{ids['owner_id']}",
        f"/v1/clients/{ids['client_id']}",
        f"/v1/clients/{ids['client_id']}/stage-history",
        f"/v1/clients/{ids['client_id']}/contacts/{ids['contact_id']}",
        f"/v1/clients/{ids['client_id']}/contacts",
        f"/v1/contracts/{ids['contract_id']}",
        f"/v1/clients/{ids['client_id']}/events",
        "/v1/owners",
        "/v1/clients",
        "/v1/contracts",
        "/v1/events",
        f"/v1/scorecards/{ids['scorecard_id']}",
        f"/v1/scorecards/{ids['scorecard_id']}/versions",
        "/v1/scorecards",
        f"/v1/clients/{ids['client_id']}/health/history",
        f"/v1/clients/{ids['client_id']}/health/overrides",
        "/v1/health",
        f"/v1/signals/{ids['signal_id']}",
        f"/v1/clients/{ids['client_id']}/signals",
        "/v1/signals",
        "/v1/signal-settings",
        f"/v1/cadences/{ids['cadence_id']}",
        f"/v1/cadences/{ids['cadence_id']}/enrollments",
        "/v1/cadences",
        f"/v1/clients/{ids['client_id']}/cadence",
        f"/v1/tasks/{ids['task_id']}",
        "/v1/tasks",
        "/v1/task-settings",
        f"/v1/triggers/{ids['trigger_id']}",
        f"/v1/triggers/{ids['trigger_id']}/versions",
        "/v1/triggers",
        f"/v1/trigger-runs/{ids['run_id']}",
        "/v1/trigger-runs",
        "/v1/trigger-settings",
        f"/v1/email-templates/{ids['template_id']}",
        "/v1/email-templates",
        f"/v1/emails/{ids['email_id']}",
        "/v1/emails",
        f"/v1/email-suppressions/{ids['suppression_id']}",
        "/v1/email-suppressions",
        "/v1/email-settings",
        f"/v1/integrations/{ids['crm_integration_id']}/syncs/{ids['sync_id']}",
        f"/v1/integrations/{ids['crm_integration_id']}/syncs",
    ]
    state: dict[str, Any] = {}
    for path in reads:
        response = await tenant.api.get(path)
        assert response.status_code == 200, f"{path}: {response.text}"
        state[path] = (response.json(), response.headers.get("etag"))
    keys = (await tenant.api.get("/v1/api-keys")).json()["data"]
    state["/v1/api-keys"] = [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys]
    return state


class TestObjectOfAnotherWorkspace:
    @pytest.mark.parametrize("op", LOOKUPS, ids=labels(LOOKUPS))
    async def test_is_answered_404_exactly_like_a_missing_id(
        self, op: Operation, alpha: Tenant, bravo: Tenant
    ) -> None:
        await _prepare(op, alpha)
        response = await op.send(bravo.api, alpha.ids)
        missing = await op.send(bravo.api, random_ids())

        assert response.status_code == 404, f"{op.label}: {response.status_code} {response.text}"
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["instance"] == op.url(alpha.ids)
        rest = {k: v for k, v in problem.items() if k != "instance"}
        assert rest == {k: v for k, v in missing.json().items() if k != "instance"}
        assert alpha.leaked_into(json.dumps(rest)) == []
        assert "etag" not in response.headers
        assert "location" not in response.headers

    @pytest.mark.parametrize("op", WRITE_LOOKUPS, ids=labels(WRITE_LOOKUPS))
    async def test_is_left_unchanged_by_a_write(
        self, op: Operation, alpha: Tenant, bravo: Tenant
    ) -> None:
        await _prepare(op, alpha)
        before = await _snapshot(alpha)
        await op.send(bravo.api, alpha.ids)
        assert await _snapshot(alpha) == before

    @pytest.mark.parametrize("op", NESTED_LOOKUPS, ids=labels(NESTED_LOOKUPS))
    async def test_is_not_found_under_a_parent_of_the_caller(
        self, op: Operation, alpha: Tenant, bravo: Tenant
    ) -> None:
        """Only the last path id is foreign: the child must still belong to the caller."""
        last = op.path_params[-1]
        ids: Ids = {**bravo.ids, last: alpha.ids[last]}
        response = await op.send(bravo.api, ids)
        assert response.status_code == 404, f"{op.label}: {response.status_code} {response.text}"
        assert response.headers["content-type"] == PROBLEM


class TestOwnObject:
    @pytest.mark.parametrize("op", WITH_PATH_ID, ids=labels(WITH_PATH_ID))
    async def test_same_request_succeeds(self, op: Operation, bravo: Tenant) -> None:
        """The control: the requests above are valid, so their 404 is about ownership."""
        await _prepare(op, bravo)
        response = await op.send(bravo.api, bravo.ids)
        assert response.is_success, f"{op.label}: {response.status_code} {response.text}"


class TestUpsertWithExternalIdOfAnotherWorkspace:
    async def test_creates_a_new_client_in_the_caller_workspace(
        self, alpha: Tenant, bravo: Tenant
    ) -> None:
        external_id = alpha.ids["external_id"]
        response = await bravo.api.put(
            f"/v1/clients/by-external-id/{external_id}", json={"name": "Bravo's own"}
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"] != alpha.ids["client_id"]
        assert created["name"] == "Bravo's own"
        assert created["external_id"] == external_id
        assert created["owner_id"] is None
        assert created["mrr"] == {}
        assert (await bravo.api.get(f"/v1/clients/{created['id']}")).status_code == 200

    async def test_leaves_the_other_workspace_client_unchanged(
        self, alpha: Tenant, bravo: Tenant
    ) -> None:
        before = await _snapshot(alpha)
        response = await bravo.api.put(
            f"/v1/clients/by-external-id/{alpha.ids['external_id']}",
            json={"name": "Bravo's own", "attributes": {"plan": "hijacked"}},
        )
        assert response.status_code == 201, response.text
        assert await _snapshot(alpha) == before


class TestCoverage:
    async def test_every_operation_with_a_path_id_is_exercised(self, app: FastAPI) -> None:
        expected = {
            f"{method.upper()} {path}"
            for path, item in app.openapi()["paths"].items()
            if path.startswith("/v1/") and "{" in path
            for method in item
        }
        upsert = {op.label for op in WITH_PATH_ID if op.operation_id == UPSERT}
        assert len(upsert) == 1
        assert set(labels(LOOKUPS)) | upsert == expected
        assert set(labels(WITH_PATH_ID)) == expected

    async def test_every_list_is_exercised(self, app: FastAPI) -> None:
        expected = {
            path
            for path, item in app.openapi()["paths"].items()
            if path.startswith("/v1/") and "{" not in path and "get" in item
        }
        assert {op.path for op in LISTS} == expected


class TestListInAnotherWorkspace:
    @pytest.mark.parametrize("op", ROW_LISTS, ids=labels(ROW_LISTS))
    async def test_shows_the_caller_rows(self, op: Operation, bravo: Tenant) -> None:
        """The control: the list answers with rows, so an absence below means something."""
        response = await bravo.api.get(op.path)
        assert response.status_code == 200, response.text
        assert bravo.leaked_into(response.text) != []

    @pytest.mark.parametrize("op", LISTS, ids=labels(LISTS))
    async def test_never_shows_rows_of_another_workspace(
        self, op: Operation, alpha: Tenant, bravo: Tenant
    ) -> None:
        response = await bravo.api.get(op.path)
        assert response.status_code == 200, response.text
        assert alpha.leaked_into(response.text) == []

    @pytest.mark.parametrize(("operation_id", "param"), ID_FILTERS)
    async def test_filter_finds_the_row_in_its_own_workspace(
        self, operation_id: str, param: str, alpha: Tenant
    ) -> None:
        """The control: the filter below would find the row if it looked across workspaces."""
        (op,) = [o for o in LISTS if o.operation_id == operation_id]
        response = await alpha.api.get(op.path, params={param: alpha.ids[param]})
        assert response.status_code == 200, response.text
        assert response.json()["data"] != []  # the client's task and its email's review task

    @pytest.mark.parametrize(("operation_id", "param"), ID_FILTERS)
    async def test_filter_by_an_id_of_another_workspace_answers_as_for_a_missing_id(
        self, operation_id: str, param: str, alpha: Tenant, bravo: Tenant
    ) -> None:
        """An empty page or a 404, but the same as for an id that names nothing."""
        (op,) = [o for o in LISTS if o.operation_id == operation_id]
        response = await bravo.api.get(op.path, params={param: alpha.ids[param]})
        missing = await bravo.api.get(op.path, params={param: random_ids()[param]})
        assert response.status_code in (200, 404), response.text
        assert response.status_code == missing.status_code
        if response.status_code == 200:
            assert response.json()["data"] == []
        else:
            drop = {"instance"}
            assert {k: v for k, v in response.json().items() if k not in drop} == {
                k: v for k, v in missing.json().items() if k not in drop
            }
        assert alpha.leaked_into(response.text.replace(alpha.ids[param], "")) == []

    async def test_every_id_filter_is_exercised(self, app: FastAPI) -> None:
        document = app.openapi()
        expected = {
            (spec["operationId"], param["name"])
            for path, item in document["paths"].items()
            if path.startswith("/v1/")
            for spec in item.values()
            for param in spec.get("parameters", [])
            if param["in"] == "query" and param["name"].endswith("_id")
        }
        assert set(ID_FILTERS) == expected


def _client_with_owner(ids: Ids) -> dict[str, Any]:
    return {"name": "Borrowed owner", "owner_id": ids["owner_id"]}


def _contract_for(ids: Ids) -> dict[str, Any]:
    return {
        "client_id": ids["client_id"],
        "starts_on": "2026-01-01",
        "amount": "5.00",
        "currency": "USD",
    }


# (method, path on the caller's own objects, body naming the other workspace's object, field)
FOREIGN_REFERENCES: list[tuple[str, str, Callable[[Ids], dict[str, Any]], str]] = [
    ("POST", "/v1/clients", _client_with_owner, "owner_id"),
    ("PATCH", "/v1/clients/{client_id}", lambda ids: {"owner_id": ids["owner_id"]}, "owner_id"),
    ("PUT", "/v1/clients/by-external-id/bravo-crm-2", _client_with_owner, "owner_id"),
    ("POST", "/v1/contracts", _contract_for, "client_id"),
    (
        "POST",
        "/v1/signals/{signal_id}/acknowledge",
        lambda ids: {"owner_id": ids["owner_id"]},
        "owner_id",
    ),
    (
        "POST",
        "/v1/cadences/{cadence_id}/enrollments",
        lambda ids: {"client_id": ids["client_id"]},
        "client_id",
    ),
    (
        "POST",
        "/v1/email-templates/{template_id}/preview",
        lambda ids: {"client_id": ids["client_id"]},
        "client_id",
    ),
    (
        "POST",
        "/v1/email-templates/preview",
        lambda ids: {"subject": "Hi", "text_body": "x", "client_id": ids["client_id"]},
        "client_id",
    ),
]


class TestBodyNamingAnObjectOfAnotherWorkspace:
    @pytest.mark.parametrize(
        ("method", "path", "body", "field"),
        FOREIGN_REFERENCES,
        ids=[f"{m} {p} {f}" for m, p, _, f in FOREIGN_REFERENCES],
    )
    async def test_is_refused_as_an_unknown_reference(
        self,
        method: str,
        path: str,
        body: Callable[[Ids], dict[str, Any]],
        field: str,
        alpha: Tenant,
        bravo: Tenant,
    ) -> None:
        response = await bravo.api.request(method, path.format(**bravo.ids), json=body(alpha.ids))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [e["loc"] for e in response.json()["errors"]] == [["body", field]]

    @pytest.mark.parametrize(
        ("method", "path", "body", "field"),
        FOREIGN_REFERENCES,
        ids=[f"{m} {p} {f}" for m, p, _, f in FOREIGN_REFERENCES],
    )
    async def test_succeeds_when_it_names_the_caller_own_object(
        self,
        method: str,
        path: str,
        body: Callable[[Ids], dict[str, Any]],
        field: str,
        bravo: Tenant,
    ) -> None:
        """The control: the same body with the caller's own id is accepted."""
        response = await bravo.api.request(method, path.format(**bravo.ids), json=body(bravo.ids))
        assert response.is_success, response.text


class TestIdempotencyKeyUsedInAnotherWorkspace:
    async def test_is_not_a_replay_of_the_other_workspace_response(
        self, alpha: Tenant, bravo: Tenant
    ) -> None:
        body = {"name": "Same Person", "email": "same@example.com"}
        headers = {"Idempotency-Key": "shared-key-1"}
        first = await alpha.api.post("/v1/owners", json=body, headers=headers)
        assert first.status_code == 201, first.text

        second = await bravo.api.post("/v1/owners", json=body, headers=headers)
        assert second.status_code == 201, second.text
        assert "idempotent-replayed" not in second.headers
        assert second.json()["id"] != first.json()["id"]
        assert (await bravo.api.get(f"/v1/owners/{second.json()['id']}")).status_code == 200


EventMaker = Callable[[Ids, Ids], dict[str, Any]]
# An event sent by bravo that names one of alpha's objects: (label, maker(alpha ids, bravo ids)).
FOREIGN_EVENTS: list[tuple[str, EventMaker]] = [
    ("client_id", lambda a, b: login_event(a["client_id"])),
    (
        "client_external_id",
        lambda a, b: {
            "client_external_id": a["external_id"],
            "type": "login",
            "occurred_at": an_hour_ago(),
        },
    ),
    ("contact_id", lambda a, b: login_event(b["client_id"], contact_id=a["contact_id"])),
]


class TestEventNamingAnObjectOfAnotherWorkspace:
    @pytest.mark.parametrize(("case", "event"), FOREIGN_EVENTS, ids=[c for c, _ in FOREIGN_EVENTS])
    async def test_is_rejected(
        self, case: str, event: EventMaker, alpha: Tenant, bravo: Tenant
    ) -> None:
        response = await bravo.api.post(
            "/v1/events", json={"events": [event(alpha.ids, bravo.ids)]}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [r["status"] for r in response.json()["results"]] == ["rejected"]
        assert alpha.leaked_into(response.text) == []

    @pytest.mark.parametrize(("case", "event"), FOREIGN_EVENTS, ids=[c for c, _ in FOREIGN_EVENTS])
    async def test_stores_nothing_in_the_other_workspace(
        self, case: str, event: EventMaker, alpha: Tenant, bravo: Tenant
    ) -> None:
        before = await _snapshot(alpha)
        await bravo.api.post("/v1/events", json={"events": [event(alpha.ids, bravo.ids)]})
        assert await _snapshot(alpha) == before

    @pytest.mark.parametrize(("case", "event"), FOREIGN_EVENTS, ids=[c for c, _ in FOREIGN_EVENTS])
    async def test_is_stored_when_it_names_the_caller_own_objects(
        self, case: str, event: EventMaker, bravo: Tenant
    ) -> None:
        """The control: the same event naming bravo's own objects is valid."""
        response = await bravo.api.post(
            "/v1/events", json={"events": [event(bravo.ids, bravo.ids)]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 1

    async def test_upserting_creates_a_client_in_the_caller_workspace(
        self, alpha: Tenant, bravo: Tenant
    ) -> None:
        before = await _snapshot(alpha)
        event = {
            "client_external_id": alpha.ids["external_id"],
            "type": "login",
            "occurred_at": an_hour_ago(),
        }
        response = await bravo.api.post(
            "/v1/events", json={"events": [event], "upsert_clients": True}
        )
        assert response.status_code == 200, response.text
        clients = (await bravo.api.get("/v1/clients")).json()["data"]
        (created,) = [c for c in clients if c["external_id"] == alpha.ids["external_id"]]
        assert created["id"] != alpha.ids["client_id"]
        assert await _snapshot(alpha) == before
