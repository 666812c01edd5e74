import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, api_key_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        stmt = sa.select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)
        await self.session.flush()

    async def delete(self, record_id: uuid.UUID) -> None:
        await self.session.execute(
            sa.delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
        )

    async def complete(
        self, record_id: uuid.UUID, status: int, headers: dict[str, Any], body: bytes
    ) -> None:
        await self.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(status_code=status, response_headers=headers, response_body=body)
        )

    async def purge_expired(self, now: datetime) -> int:
        result = await self.session.execute(
            sa.delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
