"""Hostile input at every operation: deep nesting, lone surrogates, extreme dates and huge
numbers in bodies, queries and paths are refused with a 4xx problem, never a 5xx, and what was
accepted stays readable. Operations, their parameters and their body fields come from the
OpenAPI document (tests/api/operations.py), so a new endpoint inherits every shape."""

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.domain.limits import MAX_JSON_DEPTH, MAX_NUMBER
from app.main import create_app
from tests.api.operations import OPERATIONS, Ids, Operation, an_hour_ago
from tests.crm_support import create_hubspot_integration, start_sync
from tests.emails_support import create_email_template, write_email
from tests.factories import Workspace, create_client, create_contact, create_contract, create_owner
from tests.health_support import create_scorecard
from tests.signals_support import open_score_drop

PROBLEM = "application/problem+json"
Path = tuple[str | int, ...]
DOCUMENT = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
READS = [op for op in OPERATIONS if op.method == "GET"]


def nested_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def nested_array(levels: int) -> str:
    return "[" * levels + "]" * levels


DEEP = "deep nesting"
SURROGATE = "lone surrogates"
DATES = "extreme dates"
NUMBERS = "huge numbers"
ODD = "odd but valid text in the URL"  # may be accepted: any answer but a 5xx
SHAPES = [DEEP, SURROGATE, DATES, NUMBERS, ODD]

# Raw JSON text, each refused wherever it stands in a body: tried at every place.
HOSTILE_VALUES = {
    "object nested 300 levels": (DEEP, nested_object(300)),
    f"object nested {MAX_JSON_DEPTH + 1} levels": (DEEP, nested_object(MAX_JSON_DEPTH + 1)),
    "lone surrogate": (SURROGATE, '"\\ud800"'),
    "lone surrogate key": (SURROGATE, '{"\\udfff":1}'),
    "1e400": (NUMBERS, "1e400"),
    "integer of 400 digits": (NUMBERS, "9" * 400),
    "NaN": (NUMBERS, "NaN"),
}
# The same again, tried once per body (in its first place): they fail the same way anywhere.
ONCE_PER_BODY = {
    "array nested 300 levels": (DEEP, nested_array(300)),
    "integer of 5000 digits": (NUMBERS, "9" * 5000),
    "-Infinity": (NUMBERS, "-Infinity"),
}
HOSTILE_BODIES = {
    "500 nested arrays": nested_array(500),
    "5000 nested arrays": nested_array(5000),
    "object nested 500 levels": nested_object(500),
}
EXTREME_TIMES = ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "9999-12-31T23:59:59Z"]
EXTREME_DATES = ["0001-01-01", "1899-12-31", "9999-12-31"]
LONE_SURROGATE_IN_URL = "%ED%A0%80"  # U+D800 as UTF-8 would spell it: not UTF-8
HUGE_URL_NUMBERS = ["1e400", "9" * 400, "9" * 5000, "NaN", "-Infinity"]
ODD_URL_VALUES = ["NaN", "%F0%9F%98%80"]
MARK = "__hostile__"
MARK_KEY = "__hostile_key__"


@dataclass(frozen=True)
class Attempt:
    shape: str
    label: str
    method: str
    url: str
    body: str | None
    strict: bool = True
    """Strict: must be refused with 4xx. Otherwise any answer but a 5xx will do (an odd but
    valid string, such as `NaN` in a text search, may be accepted)."""
    keyed: bool = False
    """Sent with an Idempotency-Key, so the middleware that reads and compares the body meets
    the shape too (once per body and shape: each key costs writes)."""


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    options = [_resolve(s) for s in schema.get("anyOf", [])] or [schema]
    return [s for s in options if s.get("type") != "null"]


def _is_free_form(schema: dict[str, Any]) -> bool:
    return (
        schema.get("type") == "object"
        and schema.get("additionalProperties") is True
        and not schema.get("properties")
    )


def slots(schema: dict[str, Any], body: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Date, date-time and free-form object fields the body may carry, sent or not: any
    field inside an object the valid body holds, and the first item of its arrays."""
    for variant in _variants(schema):
        if variant.get("format") in ("date", "date-time"):
            yield path, variant["format"]
            return
        if _is_free_form(variant):
            yield path, "free-form"
            return
        if "properties" in variant and isinstance(body, dict):
            for name, sub in variant["properties"].items():
                yield from slots(sub, body.get(name), (*path, name))
            return
        if variant.get("type") == "array" and isinstance(body, list) and body:
            first = variant["prefixItems"][0] if "prefixItems" in variant else variant["items"]
            yield from slots(first, body[0], (*path, 0))
            return


def body_schema(operation: Operation) -> dict[str, Any]:
    spec = DOCUMENT["paths"][operation.path][operation.method.lower()]
    schema: dict[str, Any] = spec["requestBody"]["content"]["application/json"]["schema"]
    return schema


def query_parameters(operation: Operation) -> list[tuple[str, str]]:
    """Each query parameter, and what it takes: `time` (a date or a date-time), `number` or
    `text` (anything else)."""
    spec = DOCUMENT["paths"][operation.path][operation.method.lower()]
    found = []
    for parameter in spec.get("parameters", []):
        if parameter["in"] != "query":
            continue
        variants = _variants(parameter["schema"])
        if any(v.get("format") in ("date", "date-time") for v in variants):
            found.append((parameter["name"], "time"))
        elif any(v.get("type") in ("integer", "number") for v in variants):
            found.append((parameter["name"], "number"))
        else:
            found.append((parameter["name"], "text"))
    return found


def every_path(value: Any, path: Path = ()) -> Iterator[Path]:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*path, key)
        if isinstance(child, dict | list):
            yield from every_path(child, (*path, key))


def every_object(value: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        yield path
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, dict | list):
            yield from every_object(child, (*path, key))


def _set(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _at(body: dict[str, Any], path: Path) -> Any:
    target: Any = body
    for key in path:
        target = target[key]
    return target


def _text(body: Any, raw: str) -> str:
    """The body as JSON with the marked value (or key) spelled as raw, unparsed text."""
    text = json.dumps(body)
    return text.replace(json.dumps(MARK), raw).replace(json.dumps(MARK_KEY), raw)


def _where(path: Path) -> str:
    return ".".join(str(p) for p in path) or "body"


def body_attempts(operation: Operation, ids: Ids) -> Iterator[Attempt]:
    url = operation.url(ids)
    valid = operation.body(ids)
    assert valid is not None

    def attempt(shape: str, label: str, text: str, keyed: bool = False) -> Attempt:
        label = f"{operation.label}: {label}"
        return Attempt(shape, label, operation.method, url, text, keyed=keyed)

    for label, raw in HOSTILE_BODIES.items():
        yield attempt(DEEP, f"body = {label}", raw, keyed=True)
    paths = list(every_path(valid))
    for path in paths:
        for label, (shape, raw) in HOSTILE_VALUES.items():
            text = _text(_set(valid, path, MARK), raw)
            yield attempt(shape, f"{_where(path)} = {label}", text, keyed=path == paths[0])
    for label, (shape, raw) in ONCE_PER_BODY.items():
        text = _text(_set(valid, paths[0], MARK), raw)
        yield attempt(shape, f"{_where(paths[0])} = {label}", text, keyed=True)
    for path in every_object(valid):
        with_key = copy.deepcopy(valid)
        _at(with_key, path)[MARK_KEY] = 1
        text = _text(with_key, '"\\ud800"')
        yield attempt(SURROGATE, f"lone surrogate key in {_where(path)}", text, keyed=not path)
    for path, kind in slots(body_schema(operation), valid):
        if kind == "free-form":
            for label, (shape, raw) in HOSTILE_VALUES.items():
                text = _text(_set(valid, path, {"k": MARK}), raw)
                yield attempt(shape, f"{_where(path)}.k = {label}", text)
            deep = nested_object(MAX_JSON_DEPTH + 1)
            yield attempt(DEEP, f"{_where(path)} = too deep", _text(_set(valid, path, MARK), deep))
        else:
            for extreme in EXTREME_TIMES if kind == "date-time" else EXTREME_DATES:
                text = json.dumps(_set(valid, path, extreme))
                yield attempt(DATES, f"{_where(path)} = {extreme}", text)


def url_attempts(operation: Operation, ids: Ids) -> Iterator[Attempt]:
    body = json.dumps(operation.body(ids)) if operation.has_body else None
    url = operation.url(ids)

    def attempt(shape: str, label: str, hostile_url: str, strict: bool = True) -> Attempt:
        return Attempt(
            shape, f"{operation.label}: {label}", operation.method, hostile_url, body, strict
        )

    for name, kind in query_parameters(operation):
        hostile_url = f"{url}?{name}={LONE_SURROGATE_IN_URL}"
        yield attempt(SURROGATE, f"?{name} = lone surrogate", hostile_url)
        if kind == "time":
            for value in [*EXTREME_TIMES, *EXTREME_DATES]:
                yield attempt(DATES, f"?{name} = {value}", f"{url}?{name}={value}")
        elif kind == "number":
            for value in HUGE_URL_NUMBERS:
                yield attempt(NUMBERS, f"?{name} = {value[:30]}", f"{url}?{name}={value}")
        else:
            for value in ODD_URL_VALUES:
                odd_url = f"{url}?{name}={value}"
                yield attempt(ODD, f"?{name} = {value}", odd_url, strict=False)
    for name in operation.path_params:
        own = operation.path_ids(ids)
        hostile_url = operation.url({**own, name: LONE_SURROGATE_IN_URL})
        yield attempt(SURROGATE, f"{{{name}}} = lone surrogate", hostile_url)
        for value in [*HUGE_URL_NUMBERS, *ODD_URL_VALUES]:
            odd_url = operation.url({**own, name: value})
            yield attempt(ODD, f"{{{name}}} = {value[:30]}", odd_url, strict=False)


def attempts(shape: str, ids: Ids) -> Iterator[Attempt]:
    for operation in OPERATIONS:
        found = [*url_attempts(operation, ids)]
        if operation.has_body:
            found += body_attempts(operation, ids)
        yield from (a for a in found if a.shape == shape)


async def populate(app: FastAPI, workspace: Workspace, api: httpx.AsyncClient) -> dict[str, str]:
    """One object of each kind, named by every path parameter the API has."""
    owner = await create_owner(api)
    client = await create_client(api, external_id="crm-hostile", owner_id=owner["id"], tier="mid")
    contact = await create_contact(api, client["id"])
    contract = await create_contract(api, client["id"])
    event = {"client_id": client["id"], "type": "login", "occurred_at": an_hour_ago()}
    response = await api.post("/v1/events", json={"events": [event]})
    assert response.status_code == 200, response.text
    response = await api.post("/v1/api-keys", json={"name": "reader", "scopes": ["read"]})
    assert response.status_code == 201, response.text
    key = response.json()
    jobs = (await api.get("/v1/jobs")).json()["data"]
    scorecard = await create_scorecard(api)
    response = await api.post("/v1/tasks", json={"client_id": client["id"], "title": "Call"})
    assert response.status_code == 201, response.text
    task = response.json()
    response = await api.post("/v1/cadences", json={"name": "By hand", "interval_days": 30})
    assert response.status_code == 201, response.text
    cadence = response.json()
    response = await api.post(
        "/v1/integrations", json={"kind": "log", "name": "Dev log", "credentials": {}}
    )
    assert response.status_code == 201, response.text
    integration = response.json()
    crm_integration_id = await create_hubspot_integration(api)
    sync_id = await start_sync(api, crm_integration_id)
    template_id = await create_email_template(api)
    email_id = await write_email(app, workspace.id, client["id"], template_id, to="owner")
    response = await api.post(
        "/v1/email-suppressions", json={"email": "gone@hostile.example", "reason": "bounce"}
    )
    assert response.status_code == 201, response.text
    suppression_id = response.json()["id"]
    url = f"/v1/cadences/{cadence['id']}/enrollments"
    response = await api.post(url, json={"client_id": client["id"]})
    assert response.status_code == 201, response.text
    return {
        "owner_id": owner["id"],
        "client_id": client["id"],
        "external_id": client["external_id"],
        "contact_id": contact["id"],
        "contract_id": contract["id"],
        "key_id": key["id"],
        "job_id": jobs[0]["id"],
        "scorecard_id": scorecard["id"],
        "signal_id": await open_score_drop(app, workspace.id, client["id"]),
        "task_id": task["id"],
        "cadence_id": cadence["id"],
        "enrollment_id": response.json()["id"],
        "integration_id": integration["id"],
        "crm_integration_id": crm_integration_id,
        "sync_id": sync_id,
        "template_id": template_id,
        "email_id": email_id,
        "suppression_id": suppression_id,
        **await _fired_trigger(api, client["id"]),
    }


async def _fired_trigger(api: httpx.AsyncClient, client_id: str) -> dict[str, str]:
    body = {
        "name": "By hand",
        "when": {"kind": "manual"},
        "actions": [{"kind": "create_task", "params": {"title": "Call {{client.name}}"}}],
    }
    response = await api.post("/v1/triggers", json=body)
    assert response.status_code == 201, response.text
    trigger_id = response.json()["id"]
    url = f"/v1/triggers/{trigger_id}/run"
    response = await api.post(url, json={"client_ids": [client_id]})
    assert response.status_code == 200, response.text
    return {"trigger_id": trigger_id, "run_id": response.json()["results"][0]["trigger_run_id"]}


async def unreadable(api: httpx.AsyncClient, ids: Ids) -> list[str]:
    """Every read of the populated workspace that does not answer 200."""
    failures = []
    for read in READS:
        response = await api.get(read.url(ids))
        if response.status_code != 200:
            failures.append(f"{read.label} -> {response.status_code}: {response.text[:200]}")
    return failures


async def refusals_missed(api: httpx.AsyncClient, attempts: Iterator[Attempt]) -> list[str]:
    failures = []
    for attempt in attempts:
        headers = {"Content-Type": "application/json"} if attempt.body is not None else {}
        if attempt.keyed:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = await api.request(
            attempt.method,
            attempt.url,
            content=attempt.body.encode() if attempt.body is not None else None,
            headers=headers,
        )
        status = response.status_code
        refused = 400 <= status < 500
        if status >= 500 or (attempt.strict and not refused):
            failures.append(f"{attempt.label} -> {status}: {response.text[:200]}")
        elif refused and response.headers["content-type"] != PROBLEM:
            failures.append(f"{attempt.label} -> {status} as {response.headers['content-type']}")
    return failures


@pytest.mark.parametrize("shape", SHAPES)
async def test_hostile_input_is_refused_at_every_operation_and_data_stays_readable(
    shape: str, app: FastAPI, workspace: Workspace, api: httpx.AsyncClient
) -> None:
    ids = await populate(app, workspace, api)
    failures = await refusals_missed(api, attempts(shape, ids))
    failures += [f"afterwards {f}" for f in await unreadable(api, ids)]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def test_every_free_form_field_states_its_limits() -> None:
    """A free-form object without the shared JsonObject type would go unchecked: its
    documented description must carry the limits, as JsonObject's fields do."""
    found = []
    for operation in OPERATIONS:
        if not operation.has_body:
            continue
        valid = operation.body(dict.fromkeys(operation.path_params, "x") | _ANY_IDS)
        for path, kind in slots(body_schema(operation), valid):
            if kind == "free-form":
                schema = _variants(_field_schema(body_schema(operation), path))[0]
                found.append(operation.operation_id)
                assert f"Nests at most {MAX_JSON_DEPTH} levels" in schema.get("description", ""), (
                    f"{operation.label} {_where(path)}"
                )
    assert {"createClient", "updateClient", "upsertClientByExternalId", "ingestEvents"} <= set(
        found
    )


_ANY_IDS = {"client_id": "x", "owner_id": "x"}


def _field_schema(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    for key in path:
        variant = _variants(schema)[0]
        schema = variant["items"] if isinstance(key, int) else variant["properties"][key]
    return schema


def nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value}


EDGE_NUMBERS = {"max": MAX_NUMBER, "min": -MAX_NUMBER, "int": 10**308, "tiny": 5e-324}
EMOJI = {"😀 key": "😀 value"}


class TestAcceptedAtTheLimits:
    """What is accepted at the edge of every limit is stored and read back everywhere."""

    async def test_attributes_at_the_limits_read_back_everywhere(
        self, app: FastAPI, workspace: Workspace, api: httpx.AsyncClient
    ) -> None:
        ids = await populate(app, workspace, api)
        attributes = {"deep": nested(MAX_JSON_DEPTH - 1, 1), **EDGE_NUMBERS, **EMOJI}
        response = await api.patch(
            f"/v1/clients/{ids['client_id']}", json=attributes_body(attributes)
        )
        assert response.status_code == 200, response.text
        stored = (await api.get(f"/v1/clients/{ids['client_id']}")).json()["attributes"]
        assert_same_json(stored, attributes)
        listed = (await api.get("/v1/clients")).json()["data"]
        assert_same_json(
            next(c for c in listed if c["id"] == ids["client_id"])["attributes"], attributes
        )
        assert await unreadable(api, ids) == []

    async def test_properties_at_the_limits_read_back_everywhere(
        self, app: FastAPI, workspace: Workspace, api: httpx.AsyncClient
    ) -> None:
        ids = await populate(app, workspace, api)
        properties = {"deep": nested(MAX_JSON_DEPTH - 1, 1), **EDGE_NUMBERS, **EMOJI}
        event = {**login(ids), "properties": properties, "external_id": "edge-1"}
        response = await api.post("/v1/events", json={"events": [event]})
        assert response.json()["results"][0]["status"] == "created", response.text
        for url in (f"/v1/clients/{ids['client_id']}/events", "/v1/events"):
            page = (await api.get(url)).json()["data"]
            assert_same_json(
                next(e for e in page if e["external_id"] == "edge-1")["properties"], properties
            )
        assert await unreadable(api, ids) == []

    async def test_times_at_the_ends_of_the_range_are_accepted(
        self, app: FastAPI, workspace: Workspace, api: httpx.AsyncClient
    ) -> None:
        ids = await populate(app, workspace, api)
        first, last = "1900-01-01T00:00:00Z", "8999-12-31T23:59:59Z"
        client = await create_client(api, acquired_at=first)
        assert client["acquired_at"] == first
        contract = await create_contract(
            api, client["id"], starts_on="1900-01-01", ends_on="8999-12-31"
        )
        assert contract["ends_on"] == "8999-12-31"
        override = {
            "band": "at_risk",
            "reason": "edge",
            "author": "a@example.com",
            "expires_at": last,
        }
        response = await api.post(f"/v1/clients/{client['id']}/health/override", json=override)
        assert response.status_code == 201, response.text
        for url in (
            "/v1/health",
            f"/v1/clients/{client['id']}/health",
            f"/v1/clients/{ids['client_id']}/health",
        ):
            response = await api.get(url, params={"as_of": first})
            assert response.status_code == 200, f"{url}: {response.text}"
        for url in (f"/v1/clients/{client['id']}", f"/v1/contracts/{contract['id']}"):
            assert (await api.get(url)).status_code == 200, url
        assert await unreadable(api, ids) == []


def attributes_body(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"attributes": attributes}


def login(ids: Ids) -> dict[str, Any]:
    return {"client_id": ids["client_id"], "type": "login", "occurred_at": an_hour_ago()}


def assert_same_json(read: Any, sent: Any) -> None:
    """Equal as JSON numbers are: PostgreSQL's jsonb spells 1.7976931348623157e308 as the
    309-digit integer it is, which a client's parser reads as the same float."""
    if isinstance(sent, dict):
        assert isinstance(read, dict)
        assert read.keys() == sent.keys()
        for key in sent:
            assert_same_json(read[key], sent[key])
    elif isinstance(sent, float | int) and not isinstance(sent, bool):
        assert float(read) == float(sent), (read, sent)
    else:
        assert read == sent
