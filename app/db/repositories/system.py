import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession


async def ping(session: AsyncSession) -> None:
    await session.execute(sa.text("SELECT 1"))
