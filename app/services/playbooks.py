"""The default playbooks a workspace is made with (app.domain.playbooks): four triggers and the
tier cadences, stored as any user's would be."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Cadence, Trigger, TriggerVersion
from app.db.repositories.cadences import CadenceRepository
from app.db.repositories.triggers import TriggerRepository
from app.domain.cadences import default_cadences
from app.domain.playbooks import DEFAULT_TRIGGERS
from app.services import trigger_engine
from app.services.cadence_enrolment import cadence_columns


async def add_defaults(session: AsyncSession, workspace_id: uuid.UUID, now: datetime) -> None:
    """With a new workspace, as its default scorecard is (migration 0013 made the same rows
    for the workspaces that came before)."""
    triggers = TriggerRepository(session)
    cadences = CadenceRepository(session)
    for default in DEFAULT_TRIGGERS:
        definition = trigger_engine.parse(default.definition)
        cron = definition.when.cron
        trigger = Trigger(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            name=default.name,
            description=default.description,
            when_kind=definition.when.kind.value,
            enabled=True,
            current_version=1,
            revision=1,
            next_due_at=cron.next_after(now) if cron is not None else None,
            created_at=now,
            updated_at=now,
        )
        version = TriggerVersion(
            trigger_id=trigger.id,
            version=1,
            workspace_id=workspace_id,
            definition=definition.document(),
            created_at=now,
        )
        await triggers.add(trigger, version)
    for rhythm in default_cadences():
        await cadences.add(
            Cadence(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                **cadence_columns(rhythm),
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
