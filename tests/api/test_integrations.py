"""The integrations resource: write-only credentials, validation, the test call, the call log."""

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Integration
from app.integrations.credentials import cipher_for
from tests.factories import api_client, create_key, create_workspace
from tests.fakes.scopes import GOOD_KEY, fake_account
from tests.fakes.server import Faults

SECRET = "SG.very-secret-value-do-not-show"


def sendgrid(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "sendgrid",
        "name": f"SendGrid {uuid.uuid4().hex[:6]}",
        "credentials": {"api_key": SECRET},
        **overrides,
    }


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/integrations", json=sendgrid(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"next": value}
    return value


def fields_named(response: httpx.Response) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["errors"]]


class TestCreateIntegration:
    async def test_stores_the_kind_default_url_and_shows_only_credential_names(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/integrations", json=sendgrid(name="Main"))

        assert response.status_code == 201
        body = response.json()
        assert body["kind"] == "sendgrid"
        assert body["purpose"] == "email"
        assert body["base_url"] == "https://api.sendgrid.com"
        assert body["credential_names"] == ["api_key"]
        assert body["status"] == "active"
        assert body["last_checked_at"] is None
        assert "credentials" not in body
        assert SECRET not in response.text
        assert response.headers["location"] == f"/v1/integrations/{body['id']}"
        assert response.headers["etag"]

    async def test_credentials_are_stored_encrypted(
        self, api: httpx.AsyncClient, app: FastAPI, settings: Settings
    ) -> None:
        created = await create(api)
        async with app.state.sessionmaker() as session:
            stored = await session.scalar(
                sa.select(Integration.credentials_encrypted).where(
                    Integration.id == uuid.UUID(created["id"])
                )
            )
        assert stored is not None
        assert SECRET not in stored
        assert cipher_for(settings).decrypt(stored) == {"api_key": SECRET}

    async def test_an_unknown_kind_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/integrations", json=sendgrid(kind="mailchimp"))
        assert response.status_code == 422
        assert ["body", "kind"] in fields_named(response)

    async def test_a_missing_credential_field_is_named(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/integrations",
            json=sendgrid(
                kind="salesforce",
                credentials={"client_id": "x1234", "client_secret": SECRET},
            ),
        )
        assert response.status_code == 422
        assert fields_named(response) == [
            ["body", "credentials", "refresh_token"],
            ["body", "credentials", "instance_url"],
        ]
        assert SECRET not in response.text

    async def test_an_unknown_credential_field_is_named_without_its_value(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/integrations",
            json=sendgrid(credentials={"api_key": "SG.x", "password": SECRET}),
        )
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["loc"] == ["body", "credentials", "password"]
        assert problem["errors"][0]["type"] == "unknown_credential"
        assert "api_key" in problem["errors"][0]["msg"]
        assert SECRET not in response.text

    @pytest.mark.parametrize("value", [12345, None, ["SG.x"], "", "x" * 8193])
    async def test_credential_values_are_bounded_strings(
        self, api: httpx.AsyncClient, value: Any
    ) -> None:
        response = await api.post("/v1/integrations", json=sendgrid(credentials={"api_key": value}))
        assert response.status_code == 422
        assert fields_named(response)[0][:3] == ["body", "credentials", "api_key"]

    async def test_http_base_url_is_refused_without_the_loopback_setting(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/integrations", json=sendgrid(base_url="http://127.0.0.1:9000")
        )
        assert response.status_code == 422
        assert {tuple(loc) for loc in fields_named(response)} == {("body", "base_url")}

    async def test_a_private_https_base_url_is_refused(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/integrations", json=sendgrid(base_url="https://10.0.0.7"))
        assert response.status_code == 422
        assert {tuple(loc) for loc in fields_named(response)} == {("body", "base_url")}

    async def test_smtp_takes_no_base_url(self, api: httpx.AsyncClient) -> None:
        smtp = {"host": "smtp.example.com", "port": "587", "username": "u", "password": SECRET}
        response = await api.post(
            "/v1/integrations",
            json=sendgrid(kind="smtp", credentials=smtp, base_url="https://smtp.example.com"),
        )
        assert response.status_code == 422
        assert {tuple(loc) for loc in fields_named(response)} == {("body", "base_url")}

    @pytest.mark.parametrize(
        "options",
        [
            nested(40),
            {"mapping": "x" * 20_000},
            {"bad": "\u0000"},
        ],
        ids=["too-deep", "too-large", "nul"],
    )
    async def test_hostile_options_are_422(
        self, api: httpx.AsyncClient, options: dict[str, Any]
    ) -> None:
        response = await api.post("/v1/integrations", json=sendgrid(options=options))
        assert response.status_code == 422

    async def test_an_out_of_range_number_in_options_is_422(self, api: httpx.AsyncClient) -> None:
        body = '{"kind": "log", "name": "Dev", "credentials": {}, "options": {"n": 1e400}}'
        response = await api.post(
            "/v1/integrations", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422

    async def test_options_are_kept(self, api: httpx.AsyncClient) -> None:
        options = {"health_score_field": "tenure_health", "bands": {"at_risk": "Red"}}
        created = await create(api, options=options)
        assert created["options"] == options

    async def test_a_second_integration_with_the_same_name_is_409(
        self, api: httpx.AsyncClient
    ) -> None:
        await create(api, name="Main")
        response = await api.post("/v1/integrations", json=sendgrid(name="Main"))
        assert response.status_code == 409

    async def test_a_write_key_is_forbidden(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        workspace = await create_workspace(app, "Other")
        key = await create_key(app, workspace, ["read", "write"])
        async with api_client(app, key) as writer:
            response = await writer.post("/v1/integrations", json=sendgrid())
        assert response.status_code == 403


class TestReadIntegrations:
    async def test_get_answers_the_integration(self, api: httpx.AsyncClient) -> None:
        created = await create(api)
        response = await api.get(f"/v1/integrations/{created['id']}")
        assert response.status_code == 200
        assert response.json() == created

    async def test_list_filters_by_kind_purpose_and_status(self, api: httpx.AsyncClient) -> None:
        email = await create(api)
        crm = await create(api, kind="hubspot", credentials={"access_token": SECRET})
        disabled = await create(api, status="disabled")

        async def ids(query: str) -> set[str]:
            response = await api.get(f"/v1/integrations?{query}")
            assert response.status_code == 200, response.text
            assert SECRET not in response.text
            return {i["id"] for i in response.json()["data"]}

        assert await ids("") == {email["id"], crm["id"], disabled["id"]}
        assert await ids("purpose=crm") == {crm["id"]}
        assert await ids("kind=sendgrid&status=active") == {email["id"]}
        assert await ids("status=disabled") == {disabled["id"]}
        assert await ids("kind=hubspot&purpose=email") == set()

    async def test_list_pages_with_a_cursor(self, api: httpx.AsyncClient) -> None:
        made = [(await create(api))["id"] for _ in range(3)]
        first = (await api.get("/v1/integrations?limit=2")).json()
        second = (await api.get(f"/v1/integrations?limit=2&cursor={first['next_cursor']}")).json()
        assert first["has_more"] is True
        assert second["has_more"] is False
        assert [i["id"] for i in first["data"] + second["data"]] == made


class TestUpdateIntegration:
    async def test_credentials_are_replaced_as_a_whole_set(
        self, api: httpx.AsyncClient, app: FastAPI, settings: Settings
    ) -> None:
        created = await create(
            api, kind="salesforce", credentials=_salesforce(access_token="old-token-123")
        )
        replacement = _salesforce()
        response = await api.patch(
            f"/v1/integrations/{created['id']}", json={"credentials": replacement}
        )
        assert response.status_code == 200
        assert response.json()["credential_names"] == sorted(replacement)
        assert SECRET not in response.text
        async with app.state.sessionmaker() as session:
            stored = await session.scalar(
                sa.select(Integration.credentials_encrypted).where(
                    Integration.id == uuid.UUID(created["id"])
                )
            )
        assert stored is not None
        assert cipher_for(settings).decrypt(stored) == replacement

    async def test_a_replacement_missing_a_required_field_is_422(
        self, api: httpx.AsyncClient
    ) -> None:
        created = await create(api)
        response = await api.patch(f"/v1/integrations/{created['id']}", json={"credentials": {}})
        assert response.status_code == 422
        assert fields_named(response) == [["body", "credentials", "api_key"]]

    async def test_a_stale_etag_is_412_and_the_current_one_applies(
        self, api: httpx.AsyncClient
    ) -> None:
        created = await create(api)
        url = f"/v1/integrations/{created['id']}"
        tag = (await api.get(url)).headers["etag"]
        assert (
            await api.patch(url, json={"name": "Renamed"}, headers={"If-Match": tag})
        ).is_success
        stale = await api.patch(url, json={"status": "disabled"}, headers={"If-Match": tag})
        assert stale.status_code == 412
        assert (await api.get(url)).json()["status"] == "active"

    async def test_null_base_url_goes_back_to_the_default_and_options_change(
        self, api: httpx.AsyncClient
    ) -> None:
        created = await create(api, base_url="https://sandbox.sendgrid.example")
        response = await api.patch(
            f"/v1/integrations/{created['id']}",
            json={"base_url": None, "options": {"sandbox": False}, "status": "disabled"},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["base_url"] == "https://api.sendgrid.com"
        assert body["options"] == {"sandbox": False}
        assert body["status"] == "disabled"

    async def test_renaming_onto_another_integration_is_409(self, api: httpx.AsyncClient) -> None:
        await create(api, name="Main")
        other = await create(api)
        response = await api.patch(f"/v1/integrations/{other['id']}", json={"name": "Main"})
        assert response.status_code == 409


class TestDeleteIntegration:
    async def test_deleted_integration_is_gone(self, api: httpx.AsyncClient) -> None:
        created = await create(api)
        assert (await api.delete(f"/v1/integrations/{created['id']}")).status_code == 204
        assert (await api.get(f"/v1/integrations/{created['id']}")).status_code == 404


class TestIsolation:
    async def test_another_workspace_sees_none_of_them(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        created = await create(api)
        other = await create_workspace(app, "Elsewhere")
        url = f"/v1/integrations/{created['id']}"
        async with api_client(app, other.admin_key) as stranger:
            assert (await stranger.get(url)).status_code == 404
            assert (await stranger.patch(url, json={"name": "Mine"})).status_code == 404
            assert (await stranger.post(f"{url}/test")).status_code == 404
            assert (await stranger.get(f"{url}/calls")).status_code == 404
            assert (await stranger.delete(url)).status_code == 404
            assert (await stranger.get("/v1/integrations")).json()["data"] == []
        assert (await api.get(url)).status_code == 200


def _salesforce(**extra: str) -> dict[str, str]:
    return {
        "client_id": "3MVG9-client",
        "client_secret": SECRET,
        "refresh_token": "5Aep-refresh",
        "instance_url": "https://acme.my.salesforce.com",
        **extra,
    }


@pytest.fixture
def account() -> Iterator[tuple[str, Faults]]:
    with fake_account() as served:
        yield served


class TestIntegrationCheck:
    @pytest.fixture
    def settings(self, default_settings: Settings) -> Settings:
        return default_settings.model_copy(update={"allow_loopback_urls": True})

    async def test_a_good_key_is_ok_and_recorded(
        self, api: httpx.AsyncClient, account: tuple[str, Faults]
    ) -> None:
        base_url, _ = account
        created = await create(api, base_url=base_url, credentials={"api_key": GOOD_KEY})

        response = await api.post(f"/v1/integrations/{created['id']}/test")

        assert response.status_code == 200
        assert response.json()["ok"] is True
        integration = (await api.get(f"/v1/integrations/{created['id']}")).json()
        assert integration["last_check_ok"] is True
        assert integration["last_checked_at"] is not None
        assert integration["last_error"] is None
        calls = (await api.get(f"/v1/integrations/{created['id']}/calls")).json()["data"]
        assert [(c["operation"], c["method"], c["status"]) for c in calls] == [
            ("check", "GET", 200)
        ]
        assert calls[0]["url"] == f"{base_url}/v3/scopes"

    async def test_a_refused_key_is_not_ok_with_a_detail_that_never_shows_the_key(
        self,
        api: httpx.AsyncClient,
        account: tuple[str, Faults],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        base_url, _ = account
        created = await create(api, base_url=base_url)
        caplog.set_level(logging.DEBUG)

        response = await api.post(f"/v1/integrations/{created['id']}/test")

        assert response.status_code == 200
        result = response.json()
        assert result["ok"] is False
        assert "401" in result["detail"]
        assert "[redacted]" in result["detail"]  # the fake echoed the key
        integration = await api.get(f"/v1/integrations/{created['id']}")
        calls = await api.get(f"/v1/integrations/{created['id']}/calls?failed=true")
        assert integration.json()["last_check_ok"] is False
        assert "401" in integration.json()["last_error"]
        assert [c["status"] for c in calls.json()["data"]] == [401]
        for text in (response.text, integration.text, calls.text, caplog.text):
            assert SECRET not in text

    async def test_an_unreachable_provider_is_not_ok(self, api: httpx.AsyncClient) -> None:
        with fake_account() as (base_url, _):
            pass  # stopped: nothing listens there any more
        created = await create(api, base_url=base_url)
        response = await api.post(f"/v1/integrations/{created['id']}/test")
        assert response.json()["ok"] is False
        assert "could not reach" in response.json()["detail"]

    async def test_calls_page_newest_first_and_filter(
        self, api: httpx.AsyncClient, account: tuple[str, Faults]
    ) -> None:
        base_url, faults = account
        created = await create(api, base_url=base_url, credentials={"api_key": GOOD_KEY})
        url = f"/v1/integrations/{created['id']}"
        faults.fail_next(1, 400)
        assert (await api.post(f"{url}/test")).json()["ok"] is False
        assert (await api.post(f"{url}/test")).json()["ok"] is True

        first = (await api.get(f"{url}/calls?limit=1")).json()
        second = (await api.get(f"{url}/calls?limit=1&cursor={first['next_cursor']}")).json()
        assert [c["status"] for c in first["data"] + second["data"]] == [200, 400]
        assert second["has_more"] is False
        assert [
            c["status"] for c in (await api.get(f"{url}/calls?failed=false")).json()["data"]
        ] == [200]
        assert (await api.get(f"{url}/calls?operation=send_email")).json()["data"] == []
        assert len((await api.get(f"{url}/calls?operation=check")).json()["data"]) == 2
