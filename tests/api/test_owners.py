import httpx

from tests.factories import create_client, create_owner


class TestCreateOwner:
    async def test_stores_email_lower_cased(self, api: httpx.AsyncClient) -> None:
        owner = await create_owner(api, email="Dana.Scully@Example.com")
        assert owner["email"] == "dana.scully@example.com"
        assert owner["active"] is True

    async def test_duplicate_email_in_any_case_is_a_conflict(self, api: httpx.AsyncClient) -> None:
        await create_owner(api, email="dana@example.com")
        response = await api.post("/v1/owners", json={"name": "D2", "email": "DANA@example.com"})
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"

    async def test_unknown_fields_are_rejected(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/owners", json={"name": "D", "email": "d@example.com", "workspace_id": "x"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "workspace_id"]


class TestDeleteOwner:
    async def test_owner_with_clients_cannot_be_deleted(self, api: httpx.AsyncClient) -> None:
        owner = await create_owner(api)
        await create_client(api, owner_id=owner["id"])
        response = await api.delete(f"/v1/owners/{owner['id']}")
        assert response.status_code == 409

    async def test_owner_without_clients_is_deleted(self, api: httpx.AsyncClient) -> None:
        owner = await create_owner(api)
        assert (await api.delete(f"/v1/owners/{owner['id']}")).status_code == 204
        assert (await api.get(f"/v1/owners/{owner['id']}")).status_code == 404


class TestListOwners:
    async def test_filters_by_active_and_text(self, api: httpx.AsyncClient) -> None:
        await create_owner(api, name="Fox Mulder", active=False)
        await create_owner(api, name="Dana Scully")
        inactive = (await api.get("/v1/owners", params={"active": "false"})).json()
        assert [o["name"] for o in inactive["data"]] == ["Fox Mulder"]
        found = (await api.get("/v1/owners", params={"q": "scul"})).json()
        assert [o["name"] for o in found["data"]] == ["Dana Scully"]
