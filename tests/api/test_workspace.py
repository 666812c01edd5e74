"""The caller's workspace: its name and the tiers and lifecycle stages clients are sorted into."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth, create_client, create_workspace

PROBLEM = "application/problem+json"
DEFAULT_TIERS = ["enterprise", "mid", "smb"]
DEFAULT_STAGES = ["onboarding", "first_value", "adoption", "renewal", "expansion"]
VOCABULARIES = ["tiers", "lifecycle_stages"]

INVALID_VOCABULARIES: list[tuple[str, Any]] = [
    ("empty", []),
    ("duplicates", ["gold", "silver", "gold"]),
    ("upper case", ["Gold"]),
    ("a space", ["gold tier"]),
    ("a hyphen", ["gold-tier"]),
    ("a leading digit", ["1st"]),
    ("a leading underscore", ["_gold"]),
    ("an empty word", [""]),
    ("a word over 64 characters", ["a" * 65]),
    ("more than 50 words", [f"w{i}" for i in range(51)]),
    ("a non-string entry", ["gold", 7]),
    ("null", None),
    ("a string instead of a list", "gold"),
]


class TestGetWorkspace:
    async def test_shows_the_default_tiers(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/workspace")
        assert response.status_code == 200
        assert response.json()["tiers"] == DEFAULT_TIERS

    async def test_shows_the_default_lifecycle_stages(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/workspace")
        assert response.json()["lifecycle_stages"] == DEFAULT_STAGES

    async def test_shows_the_name_and_an_etag(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/workspace")
        assert response.json()["name"] == "Acme CS"
        assert response.headers["etag"]


class TestUpdateWorkspace:
    async def test_replaces_the_tiers_in_the_order_given(self, api: httpx.AsyncClient) -> None:
        tiers = ["strategic", "growth", "long_tail"]
        response = await api.patch("/v1/workspace", json={"tiers": tiers})
        assert response.status_code == 200, response.text
        assert response.json()["tiers"] == tiers
        assert (await api.get("/v1/workspace")).json()["tiers"] == tiers

    async def test_replaces_the_lifecycle_stages(self, api: httpx.AsyncClient) -> None:
        stages = ["trial", "live", "renewal_due"]
        response = await api.patch("/v1/workspace", json={"lifecycle_stages": stages})
        assert response.status_code == 200, response.text
        assert (await api.get("/v1/workspace")).json()["lifecycle_stages"] == stages

    async def test_leaves_fields_not_sent_alone(self, api: httpx.AsyncClient) -> None:
        await api.patch("/v1/workspace", json={"tiers": ["gold"]})
        workspace = (await api.get("/v1/workspace")).json()
        assert workspace["lifecycle_stages"] == DEFAULT_STAGES
        assert workspace["name"] == "Acme CS"

    async def test_renames_the_workspace(self, api: httpx.AsyncClient) -> None:
        response = await api.patch("/v1/workspace", json={"name": "Globex CS"})
        assert response.json()["name"] == "Globex CS"

    async def test_new_tiers_are_accepted_on_clients(self, api: httpx.AsyncClient) -> None:
        await api.patch("/v1/workspace", json={"tiers": ["strategic"]})
        client = await create_client(api, tier="strategic")
        assert client["tier"] == "strategic"

    async def test_removed_tiers_are_refused_on_clients(self, api: httpx.AsyncClient) -> None:
        await api.patch("/v1/workspace", json={"tiers": ["strategic"]})
        response = await api.post("/v1/clients", json={"name": "Globex", "tier": "enterprise"})
        assert response.status_code == 422

    async def test_a_tier_may_be_removed_once_no_client_uses_it(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="smb")
        await api.patch(f"/v1/clients/{client['id']}", json={"tier": "mid"})
        response = await api.patch("/v1/workspace", json={"tiers": ["enterprise", "mid"]})
        assert response.status_code == 200, response.text

    async def test_a_stale_if_match_is_412(self, api: httpx.AsyncClient) -> None:
        etag = (await api.get("/v1/workspace")).headers["etag"]
        await api.patch("/v1/workspace", json={"name": "First"})
        response = await api.patch(
            "/v1/workspace", json={"name": "Second"}, headers={"If-Match": etag}
        )
        assert response.status_code == 412
        assert (await api.get("/v1/workspace")).json()["name"] == "First"

    async def test_a_current_if_match_is_accepted(self, api: httpx.AsyncClient) -> None:
        etag = (await api.get("/v1/workspace")).headers["etag"]
        response = await api.patch(
            "/v1/workspace", json={"name": "Second"}, headers={"If-Match": etag}
        )
        assert response.status_code == 200
        assert response.headers["etag"] != etag


class TestInvalidVocabulary:
    @pytest.mark.parametrize("field", VOCABULARIES)
    @pytest.mark.parametrize(
        ("case", "words"), INVALID_VOCABULARIES, ids=[c for c, _ in INVALID_VOCABULARIES]
    )
    async def test_is_422_naming_the_field(
        self, field: str, case: str, words: Any, api: httpx.AsyncClient
    ) -> None:
        response = await api.patch("/v1/workspace", json={field: words})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        locs = [e["loc"][:2] for e in response.json()["errors"]]
        assert locs
        assert all(loc == ["body", field] for loc in locs), locs

    @pytest.mark.parametrize("field", VOCABULARIES)
    async def test_changes_nothing(self, field: str, api: httpx.AsyncClient) -> None:
        before = (await api.get("/v1/workspace")).json()
        response = await api.patch("/v1/workspace", json={"name": "Renamed", field: ["Bad"]})
        assert response.status_code == 422
        assert (await api.get("/v1/workspace")).json() == before


class TestVocabularyInUse:
    async def test_removing_a_tier_a_client_uses_is_409(self, api: httpx.AsyncClient) -> None:
        await create_client(api, tier="smb")
        response = await api.patch("/v1/workspace", json={"tiers": ["enterprise", "mid"]})
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        assert "smb" in response.json()["detail"]

    async def test_removing_a_tier_a_churned_client_uses_is_409(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, tier="smb")
        await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        response = await api.patch("/v1/workspace", json={"tiers": ["enterprise"]})
        assert response.status_code == 409, response.text

    async def test_a_refused_tier_change_keeps_the_tiers(self, api: httpx.AsyncClient) -> None:
        await create_client(api, tier="smb")
        await api.patch("/v1/workspace", json={"tiers": ["enterprise"]})
        assert (await api.get("/v1/workspace")).json()["tiers"] == DEFAULT_TIERS

    async def test_removing_a_stage_a_client_is_in_is_409(self, api: httpx.AsyncClient) -> None:
        await create_client(api, lifecycle_stage="adoption")
        response = await api.patch(
            "/v1/workspace", json={"lifecycle_stages": ["onboarding", "renewal"]}
        )
        assert response.status_code == 409, response.text
        assert "adoption" in response.json()["detail"]

    async def test_a_conflict_on_one_field_changes_no_field(self, api: httpx.AsyncClient) -> None:
        await create_client(api, lifecycle_stage="adoption")
        response = await api.patch(
            "/v1/workspace",
            json={"name": "Renamed", "tiers": ["gold"], "lifecycle_stages": ["onboarding"]},
        )
        assert response.status_code == 409
        workspace = (await api.get("/v1/workspace")).json()
        assert (workspace["name"], workspace["tiers"]) == ("Acme CS", DEFAULT_TIERS)

    async def test_tiers_used_in_another_workspace_do_not_block(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        response = await http.post(
            "/v1/clients", json={"name": "Globex", "tier": "smb"}, headers=auth(other.admin_key)
        )
        assert response.status_code == 201
        response = await api.patch("/v1/workspace", json={"tiers": ["enterprise"]})
        assert response.status_code == 200, response.text
