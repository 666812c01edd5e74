"""What the CRM client tests share: the call log a job would keep, the waits the retry rule
took, and a `ProviderHttp` that records both (a quick retry policy, the real HTTP path)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from app.integrations.base import ProviderCall
from app.integrations.http import ProviderHttp, RetryPolicy


@dataclass
class Recorder:
    calls: list[ProviderCall] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def record(self, call: ProviderCall) -> None:
        self.calls.append(call)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)

    def attempts(self) -> list[tuple[str, int | None, int]]:
        return [(call.operation, call.status, call.attempt) for call in self.calls]


@asynccontextmanager
async def recording_http(recorder: Recorder) -> AsyncIterator[ProviderHttp]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield ProviderHttp(
            client=client,
            timeout=httpx.Timeout(5.0),
            record=recorder.record,
            policy=RetryPolicy(attempts=3, backoff_seconds=0.01, max_inline_wait_seconds=5.0),
            sleep=recorder.sleep,
        )
