"""Salesforce REST with the OAuth refresh-token flow: accounts are the records Tenure's clients
map to, tasks hang off them through `WhatId`, owners are active standard users.

The API host is the integration's `base_url` (checked by the URL guard when it was saved), or
the `instance_url` credential when none was given; an `instance_url` in a token answer is not
followed, so no answer can move our calls to another host. Tokens come from `login_url` (or
the instance itself, which serves the token endpoint under My Domain)."""

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.integrations.base import (
    CredentialsChanged,
    CrmCompany,
    CrmContact,
    CrmOwner,
    CrmTaskDraft,
    CrmTaskState,
    CursorExpired,
    Page,
    ProviderError,
    RecordsRejected,
    RecordUpdate,
)
from app.integrations.http import ProviderHttp

DEFAULT_API_VERSION = "v60.0"
COLLECTION_LIMIT = 200
"""sObject Collections take at most 200 records per call."""
IDS_PER_QUERY = 200
"""Keeps a `WHERE Id IN (…)` query well under SOQL's length limit and one page long."""
PRIORITIES = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "High"}
RECORD_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
API_VERSION = re.compile(r"v?(\d{2,3}\.\d)")
CURSOR = re.compile(r"/services/data/v\d{2,3}\.\d/query/[A-Za-z0-9-]{1,100}")

ACCOUNTS = "SELECT Id, Name, Website, OwnerId FROM Account ORDER BY Id"
CONTACTS = "SELECT Id, Email, FirstName, LastName, Title, AccountId FROM Contact ORDER BY Id"
USERS = (
    "SELECT Id, Email, Name FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Id"
)


class Salesforce:
    """A `CrmProvider` over Salesforce's REST API."""

    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        missing = [
            key
            for key in ("client_id", "client_secret", "refresh_token")
            if not credentials.get(key)
        ]
        base = (base_url or credentials.get("instance_url", "")).rstrip("/")
        if not base:
            missing.append("instance_url")
        if missing:
            raise ProviderError(f"missing credentials: {', '.join(missing)}", retryable=False)
        version = API_VERSION.fullmatch(credentials.get("api_version") or DEFAULT_API_VERSION)
        if version is None:
            raise ProviderError("api_version must look like v60.0", retryable=False)
        self._http = http
        self._credentials = dict(credentials)
        self._on_credentials = on_credentials
        self._base = base
        self._token_url = (
            f"{(credentials.get('login_url') or base).rstrip('/')}/services/oauth2/token"
        )
        self._data = f"{base}/services/data/v{version.group(1)}"
        self._access_token: str | None = credentials.get("access_token") or None
        self._refreshing = asyncio.Lock()

    async def check(self) -> str:
        answer = _json(await self._call("check", "GET", f"{self._data}/limits"))
        daily = _dict(answer.get("DailyApiRequests"))
        if "Remaining" in daily:
            return f"{daily['Remaining']} of {daily.get('Max')} daily API requests left"
        return "the token reads the org's limits"

    async def update_records(self, updates: Sequence[RecordUpdate]) -> None:
        """Through sObject Collections, 200 accounts a call with `allOrNone: false`: a fifth of
        the calls per-record PATCHes would cost against the org's daily API allowance, and one
        bad record does not hold back the others. Refusals are reported once every chunk ran."""
        merged: dict[str, dict[str, str | None]] = {}
        rejected: dict[str, str] = {}
        for update in updates:
            if RECORD_ID.fullmatch(update.record_id) is None:
                rejected[update.record_id] = "MALFORMED_ID"
                continue
            merged.setdefault(update.record_id, {}).update(update.properties)
        records = [
            {"attributes": {"type": "Account"}, "id": record_id, **fields}
            for record_id, fields in merged.items()
        ]
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            answer = await self._call(
                "update_accounts",
                "PATCH",
                f"{self._data}/composite/sobjects",
                json={"allOrNone": False, "records": chunk},
            )
            results = answer.json()
            if not isinstance(results, list) or len(results) != len(chunk):
                raise ProviderError(
                    "Salesforce answered a collection update with an unexpected shape",
                    retryable=False,
                )
            for record, result in zip(chunk, results, strict=True):
                if isinstance(result, dict) and result.get("success") is True:
                    continue
                errors = _dict(result).get("errors")
                reasons = [
                    f"{e.get('statusCode')}: {e.get('message')}"
                    for e in (errors if isinstance(errors, list) else [])
                    if isinstance(e, dict)
                ]
                rejected[str(record["id"])] = "; ".join(reasons) or "rejected"
        if rejected:
            raise RecordsRejected(rejected)

    async def create_task(self, task: CrmTaskDraft) -> str:
        _require_id(task.record_id, "account")
        fields: dict[str, str] = {
            "WhatId": task.record_id,
            "Subject": task.subject[:255],
            "Description": task.body,
            "Status": "Not Started",
        }
        if task.due_at is not None:
            fields["ActivityDate"] = task.due_at.date().isoformat()
        if task.owner_record_id:
            _require_id(task.owner_record_id, "owner")
            fields["OwnerId"] = task.owner_record_id
        if task.priority in PRIORITIES:
            fields["Priority"] = PRIORITIES[task.priority]
        answer = _json(
            await self._call(
                "create_task",
                "POST",
                f"{self._data}/sobjects/Task",
                json=fields,
                request_id=_created_id,
            )
        )
        task_id = answer.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError("Salesforce answered a created task without an id", retryable=False)
        return task_id

    async def task_states(self, task_record_ids: Sequence[str]) -> list[CrmTaskState]:
        """States of the tasks Salesforce still has; a deleted task is left out. Every id is
        checked to be a Salesforce id before it is written into the query."""
        unique = list(dict.fromkeys(task_record_ids))
        for task_id in unique:
            _require_id(task_id, "task")
        states: list[CrmTaskState] = []
        for start in range(0, len(unique), IDS_PER_QUERY):
            listed = ", ".join(f"'{task_id}'" for task_id in unique[start : start + IDS_PER_QUERY])
            soql = f"SELECT Id, IsClosed FROM Task WHERE Id IN ({listed})"
            cursor: str | None = None
            while True:
                answer = await self._query("read_tasks", soql, cursor)
                states += [
                    CrmTaskState(str(row["Id"]), row.get("IsClosed") is True)
                    for row in _records(answer)
                ]
                cursor = _next_cursor(answer)
                if cursor is None:
                    break
        return states

    async def companies(self, cursor: str | None) -> Page[CrmCompany]:
        answer = await self._query("list_accounts", ACCOUNTS, cursor)
        items = [
            CrmCompany(
                record_id=str(row["Id"]),
                name=_text(row.get("Name")) or "",
                domain=_domain(_text(row.get("Website"))),
                owner_record_id=_text(row.get("OwnerId")),
            )
            for row in _records(answer)
        ]
        return Page(items, _next_cursor(answer))

    async def contacts(self, cursor: str | None) -> Page[CrmContact]:
        answer = await self._query("list_contacts", CONTACTS, cursor)
        items = []
        for row in _records(answer):
            account = _text(row.get("AccountId"))
            items.append(
                CrmContact(
                    record_id=str(row["Id"]),
                    email=_text(row.get("Email")),
                    first_name=_text(row.get("FirstName")),
                    last_name=_text(row.get("LastName")),
                    title=_text(row.get("Title")),
                    company_record_ids=(account,) if account else (),
                )
            )
        return Page(items, _next_cursor(answer))

    async def owners(self, cursor: str | None) -> Page[CrmOwner]:
        answer = await self._query("list_owners", USERS, cursor)
        items = [
            CrmOwner(record_id=str(row["Id"]), email=email, name=_text(row.get("Name")))
            for row in _records(answer)
            if (email := _text(row.get("Email")))
        ]
        return Page(items, _next_cursor(answer))

    async def _query(self, operation: str, soql: str, cursor: str | None) -> dict[str, Any]:
        """A page of a SOQL query; `cursor` is the previous page's `nextRecordsUrl`, accepted
        only in Salesforce's own shape (it comes back from storage, not from the provider)."""
        if cursor is None:
            return _json(
                await self._call(operation, "GET", f"{self._data}/query", params={"q": soql})
            )
        if CURSOR.fullmatch(cursor) is None:
            raise ProviderError("not a Salesforce query cursor", retryable=False)
        try:
            return _json(await self._call(operation, "GET", f"{self._base}{cursor}"))
        except ProviderError as error:
            if error.status == 400 and "INVALID_QUERY_LOCATOR" in (error.body or ""):
                raise CursorExpired(error.message, status=error.status) from error
            raise

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        request_id: Callable[[httpx.Response], str | None] | None = None,
    ) -> httpx.Response:
        """The call with a valid access token: a 401 (Salesforce's INVALID_SESSION_ID) refreshes
        the token once and tries again; a second 401 is final."""
        if self._access_token is None:
            await self._refresh(stale=None)
        for refreshed in (False, True):
            token = self._access_token
            try:
                return await self._http.request(
                    operation,
                    method,
                    url,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    json=json,
                    params=params,
                    request_id=request_id,
                )
            except ProviderError as error:
                if error.status != 401 or refreshed:
                    raise
                await self._refresh(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh(self, stale: str | None) -> None:
        """A new access token, unless a concurrent call already replaced `stale`."""
        async with self._refreshing:
            if self._access_token is not None and self._access_token != stale:
                return
            try:
                response = await self._http.request(
                    "refresh_token",
                    "POST",
                    self._token_url,
                    headers={"Accept": "application/json"},
                    data={
                        "grant_type": "refresh_token",
                        "client_id": self._credentials["client_id"],
                        "client_secret": self._credentials["client_secret"],
                        "refresh_token": self._credentials["refresh_token"],
                    },
                )
            except ProviderError as error:
                raise ProviderError(
                    f"Salesforce did not renew the access token: {error.message}",
                    retryable=error.retryable,
                    retry_after=error.retry_after,
                    status=error.status,
                    code="token_refresh_failed",
                ) from error
            answer = _json(response)
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderError(
                    "Salesforce's token answer has no access_token", retryable=False
                )
            self._access_token = token
            self._credentials["access_token"] = token
            rotated = answer.get("refresh_token")
            if isinstance(rotated, str) and rotated:
                self._credentials["refresh_token"] = rotated
            if self._on_credentials is not None:
                self._on_credentials(dict(self._credentials))


def _require_id(value: str, what: str) -> None:
    if RECORD_ID.fullmatch(value) is None:
        raise ProviderError(f"{value!r} is not a Salesforce {what} id", retryable=False)


def _domain(website: str | None) -> str | None:
    """Account.Website as a bare host (`https://www.acme.com/x` → `acme.com`), as HubSpot's
    company domain is, so both CRMs match clients the same way."""
    if not website:
        return None
    host = urlsplit(website if "//" in website else f"//{website}").hostname
    if not host:
        return None
    return host.removeprefix("www.") or None


def _next_cursor(answer: Mapping[str, Any]) -> str | None:
    if answer.get("done") is True:
        return None
    next_url = answer.get("nextRecordsUrl")
    return next_url if isinstance(next_url, str) and next_url else None


def _records(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = answer.get("records")
    if not isinstance(records, list):
        return []
    return [row for row in records if isinstance(row, dict) and row.get("Id")]


def _created_id(response: httpx.Response) -> str | None:
    try:
        created = response.json()
    except ValueError:
        return None
    return str(created["id"]) if isinstance(created, dict) and created.get("id") else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(
            "Salesforce answered with something other than JSON", retryable=False
        ) from exc
    if not isinstance(body, dict):
        raise ProviderError("Salesforce answered with an unexpected JSON shape", retryable=False)
    return body


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
