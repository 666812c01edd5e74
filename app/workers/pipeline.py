"""What the API process runs in the background: a relay to arq when Redis is configured,
otherwise the embedded runner."""

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.workers.execution import JobEnvironment
from app.workers.job import Registry
from app.workers.registry import default_registry
from app.workers.relay import ArqDispatcher, Relay
from app.workers.runner import EmbeddedRunner


class Background(Protocol):
    async def stop(self) -> None: ...


class RelayToArq:
    def __init__(self, env: JobEnvironment, redis_url: str) -> None:
        self.dispatcher = ArqDispatcher(redis_url)
        self.relay = Relay(env, self.dispatcher)

    async def start(self) -> None:
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.dispatcher.close()


async def start_background(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry | None = None,
) -> Background | None:
    env = JobEnvironment(settings, sessionmaker, registry or default_registry())
    if settings.redis_url:
        relay = RelayToArq(env, settings.redis_url)
        await relay.start()
        return relay
    if settings.embedded_runner:
        runner = EmbeddedRunner(env)
        await runner.start()
        return runner
    return None
