"""API keys: who may call, with which scopes, and what a key's secret looks like afterwards."""

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.domain.api_keys import hash_key
from tests.api.operations import ADMIN_OPERATIONS, OPERATIONS, Operation, random_ids
from tests.factories import Workspace, auth, create_key, create_owner

PROBLEM = "application/problem+json"
HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")

READS = [op for op in OPERATIONS if op.method == "GET"]
CHANGES = [op for op in OPERATIONS if op.method != "GET"]
ADMIN_ONLY = [op for op in OPERATIONS if op.operation_id in ADMIN_OPERATIONS]
NOT_ADMIN_ONLY = [op for op in OPERATIONS if op.operation_id not in ADMIN_OPERATIONS]


def labels(operations: list[Operation]) -> list[str]:
    return [op.label for op in operations]


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def _keys(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The first page of the listing: every test here holds fewer keys than a page."""
    response = await api.get("/v1/api-keys")
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["data"]
    return keys


async def _own_key_id(api: httpx.AsyncClient, secret: str) -> str:
    keys = await _keys(api)
    (key,) = [k for k in keys if secret.startswith(k["prefix"])]
    return str(key["id"])


async def _issue(api: httpx.AsyncClient, scopes: list[str]) -> dict[str, Any]:
    response = await api.post("/v1/api-keys", json={"name": "ingest", "scopes": scopes})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _strings(value: Any) -> list[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


class TestMissingOrBadCredentials:
    @pytest.mark.parametrize("op", OPERATIONS, ids=labels(OPERATIONS))
    async def test_every_operation_answers_401_without_a_key(
        self, op: Operation, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        response = await op.send(http, random_ids())
        assert_problem(response, 401)

    async def test_401_without_a_key_challenges_for_a_bearer_key(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """RFC 9110: a 401 must carry a WWW-Authenticate challenge."""
        response = await http.get("/v1/owners")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_401_for_an_unknown_key_says_the_token_is_invalid(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """RFC 6750 section 3: a rejected token is `invalid_token`."""
        response = await http.get("/v1/owners", headers=auth("tnr_" + "x" * 43))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    @pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer:", "bearer-x"])
    async def test_a_scheme_other_than_bearer_is_401(
        self, scheme: str, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        headers = {"Authorization": f"{scheme} {workspace.admin_key}"}
        assert_problem(await http.get("/v1/owners", headers=headers), 401)

    async def test_a_key_without_a_scheme_is_401(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        headers = {"Authorization": workspace.admin_key}
        assert_problem(await http.get("/v1/owners", headers=headers), 401)

    async def test_bearer_without_a_key_is_401(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        assert_problem(await http.get("/v1/owners", headers={"Authorization": "Bearer "}), 401)

    async def test_an_unknown_key_is_401(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        unknown = "tnr_" + "x" * 43
        assert_problem(await http.get("/v1/owners", headers=auth(unknown)), 401)

    async def test_a_key_with_a_changed_character_is_401(
        self, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = workspace.admin_key
        altered = key[:-1] + ("A" if key[-1] != "A" else "B")
        assert_problem(await http.get("/v1/owners", headers=auth(altered)), 401)


class TestRevokeApiKey:
    async def test_a_revoked_key_is_401(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        key = await _issue(api, ["read"])
        assert (await http.get("/v1/owners", headers=auth(key["api_key"]))).status_code == 200

        assert (await api.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        assert_problem(await http.get("/v1/owners", headers=auth(key["api_key"])), 401)

    async def test_a_revoked_key_cannot_replay_an_idempotent_request(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        key = await _issue(api, ["write"])
        headers = {**auth(key["api_key"]), "Idempotency-Key": "create-dana"}
        body = {"name": "Dana", "email": "dana@example.com"}
        assert (await http.post("/v1/owners", json=body, headers=headers)).status_code == 201

        assert (await api.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        assert_problem(await http.post("/v1/owners", json=body, headers=headers), 401)

    async def test_revocation_shows_in_the_listing(self, api: httpx.AsyncClient) -> None:
        key = await _issue(api, ["read"])
        await api.delete(f"/v1/api-keys/{key['id']}")
        (listed,) = [k for k in await _keys(api) if k["id"] == key["id"]]
        assert listed["revoked_at"] is not None

    async def test_a_key_cannot_revoke_itself(
        self, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        own_id = await _own_key_id(api, workspace.admin_key)
        assert_problem(await api.delete(f"/v1/api-keys/{own_id}"), 409)
        assert (await api.get("/v1/owners")).status_code == 200

    async def test_another_admin_key_can_revoke_it(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        other = await _issue(api, ["admin"])
        own_id = await _own_key_id(api, workspace.admin_key)
        response = await http.delete(f"/v1/api-keys/{own_id}", headers=auth(other["api_key"]))
        assert response.status_code == 204
        assert_problem(await api.get("/v1/owners"), 401)

    async def test_an_unknown_key_id_is_404(self, api: httpx.AsyncClient) -> None:
        assert_problem(await api.delete(f"/v1/api-keys/{random_ids()['key_id']}"), 404)


class TestReadOnlyKey:
    async def test_can_read(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        key = await create_key(app, workspace, ["read"])
        response = await http.get(f"/v1/owners/{owner['id']}", headers=auth(key))
        assert response.status_code == 200
        assert response.json()["id"] == owner["id"]

    @pytest.mark.parametrize("op", CHANGES, ids=labels(CHANGES))
    async def test_every_change_is_403(
        self, op: Operation, app: FastAPI, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await create_key(app, workspace, ["read"])
        assert_problem(await op.send(http, random_ids(), headers=auth(key)), 403)

    async def test_a_refused_patch_changes_nothing(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api, name="Dana Scully")
        key = await create_key(app, workspace, ["read"])
        url = f"/v1/owners/{owner['id']}"
        assert_problem(await http.patch(url, json={"name": "Fox"}, headers=auth(key)), 403)
        assert (await api.get(url)).json()["name"] == "Dana Scully"

    async def test_a_refused_delete_keeps_the_owner(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        key = await create_key(app, workspace, ["read"])
        url = f"/v1/owners/{owner['id']}"
        assert_problem(await http.delete(url, headers=auth(key)), 403)
        assert (await api.get(url)).status_code == 200

    async def test_a_refused_post_creates_nothing(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await create_key(app, workspace, ["read"])
        body = {"name": "Dana", "email": "dana@example.com"}
        assert_problem(await http.post("/v1/owners", json=body, headers=auth(key)), 403)
        assert (await api.get("/v1/owners")).json()["data"] == []


class TestWriteOnlyKey:
    async def test_can_create(
        self, app: FastAPI, api: httpx.AsyncClient, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await create_key(app, workspace, ["write"])
        body = {"name": "Dana", "email": "dana@example.com"}
        response = await http.post("/v1/owners", json=body, headers=auth(key))
        assert response.status_code == 201, response.text
        assert (await api.get(f"/v1/owners/{response.json()['id']}")).status_code == 200

    @pytest.mark.parametrize("op", READS, ids=labels(READS))
    async def test_every_read_is_403(
        self, op: Operation, app: FastAPI, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await create_key(app, workspace, ["write"])
        assert_problem(await op.send(http, random_ids(), headers=auth(key)), 403)


class TestReadWriteKey:
    @pytest.mark.parametrize("op", ADMIN_ONLY, ids=labels(ADMIN_ONLY))
    async def test_admin_operations_are_403(
        self, op: Operation, app: FastAPI, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await create_key(app, workspace, ["read", "write"])
        assert_problem(await op.send(http, random_ids(), headers=auth(key)), 403)

    @pytest.mark.parametrize("op", NOT_ADMIN_ONLY, ids=labels(NOT_ADMIN_ONLY))
    async def test_other_operations_are_allowed(
        self, op: Operation, app: FastAPI, http: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """Allowed means past the scope check: a random id may still be 404 or 422."""
        key = await create_key(app, workspace, ["read", "write"])
        response = await op.send(http, random_ids(), headers=auth(key))
        assert response.status_code not in (401, 403), response.text

    async def test_admin_operations_are_keys_settings_jobs_and_integrations(
        self,
    ) -> None:
        assert {op.operation_id for op in ADMIN_ONLY} == ADMIN_OPERATIONS
        paths = {op.path for op in ADMIN_ONLY}
        assert paths == {
            "/v1/api-keys",
            "/v1/api-keys/{key_id}",
            "/v1/workspace",
            "/v1/jobs",
            "/v1/jobs/{job_id}",
            "/v1/jobs/{job_id}/retry",
            "/v1/integrations",
            "/v1/integrations/{integration_id}",
            "/v1/integrations/{integration_id}/test",
            "/v1/integrations/{integration_id}/calls",
            "/v1/integrations/{integration_id}/sync",
            "/v1/integrations/{integration_id}/syncs",
            "/v1/integrations/{integration_id}/syncs/{sync_id}",
        }


class TestAdminKey:
    @pytest.mark.parametrize("op", OPERATIONS, ids=labels(OPERATIONS))
    async def test_passes_every_scope_check(self, op: Operation, api: httpx.AsyncClient) -> None:
        response = await op.send(api, random_ids())
        assert response.status_code not in (401, 403), response.text

    async def test_can_create_update_and_delete(self, api: httpx.AsyncClient) -> None:
        owner = await create_owner(api)
        url = f"/v1/owners/{owner['id']}"
        assert (await api.get(url)).status_code == 200
        assert (await api.patch(url, json={"name": "Renamed"})).status_code == 200
        assert (await api.delete(url)).status_code == 204

    async def test_can_manage_keys_and_settings(self, api: httpx.AsyncClient) -> None:
        key = await _issue(api, ["read"])
        assert (await api.get("/v1/api-keys")).status_code == 200
        assert (await api.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        assert (await api.patch("/v1/workspace", json={"name": "Renamed"})).status_code == 200


class TestCreateApiKey:
    async def test_returns_the_secret_with_the_tnr_prefix(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/api-keys", json={"name": "CRM", "scopes": ["write"]})
        assert response.status_code == 201
        created = response.json()
        assert created["api_key"].startswith("tnr_")
        assert created["api_key"].startswith(created["prefix"])
        assert created["scopes"] == ["write"]
        assert created["revoked_at"] is None
        assert response.headers["location"] == f"/v1/api-keys/{created['id']}"

    async def test_the_returned_secret_works(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        key = await _issue(api, ["read"])
        assert (await http.get("/v1/owners", headers=auth(key["api_key"]))).status_code == 200

    async def test_each_key_gets_its_own_secret(self, api: httpx.AsyncClient) -> None:
        first, second = await _issue(api, ["read"]), await _issue(api, ["read"])
        assert first["api_key"] != second["api_key"]

    @pytest.mark.parametrize("scopes", [[], ["root"], ["read", "root"], "read"])
    async def test_invalid_scopes_are_422(self, scopes: Any, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/api-keys", json={"name": "CRM", "scopes": scopes})
        assert_problem(response, 422)

    async def test_the_listing_never_shows_a_secret_or_hash(
        self, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        key = await _issue(api, ["read"])
        secrets = [key["api_key"], workspace.admin_key]
        forbidden = secrets + [hash_key(s) for s in secrets]
        listing = await _keys(api)
        assert len(listing) == 2
        for text in _strings(listing):
            assert not any(f in text for f in forbidden), text
            assert not HEX_HASH.search(text), text
        assert all("api_key" not in k and "key_hash" not in k for k in listing)


class TestLastUsedAt:
    async def test_is_empty_until_the_key_is_used(self, api: httpx.AsyncClient) -> None:
        key = await _issue(api, ["read"])
        (listed,) = [k for k in await _keys(api) if k["id"] == key["id"]]
        assert listed["last_used_at"] is None

    async def test_is_set_after_use(self, api: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
        key = await _issue(api, ["read"])
        assert (await http.get("/v1/owners", headers=auth(key["api_key"]))).status_code == 200
        (listed,) = [k for k in await _keys(api) if k["id"] == key["id"]]
        assert listed["last_used_at"] is not None


class TestListApiKeys:
    async def test_is_a_page_like_every_other_list(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/api-keys")
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"data", "next_cursor", "has_more"}
        assert (page["next_cursor"], page["has_more"]) == (None, False)
        assert [k["name"] for k in page["data"]] == ["initial admin key"]

    async def test_cursor_pages_cover_every_key_once_in_creation_order(
        self, api: httpx.AsyncClient
    ) -> None:
        issued = [await _issue(api, ["read"]) for _ in range(4)]
        seen, pages = await _walk(api, limit=2)
        assert seen == [(await _keys(api))[0]["id"]] + [k["id"] for k in issued]
        assert [(p["has_more"], len(p["data"])) for p in pages] == [
            (True, 2),
            (True, 2),
            (False, 1),
        ]

    async def test_keys_issued_between_pages_cause_no_duplicates_or_gaps(
        self, api: httpx.AsyncClient
    ) -> None:
        before = [await _issue(api, ["read"]) for _ in range(2)]
        first = (await api.get("/v1/api-keys", params={"limit": 2})).json()
        after = [await _issue(api, ["read"]) for _ in range(2)]
        rest, _ = await _walk(api, limit=2, cursor=first["next_cursor"])
        seen = [k["id"] for k in first["data"]] + rest
        assert seen[1:] == [k["id"] for k in before + after]

    async def test_sorts_by_name_descending(self, api: httpx.AsyncClient) -> None:
        for name in ("bravo", "alpha", "charlie"):
            response = await api.post("/v1/api-keys", json={"name": name, "scopes": ["read"]})
            assert response.status_code == 201, response.text
        seen, _ = await _walk(api, limit=1, sort="-name", field="name")
        assert seen == ["initial admin key", "charlie", "bravo", "alpha"]

    async def test_a_cursor_from_another_sort_is_400(self, api: httpx.AsyncClient) -> None:
        await _issue(api, ["read"])
        page = (await api.get("/v1/api-keys", params={"limit": 1, "sort": "name"})).json()
        response = await api.get(
            "/v1/api-keys", params={"cursor": page["next_cursor"], "sort": "-name"}
        )
        assert_problem(response, 400)

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"sort": "prefix"}])
    async def test_an_invalid_limit_or_sort_is_422(
        self, api: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        assert_problem(await api.get("/v1/api-keys", params=params), 422)


async def _walk(
    api: httpx.AsyncClient, *, field: str = "id", cursor: str | None = None, **params: Any
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Follows `next_cursor` to the end: the values of `field` in order, and the pages."""
    seen: list[Any] = []
    pages: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/v1/api-keys", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        seen += [k[field] for k in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
