import uuid
from typing import Any

import httpx

from tests.factories import create_client, create_contact

PROBLEM = "application/problem+json"


def contacts_path(client: dict[str, Any]) -> str:
    return f"/v1/clients/{client['id']}/contacts"


def contact_path(contact: dict[str, Any]) -> str:
    return f"/v1/clients/{contact['client_id']}/contacts/{contact['id']}"


async def fetch(api: httpx.AsyncClient, contact: dict[str, Any]) -> httpx.Response:
    response = await api.get(contact_path(contact))
    assert response.status_code == 200, response.text
    return response


class TestCreateContact:
    async def test_answers_201_with_location_and_etag(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(
            contacts_path(client),
            json={"name": "Hank Scorpio", "email": "hank@globex.example", "role": "CEO"},
        )
        assert response.status_code == 201, response.text
        contact = response.json()
        assert response.headers["location"] == contact_path(contact)
        fetched = await fetch(api, contact)
        assert fetched.json()["role"] == "CEO"
        assert fetched.headers["etag"] == response.headers["etag"]

    async def test_belongs_to_the_client_in_the_path(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contact = await create_contact(api, client["id"])
        assert contact["client_id"] == client["id"]

    async def test_is_not_primary_by_default(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, (await create_client(api))["id"])
        assert contact["is_primary"] is False

    async def test_stores_the_email_lower_cased(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(
            api, (await create_client(api))["id"], email="Hank@Globex.Example"
        )
        assert contact["email"] == "hank@globex.example"

    async def test_an_email_already_at_the_client_in_any_case_is_409(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contact(api, client["id"], email="hank@globex.example")
        response = await api.post(
            contacts_path(client), json={"name": "Hank 2", "email": "HANK@globex.EXAMPLE"}
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    async def test_the_same_email_at_another_client_is_fine(self, api: httpx.AsyncClient) -> None:
        first, second = await create_client(api), await create_client(api)
        await create_contact(api, first["id"], email="hank@globex.example")
        response = await api.post(
            contacts_path(second), json={"name": "Hank", "email": "hank@globex.example"}
        )
        assert response.status_code == 201

    async def test_contacts_without_email_do_not_collide(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contact(api, client["id"], email=None)
        response = await api.post(contacts_path(client), json={"name": "No Mail", "email": None})
        assert response.status_code == 201

    async def test_an_invalid_email_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.post(contacts_path(client), json={"name": "H", "email": "hank"})
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "email"]]

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post(f"/v1/clients/{uuid.uuid4()}/contacts", json={"name": "Hank"})
        assert response.status_code == 404


class TestPrimaryContact:
    async def test_a_new_primary_contact_demotes_the_previous_one(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        first = await create_contact(api, client["id"], is_primary=True)
        second = await create_contact(api, client["id"], is_primary=True)
        assert (await fetch(api, first)).json()["is_primary"] is False
        assert (await fetch(api, second)).json()["is_primary"] is True

    async def test_demotion_changes_the_demoted_contacts_etag(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        first = await create_contact(api, client["id"], is_primary=True)
        before = (await fetch(api, first)).headers["etag"]
        await create_contact(api, client["id"], is_primary=True)
        assert (await fetch(api, first)).headers["etag"] != before

    async def test_the_demoted_contacts_old_etag_no_longer_matches(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        first = await create_contact(api, client["id"], is_primary=True)
        before = (await fetch(api, first)).headers["etag"]
        await create_contact(api, client["id"], is_primary=True)
        response = await api.patch(
            contact_path(first), json={"is_primary": True}, headers={"If-Match": before}
        )
        assert response.status_code == 412

    async def test_promoting_by_patch_demotes_the_previous_one(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        first = await create_contact(api, client["id"], is_primary=True)
        second = await create_contact(api, client["id"])
        response = await api.patch(contact_path(second), json={"is_primary": True})
        assert response.status_code == 200, response.text
        assert (await fetch(api, first)).json()["is_primary"] is False
        assert (await fetch(api, second)).json()["is_primary"] is True

    async def test_a_non_primary_contact_leaves_the_primary_alone(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        primary = await create_contact(api, client["id"], is_primary=True)
        before = (await fetch(api, primary)).headers["etag"]
        await create_contact(api, client["id"])
        fetched = await fetch(api, primary)
        assert fetched.json()["is_primary"] is True
        assert fetched.headers["etag"] == before

    async def test_each_client_keeps_its_own_primary(self, api: httpx.AsyncClient) -> None:
        first, second = await create_client(api), await create_client(api)
        theirs = await create_contact(api, first["id"], is_primary=True)
        await create_contact(api, second["id"], is_primary=True)
        assert (await fetch(api, theirs)).json()["is_primary"] is True

    async def test_re_saving_the_primary_keeps_it_primary(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        primary = await create_contact(api, client["id"], is_primary=True)
        response = await api.patch(contact_path(primary), json={"is_primary": True, "role": "VP"})
        assert response.status_code == 200
        assert response.json()["is_primary"] is True


class TestGetContact:
    async def test_a_contact_of_another_client_is_404_on_the_wrong_path(
        self, api: httpx.AsyncClient
    ) -> None:
        owner, other = await create_client(api), await create_client(api)
        contact = await create_contact(api, owner["id"])
        response = await api.get(f"{contacts_path(other)}/{contact['id']}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM

    async def test_an_unknown_contact_is_404(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        response = await api.get(f"{contacts_path(client)}/{uuid.uuid4()}")
        assert response.status_code == 404


class TestUpdateContact:
    async def test_changes_only_the_fields_sent(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contact = await create_contact(api, client["id"], name="Hank", role="CEO")
        response = await api.patch(contact_path(contact), json={"role": "Chairman"})
        updated = response.json()
        assert (updated["name"], updated["role"], updated["email"]) == (
            "Hank",
            "Chairman",
            contact["email"],
        )

    async def test_the_email_is_stored_lower_cased(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, (await create_client(api))["id"])
        response = await api.patch(contact_path(contact), json={"email": "New@Globex.Example"})
        assert response.json()["email"] == "new@globex.example"

    async def test_taking_a_colleagues_email_in_any_case_is_409(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contact(api, client["id"], email="hank@globex.example")
        contact = await create_contact(api, client["id"])
        response = await api.patch(contact_path(contact), json={"email": "Hank@Globex.example"})
        assert response.status_code == 409
        assert (await fetch(api, contact)).json()["email"] == contact["email"]

    async def test_changing_the_case_of_ones_own_email_is_fine(
        self, api: httpx.AsyncClient
    ) -> None:
        contact = await create_contact(
            api, (await create_client(api))["id"], email="hank@globex.example"
        )
        response = await api.patch(contact_path(contact), json={"email": "HANK@globex.example"})
        assert response.status_code == 200

    async def test_the_email_can_be_cleared(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, (await create_client(api))["id"])
        response = await api.patch(contact_path(contact), json={"email": None})
        assert response.json()["email"] is None

    async def test_a_contact_of_another_client_is_404_on_the_wrong_path(
        self, api: httpx.AsyncClient
    ) -> None:
        owner, other = await create_client(api), await create_client(api)
        contact = await create_contact(api, owner["id"], name="Hank")
        response = await api.patch(f"{contacts_path(other)}/{contact['id']}", json={"name": "X"})
        assert response.status_code == 404
        assert (await fetch(api, contact)).json()["name"] == "Hank"


class TestDeleteContact:
    async def test_answers_204_and_the_contact_is_gone(self, api: httpx.AsyncClient) -> None:
        contact = await create_contact(api, (await create_client(api))["id"])
        assert (await api.delete(contact_path(contact))).status_code == 204
        assert (await api.get(contact_path(contact))).status_code == 404

    async def test_frees_the_email_for_a_new_contact(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        contact = await create_contact(api, client["id"], email="hank@globex.example")
        await api.delete(contact_path(contact))
        response = await api.post(
            contacts_path(client), json={"name": "Hank", "email": "hank@globex.example"}
        )
        assert response.status_code == 201

    async def test_a_contact_of_another_client_is_404_and_survives(
        self, api: httpx.AsyncClient
    ) -> None:
        owner, other = await create_client(api), await create_client(api)
        contact = await create_contact(api, owner["id"])
        response = await api.delete(f"{contacts_path(other)}/{contact['id']}")
        assert response.status_code == 404
        await fetch(api, contact)


class TestListContacts:
    async def test_lists_only_the_clients_contacts(self, api: httpx.AsyncClient) -> None:
        client, other = await create_client(api), await create_client(api)
        mine = [await create_contact(api, client["id"]) for _ in range(2)]
        await create_contact(api, other["id"])
        listed = (await api.get(contacts_path(client))).json()["data"]
        assert [c["id"] for c in listed] == [c["id"] for c in mine]

    async def test_pages_by_name_cover_every_contact_once(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        for name in ("delta", "alpha", "echo", "charlie", "bravo"):
            await create_contact(api, client["id"], name=name)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, "sort": "name"}
            if cursor:
                params["cursor"] = cursor
            page = (await api.get(contacts_path(client), params=params)).json()
            seen += [c["name"] for c in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["alpha", "bravo", "charlie", "delta", "echo"]

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/contacts")
        assert response.status_code == 404
