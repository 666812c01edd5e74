"""/v1/emails, /v1/email-suppressions and /v1/email-settings over HTTP: pages and filters,
review (If-Match, the guards checked again), the suppression list, the settings, scopes."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from tests.emails_support import create_email_template, create_log_integration, write_email
from tests.factories import (
    Workspace,
    api_client,
    create_client,
    create_contact,
    create_key,
    create_owner,
    create_workspace,
)

Json = dict[str, Any]


@pytest.fixture
async def template(api: httpx.AsyncClient) -> str:
    await create_log_integration(api)
    return await create_email_template(api)


@pytest.fixture
async def owner(api: httpx.AsyncClient) -> Json:
    return await create_owner(api, name="Ada Lovelace", email="ada@tenure.example")


async def client_with_contact(api: httpx.AsyncClient, owner: Json, name: str, email: str) -> Json:
    client = await create_client(api, name=name, owner_id=owner["id"])
    await create_contact(api, client["id"], name="Dana Scully", email=email, is_primary=True)
    return client


@pytest.fixture
async def client(api: httpx.AsyncClient, owner: Json) -> Json:
    return await client_with_contact(api, owner, "Globex", "Dana@Globex.example")


@pytest.fixture
async def draft(app: FastAPI, workspace: Workspace, client: Json, template: str) -> str:
    return await write_email(app, workspace.id, client["id"], template)


async def send_jobs(app: FastAPI) -> list[Json]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "emails.send")
        return list((await session.scalars(stmt)).all())


class TestReadEmails:
    async def test_get_answers_the_email_with_its_etag(
        self, api: httpx.AsyncClient, draft: str, client: Json
    ) -> None:
        response = await api.get(f"/v1/emails/{draft}")
        assert response.status_code == 200, response.text
        email = response.json()
        assert (email["id"], email["client_id"], email["status"]) == (draft, client["id"], "draft")
        assert email["to_email"] == "dana@globex.example"  # lower-cased
        assert email["subject"] == "Checking in on Globex"
        assert email["text_body"] == "Hi Dana, how is Globex doing?"
        assert email["task_id"] is not None
        assert response.headers["ETag"]

    async def test_an_unknown_id_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/emails/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_filters_by_client_status_address_and_creation_time(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        owner: Json,
        template: str,
    ) -> None:
        early = datetime.now(UTC) - timedelta(days=2)
        first = await client_with_contact(api, owner, "First", "one@first.example")
        second = await client_with_contact(api, owner, "Second", "two@second.example")
        old = await write_email(app, workspace.id, first["id"], template, now=early)
        queued = await write_email(app, workspace.id, first["id"], template, review=False)
        other = await write_email(app, workspace.id, second["id"], template)

        async def ids(**params: Any) -> list[str]:
            response = await api.get("/v1/emails", params=params)
            assert response.status_code == 200, response.text
            return [e["id"] for e in response.json()["data"]]

        assert await ids() == [other, queued, old]  # newest first
        assert await ids(client_id=first["id"]) == [queued, old]
        assert await ids(status="queued") == [queued]
        assert await ids(status=["queued", "draft"]) == [other, queued, old]
        assert await ids(to="TWO@Second.Example") == [other]
        since = (early + timedelta(hours=1)).isoformat()
        assert await ids(created_from=since) == [other, queued]
        assert await ids(created_before=since) == [old]
        assert await ids(client_id=str(uuid.uuid4())) == []

    async def test_cursor_pages_walk_every_email_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        client: Json,
        template: str,
    ) -> None:
        made = [await write_email(app, workspace.id, client["id"], template) for _ in range(5)]
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        pages = 0
        while True:
            page = (await api.get("/v1/emails", params=params)).json()
            seen += [e["id"] for e in page["data"]]
            pages += 1
            if not page["has_more"]:
                assert page["next_cursor"] is None
                break
            params["cursor"] = page["next_cursor"]
        assert pages == 3
        assert sorted(seen) == sorted(made)
        assert len(seen) == len(set(seen))

    @pytest.mark.parametrize(
        "params",
        [{"status": "lost"}, {"client_id": "nope"}, {"created_from": "yesterday"}, {"limit": 0}],
    )
    async def test_a_bad_filter_is_422(self, api: httpx.AsyncClient, params: Json) -> None:
        response = await api.get("/v1/emails", params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


class TestApprove:
    async def test_approval_queues_the_draft_and_closes_its_task(
        self, app: FastAPI, api: httpx.AsyncClient, draft: str
    ) -> None:
        read = await api.get(f"/v1/emails/{draft}")
        response = await api.post(
            f"/v1/emails/{draft}/approve", headers={"If-Match": read.headers["ETag"]}
        )
        assert response.status_code == 200, response.text
        email = response.json()
        assert email["status"] == "queued"
        assert email["approved_at"] is not None
        assert response.headers["ETag"] != read.headers["ETag"]
        assert await send_jobs(app) == [{"email_id": draft}]
        task = (await api.get(f"/v1/tasks/{email['task_id']}")).json()
        assert task["status"] == "done"

    async def test_a_stale_if_match_is_412_and_leaves_the_draft(
        self, app: FastAPI, api: httpx.AsyncClient, draft: str
    ) -> None:
        stale = '"0-stale"'
        response = await api.post(f"/v1/emails/{draft}/approve", headers={"If-Match": stale})
        assert response.status_code == 412, response.text
        assert (await api.get(f"/v1/emails/{draft}")).json()["status"] == "draft"
        assert await send_jobs(app) == []

    async def test_approving_twice_is_409(self, api: httpx.AsyncClient, draft: str) -> None:
        assert (await api.post(f"/v1/emails/{draft}/approve")).status_code == 200
        again = await api.post(f"/v1/emails/{draft}/approve")
        assert again.status_code == 409, again.text
        assert "queued" in again.json()["detail"]

    async def test_a_suppressed_address_is_409_with_the_reason(
        self, app: FastAPI, api: httpx.AsyncClient, draft: str
    ) -> None:
        listed = await api.post(
            "/v1/email-suppressions", json={"email": "DANA@globex.example", "reason": "bounce"}
        )
        assert listed.status_code == 201, listed.text
        response = await api.post(f"/v1/emails/{draft}/approve")
        assert response.status_code == 409, response.text
        assert "suppression list (bounce)" in response.json()["detail"]
        assert (await api.get(f"/v1/emails/{draft}")).json()["status"] == "draft"
        assert await send_jobs(app) == []

    async def test_a_client_churned_since_the_draft_is_409_with_the_reason(
        self, api: httpx.AsyncClient, draft: str, client: Json
    ) -> None:
        churn = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        assert churn.status_code == 200, churn.text
        response = await api.post(f"/v1/emails/{draft}/approve")
        assert response.status_code == 409, response.text
        assert "churned" in response.json()["detail"]

    async def test_a_full_cap_is_409_with_the_reason(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        client: Json,
        template: str,
    ) -> None:
        patched = await api.patch("/v1/email-settings", json={"cap_count": 1})
        assert patched.status_code == 200, patched.text
        first = await write_email(app, workspace.id, client["id"], template)
        second = await write_email(app, workspace.id, client["id"], template)
        assert (await api.post(f"/v1/emails/{first}/approve")).status_code == 200
        response = await api.post(f"/v1/emails/{second}/approve")
        assert response.status_code == 409, response.text
        assert "per-contact cap" in response.json()["detail"]
        assert (await api.get(f"/v1/emails/{second}")).json()["status"] == "draft"


class TestDiscard:
    async def test_discarding_keeps_the_email_and_cancels_its_task(
        self, app: FastAPI, api: httpx.AsyncClient, draft: str
    ) -> None:
        etag = (await api.get(f"/v1/emails/{draft}")).headers["ETag"]
        response = await api.post(f"/v1/emails/{draft}/discard", headers={"If-Match": etag})
        assert response.status_code == 200, response.text
        email = response.json()
        assert email["status"] == "discarded"
        assert (await api.get(f"/v1/tasks/{email['task_id']}")).json()["status"] == "cancelled"
        assert (await api.post(f"/v1/emails/{draft}/approve")).status_code == 409
        assert await send_jobs(app) == []

    async def test_a_stale_if_match_is_412(self, api: httpx.AsyncClient, draft: str) -> None:
        response = await api.post(f"/v1/emails/{draft}/discard", headers={"If-Match": '"x"'})
        assert response.status_code == 412, response.text

    async def test_a_queued_email_cannot_be_discarded(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        client: Json,
        template: str,
    ) -> None:
        queued = await write_email(app, workspace.id, client["id"], template, review=False)
        response = await api.post(f"/v1/emails/{queued}/discard")
        assert response.status_code == 409, response.text
        assert (await api.get(f"/v1/emails/{queued}")).json()["status"] == "queued"


class TestSuppressions:
    async def test_adding_answers_201_with_its_location(self, api: httpx.AsyncClient) -> None:
        body = {"email": " Dana@Globex.example ", "reason": "unsubscribe", "detail": "By phone"}
        response = await api.post("/v1/email-suppressions", json=body)
        assert response.status_code == 201, response.text
        entry = response.json()
        assert (entry["email"], entry["reason"], entry["source"], entry["detail"]) == (
            "dana@globex.example",
            "unsubscribe",
            "api",
            "By phone",
        )
        assert response.headers["Location"] == f"/v1/email-suppressions/{entry['id']}"
        got = await api.get(f"/v1/email-suppressions/{entry['id']}")
        assert got.json() == entry

    async def test_re_adding_in_another_case_keeps_one_entry_with_the_new_reason(
        self, api: httpx.AsyncClient
    ) -> None:
        first = await api.post(
            "/v1/email-suppressions", json={"email": "a@b.example", "reason": "bounce"}
        )
        again = await api.post(
            "/v1/email-suppressions", json={"email": "A@B.EXAMPLE", "reason": "complaint"}
        )
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["reason"] == "complaint"
        listed = (await api.get("/v1/email-suppressions")).json()["data"]
        assert [(s["email"], s["reason"]) for s in listed] == [("a@b.example", "complaint")]

    async def test_the_list_filters_by_address_in_any_case_and_by_reason(
        self, api: httpx.AsyncClient
    ) -> None:
        for email, reason in [("x@a.example", "bounce"), ("y@a.example", "manual")]:
            body = {"email": email, "reason": reason}
            assert (await api.post("/v1/email-suppressions", json=body)).status_code == 201

        async def emails(**params: Any) -> list[str]:
            response = await api.get("/v1/email-suppressions", params=params)
            assert response.status_code == 200, response.text
            return [s["email"] for s in response.json()["data"]]

        assert await emails(email="X@A.example") == ["x@a.example"]
        assert await emails(reason="manual") == ["y@a.example"]
        assert await emails(reason=["manual", "bounce"]) == ["y@a.example", "x@a.example"]
        assert await emails(limit=1) == ["y@a.example"]

    async def test_deleting_allows_the_address_again(
        self, api: httpx.AsyncClient, draft: str
    ) -> None:
        entry = await api.post(
            "/v1/email-suppressions", json={"email": "dana@globex.example", "reason": "manual"}
        )
        assert (await api.post(f"/v1/emails/{draft}/approve")).status_code == 409
        deleted = await api.delete(f"/v1/email-suppressions/{entry.json()['id']}")
        assert deleted.status_code == 204, deleted.text
        assert (await api.get(f"/v1/email-suppressions/{entry.json()['id']}")).status_code == 404
        assert (await api.delete(f"/v1/email-suppressions/{entry.json()['id']}")).status_code == 404
        assert (await api.post(f"/v1/emails/{draft}/approve")).status_code == 200

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "a@b.example"},
            {"email": "a@b.example", "reason": "dislike"},
            {"email": "ab", "reason": "manual"},
            {"email": "a@b.example", "reason": "manual", "detail": "x" * 1001},
            {"email": "a@b.example", "reason": "manual", "extra": 1},
            {"email": 5, "reason": "manual"},
        ],
    )
    async def test_a_bad_body_is_422(self, api: httpx.AsyncClient, body: Json) -> None:
        response = await api.post("/v1/email-suppressions", json=body)
        assert response.status_code == 422, response.text
        assert (await api.get("/v1/email-suppressions")).json()["data"] == []


class TestSettings:
    async def test_the_defaults_until_changed(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/email-settings")
        assert response.status_code == 200, response.text
        assert response.json() == {"cap_count": 3, "cap_days": 7, "review": False}
        assert response.headers["ETag"]

    async def test_a_patch_with_the_current_etag_changes_only_what_it_sends(
        self, api: httpx.AsyncClient
    ) -> None:
        etag = (await api.get("/v1/email-settings")).headers["ETag"]
        response = await api.patch(
            "/v1/email-settings", json={"cap_count": 2}, headers={"If-Match": etag}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"cap_count": 2, "cap_days": 7, "review": False}
        assert response.headers["ETag"] != etag
        stale = await api.patch(
            "/v1/email-settings", json={"review": True}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412, stale.text
        read = await api.get("/v1/email-settings")
        assert read.json() == {"cap_count": 2, "cap_days": 7, "review": False}
        assert read.headers["ETag"] == response.headers["ETag"]

    async def test_review_by_default_makes_drafts(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        client: Json,
        template: str,
    ) -> None:
        assert (await api.patch("/v1/email-settings", json={"review": True})).status_code == 200
        email = await write_email(app, workspace.id, client["id"], template, review=None)
        assert (await api.get(f"/v1/emails/{email}")).json()["status"] == "draft"

    @pytest.mark.parametrize(
        "body",
        [
            {"cap_count": 0},
            {"cap_count": 1001},
            {"cap_days": 366},
            {"cap_days": "7"},
            {"cap_count": True},
            {"review": "yes"},
            {"review": None},
            {"window": 3},
        ],
    )
    async def test_a_bad_value_is_422_and_changes_nothing(
        self, api: httpx.AsyncClient, body: Json
    ) -> None:
        response = await api.patch("/v1/email-settings", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        defaults = {"cap_count": 3, "cap_days": 7, "review": False}
        assert (await api.get("/v1/email-settings")).json() == defaults


class TestScopes:
    async def test_a_read_key_reads_but_changes_nothing(
        self, app: FastAPI, workspace: Workspace, draft: str
    ) -> None:
        key = await create_key(app, workspace, ["read"])
        async with api_client(app, key) as reader:
            for path in ("/v1/emails", f"/v1/emails/{draft}", "/v1/email-suppressions"):
                assert (await reader.get(path)).status_code == 200, path
            assert (await reader.get("/v1/email-settings")).status_code == 200
            refused = [
                await reader.post(f"/v1/emails/{draft}/approve"),
                await reader.post(f"/v1/emails/{draft}/discard"),
                await reader.patch("/v1/email-settings", json={"cap_count": 1}),
                await reader.post(
                    "/v1/email-suppressions", json={"email": "a@b.example", "reason": "manual"}
                ),
            ]
            assert [r.status_code for r in refused] == [403] * 4
            assert (await reader.get(f"/v1/emails/{draft}")).json()["status"] == "draft"

    async def test_a_write_key_reviews_and_manages_the_list_without_admin(
        self, app: FastAPI, workspace: Workspace, draft: str
    ) -> None:
        key = await create_key(app, workspace, ["read", "write"])
        async with api_client(app, key) as writer:
            entry = await writer.post(
                "/v1/email-suppressions", json={"email": "a@b.example", "reason": "manual"}
            )
            assert entry.status_code == 201, entry.text
            deleted = await writer.delete(f"/v1/email-suppressions/{entry.json()['id']}")
            assert deleted.status_code == 204
            assert (await writer.patch("/v1/email-settings", json={"cap_days": 3})).is_success
            assert (await writer.post(f"/v1/emails/{draft}/approve")).status_code == 200

    async def test_no_key_is_401(self, http: httpx.AsyncClient) -> None:
        assert (await http.get("/v1/emails")).status_code == 401


class TestAnotherWorkspace:
    async def test_its_emails_suppressions_and_settings_are_out_of_reach(
        self, app: FastAPI, api: httpx.AsyncClient, draft: str
    ) -> None:
        entry = (
            await api.post(
                "/v1/email-suppressions", json={"email": "a@b.example", "reason": "manual"}
            )
        ).json()
        await api.patch("/v1/email-settings", json={"cap_count": 9})
        other = await create_workspace(app, "Other CS")
        async with api_client(app, other.admin_key) as stranger:
            for response in [
                await stranger.get(f"/v1/emails/{draft}"),
                await stranger.post(f"/v1/emails/{draft}/approve"),
                await stranger.post(f"/v1/emails/{draft}/discard"),
                await stranger.get(f"/v1/email-suppressions/{entry['id']}"),
                await stranger.delete(f"/v1/email-suppressions/{entry['id']}"),
            ]:
                assert response.status_code == 404, response.text
            assert (await stranger.get("/v1/emails")).json()["data"] == []
            assert (await stranger.get("/v1/email-suppressions")).json()["data"] == []
            assert (await stranger.get("/v1/email-settings")).json()["cap_count"] == 3
        assert (await api.get(f"/v1/emails/{draft}")).json()["status"] == "draft"
        assert (await api.get(f"/v1/email-suppressions/{entry['id']}")).status_code == 200
