"""What the provider client tests share: a call log that also keeps the waits taken."""

import asyncio
from dataclasses import dataclass, field

import httpx

from app.integrations.base import ProviderCall
from app.integrations.http import ProviderHttp, RetryPolicy


@dataclass
class CallLog:
    calls: list[ProviderCall] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        """Waits for real; the log says how long each wait was."""
        self.waits.append(seconds)
        await asyncio.sleep(seconds)

    def http(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        allow_loopback: bool = True,
    ) -> ProviderHttp:
        """The fakes listen on loopback, which the development setting lets through."""
        return ProviderHttp(
            client=client,
            timeout=httpx.Timeout(timeout),
            record=self.calls.append,
            policy=RetryPolicy(attempts=attempts, backoff_seconds=0.01),
            sleep=self.sleep,
            allow_loopback=allow_loopback,
        )

    def statuses(self) -> list[int | None]:
        return [call.status for call in self.calls]

    def attempts(self) -> list[int]:
        return [call.attempt for call in self.calls]
