"""Cadence tests start from a workspace without the default tier cadences (the default
playbooks), so what they count is what they made."""

import uuid

import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import Cadence


async def drop_cadences(app: FastAPI, workspace_id: uuid.UUID) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(sa.delete(Cadence).where(Cadence.workspace_id == workspace_id))
