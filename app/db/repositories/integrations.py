import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Integration, IntegrationCall
from app.db.repositories.paging import Page, SortKey, paginate, sort_keys
from app.integrations.base import ProviderCall

INTEGRATION_SORTS = sort_keys({"created_at": Integration.created_at, "name": Integration.name})
NEWEST_CALLS_FIRST = "-started_at"
CALL_SORT = SortKey(IntegrationCall.started_at, descending=True)


@dataclass(frozen=True)
class IntegrationFilters:
    kinds: tuple[str, ...] = ()
    """Empty: every kind. A purpose filter arrives here as the kinds of that purpose."""
    statuses: tuple[str, ...] = ()


class IntegrationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, integration: Integration) -> Integration:
        self.session.add(integration)
        await self.session.flush()
        return integration

    async def get(self, workspace_id: uuid.UUID, integration_id: uuid.UUID) -> Integration | None:
        stmt = sa.select(Integration).where(
            Integration.workspace_id == workspace_id, Integration.id == integration_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_name(self, workspace_id: uuid.UUID, name: str) -> Integration | None:
        stmt = sa.select(Integration).where(
            Integration.workspace_id == workspace_id, Integration.name == name
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def oldest_active(
        self, workspace_id: uuid.UUID, kinds: Sequence[str]
    ) -> Integration | None:
        stmt = (
            sa.select(Integration)
            .where(
                Integration.workspace_id == workspace_id,
                Integration.kind.in_(kinds),
                Integration.status == "active",
            )
            .order_by(Integration.created_at, Integration.id)
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self,
        workspace_id: uuid.UUID,
        filters: IntegrationFilters,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Integration]:
        stmt = sa.select(Integration).where(Integration.workspace_id == workspace_id)
        if filters.kinds:
            stmt = stmt.where(Integration.kind.in_(filters.kinds))
        if filters.statuses:
            stmt = stmt.where(Integration.status.in_(filters.statuses))
        return await paginate(
            self.session,
            stmt,
            id_column=Integration.id,
            sort=sort,
            key=INTEGRATION_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def replace_credentials(
        self, integration_id: uuid.UUID, previous: str, replacement: str
    ) -> bool:
        """Stores credentials a provider renewed, unless someone replaced them meanwhile (a
        token refreshed from the old set must not overwrite a new set). Leaves the version
        alone: credentials are not part of what the API shows."""
        result = await self.session.execute(
            sa.update(Integration)
            .where(
                Integration.id == integration_id,
                Integration.credentials_encrypted == previous,
            )
            .values(credentials_encrypted=replacement)
            .returning(Integration.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def stored_credentials(self) -> list[tuple[uuid.UUID, str]]:
        """Every integration's encrypted credentials, in every workspace: a key rotation
        rewrites them all."""
        stmt = sa.select(Integration.id, Integration.credentials_encrypted).order_by(Integration.id)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def delete(self, integration: Integration) -> None:
        await self.session.delete(integration)
        await self.session.flush()


class IntegrationCallRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(
        self, workspace_id: uuid.UUID, integration_id: uuid.UUID, calls: Sequence[ProviderCall]
    ) -> None:
        if not calls:
            return
        await self.session.execute(
            sa.insert(IntegrationCall),
            [
                {
                    "id": uuid.uuid4(),
                    "workspace_id": workspace_id,
                    "integration_id": integration_id,
                    "operation": call.operation[:64],
                    "method": call.method[:16],
                    "url": call.url[:2048],
                    "status": call.status,
                    "latency_ms": call.latency_ms,
                    "attempt": call.attempt,
                    "error": call.error[:1000] if call.error is not None else None,
                    "request_id": call.request_id[:200] if call.request_id else None,
                    "started_at": call.started_at,
                }
                for call in calls
            ],
        )

    async def page(
        self,
        workspace_id: uuid.UUID,
        integration_id: uuid.UUID,
        *,
        operation: str | None,
        failed: bool | None,
        cursor: str | None,
        limit: int,
    ) -> Page[IntegrationCall]:
        stmt = sa.select(IntegrationCall).where(
            IntegrationCall.workspace_id == workspace_id,
            IntegrationCall.integration_id == integration_id,
        )
        if operation is not None:
            stmt = stmt.where(IntegrationCall.operation == operation)
        if failed is not None:
            stmt = stmt.where(
                IntegrationCall.error.is_not(None) if failed else IntegrationCall.error.is_(None)
            )
        return await paginate(
            self.session,
            stmt,
            id_column=IntegrationCall.id,
            sort=NEWEST_CALLS_FIRST,
            key=CALL_SORT,
            cursor=cursor,
            limit=limit,
        )

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            sa.delete(IntegrationCall)
            .where(IntegrationCall.started_at < cutoff)
            .returning(IntegrationCall.id)
        )
        return len(result.all())
