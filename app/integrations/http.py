"""The one HTTP path to providers: a shared `httpx.AsyncClient` per process (per event loop),
behind the SSRF guard, no redirects, no proxies from the environment, capped answers, and the
retry rule.

The rule: a timeout, a connection failure, a 5xx or a 429 may be tried again, honouring
`Retry-After`; any other 4xx is final. A short wait is taken here (a 429 saying "1 second"),
a long one is handed back as `ProviderError(retryable=True, retry_after=…)` so the job
reschedules itself instead of holding a worker slot for minutes."""

import asyncio
import random
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.integrations.base import CallSink, ProviderCall, ProviderError, discard_calls
from app.integrations.guard import guarded_client

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""A provider's answer beyond this is refused: we read ids and statuses, never bulk data."""

_Clients = dict[bool, httpx.AsyncClient]
"""A loop's clients, by `allow_loopback`."""
MAX_ERROR_BODY_CHARS = 4000
"""What a refusal keeps of the provider's answer, for clients that read its error codes."""

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients]" = (
    weakref.WeakKeyDictionary()
)


def shared_client(*, allow_loopback: bool = False) -> httpx.AsyncClient:
    """The process's client for provider traffic (one per event loop: a pool is bound to it),
    behind the SSRF guard (`app/integrations/guard.py`); `allow_loopback` (the development
    setting) gets a client of its own that may also reach loopback addresses."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(allow_loopback)
    if client is None or client.is_closed:
        client = guarded_client(
            allow_loopback=allow_loopback,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        per_loop[allow_loopback] = client
    return client


async def close_shared_client() -> None:
    """Closes this loop's clients; the next `shared_client()` makes a fresh one."""
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    """Tries made here before a retryable failure is handed back to the job."""
    backoff_seconds: float = 0.5
    """The first pause; doubled after each try, with jitter."""
    max_inline_wait_seconds: float = 5.0
    """A `Retry-After` longer than this is handed back instead of waited for."""

    def wait(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before another try here, or None to hand the error back."""
        if not error.retryable or attempt >= self.attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_inline_wait_seconds:
                return None
            return error.retry_after
        backoff = self.backoff_seconds * 2 ** (attempt - 1)
        return float(backoff * (0.5 + random.random() / 2))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class ProviderHttp:
    """HTTP calls of one integration: its timeout, its call log, the retry policy."""

    client: httpx.AsyncClient
    timeout: httpx.Timeout
    record: CallSink = discard_calls
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], Any] = asyncio.sleep
    allow_loopback: bool = False
    """What `client` was made with (`shared_client(allow_loopback=…)`); clients that open
    their own connections (SMTP) apply the same guard with it."""

    async def request(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        request_id: Callable[[httpx.Response], str | None] | None = None,
    ) -> httpx.Response:
        """The 2xx answer (read, at most `MAX_ANSWER_BYTES`), after the retries the policy
        allows here; otherwise `ProviderError`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(
                    operation, method, url, attempt, headers, json, data, params, request_id
                )
            except ProviderError as error:
                wait = self.policy.wait(error, attempt)
                if wait is None:
                    raise
                await self.sleep(wait)

    async def _once(
        self,
        operation: str,
        method: str,
        url: str,
        attempt: int,
        headers: Mapping[str, str] | None,
        json: Any,
        data: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        request_id: Callable[[httpx.Response], str | None] | None,
    ) -> httpx.Response:
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        status: int | None = None
        answer_id: str | None = None
        try:
            request = self.client.build_request(
                method,
                url,
                headers=headers,
                json=json,
                data=data,
                params=params,
                timeout=self.timeout,
            )
            response = await self.client.send(request, stream=True)
            try:
                status = response.status_code
                body = await _read_capped(response)
            finally:
                await response.aclose()
            response = httpx.Response(
                status, headers=response.headers, content=body, request=request
            )
            answer_id = request_id(response) if request_id is not None else None
            if status >= 300:
                raise _status_error(response)
        except ProviderError as failed:
            self._log(
                operation, method, url, started_at, started, attempt, status, failed, answer_id
            )
            raise
        except httpx.TimeoutException as exc:
            timed_out = ProviderError(f"timed out: {type(exc).__name__}", retryable=True)
            self._log(operation, method, url, started_at, started, attempt, None, timed_out, None)
            raise timed_out from exc
        except httpx.HTTPError as exc:
            unreached = ProviderError(f"could not reach the provider: {exc!r}", retryable=True)
            self._log(operation, method, url, started_at, started, attempt, None, unreached, None)
            raise unreached from exc
        self._log(operation, method, url, started_at, started, attempt, status, None, answer_id)
        return response

    def _log(
        self,
        operation: str,
        method: str,
        url: str,
        started_at: datetime,
        started: float,
        attempt: int,
        status: int | None,
        error: ProviderError | None,
        request_id: str | None,
    ) -> None:
        self.record(
            ProviderCall(
                operation=operation,
                method=method,
                url=str(httpx.URL(url).copy_with(query=None)),
                started_at=started_at,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                attempt=attempt,
                status=status,
                error=error.message[:1000] if error is not None else None,
                request_id=request_id,
            )
        )


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ProviderError(
                f"the answer is larger than {MAX_ANSWER_BYTES} bytes",
                retryable=False,
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    detail = response.text[:500].strip()
    message = f"{status} {response.reason_phrase}" + (f": {detail}" if detail else "")
    if 300 <= status < 400:
        return ProviderError(
            f"{message} (redirects are not followed)", retryable=False, status=status
        )
    retryable = status == 429 or status >= 500
    return ProviderError(
        message,
        retryable=retryable,
        retry_after=retry_after_seconds(response.headers.get("retry-after")) if retryable else None,
        status=status,
        body=response.text[:MAX_ERROR_BODY_CHARS],
    )
