import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth, create_client, create_contract, create_workspace

PROBLEM = "application/problem+json"


def body(client_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "starts_on": "2026-01-01",
        "amount": "1000.00",
        "currency": "USD",
        **overrides,
    }


def error_locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.headers["content-type"] == PROBLEM, response.text
    return [error["loc"] for error in response.json()["errors"]]


async def listed(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/contracts", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def external_ids(api: httpx.AsyncClient, **params: Any) -> list[str | None]:
    return [contract["external_id"] for contract in await listed(api, **params)]


class TestCreateContract:
    async def test_answers_201_with_location_and_etag(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"]))
        assert response.status_code == 201, response.text
        contract = response.json()
        assert response.headers["location"] == f"/v1/contracts/{contract['id']}"
        fetched = await api.get(response.headers["location"])
        assert fetched.json()["client_id"] == client["id"]
        assert fetched.headers["etag"] == response.headers["etag"]

    async def test_is_active_by_default(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        assert contract["status"] == "active"

    async def test_returns_the_amount_as_a_string_with_cents(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"], amount="1250.5")
        assert contract["amount"] == "1250.50"

    async def test_reads_the_amount_back_as_the_same_string(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"], amount="1250.5")
        fetched = await api.get(f"/v1/contracts/{contract['id']}")
        assert fetched.json()["amount"] == "1250.50"

    async def test_keeps_four_decimal_places_exactly(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"], amount="0.1234")
        fetched = await api.get(f"/v1/contracts/{contract['id']}")
        assert fetched.json()["amount"] == "0.1234"

    async def test_keeps_the_largest_amount_exactly(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"], amount="99999999999999.9999")
        fetched = await api.get(f"/v1/contracts/{contract['id']}")
        assert fetched.json()["amount"] == "99999999999999.9999"

    async def test_an_amount_sent_as_a_json_number_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"], amount=1250.5))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "amount"]]

    async def test_an_amount_with_more_than_four_decimal_places_is_422(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"], amount="1.23456"))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "amount"]]

    @pytest.mark.parametrize(
        "amount",
        [
            pytest.param("-5.00", id="negative"),
            pytest.param("-0", id="negative-zero"),
            pytest.param("+5", id="plus-sign"),
            pytest.param("1e3", id="exponent"),
            pytest.param("1_000", id="digit-separator"),
            pytest.param(" 5", id="leading-space"),
            pytest.param("1.00000", id="five-places-of-zeros"),
            pytest.param("1.", id="bare-point"),
            pytest.param(".5", id="no-integer-part"),
            pytest.param("100000000000000", id="fifteen-integer-digits"),
            pytest.param("NaN", id="nan"),
            pytest.param("", id="empty"),
        ],
    )
    async def test_an_amount_outside_the_documented_pattern_is_422(
        self, api: httpx.AsyncClient, amount: str
    ) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"], amount=amount))
        assert response.status_code == 422, response.text
        assert error_locs(response) == [["body", "amount"]]

    async def test_ends_on_before_starts_on_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(
            "/v1/contracts",
            json=body(client["id"], starts_on="2026-03-01", ends_on="2026-02-28"),
        )
        assert response.status_code == 422
        assert error_locs(response) == [["body", "ends_on"]]
        assert await listed(api) == []

    async def test_a_one_day_contract_is_accepted(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(
            "/v1/contracts",
            json=body(client["id"], starts_on="2026-03-01", ends_on="2026-03-01"),
        )
        assert response.status_code == 201

    @pytest.mark.parametrize("currency", ["usd", "US", "USDX", "U5D", ""])
    async def test_a_currency_that_is_not_three_capital_letters_is_422(
        self, api: httpx.AsyncClient, currency: str
    ) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"], currency=currency))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "currency"]]

    async def test_an_unknown_client_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/contracts", json=body(str(uuid.uuid4())))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "client_id"]]

    async def test_a_client_of_another_workspace_is_422(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        other = await create_workspace(app, "Other CS")
        theirs = await api.post(
            "/v1/clients", json={"name": "Theirs"}, headers=auth(other.admin_key)
        )
        response = await api.post("/v1/contracts", json=body(theirs.json()["id"]))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "client_id"]]

    async def test_a_duplicate_external_id_is_409(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], external_id="ct-1")
        response = await api.post("/v1/contracts", json=body(client["id"], external_id="ct-1"))
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    async def test_an_external_id_is_unique_across_clients_too(
        self, api: httpx.AsyncClient
    ) -> None:
        first, second = await create_client(api), await create_client(api)
        await create_contract(api, first["id"], external_id="ct-1")
        response = await api.post("/v1/contracts", json=body(second["id"], external_id="ct-1"))
        assert response.status_code == 409

    async def test_an_unknown_status_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post("/v1/contracts", json=body(client["id"], status="paused"))
        assert response.status_code == 422
        assert error_locs(response) == [["body", "status"]]


class TestGetContract:
    async def test_an_unknown_contract_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/contracts/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestUpdateContract:
    async def test_changes_only_the_fields_sent(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(
            api, (await create_client(api))["id"], amount="100", ends_on="2026-12-31"
        )
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"amount": "150.75"})
        assert response.status_code == 200
        updated = response.json()
        assert (updated["amount"], updated["ends_on"], updated["currency"]) == (
            "150.75",
            "2026-12-31",
            "USD",
        )

    async def test_ends_on_can_be_cleared_to_open_ended(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(
            api, (await create_client(api))["id"], ends_on="2026-12-31"
        )
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"ends_on": None})
        assert response.json()["ends_on"] is None

    async def test_moving_ends_on_before_starts_on_is_422_and_changes_nothing(
        self, api: httpx.AsyncClient
    ) -> None:
        contract = await create_contract(
            api, (await create_client(api))["id"], starts_on="2026-03-01", ends_on="2026-12-31"
        )
        response = await api.patch(
            f"/v1/contracts/{contract['id']}", json={"ends_on": "2026-02-01"}
        )
        assert response.status_code == 422
        fetched = await api.get(f"/v1/contracts/{contract['id']}")
        assert fetched.json()["ends_on"] == "2026-12-31"

    async def test_moving_starts_on_after_ends_on_is_422(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(
            api, (await create_client(api))["id"], starts_on="2026-03-01", ends_on="2026-12-31"
        )
        response = await api.patch(
            f"/v1/contracts/{contract['id']}", json={"starts_on": "2027-01-01"}
        )
        assert response.status_code == 422

    async def test_an_amount_sent_as_a_json_number_is_422(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"amount": 99})
        assert response.status_code == 422
        assert error_locs(response) == [["body", "amount"]]

    async def test_a_null_amount_is_422(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"amount": None})
        assert response.status_code == 422

    async def test_an_amount_in_exponent_form_is_422(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"amount": "2e2"})
        assert response.status_code == 422

    async def test_taking_another_contracts_external_id_is_409(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], external_id="ct-1")
        contract = await create_contract(api, client["id"], external_id="ct-2")
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"external_id": "ct-1"})
        assert response.status_code == 409

    async def test_the_client_cannot_be_changed(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        other = await create_client(api)
        response = await api.patch(
            f"/v1/contracts/{contract['id']}", json={"client_id": other["id"]}
        )
        assert response.status_code == 422

    async def test_cancelling_drops_it_from_the_clients_mrr(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"], amount="500")
        await create_contract(api, client["id"], amount="20")
        response = await api.patch(f"/v1/contracts/{contract['id']}", json={"status": "cancelled"})
        assert response.json()["status"] == "cancelled"
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert fetched["mrr"] == {"USD": "20.00"}

    async def test_cancelling_the_only_contract_leaves_no_mrr(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"], amount="500", ends_on="2099-01-31")
        await api.patch(f"/v1/contracts/{contract['id']}", json={"status": "cancelled"})
        fetched = (await api.get(f"/v1/clients/{client['id']}")).json()
        assert (fetched["mrr"], fetched["next_renewal_on"]) == ({}, None)

    async def test_an_unknown_contract_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.patch(f"/v1/contracts/{uuid.uuid4()}", json={"amount": "1"})
        assert response.status_code == 404


class TestDeleteContract:
    async def test_answers_204_and_the_contract_is_gone(self, api: httpx.AsyncClient) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        assert (await api.delete(f"/v1/contracts/{contract['id']}")).status_code == 204
        assert (await api.get(f"/v1/contracts/{contract['id']}")).status_code == 404

    async def test_drops_it_from_the_clients_mrr(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"], amount="500")
        await api.delete(f"/v1/contracts/{contract['id']}")
        assert (await api.get(f"/v1/clients/{client['id']}")).json()["mrr"] == {}


class TestListContracts:
    async def test_filters_by_client(self, api: httpx.AsyncClient) -> None:
        first, second = await create_client(api), await create_client(api)
        await create_contract(api, first["id"], external_id="mine")
        await create_contract(api, second["id"], external_id="theirs")
        assert await external_ids(api, client_id=first["id"]) == ["mine"]

    async def test_filters_by_status(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], external_id="live")
        await create_contract(api, client["id"], external_id="gone", status="cancelled")
        assert await external_ids(api, status="cancelled") == ["gone"]
        assert await external_ids(api, status="active") == ["live"]

    async def test_active_on_includes_the_first_and_last_days(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(
            api, client["id"], external_id="march", starts_on="2026-03-01", ends_on="2026-03-31"
        )
        assert await external_ids(api, active_on="2026-03-01") == ["march"]
        assert await external_ids(api, active_on="2026-03-31") == ["march"]

    async def test_active_on_excludes_contracts_outside_the_day(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contract(
            api, client["id"], external_id="march", starts_on="2026-03-01", ends_on="2026-03-31"
        )
        assert await external_ids(api, active_on="2026-02-28") == []
        assert await external_ids(api, active_on="2026-04-01") == []

    async def test_active_on_includes_open_ended_contracts(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], external_id="open", starts_on="2020-01-01")
        await create_contract(api, client["id"], external_id="later", starts_on="2031-01-01")
        assert await external_ids(api, active_on="2030-06-15") == ["open"]

    async def test_filters_combine(self, api: httpx.AsyncClient) -> None:
        first, second = await create_client(api), await create_client(api)
        await create_contract(api, first["id"], external_id="a", starts_on="2026-01-01")
        await create_contract(api, first["id"], external_id="b", starts_on="2027-01-01")
        await create_contract(api, second["id"], external_id="c", starts_on="2026-01-01")
        assert await external_ids(api, client_id=first["id"], active_on="2026-06-01") == ["a"]

    async def test_an_invalid_active_on_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contracts", params={"active_on": "March 1st"})
        assert response.status_code == 422

    async def test_amounts_are_strings(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], amount="1250.5")
        await create_contract(api, client["id"], amount="7")
        assert [c["amount"] for c in await listed(api)] == ["1250.50", "7.00"]

    async def test_pages_by_start_date_cover_every_contract_once(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        for i, starts_on in enumerate(["2026-05-01", "2026-01-01", "2026-03-01", "2026-01-01"]):
            await create_contract(api, client["id"], external_id=f"ct-{i}", starts_on=starts_on)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1, "sort": "starts_on"}
            if cursor:
                params["cursor"] = cursor
            page = (await api.get("/v1/contracts", params=params)).json()
            seen += [c["starts_on"] for c in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["2026-01-01", "2026-01-01", "2026-03-01", "2026-05-01"]
