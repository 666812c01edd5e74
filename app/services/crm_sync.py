"""Pulling from a CRM: owners (by email), companies → clients (by link, else by external id,
else created), contacts of the linked clients (by link, else by email at the client).

A sync is a `crm_syncs` row and a chain of `crm.sync` runs, one page each: the object it is on,
the provider's cursor and the counts are stored with the page's writes, so a crash or a retry
resumes at the page it was on, and a re-run updates what the last one made instead of adding
to it (every record it touches is linked)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Contact, CrmSync, Integration, Owner
from app.db.repositories.clients import ClientRepository
from app.db.repositories.contacts import ContactRepository
from app.db.repositories.crm import CrmLinkRepository, CrmSyncRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.db.repositories.owners import OwnerRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal, Scope, job_principal
from app.domain.crm import (
    SYNC_ORDER,
    LinkObject,
    SyncObject,
    SyncStatus,
    contact_name,
    next_object,
)
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.integrations.base import CrmCompany, CrmContact, CrmOwner, CrmProvider, CursorExpired
from app.integrations.base import Page as RecordPage
from app.services.clients import ClientLimits, change_client, create_client
from app.services.crm_push import crm_options
from app.services.integrations import get_integration

SYNC_JOB = "crm.sync"
"""Its rows carry `{"sync_id": ...}`."""
MAX_ERROR_CHARS = 2000


async def start_sync(
    session: AsyncSession, principal: Principal, integration_id: uuid.UUID, now: datetime
) -> CrmSync:
    """A new import of the integration's CRM; 409 while another is queued or running."""
    integration = await get_integration(session, principal, integration_id)
    if crm_options(integration) is None:
        raise InvalidInput(
            f"integration {integration.name!r} is not an active CRM integration",
            errors=[
                {"loc": ["path", "integration_id"], "msg": "not an active CRM", "type": "kind"}
            ],
        )
    syncs = CrmSyncRepository(session)
    running = await syncs.live(integration.id)
    if running is not None:
        raise Conflict(f"sync {running.id} of this integration is still {running.status}")
    sync = await syncs.add(
        CrmSync(
            workspace_id=principal.workspace_id,
            integration_id=integration.id,
            status=SyncStatus.QUEUED.value,
            object=SYNC_ORDER[0].value,
            cursor=None,
            counts={},
            created_at=now,
            updated_at=now,
        )
    )
    await request_page(session, sync, now)
    return sync


async def request_page(session: AsyncSession, sync: CrmSync, now: datetime) -> None:
    pages = int(sync.counts.get("pages", 0))
    await OutboxRepository(session).add(
        [
            NewMessage(
                kind=SYNC_JOB,
                payload={"sync_id": str(sync.id)},
                workspace_id=sync.workspace_id,
                dedupe_key=f"{SYNC_JOB}:{sync.id}:{pages}",
            )
        ],
        now,
    )


async def get_sync(
    session: AsyncSession, principal: Principal, integration_id: uuid.UUID, sync_id: uuid.UUID
) -> CrmSync:
    sync = await CrmSyncRepository(session).get(principal.workspace_id, sync_id)
    if sync is None or sync.integration_id != integration_id:
        raise NotFound("sync not found")
    return sync


async def list_syncs(
    session: AsyncSession,
    principal: Principal,
    integration_id: uuid.UUID,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[CrmSync]:
    integration = await get_integration(session, principal, integration_id)
    return await CrmSyncRepository(session).page(
        principal.workspace_id, integration.id, sort=sort, cursor=cursor, limit=limit
    )


async def load_sync(
    session: AsyncSession, workspace_id: uuid.UUID, sync_id: uuid.UUID
) -> CrmSync | None:
    return await CrmSyncRepository(session).get(workspace_id, sync_id)


async def sync_page(
    session: AsyncSession,
    provider: CrmProvider,
    integration: Integration,
    sync: CrmSync,
    settings: Settings,
    now: datetime,
) -> bool:
    """Imports the page the sync is on and moves it on; True when another page follows (its
    run is asked for). `ProviderError` propagates with nothing of the page written."""
    if sync.status not in (SyncStatus.QUEUED.value, SyncStatus.RUNNING.value):
        return False
    current = SyncObject(sync.object or SYNC_ORDER[0].value)
    cursor = sync.cursor
    restarted = False
    try:
        page = await _fetch(provider, current, cursor)
    except CursorExpired:
        # The CRM forgot where the object's pages were (Salesforce drops an idle query locator
        # after about 15 minutes): import the object again from its start; records already
        # imported match their links and are counted again as unchanged.
        page = await _fetch(provider, current, None)
        restarted = True
    # The page is read from the CRM before any write, so no lock is held over the call.
    await CrmSyncRepository(session).take_turn(sync)
    if (sync.object or SYNC_ORDER[0].value, sync.cursor) != (current.value, cursor) or (
        sync.status not in (SyncStatus.QUEUED.value, SyncStatus.RUNNING.value)
    ):
        return False  # another run of this page got there first
    if sync.status == SyncStatus.QUEUED.value:
        sync.status = SyncStatus.RUNNING.value
        sync.started_at = now
    importer = _Importer(session, integration, settings, now)
    counts = dict(sync.counts)
    tally = [await importer.record(current, item) for item in page.items]
    next_cursor = page.next_cursor
    for outcome in tally:
        key = f"{current.value}_{outcome}"
        counts[key] = int(counts.get(key, 0)) + 1
    counts["pages"] = int(counts.get("pages", 0)) + 1
    if restarted:
        key = f"{current.value}_restarts"
        counts[key] = int(counts.get(key, 0)) + 1
    sync.counts = counts
    sync.error = None
    sync.updated_at = now
    if next_cursor:
        sync.cursor = next_cursor
    else:
        following = next_object(current)
        sync.cursor = None
        sync.object = following.value if following else None
        if following is None:
            sync.status = SyncStatus.SUCCEEDED.value
            sync.finished_at = now
    await session.flush()
    if sync.status == SyncStatus.RUNNING.value:
        await request_page(session, sync, now)
        return True
    return False


async def _fetch(provider: CrmProvider, current: SyncObject, cursor: str | None) -> RecordPage[Any]:
    if current is SyncObject.OWNERS:
        return await provider.owners(cursor)
    if current is SyncObject.COMPANIES:
        return await provider.companies(cursor)
    return await provider.contacts(cursor)


async def record_failure(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sync_id: uuid.UUID,
    error: str,
    now: datetime,
    *,
    final: bool,
) -> None:
    """After the page's rollback: the error stays visible; a final one ends the sync."""
    sync = await CrmSyncRepository(session).get(workspace_id, sync_id)
    if sync is None:
        return
    sync.error = error[:MAX_ERROR_CHARS]
    sync.updated_at = now
    if final:
        sync.status = SyncStatus.FAILED.value
        sync.finished_at = now
    await session.flush()


@dataclass
class _Importer:
    """One page's records into Tenure rows, each linked to its record."""

    session: AsyncSession
    integration: Integration
    settings: Settings
    now: datetime

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.integration.workspace_id

    @property
    def principal(self) -> Principal:
        return job_principal(self.workspace_id, Scope.ADMIN)

    @property
    def links(self) -> CrmLinkRepository:
        return CrmLinkRepository(self.session)

    async def _link(self, obj: LinkObject, local_id: uuid.UUID, record_id: str) -> None:
        await self.links.link(
            self.workspace_id, self.integration.id, obj, local_id, record_id, self.now
        )

    async def _linked(self, obj: LinkObject, record_id: str) -> uuid.UUID | None:
        return (await self.links.locals(self.integration.id, obj, [record_id])).get(record_id)

    async def record(self, current: SyncObject, item: Any) -> str:
        if current is SyncObject.OWNERS:
            return await self.owner(item)
        if current is SyncObject.COMPANIES:
            return await self.company(item)
        return await self.contact(item)

    async def owner(self, item: CrmOwner) -> str:
        owners = OwnerRepository(self.session)
        email = item.email.strip().lower()
        local_id = await self._linked(LinkObject.OWNER, item.record_id)
        owner = await owners.get(self.workspace_id, local_id) if local_id else None
        if owner is None:
            owner = await owners.find_by_email(self.workspace_id, email)
        if owner is not None:
            await self._link(LinkObject.OWNER, owner.id, item.record_id)
            return "matched"
        if not email or len(email) > 320:
            return "skipped"
        owner = await owners.add(
            Owner(
                workspace_id=self.workspace_id,
                name=(item.name or email)[:200],
                email=email,
            )
        )
        await self._link(LinkObject.OWNER, owner.id, item.record_id)
        return "created"

    async def company(self, item: CrmCompany) -> str:
        clients = ClientRepository(self.session)
        local_id = await self._linked(LinkObject.CLIENT, item.record_id)
        client = await clients.get(self.workspace_id, local_id) if local_id else None
        if client is None:
            client = await clients.find_by_external_id(self.workspace_id, item.record_id)
        owner_id = None
        if item.owner_record_id:
            owner_id = await self._linked(LinkObject.OWNER, item.owner_record_id)
        fields: dict[str, Any] = {"name": (item.name or f"Company {item.record_id}")[:200]}
        if item.domain and len(item.domain) <= 253:
            fields["domain"] = item.domain
        if owner_id is not None:
            fields["owner_id"] = owner_id
        limits = ClientLimits(max_attributes_bytes=self.settings.max_attributes_bytes)
        try:
            async with self.session.begin_nested():
                if client is None:
                    view = await create_client(
                        self.session,
                        self.principal,
                        {**fields, "external_id": item.record_id},
                        limits,
                        self.now,
                    )
                    await self._link(LinkObject.CLIENT, view.client.id, item.record_id)
                    return "created"
                changes = {k: v for k, v in fields.items() if getattr(client, k) != v}
                if changes:
                    await change_client(
                        self.session, self.workspace_id, client.id, changes, limits, self.now
                    )
                await self._link(LinkObject.CLIENT, client.id, item.record_id)
                return "updated" if changes else "unchanged"
        except AppError:  # a name or owner the workspace refuses: the rest of the page goes on
            return "skipped"

    async def contact(self, item: CrmContact) -> str:
        companies = await self.links.locals(
            self.integration.id, LinkObject.CLIENT, list(item.company_record_ids)
        )
        client_id = next((companies[r] for r in item.company_record_ids if r in companies), None)
        if client_id is None:
            return "unlinked"
        contacts = ContactRepository(self.session)
        email = item.email.strip().lower() if item.email else None
        if email is not None and len(email) > 320:
            email = None
        local_id = await self._linked(LinkObject.CONTACT, item.record_id)
        contact: Contact | None = None
        if local_id is not None:
            contact = await self.session.get(Contact, local_id)
        if contact is None and email is not None:
            contact = await contacts.find_by_email(client_id, email)
        fields: dict[str, Any] = {
            "name": contact_name(item.first_name, item.last_name, email),
            "role": item.title[:200] if item.title else None,
        }
        try:
            async with self.session.begin_nested():
                if contact is None:
                    contact = Contact(
                        id=uuid.uuid4(),
                        workspace_id=self.workspace_id,
                        client_id=client_id,
                        email=email,
                        **fields,
                    )
                    self.session.add(contact)
                    await self.session.flush()
                    outcome = "created"
                else:
                    if email is not None and contact.email != email:
                        same = await contacts.find_by_email(contact.client_id, email)
                        if same is None:
                            fields["email"] = email
                    changed = {k: v for k, v in fields.items() if getattr(contact, k) != v}
                    for name, value in changed.items():
                        setattr(contact, name, value)
                    await self.session.flush()
                    outcome = "updated" if changed else "unchanged"
                await self._link(LinkObject.CONTACT, contact.id, item.record_id)
                return outcome
        except AppError:
            return "skipped"
