"""Every single resource carries an ETag, and If-Match guards every change to it."""

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import create_client, create_contact, create_contract, create_owner

PROBLEM = "application/problem+json"
ETAG = re.compile(r'^"[0-9a-f]{32}\.\d+"$')


@dataclass(frozen=True)
class Resource:
    """How to make one resource, where it lives, and a change that really changes it."""

    kind: str
    make: Callable[[httpx.AsyncClient], Awaitable[str]]
    change: Callable[[], dict[str, Any]]
    field: str
    deletable: bool = True


async def make_client(api: httpx.AsyncClient) -> str:
    return f"/v1/clients/{(await create_client(api))['id']}"


async def make_contact(api: httpx.AsyncClient) -> str:
    client = await create_client(api)
    return f"/v1/clients/{client['id']}/contacts/{(await create_contact(api, client['id']))['id']}"


async def make_contract(api: httpx.AsyncClient) -> str:
    client = await create_client(api)
    return f"/v1/contracts/{(await create_contract(api, client['id']))['id']}"


async def make_owner(api: httpx.AsyncClient) -> str:
    return f"/v1/owners/{(await create_owner(api))['id']}"


async def make_task(api: httpx.AsyncClient) -> str:
    client = await create_client(api)
    response = await api.post("/v1/tasks", json={"client_id": client["id"], "title": "Call"})
    assert response.status_code == 201, response.text
    return f"/v1/tasks/{response.json()['id']}"


def new_title() -> dict[str, Any]:
    return {"title": f"Retitled {uuid.uuid4().hex[:8]}"}


async def the_workspace(api: httpx.AsyncClient) -> str:
    return "/v1/workspace"


def new_name() -> dict[str, Any]:
    return {"name": f"Renamed {uuid.uuid4().hex[:8]}"}


def new_external_id() -> dict[str, Any]:
    return {"external_id": f"ext-{uuid.uuid4().hex[:8]}"}


RESOURCES = [
    Resource("client", make_client, new_name, "name"),
    Resource("contact", make_contact, new_name, "name"),
    Resource("contract", make_contract, new_external_id, "external_id"),
    Resource("owner", make_owner, new_name, "name"),
    Resource("task", make_task, new_title, "title"),
    Resource("workspace", the_workspace, new_name, "name", deletable=False),
]
DELETABLE = [r for r in RESOURCES if r.deletable]


def ids(resources: list[Resource]) -> list[str]:
    return [r.kind for r in resources]


async def current_etag(api: httpx.AsyncClient, path: str) -> str:
    response = await api.get(path)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def stale_etag(api: httpx.AsyncClient, resource: Resource, path: str) -> str:
    """An ETag that was current once, before a later change."""
    etag = await current_etag(api, path)
    response = await api.patch(path, json=resource.change())
    assert response.status_code == 200, response.text
    return etag


class TestEtagOnRead:
    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_a_get_returns_a_strong_etag(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        assert ETAG.match(await current_etag(api, path))

    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_the_etag_is_stable_while_nothing_changes(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        assert await current_etag(api, path) == await current_etag(api, path)

    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_a_change_gives_a_new_etag_that_the_next_get_repeats(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        before = await current_etag(api, path)
        response = await api.patch(path, json=resource.change())
        assert response.headers["etag"] != before
        assert await current_etag(api, path) == response.headers["etag"]


class TestIfMatchOnPatch:
    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_a_stale_etag_is_412_problem_and_changes_nothing(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        stale = await stale_etag(api, resource, path)
        before = (await api.get(path)).json()
        response = await api.patch(path, json=resource.change(), headers={"If-Match": stale})
        assert response.status_code == 412
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 412
        assert (await api.get(path)).json()[resource.field] == before[resource.field]

    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_the_current_etag_is_200_with_a_new_etag(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        etag = await current_etag(api, path)
        change = resource.change()
        response = await api.patch(path, json=change, headers={"If-Match": etag})
        assert response.status_code == 200, response.text
        assert response.json()[resource.field] == change[resource.field]
        assert ETAG.match(response.headers["etag"])
        assert response.headers["etag"] != etag

    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_the_new_etag_works_for_the_next_change(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        first = await api.patch(
            path, json=resource.change(), headers={"If-Match": await current_etag(api, path)}
        )
        second = await api.patch(
            path, json=resource.change(), headers={"If-Match": first.headers["etag"]}
        )
        assert second.status_code == 200

    @pytest.mark.parametrize("resource", RESOURCES, ids=ids(RESOURCES))
    async def test_a_star_matches_the_current_version(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        await stale_etag(api, resource, path)
        response = await api.patch(path, json=resource.change(), headers={"If-Match": "*"})
        assert response.status_code == 200

    async def test_a_weak_form_of_the_current_etag_matches(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        etag = await current_etag(api, path)
        response = await api.patch(path, json=new_name(), headers={"If-Match": f"W/{etag}"})
        assert response.status_code == 200

    async def test_a_list_holding_the_current_etag_matches(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        stale = await stale_etag(api, RESOURCES[0], path)
        etag = await current_etag(api, path)
        response = await api.patch(path, json=new_name(), headers={"If-Match": f"{stale}, {etag}"})
        assert response.status_code == 200

    async def test_without_if_match_the_last_writer_wins(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        await api.patch(path, json={"name": "First"})
        response = await api.patch(path, json={"name": "Second"})
        assert response.status_code == 200
        assert (await api.get(path)).json()["name"] == "Second"


class TestIfMatchOnDelete:
    @pytest.mark.parametrize("resource", DELETABLE, ids=ids(DELETABLE))
    async def test_a_stale_etag_is_412_and_the_resource_survives(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        stale = await stale_etag(api, resource, path)
        response = await api.delete(path, headers={"If-Match": stale})
        assert response.status_code == 412
        assert response.headers["content-type"] == PROBLEM
        assert (await api.get(path)).status_code == 200

    @pytest.mark.parametrize("resource", DELETABLE, ids=ids(DELETABLE))
    async def test_the_current_etag_deletes(
        self, api: httpx.AsyncClient, resource: Resource
    ) -> None:
        path = await resource.make(api)
        response = await api.delete(path, headers={"If-Match": await current_etag(api, path)})
        assert response.status_code == 204
        assert (await api.get(path)).status_code == 404

    @pytest.mark.parametrize("resource", DELETABLE, ids=ids(DELETABLE))
    async def test_a_star_deletes(self, api: httpx.AsyncClient, resource: Resource) -> None:
        path = await resource.make(api)
        await stale_etag(api, resource, path)
        response = await api.delete(path, headers={"If-Match": "*"})
        assert response.status_code == 204


class TestIfMatchOnClientActions:
    async def test_churn_with_a_stale_etag_is_412(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        stale = await stale_etag(api, RESOURCES[0], path)
        response = await api.post(
            f"{path}/churn", json={"reason": "budget"}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
        assert (await api.get(path)).json()["status"] == "active"

    async def test_churn_with_the_current_etag_succeeds(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        response = await api.post(
            f"{path}/churn",
            json={"reason": "budget"},
            headers={"If-Match": await current_etag(api, path)},
        )
        assert response.status_code == 200
        assert response.json()["status"] == "churned"

    async def test_churn_changes_the_etag(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        before = await current_etag(api, path)
        response = await api.post(f"{path}/churn", json={"reason": "budget"})
        assert response.headers["etag"] != before
        assert await current_etag(api, path) == response.headers["etag"]

    async def test_reactivate_with_a_stale_etag_is_412(self, api: httpx.AsyncClient) -> None:
        path = await make_client(api)
        stale = await current_etag(api, path)
        await api.post(f"{path}/churn", json={"reason": "budget"})
        response = await api.post(f"{path}/reactivate", headers={"If-Match": stale})
        assert response.status_code == 412
        assert (await api.get(path)).json()["status"] == "churned"

    async def test_upsert_with_a_stale_etag_is_412(self, api: httpx.AsyncClient) -> None:
        put = "/v1/clients/by-external-id/crm-1"
        created = await api.put(put, json={"name": "Globex"})
        await api.put(put, json={"name": "Globex Corp"})
        response = await api.put(
            put, json={"name": "Globex Inc"}, headers={"If-Match": created.headers["etag"]}
        )
        assert response.status_code == 412

    async def test_upsert_with_the_current_etag_succeeds(self, api: httpx.AsyncClient) -> None:
        put = "/v1/clients/by-external-id/crm-1"
        created = await api.put(put, json={"name": "Globex"})
        response = await api.put(
            put, json={"name": "Globex Inc"}, headers={"If-Match": created.headers["etag"]}
        )
        assert response.status_code == 200
        assert response.headers["etag"] != created.headers["etag"]
