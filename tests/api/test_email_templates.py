"""Email templates over the API: CRUD, checks, previews, and the context's batch read."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.services.email_context import contexts_for
from tests.factories import (
    Workspace,
    create_client,
    create_contact,
    create_contract,
    create_owner,
    create_workspace,
)
from tests.health_support import evaluate

PROBLEM = "application/problem+json"
TEMPLATE = {
    "name": "Check-in",
    "subject": "{{ client.name }}: checking in",
    "text_body": "Hi {{ contact.first_name|default('there') }}, MRR {{ mrr|money }}.",
    "html_body": "<p>Hi {{ contact.first_name|default('there') }} from {{ client.name }}</p>",
}


async def create_template(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/email-templates", json={**TEMPLATE, **overrides})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


class TestCrud:
    async def test_create_answers_the_template_with_its_etag_and_location(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/email-templates", json=TEMPLATE)
        assert response.status_code == 201, response.text
        body = response.json()
        assert {k: body[k] for k in TEMPLATE} == TEMPLATE
        assert body["version"] == 1
        assert response.headers["location"] == f"/v1/email-templates/{body['id']}"
        assert response.headers["etag"] == f'"{uuid.UUID(body["id"]).hex}.1"'

    async def test_get_list_update_and_delete(self, api: httpx.AsyncClient) -> None:
        template = await create_template(api)
        url = f"/v1/email-templates/{template['id']}"
        assert (await api.get(url)).json() == template
        listed = (await api.get("/v1/email-templates", params={"q": "check"})).json()
        assert [t["id"] for t in listed["data"]] == [template["id"]]

        response = await api.patch(url, json={"subject": "New {{ client.name }}"})
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "New {{ client.name }}"
        assert response.json()["version"] == 2

        response = await api.patch(url, json={"html_body": None})
        assert response.json()["html_body"] is None

        assert (await api.delete(url)).status_code == 204
        assert (await api.get(url)).status_code == 404

    async def test_pages_follow_the_cursor(self, api: httpx.AsyncClient) -> None:
        ids = [(await create_template(api, name=f"T{i}"))["id"] for i in range(3)]
        first = (await api.get("/v1/email-templates", params={"limit": 2})).json()
        second = (
            await api.get(
                "/v1/email-templates", params={"limit": 2, "cursor": first["next_cursor"]}
            )
        ).json()
        assert [t["id"] for t in first["data"] + second["data"]] == ids
        assert second["has_more"] is False

    async def test_a_name_is_unique_in_the_workspace(self, api: httpx.AsyncClient) -> None:
        await create_template(api)
        response = await api.post("/v1/email-templates", json=TEMPLATE)
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, api: httpx.AsyncClient
    ) -> None:
        template = await create_template(api)
        url = f"/v1/email-templates/{template['id']}"
        etag = (await api.get(url)).headers["etag"]
        assert (await api.patch(url, json={"name": "A"}, headers={"If-Match": etag})).is_success
        stale = await api.patch(url, json={"name": "B"}, headers={"If-Match": etag})
        assert stale.status_code == 412
        assert (await api.delete(url, headers={"If-Match": etag})).status_code == 412
        assert (await api.get(url)).json()["name"] == "A"


class TestChecksOnWrite:
    async def test_an_unknown_variable_is_422_naming_it(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/email-templates", json={**TEMPLATE, "text_body": "Hi\n{{ contact.nickname }}"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        (error,) = response.json()["errors"]
        assert error["loc"] == ["body", "text_body"]
        assert error["type"] == "template_unknown_variable"
        assert error["msg"].startswith("line 2: contact.nickname is not a variable")

    async def test_a_syntax_error_is_422_with_its_line(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/email-templates", json={**TEMPLATE, "subject": "{{ x"})
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["loc"], error["type"]) == (["body", "subject"], "template_syntax")
        assert error["msg"].startswith("line 1: ")

    async def test_a_bomb_is_422_not_a_hang(self, api: httpx.AsyncClient) -> None:
        bomb = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        response = await api.post("/v1/email-templates", json={**TEMPLATE, "text_body": bomb})
        assert response.status_code == 422
        message = response.json()["errors"][0]["msg"]
        assert "too much work" in message or "took longer than" in message  # budget or clock

    async def test_an_edit_is_checked_with_the_stored_fields(self, api: httpx.AsyncClient) -> None:
        template = await create_template(api)
        url = f"/v1/email-templates/{template['id']}"
        response = await api.patch(url, json={"html_body": "{{ client.__class__ }}"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "template_unsafe"
        assert (await api.get(url)).json()["html_body"] == TEMPLATE["html_body"]

    @pytest.mark.parametrize(
        ("field", "value"), [("subject", "x" * 1001), ("text_body", "x" * 100_001)]
    )
    async def test_oversized_sources_are_422(
        self, api: httpx.AsyncClient, field: str, value: str
    ) -> None:
        response = await api.post("/v1/email-templates", json={**TEMPLATE, field: value})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", field]

    async def test_a_lone_surrogate_is_422(self, api: httpx.AsyncClient) -> None:
        content = '{"name": "x", "subject": "a\\ud800", "text_body": "b"}'
        response = await api.post(
            "/v1/email-templates",
            content=content,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM


async def scored_client(app: FastAPI, api: httpx.AsyncClient, workspace: Workspace) -> str:
    owner = await create_owner(api, name="Dana Scully", email="dana@acme.example")
    client = await create_client(api, name="Globex", tier="enterprise", owner_id=owner["id"])
    await create_contact(api, client["id"], name="Old Contact", email="old@globex.example")
    await create_contact(
        api, client["id"], name="Hank Scorpio", email="hank@globex.example", is_primary=True
    )
    await create_contract(api, client["id"], amount="1250.00", currency="EUR")
    occurred = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    event = {"client_id": client["id"], "type": "login", "occurred_at": occurred}
    response = await api.post("/v1/events", json={"events": [event]})
    assert response.status_code == 200, response.text
    await evaluate(app, workspace.id, [client["id"]], datetime.now(UTC))
    client_id: str = client["id"]
    return client_id


class TestPreview:
    async def test_renders_for_a_client_with_contacts_contracts_and_health(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client_id = await scored_client(app, api, workspace)
        template = await create_template(
            api, text_body="{{ contact.first_name }} {{ mrr|money }} {{ health.band }}"
        )
        response = await api.post(
            f"/v1/email-templates/{template['id']}/preview", json={"client_id": client_id}
        )
        assert response.status_code == 200, response.text
        preview = response.json()
        health = preview["context"]["health"]
        assert preview["subject"] == "Globex: checking in"
        assert preview["text"] == f"Hank €1,250.00 {health['band']}"
        assert health["band"] is not None
        assert health["score"] is not None
        assert preview["html"] == "<p>Hi Hank from Globex</p>"
        assert preview["to"] == {"email": "hank@globex.example", "name": "Hank Scorpio"}
        assert preview["context"]["owner"]["name"] == "Dana Scully"
        assert preview["context"]["mrr"] == {
            "amount": "1250.00",
            "currency": "EUR",
            "by_currency": [{"amount": "1250.00", "currency": "EUR"}],
        }

    async def test_renders_for_a_client_with_nothing_but_a_name(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, name="Bare <Co>")
        template = await create_template(api)
        response = await api.post(
            f"/v1/email-templates/{template['id']}/preview", json={"client_id": client["id"]}
        )
        assert response.status_code == 200, response.text
        preview = response.json()
        assert preview["text"] == "Hi there, MRR ."
        assert preview["html"] == "<p>Hi there from Bare &lt;Co&gt;</p>"
        assert preview["to"] is None
        assert preview["context"]["health"] == {"score": None, "band": None, "weakest": None}

    async def test_a_chosen_contact_is_the_recipient(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await create_contact(api, client["id"], name="Primary One", is_primary=True)
        other = await create_contact(api, client["id"], name="Chosen One", email="c@x.example")
        template = await create_template(api)
        response = await api.post(
            f"/v1/email-templates/{template['id']}/preview",
            json={"client_id": client["id"], "contact_id": other["id"]},
        )
        assert response.status_code == 200, response.text
        assert response.json()["to"] == {"email": "c@x.example", "name": "Chosen One"}

    async def test_a_contact_of_another_client_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        stranger = await create_contact(api, (await create_client(api))["id"])
        template = await create_template(api)
        response = await api.post(
            f"/v1/email-templates/{template['id']}/preview",
            json={"client_id": client["id"], "contact_id": stranger["id"]},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "contact_id"]

    async def test_a_client_of_another_workspace_is_refused_like_a_missing_one(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        other = await create_workspace(app, "Other CS")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tenure.test",
            headers={"Authorization": f"Bearer {other.admin_key}"},
        ) as other_api:
            foreign = await create_client(other_api, name="Secret Co")
        template = await create_template(api)
        url = f"/v1/email-templates/{template['id']}/preview"
        response = await api.post(url, json={"client_id": foreign["id"]})
        missing = await api.post(url, json={"client_id": str(uuid.uuid4())})
        assert response.status_code == 422
        assert response.json()["errors"] == missing.json()["errors"]
        assert "Secret Co" not in response.text

    async def test_data_that_breaks_the_template_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, attributes={"n": "text"})
        template = await create_template(
            api, text_body="{{ (client.attributes.n|default(1)) + 1 }}"
        )
        response = await api.post(
            f"/v1/email-templates/{template['id']}/preview", json={"client_id": client["id"]}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "template_render"


class TestUnsavedPreview:
    async def test_renders_for_the_example_client_without_a_client_id(
        self, api: httpx.AsyncClient
    ) -> None:
        body = {"subject": "{{ client.name }}", "text_body": "{{ renewal_date|date('iso') }}"}
        response = await api.post("/v1/email-templates/preview", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["subject"] == "Globex"
        assert response.json()["text"] == "2027-01-31"
        assert (await api.get("/v1/email-templates")).json()["data"] == []

    async def test_renders_for_a_client(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, name="Initech")
        body = {"subject": "Hi", "text_body": "{{ client.name }}", "client_id": client["id"]}
        response = await api.post("/v1/email-templates/preview", json=body)
        assert response.json()["text"] == "Initech"

    async def test_checks_like_a_write(self, api: httpx.AsyncClient) -> None:
        body = {"subject": "Hi", "text_body": "{{ nope }}"}
        response = await api.post("/v1/email-templates/preview", json=body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "template_unknown_variable"


class TestContextBatchRead:
    async def test_statement_count_is_the_same_for_1_and_50_clients(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        ids = []
        for i in range(51):
            client = await create_client(api, name=f"C{i}", owner_id=owner["id"])
            await create_contact(api, client["id"], is_primary=True)
            await create_contract(api, client["id"])
            ids.append(uuid.UUID(client["id"]))

        async def statements(client_ids: list[uuid.UUID]) -> tuple[int, int]:
            seen: list[str] = []

            def record(*args: Any) -> None:
                seen.append(args[2])

            engine = app.state.engine.sync_engine
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                async with app.state.sessionmaker() as session:
                    found = await contexts_for(session, workspace.id, client_ids, datetime.now(UTC))
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
            assert all(c.variables["contact"]["email"] for c in found.values())
            return len([s for s in seen if s.lstrip().upper().startswith("SELECT")]), len(found)

        one = await statements(ids[:1])
        fifty = await statements(ids[1:])
        assert one == (3, 1)
        assert fifty == (3, 50)

    async def test_a_role_picks_the_contact_holding_it(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await create_contact(api, client["id"], name="Prim", is_primary=True, role="CEO")
        await create_contact(api, client["id"], name="Fin", role="cfo")
        bare = await create_client(api)
        async with app.state.sessionmaker() as session:
            found = await contexts_for(
                session,
                workspace.id,
                [uuid.UUID(client["id"]), uuid.UUID(bare["id"]), uuid.uuid4()],
                datetime.now(UTC),
                role="CFO",
            )
        assert len(found) == 2
        assert found[uuid.UUID(client["id"])].variables["contact"]["name"] == "Fin"
        assert found[uuid.UUID(bare["id"])].contact_id is None
