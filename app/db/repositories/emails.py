"""Emails and the suppression list: the cap's count, the lock that makes it hold, the
API's pages, and the send job's reads."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Email, EmailSettingsRecord, EmailSuppression
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.emails import COUNTED

EMAIL_SORTS = sort_keys({"created_at": Email.created_at})
SUPPRESSION_SORTS = sort_keys({"created_at": EmailSuppression.created_at})
_COUNTED = [s.value for s in COUNTED]


@dataclass(frozen=True)
class EmailFilters:
    client_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    to_email: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


class EmailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, email: Email) -> Email:
        self.session.add(email)
        await self.session.flush()
        return email

    async def get(self, workspace_id: uuid.UUID, email_id: uuid.UUID) -> Email | None:
        stmt = sa.select(Email).where(Email.workspace_id == workspace_id, Email.id == email_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_send(self, email_id: uuid.UUID) -> Email | None:
        """The email the send job is about to send, locked on PostgreSQL so that a second
        run of the job (arq delivers at least once) waits and then sees it `sent`."""
        stmt = sa.select(Email).where(Email.id == email_id)
        if self._postgres:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def status_of(self, email_id: uuid.UUID) -> str | None:
        """The status alone, unlocked: the cheap check that lets the send job of an email a
        batch already sent finish in one small statement."""
        stmt = sa.select(Email.status).where(Email.id == email_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock_sending(self) -> None:
        """SQLite only: takes its one writer lock before the send job reads what it will
        send, so two runs never read the same queued email (PostgreSQL locks rows instead)."""
        if not self._postgres:
            await self.session.execute(
                sa.update(Email)
                .where(sa.false())
                .values(status=Email.status)
                .execution_options(synchronize_session=False)
            )

    async def claim_queued(
        self,
        workspace_id: uuid.UUID,
        integration_id: uuid.UUID | None,
        *,
        besides: uuid.UUID,
        limit: int,
    ) -> list[Email]:
        """Queued emails of the same workspace and integration that no run has tried yet
        (one that failed waits for its own job's retry schedule), oldest first. Locked with
        SKIP LOCKED on PostgreSQL, so concurrent runs take disjoint ones; on SQLite the
        caller holds the writer lock (`lock_sending`)."""
        same_integration = (
            Email.integration_id.is_(None)
            if integration_id is None
            else Email.integration_id == integration_id
        )
        stmt = (
            sa.select(Email)
            .where(
                Email.status == "queued",
                Email.workspace_id == workspace_id,
                same_integration,
                Email.attempts == 0,
                Email.id != besides,
            )
            .order_by(Email.created_at, Email.id)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await self.session.scalars(stmt)).all())

    async def of_action_run(self, action_run_id: uuid.UUID) -> Email | None:
        stmt = sa.select(Email).where(Email.action_run_id == action_run_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def lock_address(self, workspace_id: uuid.UUID, address: str) -> None:
        """Serializes the cap's check-then-queue per address until the transaction ends.
        PostgreSQL: a transaction advisory lock on (workspace, address). SQLite has one
        writer: a write statement takes its lock now, so the count is read by one
        transaction at a time, as on PostgreSQL."""
        if self._postgres:
            key = f"email-cap:{workspace_id}:{address}"
            await self.session.execute(
                sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0)))
            )
        else:
            await self.session.execute(
                sa.update(EmailSuppression)
                .where(sa.false())
                .values(email=EmailSuppression.email)
                .execution_options(synchronize_session=False)
            )

    async def recent_count(self, workspace_id: uuid.UUID, address: str, since: datetime) -> int:
        """Tenure emails queued or sent to the address since then, across every source."""
        stmt = sa.select(sa.func.count()).where(
            Email.workspace_id == workspace_id,
            Email.to_email == address,
            Email.created_at >= since,
            Email.status.in_(_COUNTED),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def page(
        self, workspace_id: uuid.UUID, filters: EmailFilters, *, cursor: str | None, limit: int
    ) -> Page[Email]:
        stmt = sa.select(Email).where(Email.workspace_id == workspace_id)
        if filters.client_id is not None:
            stmt = stmt.where(Email.client_id == filters.client_id)
        if filters.statuses:
            stmt = stmt.where(Email.status.in_(filters.statuses))
        if filters.to_email is not None:
            stmt = stmt.where(Email.to_email == filters.to_email)
        if filters.created_from is not None:
            stmt = stmt.where(Email.created_at >= filters.created_from)
        if filters.created_before is not None:
            stmt = stmt.where(Email.created_at < filters.created_before)
        return await paginate(
            self.session,
            stmt,
            id_column=Email.id,
            sort="-created_at",
            key=EMAIL_SORTS["-created_at"],
            cursor=cursor,
            limit=limit,
        )

    async def record_attempt(
        self, email_id: uuid.UUID, *, status: str, reason: str, now: datetime
    ) -> None:
        """A failed try, kept after the job's work was rolled back: one more attempt and why."""
        await self.session.execute(
            sa.update(Email)
            .where(Email.id == email_id, Email.status == "queued")
            .values(
                attempts=Email.attempts + 1,
                status=status,
                status_reason=reason[:1000],
                updated_at=now,
                version=Email.version + 1,
            )
            .execution_options(synchronize_session=False)
        )

    # Settings --------------------------------------------------------------------------------

    async def settings(self, workspace_id: uuid.UUID) -> EmailSettingsRecord | None:
        return await self.session.get(EmailSettingsRecord, workspace_id)

    async def add_settings(self, record: EmailSettingsRecord) -> None:
        self.session.add(record)
        await self.session.flush()


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def reason(self, workspace_id: uuid.UUID, address: str) -> str | None:
        stmt = sa.select(EmailSuppression.reason).where(
            EmailSuppression.workspace_id == workspace_id, EmailSuppression.email == address
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(
        self, workspace_id: uuid.UUID, suppression_id: uuid.UUID
    ) -> EmailSuppression | None:
        stmt = sa.select(EmailSuppression).where(
            EmailSuppression.workspace_id == workspace_id, EmailSuppression.id == suppression_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def upsert(self, values: dict[str, Any]) -> tuple[EmailSuppression, bool]:
        """The address's entry and whether it is new. An address listed again keeps its
        entry with the newest reason (a bounce after a manual entry says more)."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        new = insert(EmailSuppression).values(values)
        stmt = new.on_conflict_do_update(
            index_elements=["workspace_id", "email"],
            set_={
                "reason": new.excluded.reason,
                "source": new.excluded.source,
                "detail": new.excluded.detail,
                "updated_at": new.excluded.updated_at,
            },
        ).returning(EmailSuppression.id)
        stored_id = (await self.session.execute(stmt)).scalar_one()
        row = await self.get(values["workspace_id"], stored_id)
        assert row is not None
        await self.session.refresh(row)
        return row, stored_id == values["id"]

    async def delete(self, suppression: EmailSuppression) -> None:
        await self.session.delete(suppression)
        await self.session.flush()

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        email: str | None,
        reasons: tuple[str, ...],
        cursor: str | None,
        limit: int,
    ) -> Page[EmailSuppression]:
        stmt = sa.select(EmailSuppression).where(EmailSuppression.workspace_id == workspace_id)
        if email is not None:
            stmt = stmt.where(EmailSuppression.email == email)
        if reasons:
            stmt = stmt.where(EmailSuppression.reason.in_(reasons))
        return await paginate(
            self.session,
            stmt,
            id_column=EmailSuppression.id,
            sort="-created_at",
            key=SUPPRESSION_SORTS["-created_at"],
            cursor=cursor,
            limit=limit,
        )
