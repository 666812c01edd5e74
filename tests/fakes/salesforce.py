"""A fake Salesforce org on 127.0.0.1: the OAuth token endpoint (checking the client and the
refresh token), an access token that expires on demand (401 INVALID_SESSION_ID), sObject
Collections updates (at most 200, per-record results), Task creation, `/limits`, and a strict
little SOQL reader for the queries Tenure sends, paged through `nextRecordsUrl`."""

import itertools
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeProvider

CLIENT_ID = "3MVG9fake.client"
CLIENT_SECRET = "fake-client-secret"
REFRESH_TOKEN = "5Aep861fake.refresh"
VERSION = "v60.0"
DATA = f"/services/data/{VERSION}"
COLLECTION_LIMIT = 200
TASK_STATUSES = {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}
PREFIXES = {"Account": "001", "Contact": "003", "User": "005", "Task": "00T"}
FIELDS = {
    "Account": {"Id", "Name", "Website", "OwnerId"},
    "Contact": {"Id", "Email", "FirstName", "LastName", "Title", "AccountId"},
    "User": {"Id", "Email", "Name", "IsActive", "UserType"},
    "Task": {"Id", "IsClosed", "Status", "Subject"},
}
SELECT = re.compile(
    r"SELECT (?P<fields>[\w, ]+) FROM (?P<object>\w+)"
    r"(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>\w+))?"
)
CONDITION = re.compile(
    r"(?P<field>\w+) (?:= (?P<value>true|false|'[A-Za-z0-9 ]*')"
    r"|IN \((?P<ids>'[A-Za-z0-9]+'(?:, '[A-Za-z0-9]+')*)\))"
)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class SalesforceState:
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in PREFIXES}
    )
    collection_updates: list[list[dict[str, Any]]] = field(default_factory=list)
    """Every sObject Collections body's records, in order."""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    cursors: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)


class FakeSalesforce(FakeProvider):
    """The fake org and its server; seed with `add_*`, drive with `expire_access_token`,
    `revoke_refresh_token`, `complete_task`; inspect `state`."""

    def __init__(self, page_size: int = 100) -> None:
        super().__init__()
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.refresh_token = REFRESH_TOKEN
        self.page_size = page_size
        """Records per query page (Salesforce's own default is 2000; smaller pages test paging)."""
        self.state = SalesforceState()
        self._access_token: str | None = None
        self.sessions_accepted = True
        """False: every API call answers 401 INVALID_SESSION_ID, even with a fresh token."""
        self._counter = itertools.count(1)
        self._expire_locators = False

    def credentials(self, **overrides: str) -> dict[str, str]:
        """What an admin would store for this org (no access token: the first call gets one)."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "instance_url": self.base_url,
            "api_version": VERSION,
        } | overrides

    # --- seeding, driving and inspection (from the test's thread) --------------------------

    def _add(self, sobject: str, fields: dict[str, Any]) -> str:
        with self._lock:
            record_id = f"{PREFIXES[sobject]}{next(self._counter):012d}AAA"
            self.state.records[sobject][record_id] = {"Id": record_id, **fields}
            return record_id

    def add_account(
        self, name: str, website: str | None = None, owner_id: str | None = None
    ) -> str:
        return self._add("Account", {"Name": name, "Website": website, "OwnerId": owner_id})

    def add_contact(
        self,
        email: str | None,
        first_name: str | None = None,
        last_name: str = "Doe",
        title: str | None = None,
        account_id: str | None = None,
    ) -> str:
        return self._add(
            "Contact",
            {
                "Email": email,
                "FirstName": first_name,
                "LastName": last_name,
                "Title": title,
                "AccountId": account_id,
            },
        )

    def add_user(
        self, email: str, name: str, *, active: bool = True, user_type: str = "Standard"
    ) -> str:
        return self._add(
            "User", {"Email": email, "Name": name, "IsActive": active, "UserType": user_type}
        )

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.state.records[sobject][record_id])

    def complete_task(self, task_id: str) -> None:
        with self._lock:
            self.state.records["Task"][task_id].update(Status="Completed", IsClosed=True)

    def expire_query_locators(self, *, when_next_used: bool = False) -> None:
        """What Salesforce does to a query's `nextRecordsUrl` after about 15 idle minutes: now,
        or (`when_next_used`) just before the next one is asked for, as if the run that
        holds it had waited that long."""
        with self._lock:
            if when_next_used:
                self._expire_locators = True
            else:
                self.state.cursors.clear()

    def expire_access_token(self) -> None:
        """The session times out: the current access token answers 401 from now on."""
        with self._lock:
            self._access_token = None

    def revoke_refresh_token(self) -> None:
        with self._lock:
            self.refresh_token = f"revoked-{uuid.uuid4()}"
            self._access_token = None

    @property
    def access_token(self) -> str | None:
        with self._lock:
            return self._access_token

    # --- the API --------------------------------------------------------------------------

    def app(self) -> Starlette:
        api = self._authorized
        return Starlette(
            routes=[
                Route("/services/oauth2/token", self._faulty(self._token), methods=["POST"]),
                Route(f"{DATA}/limits", api(self._limits), methods=["GET"]),
                Route(f"{DATA}/query", api(self._query), methods=["GET"]),
                Route(f"{DATA}/query/{{locator}}", api(self._more), methods=["GET"]),
                Route(f"{DATA}/composite/sobjects", api(self._collection), methods=["PATCH"]),
                Route(f"{DATA}/sobjects/Task", api(self._create_task), methods=["POST"]),
            ]
        )

    def _faulty(self, handler: Handler) -> Handler:
        async def faulty(request: Request) -> Response:
            return await self.faults.intercept(request) or await handler(request)

        return faulty

    def _authorized(self, handler: Handler) -> Handler:
        async def authorized(request: Request) -> Response:
            with self._lock:
                token = self._access_token
            valid = token is not None and self.sessions_accepted
            if not valid or request.headers.get("authorization") != f"Bearer {token}":
                return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return await handler(request)

        return self._faulty(authorized)

    async def _token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error("invalid_request", "must be form-encoded")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with self._lock:
            self.state.token_requests.append(form)
            if form.get("grant_type") != "refresh_token":
                return _oauth_error("unsupported_grant_type", "grant type not supported")
            if form.get("client_id") != self.client_id:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != self.client_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            if form.get("refresh_token") != self.refresh_token:
                return _oauth_error("invalid_grant", "expired access/refresh token")
            self._access_token = f"00Dfake!{uuid.uuid4().hex}"
            token = self._access_token
        return JSONResponse(
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/00Dfake/005fake",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
                "signature": "fake",
                "scope": "api refresh_token",
            }
        )

    async def _limits(self, _request: Request) -> Response:
        return JSONResponse({"DailyApiRequests": {"Max": 100000, "Remaining": 99950}})

    async def _query(self, request: Request) -> Response:
        soql = request.query_params.get("q", "")
        with self._lock:
            self.state.queries.append(soql)
            rows = _select(soql, self.state.records)
        if rows is None:
            return _errors(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:200]}")
        return self._page(rows, 0)

    async def _more(self, request: Request) -> Response:
        with self._lock:
            if self._expire_locators:
                self._expire_locators = False
                self.state.cursors.clear()
            found = self.state.cursors.get(request.path_params["locator"])
        if found is None:
            return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(*found)

    def _page(self, rows: list[dict[str, Any]], start: int) -> Response:
        end = start + self.page_size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        body["records"] = rows[start:end]
        if end < len(rows):
            locator = f"01gFAKE{uuid.uuid4().hex[:10]}-{end}"
            with self._lock:
                self.state.cursors[locator] = (rows, end)
            body["nextRecordsUrl"] = f"{DATA}/query/{locator}"
        return JSONResponse(body)

    async def _collection(self, request: Request) -> Response:
        body = await _body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return _errors(400, "JSON_PARSER_ERROR", "records is required")
        with self._lock:
            self.state.collection_updates.append(records)
        if len(records) > COLLECTION_LIMIT:
            return _errors(400, "EXCEEDED_ID_LIMIT", f"record limit is {COLLECTION_LIMIT}")
        if body.get("allOrNone") not in (True, False):
            return _errors(400, "JSON_PARSER_ERROR", "allOrNone must be a boolean")
        results = []
        with self._lock:
            for record in records:
                results.append(self._update_one(record))
        return JSONResponse(results)

    def _update_one(self, record: Any) -> dict[str, Any]:
        sobject = _dict(_dict(record).get("attributes")).get("type")
        record_id = _dict(record).get("id")
        if sobject not in PREFIXES or not isinstance(record_id, str):
            return _failure("INVALID_TYPE", "each record needs attributes.type and id")
        if not record_id.startswith(PREFIXES[sobject]):
            return _failure("MALFORMED_ID", f"{sobject} ID: id value of incorrect type")
        stored = self.state.records[sobject].get(record_id)
        if stored is None:
            return _failure("ENTITY_IS_DELETED", "entity is deleted")
        stored.update({k: v for k, v in record.items() if k not in ("attributes", "id")})
        return {"id": record_id, "success": True, "errors": []}

    async def _create_task(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            return _errors(400, "JSON_PARSER_ERROR", "a JSON object is required")
        status = body.get("Status", "Not Started")
        if status not in TASK_STATUSES:
            return _errors(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value")
        if "ActivityDate" in body:
            try:
                date.fromisoformat(str(body["ActivityDate"]))
            except ValueError:
                return _errors(400, "JSON_PARSER_ERROR", "ActivityDate is not a date")
        with self._lock:
            what = body.get("WhatId")
            if what is not None and what not in self.state.records["Account"]:
                return _errors(
                    400, "FIELD_INTEGRITY_EXCEPTION", "What ID: id value of incorrect type"
                )
            owner = body.get("OwnerId")
            if owner is not None and owner not in self.state.records["User"]:
                return _errors(400, "INVALID_CROSS_REFERENCE_KEY", "Assigned To ID: invalid")
        task_id = self._add("Task", {**body, "Status": status, "IsClosed": status == "Completed"})
        return JSONResponse({"id": task_id, "success": True, "errors": []}, status_code=201)


def _select(
    soql: str, records: dict[str, dict[str, dict[str, Any]]]
) -> list[dict[str, Any]] | None:
    """Rows for the SOQL subset Tenure sends, or None for anything else (MALFORMED_QUERY)."""
    match = SELECT.fullmatch(soql.strip())
    if match is None or match["object"] not in FIELDS:
        return None
    sobject = match["object"]
    fields = [name.strip() for name in match["fields"].split(",")]
    if not set(fields) <= FIELDS[sobject]:
        return None
    conditions: list[Callable[[dict[str, Any]], bool]] = []
    for part in (match["where"] or "").split(" AND ") if match["where"] else []:
        condition = CONDITION.fullmatch(part.strip())
        if condition is None or condition["field"] not in FIELDS[sobject]:
            return None
        conditions.append(_condition(condition))
    rows = [row for row in records[sobject].values() if all(c(row) for c in conditions)]
    if match["order"]:
        rows.sort(key=lambda row: str(row.get(match["order"])))
    return [
        {"attributes": {"type": sobject, "url": f"{DATA}/sobjects/{sobject}/{row['Id']}"}}
        | {name: row.get(name) for name in fields}
        for row in rows
    ]


def _condition(condition: re.Match[str]) -> Callable[[dict[str, Any]], bool]:
    name = condition["field"]
    if condition["ids"] is not None:
        wanted = {item.strip().strip("'") for item in condition["ids"].split(",")}
        return lambda row: row.get(name) in wanted
    raw = condition["value"]
    value: Any = {"true": True, "false": False}.get(raw, raw.strip("'"))
    return lambda row: row.get(name) == value


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]}


def _errors(status: int, code: str, message: str) -> Response:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


@contextmanager
def running_salesforce(page_size: int = 100) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(page_size) as fake:
        yield fake


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    with running_salesforce() as fake:
        yield fake
