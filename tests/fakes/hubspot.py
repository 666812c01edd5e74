"""A fake HubSpot CRM v3 on 127.0.0.1: the endpoints Tenure calls, checking what HubSpot checks
(the bearer token, batch size, duplicate and unknown ids, required task properties, the
association's shape) and answering in HubSpot's shapes (207 for a batch taken in part,
`paging.next.after`). Companies, contacts, owners and tasks live in memory, seeded by tests."""

import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeProvider

TOKEN = "pat-na1-fake-token"
TASK_TO_COMPANY = 192
BATCH_LIMIT = 100
TASK_STATUSES = {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"}
TASK_PRIORITIES = {"NONE", "LOW", "MEDIUM", "HIGH"}

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Task:
    id: str
    properties: dict[str, str]
    company_ids: list[str]


@dataclass
class HubSpotState:
    companies: dict[str, dict[str, str]] = field(default_factory=dict)
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    contact_companies: dict[str, list[str]] = field(default_factory=dict)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    batch_updates: list[list[dict[str, Any]]] = field(default_factory=list)
    """Every batch update received (accepted or not past validation), in order."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request that reached a handler."""


class FakeHubSpot(FakeProvider):
    """The fake's state and its server; seed with `add_*`, inspect with the attributes."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.state = HubSpotState()
        self._ids = itertools.count(1001)
        self._failing_pages: dict[str, tuple[int, int]] = {}

    # --- seeding and inspection (from the test's thread) ------------------------------------

    def add_company(self, name: str, domain: str | None = None, owner_id: str | None = None) -> str:
        with self._lock:
            record_id = str(next(self._ids))
            properties = {"name": name}
            if domain:
                properties["domain"] = domain
            if owner_id:
                properties["hubspot_owner_id"] = owner_id
            self.state.companies[record_id] = properties
            return record_id

    def add_contact(
        self,
        email: str,
        first_name: str = "",
        last_name: str = "",
        title: str = "",
        company_ids: tuple[str, ...] = (),
    ) -> str:
        with self._lock:
            record_id = str(next(self._ids))
            self.state.contacts[record_id] = {
                "email": email,
                "firstname": first_name,
                "lastname": last_name,
                "jobtitle": title,
            }
            self.state.contact_companies[record_id] = list(company_ids)
            return record_id

    def add_owner(self, email: str, first_name: str = "", last_name: str = "") -> str:
        with self._lock:
            owner_id = str(next(self._ids))
            self.state.owners[owner_id] = {
                "id": owner_id,
                "email": email,
                "firstName": first_name,
                "lastName": last_name,
                "userId": int(owner_id),
                "archived": False,
            }
            return owner_id

    def fail_companies_page(self, after: str, times: int, status: int = 503) -> None:
        """The next `times` requests for the companies page at cursor `after` get `status`:
        an outage that starts part way through a listing."""
        with self._lock:
            self._failing_pages[after] = (times, status)

    def complete_task(self, task_id: str) -> None:
        """What a rep does in HubSpot: marks the task completed."""
        with self._lock:
            self.state.tasks[task_id].properties["hs_task_status"] = "COMPLETED"

    def company(self, record_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self.state.companies[record_id])

    # --- the API --------------------------------------------------------------------------

    def app(self) -> Starlette:
        guard = self._guarded
        return Starlette(
            routes=[
                Route("/crm/v3/objects/companies", guard(self._list_companies), methods=["GET"]),
                Route("/crm/v3/objects/contacts", guard(self._list_contacts), methods=["GET"]),
                Route("/crm/v3/owners", guard(self._list_owners), methods=["GET"]),
                Route(
                    "/crm/v3/objects/companies/batch/update",
                    guard(self._batch_update),
                    methods=["POST"],
                ),
                Route("/crm/v3/objects/tasks", guard(self._create_task), methods=["POST"]),
                Route(
                    "/crm/v3/objects/tasks/batch/read", guard(self._read_tasks), methods=["POST"]
                ),
            ]
        )

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            faulty = await self.faults.intercept(request)
            if faulty is not None:
                return faulty
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found or invalid.",
                )
            with self._lock:
                self.state.requests.append((request.method, request.url.path))
            response = await handler(request)
            response.headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())
            return response

        return guarded

    async def _list_companies(self, request: Request) -> Response:
        after = request.query_params.get("after", "0")
        with self._lock:
            times, status = self._failing_pages.get(after, (0, 0))
            if times:
                self._failing_pages[after] = (times - 1, status)
        if times:
            return JSONResponse({"error": "unavailable"}, status_code=status)
        with self._lock:
            rows = [
                (record_id, properties, None)
                for record_id, properties in self.state.companies.items()
            ]
        return _page(request, rows)

    async def _list_contacts(self, request: Request) -> Response:
        wants = request.query_params.get("associations", "")
        with self._lock:
            rows = [
                (
                    record_id,
                    properties,
                    self.state.contact_companies[record_id] if "companies" in wants else None,
                )
                for record_id, properties in self.state.contacts.items()
            ]
        return _page(request, rows)

    async def _list_owners(self, request: Request) -> Response:
        limit, start = _limit_and_start(request)
        if limit is None:
            return _error(400, "VALIDATION_ERROR", "limit must be between 1 and 500")
        with self._lock:
            owners = list(self.state.owners.values())
        chunk = owners[start : start + limit]
        body: dict[str, Any] = {"results": chunk}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return JSONResponse(body)

    async def _batch_update(self, request: Request) -> Response:
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _error(400, "VALIDATION_ERROR", "inputs is required")
        with self._lock:
            self.state.batch_updates.append(inputs)
        if len(inputs) > BATCH_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"Batch input is limited to {BATCH_LIMIT}")
        ids: list[str] = []
        for item in inputs:
            properties = item.get("properties") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                return _error(400, "VALIDATION_ERROR", "each input needs a string id")
            if not isinstance(properties, dict) or not all(
                isinstance(v, str) for v in properties.values()
            ):
                return _error(400, "VALIDATION_ERROR", "properties must map names to strings")
            ids.append(item["id"])
        if len(set(ids)) != len(ids):
            return _error(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        with self._lock:
            missing = [record_id for record_id in ids if record_id not in self.state.companies]
            results = []
            for item in inputs:
                if item["id"] in self.state.companies:
                    self.state.companies[item["id"]].update(item["properties"])
                    results.append(
                        {"id": item["id"], "properties": dict(self.state.companies[item["id"]])}
                    )
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer["errors"] = [_not_found("COMPANY", missing)]
            return JSONResponse(answer, status_code=207)
        return JSONResponse(answer)

    async def _create_task(self, request: Request) -> Response:
        body = await _body(request)
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _error(400, "VALIDATION_ERROR", "properties is required")
        problem = _task_problem(properties)
        if problem:
            return _error(400, "VALIDATION_ERROR", problem)
        company_ids: list[str] = []
        for association in body.get("associations") or []:
            to = association.get("to") if isinstance(association, dict) else None
            types = association.get("types") if isinstance(association, dict) else None
            if not isinstance(to, dict) or not isinstance(to.get("id"), str | int):
                return _error(400, "VALIDATION_ERROR", "an association needs to.id")
            if types != [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]:
                return _error(400, "VALIDATION_ERROR", f"unsupported association types {types}")
            company_ids.append(str(to["id"]))
        with self._lock:
            owner = properties.get("hubspot_owner_id")
            if owner and owner not in self.state.owners:
                return _error(400, "VALIDATION_ERROR", f"{owner} is not a valid owner id")
            unknown = [cid for cid in company_ids if cid not in self.state.companies]
            if unknown:
                return _error(400, "VALIDATION_ERROR", f"unknown company ids {unknown}")
            task_id = str(next(self._ids))
            self.state.tasks[task_id] = Task(task_id, dict(properties), company_ids)
        return JSONResponse({"id": task_id, "properties": properties, "archived": False}, 201)

    async def _read_tasks(self, request: Request) -> Response:
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in inputs
        ):
            return _error(400, "VALIDATION_ERROR", "inputs must be [{id}]")
        if len(inputs) > BATCH_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"Batch input is limited to {BATCH_LIMIT}")
        wanted = body.get("properties") or []
        with self._lock:
            results = []
            missing = []
            for item in inputs:
                task = self.state.tasks.get(item["id"])
                if task is None:
                    missing.append(item["id"])
                    continue
                shown = {k: v for k, v in task.properties.items() if k in wanted}
                results.append({"id": task.id, "properties": shown})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer["errors"] = [_not_found("TASK", missing)]
            return JSONResponse(answer, status_code=207)
        return JSONResponse(answer)


def _task_problem(properties: dict[str, Any]) -> str | None:
    if not all(isinstance(v, str) for v in properties.values()):
        return "property values must be strings"
    timestamp = properties.get("hs_timestamp")
    if not timestamp:
        return "hs_timestamp is required"
    try:
        datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return f"hs_timestamp {timestamp!r} is not a datetime"
    if properties.get("hs_task_status", "NOT_STARTED") not in TASK_STATUSES:
        return "hs_task_status is not a valid option"
    if properties.get("hs_task_priority", "NONE") not in TASK_PRIORITIES:
        return "hs_task_priority is not a valid option"
    if not properties.get("hs_task_subject"):
        return "hs_task_subject is required"
    return None


def _limit_and_start(request: Request) -> tuple[int | None, int]:
    try:
        limit = int(request.query_params.get("limit", "10"))
        start = int(request.query_params.get("after", "0"))
    except ValueError:
        return None, 0
    return (limit if 1 <= limit <= 100 else None), start


def _page(
    request: Request, rows: Sequence[tuple[str, dict[str, str], list[str] | None]]
) -> Response:
    limit, start = _limit_and_start(request)
    if limit is None:
        return _error(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
    wanted = [p for p in request.query_params.get("properties", "").split(",") if p]
    results = []
    for record_id, properties, companies in rows[start : start + limit]:
        result: dict[str, Any] = {
            "id": record_id,
            "properties": {"hs_object_id": record_id}
            | {k: v for k, v in properties.items() if k in wanted},
            "archived": False,
        }
        if companies:
            result["associations"] = {
                "companies": {
                    "results": [
                        {"id": company_id, "type": "contact_to_company"} for company_id in companies
                    ]
                }
            }
        results.append(result)
    body: dict[str, Any] = {"results": results}
    if start + limit < len(rows):
        body["paging"] = {"next": {"after": str(start + limit), "link": "…"}}
    return JSONResponse(body)


def _not_found(kind: str, ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {kind} objects, they may be deleted or not exist.",
        "context": {"ids": ids},
    }


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _error(status: int, category: str, message: str) -> Response:
    return JSONResponse(
        {
            "status": "error",
            "message": message,
            "category": category,
            "correlationId": str(uuid.uuid4()),
        },
        status_code=status,
    )


@contextmanager
def running_hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    with running_hubspot() as fake:
        yield fake
