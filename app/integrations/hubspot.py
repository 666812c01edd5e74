"""HubSpot CRM v3 with a private-app token: companies are the records Tenure's clients map to,
tasks are associated with their company, owners are HubSpot's own list.

Batch writes are cut to HubSpot's 100 inputs per call; a batch HubSpot takes in part (207, or
errors beside results) is finished for every chunk first, then reported as `RecordsRejected`."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from app.integrations.base import (
    CredentialsChanged,
    CrmCompany,
    CrmContact,
    CrmOwner,
    CrmTaskDraft,
    CrmTaskState,
    Page,
    ProviderError,
    RecordsRejected,
    RecordUpdate,
)
from app.integrations.http import ProviderHttp

BATCH_LIMIT = 100
PAGE_LIMIT = 100
TASK_TO_COMPANY = 192
"""HubSpot's HUBSPOT_DEFINED association type id for task → company."""
PRIORITIES = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH", "urgent": "HIGH"}
COMPANY_PROPERTIES = ("name", "domain", "hubspot_owner_id")
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "jobtitle")


class HubSpot:
    """A `CrmProvider` over HubSpot's CRM v3 API."""

    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        token = credentials.get("access_token", "").strip()
        if not token:
            raise ProviderError("the access_token credential is missing", retryable=False)
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def check(self) -> str:
        await self._request("check", "GET", "/crm/v3/objects/companies", params={"limit": "1"})
        return "the token reads companies"

    async def update_records(self, updates: Sequence[RecordUpdate]) -> None:
        inputs = _merged_inputs(updates)
        rejected: dict[str, str] = {}
        for start in range(0, len(inputs), BATCH_LIMIT):
            chunk = inputs[start : start + BATCH_LIMIT]
            answer = await self._request(
                "update_companies",
                "POST",
                "/crm/v3/objects/companies/batch/update",
                json={"inputs": chunk},
            )
            rejected.update(_batch_errors(_json(answer)))
        if rejected:
            raise RecordsRejected(rejected)

    async def create_task(self, task: CrmTaskDraft) -> str:
        due = task.due_at or datetime.now(UTC)
        properties: dict[str, str] = {
            "hs_timestamp": _timestamp(due),
            "hs_task_subject": task.subject,
            "hs_task_body": task.body,
            "hs_task_status": "NOT_STARTED",
        }
        if task.priority in PRIORITIES:
            properties["hs_task_priority"] = PRIORITIES[task.priority]
        if task.owner_record_id:
            properties["hubspot_owner_id"] = task.owner_record_id
        body = {
            "properties": properties,
            "associations": [
                {
                    "to": {"id": task.record_id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": TASK_TO_COMPANY,
                        }
                    ],
                }
            ],
        }
        answer = _json(
            await self._request(
                "create_task",
                "POST",
                "/crm/v3/objects/tasks",
                json=body,
                request_id=_created_id,
            )
        )
        task_id = answer.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError("HubSpot answered a created task without an id", retryable=False)
        return task_id

    async def task_states(self, task_record_ids: Sequence[str]) -> list[CrmTaskState]:
        """States of the tasks HubSpot still has; a deleted task is left out."""
        unique = list(dict.fromkeys(task_record_ids))
        states: list[CrmTaskState] = []
        for start in range(0, len(unique), BATCH_LIMIT):
            chunk = unique[start : start + BATCH_LIMIT]
            answer = _json(
                await self._request(
                    "read_tasks",
                    "POST",
                    "/crm/v3/objects/tasks/batch/read",
                    json={
                        "inputs": [{"id": task_id} for task_id in chunk],
                        "properties": ["hs_task_status"],
                        "propertiesWithHistory": [],
                    },
                )
            )
            for result in _list(answer.get("results")):
                properties = _dict(result.get("properties"))
                states.append(
                    CrmTaskState(
                        task_record_id=str(result.get("id")),
                        completed=properties.get("hs_task_status") == "COMPLETED",
                    )
                )
        return states

    async def companies(self, cursor: str | None) -> Page[CrmCompany]:
        answer = await self._list(
            "list_companies",
            "/crm/v3/objects/companies",
            cursor,
            {"properties": ",".join(COMPANY_PROPERTIES)},
        )
        items = []
        for result in _list(answer.get("results")):
            properties = _dict(result.get("properties"))
            items.append(
                CrmCompany(
                    record_id=str(result["id"]),
                    name=_text(properties.get("name")) or "",
                    domain=_text(properties.get("domain")),
                    owner_record_id=_text(properties.get("hubspot_owner_id")),
                )
            )
        return Page(items, _next_after(answer))

    async def contacts(self, cursor: str | None) -> Page[CrmContact]:
        answer = await self._list(
            "list_contacts",
            "/crm/v3/objects/contacts",
            cursor,
            {"properties": ",".join(CONTACT_PROPERTIES), "associations": "companies"},
        )
        items = []
        for result in _list(answer.get("results")):
            properties = _dict(result.get("properties"))
            companies = _dict(_dict(result.get("associations")).get("companies"))
            items.append(
                CrmContact(
                    record_id=str(result["id"]),
                    email=_text(properties.get("email")),
                    first_name=_text(properties.get("firstname")),
                    last_name=_text(properties.get("lastname")),
                    title=_text(properties.get("jobtitle")),
                    company_record_ids=tuple(
                        dict.fromkeys(str(link["id"]) for link in _list(companies.get("results")))
                    ),
                )
            )
        return Page(items, _next_after(answer))

    async def owners(self, cursor: str | None) -> Page[CrmOwner]:
        """Active owners that have an email (how Tenure matches them to its own)."""
        answer = await self._list("list_owners", "/crm/v3/owners", cursor, {"archived": "false"})
        items = []
        for result in _list(answer.get("results")):
            email = _text(result.get("email"))
            if not email:
                continue
            name = " ".join(
                part
                for part in (_text(result.get("firstName")), _text(result.get("lastName")))
                if part
            )
            items.append(CrmOwner(record_id=str(result["id"]), email=email, name=name or None))
        return Page(items, _next_after(answer))

    async def _list(
        self, operation: str, path: str, cursor: str | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        query = {"limit": str(PAGE_LIMIT), **params}
        if cursor:
            query["after"] = cursor
        return _json(await self._request(operation, "GET", path, params=query))

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        request_id: Any = None,
    ) -> httpx.Response:
        return await self._http.request(
            operation,
            method,
            f"{self._base}{path}",
            headers=self._headers,
            json=json,
            params=params,
            request_id=request_id or _correlation_id,
        )


def _merged_inputs(updates: Sequence[RecordUpdate]) -> list[dict[str, Any]]:
    """One input per record (HubSpot refuses a batch naming an id twice), later values winning;
    None clears a property, which HubSpot spells as an empty string."""
    merged: dict[str, dict[str, str]] = {}
    for update in updates:
        properties = merged.setdefault(update.record_id, {})
        properties.update({k: "" if v is None else v for k, v in update.properties.items()})
    return [{"id": record_id, "properties": props} for record_id, props in merged.items()]


def _batch_errors(answer: Mapping[str, Any]) -> dict[str, str]:
    rejected: dict[str, str] = {}
    for error in _list(answer.get("errors")):
        reason = str(error.get("category") or error.get("message") or "rejected")
        listed = _dict(error.get("context")).get("ids")
        ids = [item for item in listed if isinstance(item, str)] if isinstance(listed, list) else []
        for record_id in ids:
            rejected[str(record_id)] = reason
        if not ids:
            rejected[f"(unnamed #{len(rejected) + 1})"] = str(error.get("message") or reason)
    return rejected


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _next_after(answer: Mapping[str, Any]) -> str | None:
    after = _dict(_dict(answer.get("paging")).get("next")).get("after")
    return str(after) if after else None


def _correlation_id(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("x-hubspot-correlation-id")
    return value


def _created_id(response: httpx.Response) -> str | None:
    try:
        created = response.json()
    except ValueError:
        return _correlation_id(response)
    return str(created.get("id")) if isinstance(created, dict) and created.get("id") else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(
            "HubSpot answered with something other than JSON", retryable=False
        ) from exc
    if not isinstance(body, dict):
        raise ProviderError("HubSpot answered with an unexpected JSON shape", retryable=False)
    return body


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
