import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.factories import (
    auth,
    create_client,
    create_contact,
    create_contract,
    create_owner,
    create_workspace,
)

PROBLEM = "application/problem+json"
DEFAULT_MAX_ATTRIBUTES_BYTES = 16_384


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def today() -> date:
    return datetime.now(UTC).date()


def attributes_of_size(size: int) -> dict[str, Any]:
    """Attributes whose compact UTF-8 JSON takes exactly `size` bytes."""
    attributes = {"blob": ""}
    overhead = len(json.dumps(attributes, separators=(",", ":")).encode())
    return {"blob": "x" * (size - overhead)}


def error_locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.headers["content-type"] == PROBLEM, response.text
    return [error["loc"] for error in response.json()["errors"]]


async def list_all(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/clients", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def names(api: httpx.AsyncClient, **params: Any) -> list[str]:
    return [client["name"] for client in await list_all(api, **params)]


async def walk(
    api: httpx.AsyncClient, *, limit: int, **params: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page in turn: the names seen and the raw pages."""
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/v1/clients", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        seen += [client["name"] for client in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages


class TestCreateClient:
    async def test_starts_in_the_workspaces_first_lifecycle_stage(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        assert client["lifecycle_stage"] == "onboarding"

    async def test_a_null_lifecycle_stage_also_starts_in_the_first_stage(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/clients", json={"name": "Globex", "lifecycle_stage": None})
        assert response.status_code == 201, response.text
        assert response.json()["lifecycle_stage"] == "onboarding"

    async def test_starts_in_the_given_lifecycle_stage(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, lifecycle_stage="adoption")
        assert client["lifecycle_stage"] == "adoption"

    async def test_is_active_and_not_churned(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        assert client["status"] == "active"
        assert client["churned_at"] is None
        assert client["churn_reason"] is None

    async def test_acquired_at_defaults_to_now(self, api: httpx.AsyncClient) -> None:
        before = datetime.now(UTC)
        client = await create_client(api)
        after = datetime.now(UTC)
        assert before <= parse_time(client["acquired_at"]) <= after

    async def test_acquired_at_is_kept_when_given(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at="2024-03-01T09:30:00+01:00")
        assert parse_time(client["acquired_at"]) == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)

    async def test_a_naive_acquired_at_is_refused(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "Globex", "acquired_at": "2024-03-01T09:30:00"}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "acquired_at"]]

    async def test_answers_201_with_location_and_etag(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/clients", json={"name": "Globex"})
        assert response.status_code == 201
        client = response.json()
        assert response.headers["location"] == f"/v1/clients/{client['id']}"
        fetched = await api.get(response.headers["location"])
        assert fetched.json()["name"] == "Globex"
        assert fetched.headers["etag"] == response.headers["etag"]

    async def test_stores_the_domain_lower_cased(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, domain="Globex.Example")
        assert client["domain"] == "globex.example"

    async def test_has_no_revenue_without_contracts(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        assert client["mrr"] == {}
        assert client["next_renewal_on"] is None

    async def test_an_unknown_tier_is_422_with_the_field_named(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/clients", json={"name": "Globex", "tier": "platinum"})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "tier"]]

    async def test_an_unknown_lifecycle_stage_is_422_with_the_field_named(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "Globex", "lifecycle_stage": "hibernating"}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "lifecycle_stage"]]

    async def test_an_owner_that_does_not_exist_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "Globex", "owner_id": str(uuid.uuid4())}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "owner_id"]]

    async def test_an_owner_of_another_workspace_is_422(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        owner = await api.post(
            "/v1/owners",
            json={"name": "Fox Mulder", "email": "fox@other.example"},
            headers=auth(other.admin_key),
        )
        assert owner.status_code == 201
        response = await api.post(
            "/v1/clients", json={"name": "Globex", "owner_id": owner.json()["id"]}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "owner_id"]]

    async def test_an_owner_of_this_workspace_is_accepted(self, api: httpx.AsyncClient) -> None:
        owner = await create_owner(api)
        client = await create_client(api, owner_id=owner["id"])
        assert client["owner_id"] == owner["id"]

    async def test_a_duplicate_external_id_is_409(self, api: httpx.AsyncClient) -> None:
        await create_client(api, external_id="crm-1")
        response = await api.post("/v1/clients", json={"name": "Again", "external_id": "crm-1"})
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    async def test_the_same_external_id_in_another_workspace_is_allowed(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        await create_client(api, external_id="crm-1")
        response = await api.post(
            "/v1/clients",
            json={"name": "Theirs", "external_id": "crm-1"},
            headers=auth(other.admin_key),
        )
        assert response.status_code == 201

    async def test_a_missing_name_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/clients", json={"domain": "globex.example"})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "name"]]


class TestWorkspaceVocabulary:
    async def test_a_tier_the_workspace_adds_can_be_used(self, api: httpx.AsyncClient) -> None:
        updated = await api.patch("/v1/workspace", json={"tiers": ["gold", "silver"]})
        assert updated.status_code == 200, updated.text
        client = await create_client(api, tier="gold")
        assert client["tier"] == "gold"

    async def test_a_default_tier_the_workspace_dropped_is_refused(
        self, api: httpx.AsyncClient
    ) -> None:
        await api.patch("/v1/workspace", json={"tiers": ["gold", "silver"]})
        response = await api.post("/v1/clients", json={"name": "Globex", "tier": "enterprise"})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "tier"]]

    async def test_a_custom_tier_can_be_set_by_patch(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await api.patch("/v1/workspace", json={"tiers": ["gold", "silver"]})
        response = await api.patch(f"/v1/clients/{client['id']}", json={"tier": "silver"})
        assert response.status_code == 200
        assert response.json()["tier"] == "silver"

    async def test_new_clients_start_in_the_first_custom_stage(
        self, api: httpx.AsyncClient
    ) -> None:
        await api.patch("/v1/workspace", json={"lifecycle_stages": ["trial", "paying"]})
        client = await create_client(api)
        assert client["lifecycle_stage"] == "trial"


class TestUpsertClientByExternalId:
    async def test_creates_the_client_with_201_and_location(self, api: httpx.AsyncClient) -> None:
        response = await api.put("/v1/clients/by-external-id/crm-1001", json={"name": "Globex"})
        assert response.status_code == 201, response.text
        client = response.json()
        assert client["external_id"] == "crm-1001"
        assert client["lifecycle_stage"] == "onboarding"
        assert response.headers["location"] == f"/v1/clients/{client['id']}"
        assert (await api.get(response.headers["location"])).status_code == 200

    async def test_updates_the_same_client_with_200_the_second_time(
        self, api: httpx.AsyncClient
    ) -> None:
        first = await api.put("/v1/clients/by-external-id/crm-1001", json={"name": "Globex"})
        second = await api.put("/v1/clients/by-external-id/crm-1001", json={"name": "Globex Corp"})
        assert second.status_code == 200
        assert "location" not in second.headers
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["name"] == "Globex Corp"
        assert len(await list_all(api)) == 1

    async def test_requires_a_name_when_creating(self, api: httpx.AsyncClient) -> None:
        response = await api.put(
            "/v1/clients/by-external-id/crm-1001", json={"domain": "globex.example"}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "name"]]
        assert await list_all(api) == []

    async def test_does_not_require_a_name_when_updating(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Globex", external_id="crm-1001")
        response = await api.put(
            "/v1/clients/by-external-id/crm-1001", json={"domain": "globex.example"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Globex"
        assert response.json()["domain"] == "globex.example"

    async def test_updates_an_existing_client_created_by_post(self, api: httpx.AsyncClient) -> None:
        created = await create_client(api, external_id="crm-7", tier="smb")
        response = await api.put("/v1/clients/by-external-id/crm-7", json={"tier": "mid"})
        assert response.json()["id"] == created["id"]
        assert response.json()["tier"] == "mid"

    async def test_merges_attributes_on_update(self, api: httpx.AsyncClient) -> None:
        path = "/v1/clients/by-external-id/crm-1001"
        await api.put(path, json={"name": "Globex", "attributes": {"plan": "scale", "seats": 5}})
        response = await api.put(path, json={"attributes": {"seats": 9, "plan": None}})
        assert response.json()["attributes"] == {"seats": 9}

    async def test_a_stage_set_on_update_is_recorded(self, api: httpx.AsyncClient) -> None:
        path = "/v1/clients/by-external-id/crm-1001"
        client = (await api.put(path, json={"name": "Globex"})).json()
        await api.put(path, json={"lifecycle_stage": "adoption"})
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert [change["to_stage"] for change in history] == ["onboarding", "adoption"]

    async def test_refuses_an_external_id_in_the_body(self, api: httpx.AsyncClient) -> None:
        response = await api.put(
            "/v1/clients/by-external-id/crm-1001", json={"name": "G", "external_id": "crm-2"}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "external_id"]]

    async def test_a_stale_if_match_on_update_is_412(self, api: httpx.AsyncClient) -> None:
        path = "/v1/clients/by-external-id/crm-1001"
        stale = (await api.put(path, json={"name": "Globex"})).headers["etag"]
        await api.put(path, json={"name": "Globex Corp"})
        response = await api.put(path, json={"name": "Globex Inc"}, headers={"If-Match": stale})
        assert response.status_code == 412
        assert (await list_all(api))[0]["name"] == "Globex Corp"

    async def test_if_match_on_a_client_that_does_not_exist_is_412_and_creates_nothing(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.put(
            "/v1/clients/by-external-id/crm-1001",
            json={"name": "Globex"},
            headers={"If-Match": "*"},
        )
        assert response.status_code == 412
        assert await list_all(api) == []


class TestGetClient:
    async def test_an_unknown_client_is_404_problem(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM

    async def test_a_client_of_another_workspace_is_404(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        client = await create_client(api)
        response = await api.get(f"/v1/clients/{client['id']}", headers=auth(other.admin_key))
        assert response.status_code == 404


class TestUpdateClient:
    async def test_changes_only_the_fields_sent(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, name="Globex", domain="globex.example", tier="smb")
        response = await api.patch(f"/v1/clients/{client['id']}", json={"tier": "mid"})
        assert response.status_code == 200
        updated = response.json()
        assert (updated["name"], updated["domain"], updated["tier"]) == (
            "Globex",
            "globex.example",
            "mid",
        )

    async def test_a_tier_can_be_cleared_with_null(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, tier="smb")
        response = await api.patch(f"/v1/clients/{client['id']}", json={"tier": None})
        assert response.json()["tier"] is None

    async def test_a_null_name_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.patch(f"/v1/clients/{client['id']}", json={"name": None})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "name"]]

    async def test_an_unknown_tier_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, tier="smb")
        response = await api.patch(f"/v1/clients/{client['id']}", json={"tier": "platinum"})
        assert response.status_code == 422
        assert (await api.get(f"/v1/clients/{client['id']}")).json()["tier"] == "smb"

    async def test_an_unknown_owner_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"owner_id": str(uuid.uuid4())}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "owner_id"]]

    async def test_taking_another_clients_external_id_is_409(self, api: httpx.AsyncClient) -> None:
        await create_client(api, external_id="crm-1")
        client = await create_client(api, external_id="crm-2")
        response = await api.patch(f"/v1/clients/{client['id']}", json={"external_id": "crm-1"})
        assert response.status_code == 409

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.patch(f"/v1/clients/{uuid.uuid4()}", json={"name": "Globex"})
        assert response.status_code == 404

    async def test_moves_updated_at_forward(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        updated = (await api.patch(f"/v1/clients/{client['id']}", json={"name": "New"})).json()
        assert parse_time(updated["updated_at"]) > parse_time(client["updated_at"])
        assert updated["created_at"] == client["created_at"]


class TestClientAttributes:
    async def test_are_merged_key_by_key(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, attributes={"plan": "scale", "seats": 5})
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"attributes": {"seats": 9, "region": "eu"}}
        )
        assert response.json()["attributes"] == {"plan": "scale", "seats": 9, "region": "eu"}

    async def test_a_key_set_to_null_is_removed(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, attributes={"plan": "scale", "seats": 5})
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"attributes": {"plan": None}}
        )
        assert response.json()["attributes"] == {"seats": 5}
        fetched = await api.get(f"/v1/clients/{client['id']}")
        assert fetched.json()["attributes"] == {"seats": 5}

    async def test_nested_values_are_replaced_whole(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, attributes={"crm": {"stage": "won", "score": 3}})
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"attributes": {"crm": {"score": 4}}}
        )
        assert response.json()["attributes"] == {"crm": {"score": 4}}

    async def test_are_kept_when_a_patch_does_not_mention_them(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, attributes={"plan": "scale"})
        response = await api.patch(f"/v1/clients/{client['id']}", json={"name": "Renamed"})
        assert response.json()["attributes"] == {"plan": "scale"}

    async def test_attributes_exactly_at_the_default_cap_are_accepted(
        self, api: httpx.AsyncClient
    ) -> None:
        attributes = attributes_of_size(DEFAULT_MAX_ATTRIBUTES_BYTES)
        response = await api.post("/v1/clients", json={"name": "G", "attributes": attributes})
        assert response.status_code == 201, response.text

    async def test_attributes_one_byte_over_the_default_cap_are_422(
        self, api: httpx.AsyncClient
    ) -> None:
        attributes = attributes_of_size(DEFAULT_MAX_ATTRIBUTES_BYTES + 1)
        response = await api.post("/v1/clients", json={"name": "G", "attributes": attributes})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "attributes"]]

    async def test_a_small_patch_that_makes_the_merged_attributes_too_large_is_422(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(
            api, attributes=attributes_of_size(DEFAULT_MAX_ATTRIBUTES_BYTES - 20)
        )
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"attributes": {"extra": "x" * 20}}
        )
        assert response.status_code == 422
        fetched = await api.get(f"/v1/clients/{client['id']}")
        assert "extra" not in fetched.json()["attributes"]

    async def test_removing_keys_can_bring_attributes_back_under_the_cap(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(
            api, attributes=attributes_of_size(DEFAULT_MAX_ATTRIBUTES_BYTES - 20)
        )
        response = await api.patch(
            f"/v1/clients/{client['id']}",
            json={"attributes": {"blob": None, "extra": "x" * 100}},
        )
        assert response.status_code == 200
        assert response.json()["attributes"] == {"extra": "x" * 100}

    async def test_the_cap_applies_to_upserts(self, api: httpx.AsyncClient) -> None:
        attributes = attributes_of_size(DEFAULT_MAX_ATTRIBUTES_BYTES + 1)
        response = await api.put(
            "/v1/clients/by-external-id/crm-1", json={"name": "G", "attributes": attributes}
        )
        assert response.status_code == 422


class TestClientAttributesCapSetting:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return Settings(database_url=database_url, max_body_bytes=262_144, max_attributes_bytes=512)

    async def test_the_cap_follows_the_setting(self, api: httpx.AsyncClient) -> None:
        accepted = await api.post(
            "/v1/clients", json={"name": "G", "attributes": attributes_of_size(512)}
        )
        refused = await api.post(
            "/v1/clients", json={"name": "H", "attributes": attributes_of_size(513)}
        )
        assert (accepted.status_code, refused.status_code) == (201, 422)


class TestStageHistory:
    async def test_creation_records_the_first_stage_coming_from_nowhere(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert len(history) == 1
        assert history[0]["from_stage"] is None
        assert history[0]["to_stage"] == "onboarding"
        assert history[0]["changed_at"] == client["stage_changed_at"]

    async def test_a_stage_change_is_recorded_oldest_first(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        for stage in ("first_value", "adoption"):
            response = await api.patch(
                f"/v1/clients/{client['id']}", json={"lifecycle_stage": stage}
            )
            assert response.status_code == 200
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert [(c["from_stage"], c["to_stage"]) for c in history] == [
            (None, "onboarding"),
            ("onboarding", "first_value"),
            ("first_value", "adoption"),
        ]

    async def test_a_change_moves_stage_changed_at(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        updated = (
            await api.patch(f"/v1/clients/{client['id']}", json={"lifecycle_stage": "adoption"})
        ).json()
        assert parse_time(updated["stage_changed_at"]) > parse_time(client["stage_changed_at"])
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert history[-1]["changed_at"] == updated["stage_changed_at"]

    async def test_patching_the_current_stage_records_nothing(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, lifecycle_stage="adoption")
        updated = (
            await api.patch(f"/v1/clients/{client['id']}", json={"lifecycle_stage": "adoption"})
        ).json()
        assert updated["stage_changed_at"] == client["stage_changed_at"]
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert len(history) == 1

    async def test_a_refused_stage_records_nothing(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.patch(
            f"/v1/clients/{client['id']}", json={"lifecycle_stage": "hibernating"}
        )
        assert response.status_code == 422
        history = (await api.get(f"/v1/clients/{client['id']}/stage-history")).json()
        assert len(history) == 1

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/stage-history")
        assert response.status_code == 404


class TestChurnClient:
    async def test_records_the_reason_and_now_by_default(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        before = datetime.now(UTC)
        response = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        after = datetime.now(UTC)
        assert response.status_code == 200, response.text
        churned = response.json()
        assert churned["status"] == "churned"
        assert churned["churn_reason"] == "budget"
        assert before <= parse_time(churned["churned_at"]) <= after

    async def test_records_the_given_occurred_at(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at="2024-01-01T00:00:00Z")
        response = await api.post(
            f"/v1/clients/{client['id']}/churn",
            json={"reason": "budget", "occurred_at": "2025-02-03T12:00:00+02:00"},
        )
        assert parse_time(response.json()["churned_at"]) == datetime(2025, 2, 3, 10, 0, tzinfo=UTC)

    async def test_is_visible_on_a_later_read(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert (fetched["status"], fetched["churn_reason"]) == ("churned", "budget")

    async def test_a_future_occurred_at_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        response = await api.post(
            f"/v1/clients/{client['id']}/churn", json={"reason": "r", "occurred_at": tomorrow}
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "occurred_at"]]
        assert (await api.get(f"/v1/clients/{client['id']}")).json()["status"] == "active"

    async def test_an_occurred_at_before_acquisition_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at="2024-01-01T00:00:00Z")
        response = await api.post(
            f"/v1/clients/{client['id']}/churn",
            json={"reason": "r", "occurred_at": "2023-12-31T23:59:59Z"},
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "occurred_at"]]

    async def test_churning_twice_is_409(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "first"})
        response = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "second"})
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM
        assert (await api.get(f"/v1/clients/{client['id']}")).json()["churn_reason"] == "first"

    async def test_a_blank_reason_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "  "})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "reason"]]

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post(f"/v1/clients/{uuid.uuid4()}/churn", json={"reason": "r"})
        assert response.status_code == 404


class TestReactivateClient:
    async def test_a_churned_client_is_active_again_without_churn_details(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        response = await api.post(f"/v1/clients/{client['id']}/reactivate")
        assert response.status_code == 200, response.text
        active = response.json()
        assert (active["status"], active["churned_at"], active["churn_reason"]) == (
            "active",
            None,
            None,
        )

    async def test_a_reactivated_client_can_churn_again(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        await api.post(f"/v1/clients/{client['id']}/reactivate")
        response = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "again"})
        assert response.status_code == 200
        assert response.json()["churn_reason"] == "again"

    async def test_an_active_client_cannot_be_reactivated(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(f"/v1/clients/{client['id']}/reactivate")
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM


class TestFilterClients:
    async def test_by_owner(self, api: httpx.AsyncClient) -> None:
        dana, fox = await create_owner(api), await create_owner(api)
        await create_client(api, name="Globex", owner_id=dana["id"])
        await create_client(api, name="Initech", owner_id=fox["id"])
        await create_client(api, name="Umbrella")
        assert await names(api, owner_id=dana["id"]) == ["Globex"]

    async def test_by_tier(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Globex", tier="enterprise")
        await create_client(api, name="Initech", tier="smb")
        await create_client(api, name="Umbrella")
        assert await names(api, tier="smb") == ["Initech"]

    async def test_by_lifecycle_stage(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Globex", lifecycle_stage="renewal")
        await create_client(api, name="Initech")
        assert await names(api, lifecycle_stage="renewal") == ["Globex"]

    async def test_by_status(self, api: httpx.AsyncClient) -> None:
        gone = await create_client(api, name="Globex")
        await create_client(api, name="Initech")
        await api.post(f"/v1/clients/{gone['id']}/churn", json={"reason": "budget"})
        assert await names(api, status="churned") == ["Globex"]
        assert await names(api, status="active") == ["Initech"]

    async def test_an_unknown_status_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", params={"status": "paused"})
        assert response.status_code == 422

    async def test_q_finds_text_in_the_name_in_any_case(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Globex Corporation")
        await create_client(api, name="Initech")
        assert await names(api, q="CORP") == ["Globex Corporation"]

    async def test_q_finds_text_in_the_domain_in_any_case(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Acme One", domain="globex.example")
        await create_client(api, name="Acme Two", domain="initech.example")
        assert await names(api, q="GLOBEX") == ["Acme One"]

    async def test_q_treats_like_wildcards_as_plain_text(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="100% Juice")
        await create_client(api, name="1000 Juices")
        assert await names(api, q="0%") == ["100% Juice"]

    async def test_filters_combine(self, api: httpx.AsyncClient) -> None:
        await create_client(api, name="Globex East", tier="smb")
        await create_client(api, name="Globex West", tier="mid")
        await create_client(api, name="Initech East", tier="smb")
        assert await names(api, q="globex", tier="smb") == ["Globex East"]

    async def test_lists_only_the_callers_workspace(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        await create_client(api, name="Ours")
        response = await api.post(
            "/v1/clients", json={"name": "Theirs"}, headers=auth(other.admin_key)
        )
        assert response.status_code == 201
        assert await names(api) == ["Ours"]


class TestSortClients:
    async def test_by_name(self, api: httpx.AsyncClient) -> None:
        for name in ("charlie", "alpha", "bravo"):
            await create_client(api, name=name)
        assert await names(api, sort="name") == ["alpha", "bravo", "charlie"]

    async def test_by_name_descending(self, api: httpx.AsyncClient) -> None:
        for name in ("charlie", "alpha", "bravo"):
            await create_client(api, name=name)
        assert await names(api, sort="-name") == ["charlie", "bravo", "alpha"]

    async def test_by_creation_by_default(self, api: httpx.AsyncClient) -> None:
        for name in ("charlie", "alpha", "bravo"):
            await create_client(api, name=name)
        assert await names(api) == ["charlie", "alpha", "bravo"]
        assert await names(api, sort="created_at") == ["charlie", "alpha", "bravo"]

    async def test_by_latest_update_first(self, api: httpx.AsyncClient) -> None:
        clients = [await create_client(api, name=name) for name in ("charlie", "alpha", "bravo")]
        await api.patch(f"/v1/clients/{clients[0]['id']}", json={"tier": "smb"})
        assert await names(api, sort="-updated_at") == ["charlie", "bravo", "alpha"]

    async def test_an_unknown_sort_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", params={"sort": "tier"})
        assert response.status_code == 422


class TestPageClients:
    async def test_pages_by_creation_cover_every_client_once_in_order(
        self, api: httpx.AsyncClient
    ) -> None:
        created = [(await create_client(api, name=f"c{i}"))["name"] for i in range(7)]
        seen, pages = await walk(api, limit=3)
        assert seen == created
        assert [len(page["data"]) for page in pages] == [3, 3, 1]

    async def test_pages_by_name_cover_every_client_once_in_order(
        self, api: httpx.AsyncClient
    ) -> None:
        for name in ("golf", "bravo", "echo", "alpha", "foxtrot", "delta", "charlie"):
            await create_client(api, name=name)
        seen, _ = await walk(api, limit=2, sort="name")
        assert seen == ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]

    async def test_pages_by_name_descending_break_ties_without_losing_rows(
        self, api: httpx.AsyncClient
    ) -> None:
        for _ in range(5):
            await create_client(api, name="same")
        await create_client(api, name="other")
        seen, _ = await walk(api, limit=2, sort="-name")
        assert seen == ["same"] * 5 + ["other"]

    async def test_pages_by_latest_update_cover_every_client_once(
        self, api: httpx.AsyncClient
    ) -> None:
        for i in range(5):
            await create_client(api, name=f"c{i}")
        seen, _ = await walk(api, limit=2, sort="-updated_at")
        assert seen == ["c4", "c3", "c2", "c1", "c0"]

    async def test_a_full_last_page_says_there_is_no_more(self, api: httpx.AsyncClient) -> None:
        for i in range(4):
            await create_client(api, name=f"c{i}")
        _, pages = await walk(api, limit=2)
        assert [(page["has_more"], len(page["data"])) for page in pages] == [
            (True, 2),
            (False, 2),
        ]

    async def test_clients_added_between_fetches_cause_no_duplicates_or_gaps(
        self, api: httpx.AsyncClient
    ) -> None:
        for i in range(5):
            await create_client(api, name=f"old{i}")
        first = (await api.get("/v1/clients", params={"limit": 2})).json()
        for i in range(3):
            await create_client(api, name=f"new{i}")
        seen = [c["name"] for c in first["data"]]
        cursor = first["next_cursor"]
        while cursor:
            page = (await api.get("/v1/clients", params={"limit": 2, "cursor": cursor})).json()
            seen += [c["name"] for c in page["data"]]
            cursor = page["next_cursor"]
        assert seen == ["old0", "old1", "old2", "old3", "old4", "new0", "new1", "new2"]

    async def test_clients_added_before_a_name_cursor_do_not_shift_later_pages(
        self, api: httpx.AsyncClient
    ) -> None:
        for name in ("bravo", "delta", "foxtrot", "hotel"):
            await create_client(api, name=name)
        first = (await api.get("/v1/clients", params={"limit": 2, "sort": "name"})).json()
        for name in ("alpha", "charlie", "golf"):
            await create_client(api, name=name)
        rest, _ = await walk(api, limit=2, sort="name", cursor=first["next_cursor"])
        seen = [c["name"] for c in first["data"]] + rest
        assert seen == ["bravo", "delta", "foxtrot", "golf", "hotel"]

    async def test_filters_hold_across_pages(self, api: httpx.AsyncClient) -> None:
        for i in range(6):
            await create_client(api, name=f"c{i}", tier="smb" if i % 2 else "mid")
        seen, _ = await walk(api, limit=2, tier="smb")
        assert seen == ["c1", "c3", "c5"]

    async def test_a_cursor_from_another_sort_is_400(self, api: httpx.AsyncClient) -> None:
        for i in range(3):
            await create_client(api, name=f"c{i}")
        cursor = (await api.get("/v1/clients", params={"limit": 1, "sort": "name"})).json()[
            "next_cursor"
        ]
        response = await api.get("/v1/clients", params={"cursor": cursor, "sort": "-name"})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "urn:tenure:problem:invalid-cursor"

    async def test_a_garbled_cursor_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", params={"cursor": "bm90IGEgY3Vyc29y"})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM

    @pytest.mark.parametrize(
        ("sort", "value"),
        [
            pytest.param("created_at", "2026-01-01T00:00:00", id="naive-timestamp"),
            pytest.param("created_at", 20260101, id="number-for-timestamp"),
            pytest.param("-updated_at", "yesterday", id="text-for-timestamp"),
            pytest.param("name", None, id="null-for-name"),
            pytest.param("name", ["a"], id="list-for-name"),
            pytest.param("name", "a\u0000b", id="nul-in-name"),
        ],
    )
    async def test_a_forged_cursor_with_a_value_of_the_wrong_shape_is_400(
        self, api: httpx.AsyncClient, sort: str, value: object
    ) -> None:
        await create_client(api)
        raw = json.dumps({"s": sort, "v": [value, str(uuid.uuid4())]}).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        response = await api.get("/v1/clients", params={"cursor": cursor, "sort": sort})
        assert response.status_code == 400
        assert response.json()["type"] == "urn:tenure:problem:invalid-cursor"

    @pytest.mark.parametrize("limit", [0, 101])
    async def test_a_limit_outside_1_to_100_is_422(
        self, api: httpx.AsyncClient, limit: int
    ) -> None:
        response = await api.get("/v1/clients", params={"limit": limit})
        assert response.status_code == 422


class TestClientRevenue:
    async def test_mrr_is_summed_per_currency(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], amount="1000.00", currency="USD")
        await create_contract(api, client["id"], amount="250.50", currency="USD")
        await create_contract(api, client["id"], amount="80", currency="EUR")
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["mrr"] == {"EUR": "80.00", "USD": "1250.50"}

    async def test_list_items_carry_mrr_and_next_renewal(self, api: httpx.AsyncClient) -> None:
        renewal = today() + timedelta(days=30)
        client = await create_client(api, name="Globex")
        await create_client(api, name="Initech")
        await create_contract(api, client["id"], amount="100", ends_on=renewal.isoformat())
        await create_contract(api, client["id"], amount="7.25", currency="GBP")
        listed = {c["name"]: c for c in await list_all(api)}
        assert listed["Globex"]["mrr"] == {"GBP": "7.25", "USD": "100.00"}
        assert listed["Globex"]["next_renewal_on"] == renewal.isoformat()
        assert (listed["Initech"]["mrr"], listed["Initech"]["next_renewal_on"]) == ({}, None)

    async def test_ended_and_future_contracts_do_not_count(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        yesterday, tomorrow = today() - timedelta(days=1), today() + timedelta(days=1)
        await create_contract(api, client["id"], amount="1", ends_on=yesterday.isoformat())
        await create_contract(api, client["id"], amount="10", starts_on=tomorrow.isoformat())
        await create_contract(api, client["id"], amount="100")
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["mrr"] == {"USD": "100.00"}

    async def test_a_contract_ending_today_still_counts(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], amount="42", ends_on=today().isoformat())
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["mrr"] == {"USD": "42.00"}
        assert fetched["next_renewal_on"] == today().isoformat()

    async def test_next_renewal_is_the_nearest_end_of_an_active_contract(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        soon, later = today() + timedelta(days=10), today() + timedelta(days=90)
        await create_contract(api, client["id"], ends_on=later.isoformat())
        await create_contract(api, client["id"], ends_on=soon.isoformat(), currency="EUR")
        await create_contract(
            api, client["id"], ends_on=(today() + timedelta(days=2)).isoformat(), status="cancelled"
        )
        await create_contract(api, client["id"], ends_on=None)
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["next_renewal_on"] == soon.isoformat()

    async def test_sub_cent_amounts_add_up_exactly(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], amount="0.1234")
        await create_contract(api, client["id"], amount="0.0001")
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["mrr"] == {"USD": "0.1235"}

    async def test_a_total_larger_than_one_contract_can_hold_is_still_read(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], amount="99999999999999.9999")
        await create_contract(api, client["id"], amount="99999999999999.9999")
        response = await api.get(f"/v1/clients/{client['id']}")
        assert response.status_code == 200
        assert response.json()["mrr"] == {"USD": "199999999999999.9998"}


class TestDeleteClient:
    async def test_answers_204_and_the_client_is_gone(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        assert (await api.delete(f"/v1/clients/{client['id']}")).status_code == 204
        assert (await api.get(f"/v1/clients/{client['id']}")).status_code == 404
        assert await list_all(api) == []

    async def test_takes_its_contacts_along(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contact = await create_contact(api, client["id"])
        await api.delete(f"/v1/clients/{client['id']}")
        response = await api.get(f"/v1/clients/{client['id']}/contacts/{contact['id']}")
        assert response.status_code == 404

    async def test_takes_its_contracts_along(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"])
        await api.delete(f"/v1/clients/{client['id']}")
        assert (await api.get(f"/v1/contracts/{contract['id']}")).status_code == 404
        listed = (await api.get("/v1/contracts")).json()["data"]
        assert listed == []

    async def test_takes_its_stage_history_along(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await api.delete(f"/v1/clients/{client['id']}")
        response = await api.get(f"/v1/clients/{client['id']}/stage-history")
        assert response.status_code == 404

    async def test_leaves_other_clients_and_their_records_alone(
        self, api: httpx.AsyncClient
    ) -> None:
        doomed, kept = await create_client(api), await create_client(api)
        await create_contact(api, doomed["id"])
        contact = await create_contact(api, kept["id"])
        contract = await create_contract(api, kept["id"])
        await api.delete(f"/v1/clients/{doomed['id']}")
        assert (
            await api.get(f"/v1/clients/{kept['id']}/contacts/{contact['id']}")
        ).status_code == 200
        assert (await api.get(f"/v1/contracts/{contract['id']}")).status_code == 200

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        assert (await api.delete(f"/v1/clients/{uuid.uuid4()}")).status_code == 404
