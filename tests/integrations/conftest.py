"""Provider clients over real HTTP to the local fakes, with the calls and waits they make."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from app.integrations.base import ProviderCall
from app.integrations.http import ProviderHttp, RetryPolicy
from tests.fakes.hubspot import fake_hubspot

__all__ = ["fake_hubspot"]


@dataclass
class Recorder:
    """The call log a job would store, and the waits the retry rule took."""

    calls: list[ProviderCall] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def record(self, call: ProviderCall) -> None:
        self.calls.append(call)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)

    def attempts(self) -> list[tuple[str, int | None, int]]:
        return [(call.operation, call.status, call.attempt) for call in self.calls]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def provider_http(recorder: Recorder) -> AsyncIterator[ProviderHttp]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield ProviderHttp(
            client=client,
            timeout=httpx.Timeout(5.0),
            record=recorder.record,
            policy=RetryPolicy(attempts=3, backoff_seconds=0.01, max_inline_wait_seconds=5.0),
            sleep=recorder.sleep,
        )
