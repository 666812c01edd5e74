"""What every provider client shares: the one error type and the record of a call.

A provider client never decides what a failure means for the job; it says whether another
try can help (`retryable`) and, when the provider said so, after how long (`retry_after`).
The caller (an action, a sync job) turns that into a retry or a final failure."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class ProviderError(Exception):
    """A provider call that did not succeed. `retryable`: a timeout, a connection failure, a
    5xx or a 429 (another try can help); any other 4xx is final. `status` is the HTTP status,
    `code` the provider's own error code where it gives one."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.body = body
        """The start of the provider's answer to a refused request: its own error codes."""


class CursorExpired(ProviderError):
    """The provider no longer knows a stored paging cursor (Salesforce's query locators expire
    when idle): the listing must start again from its first page."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status, code="cursor_expired")


class RecordsRejected(ProviderError):
    """A batch write the provider took in part: the other records were written, these were not
    (record id → the provider's reason). Final: the same values would be refused again."""

    def __init__(self, rejected: Mapping[str, str]) -> None:
        shown = "; ".join(f"{key}: {why}" for key, why in list(rejected.items())[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        super().__init__(
            f"{len(rejected)} record(s) rejected: {shown}{more}", retryable=False, status=None
        )
        self.rejected = dict(rejected)


@dataclass(frozen=True)
class ProviderCall:
    """One HTTP attempt (or one SMTP session) made to a provider, as the call log keeps it."""

    operation: str
    """What was asked, in our words: `send_email`, `update_companies`, `refresh_token`, …"""
    method: str
    url: str
    started_at: datetime
    latency_ms: float
    attempt: int
    status: int | None = None
    error: str | None = None
    request_id: str | None = None
    """The provider's id of the request or of what it made (`X-Message-Id`, a record id)."""


CallSink = Callable[[ProviderCall], None]
"""Where a client reports each call; the caller stores them (`integration_calls`)."""


def discard_calls(_call: ProviderCall) -> None:
    """A sink for callers that keep no log."""


# --- email ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    """One rendered email to one recipient. `metadata` carries our ids (email, workspace,
    client) where the provider returns them in its webhooks: SendGrid's `custom_args`,
    Postmark's `Metadata`, an `X-Tenure-*` header over SMTP."""

    to: Address
    sender: Address
    subject: str
    text: str
    html: str | None = None
    reply_to: Address | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SentEmail:
    message_id: str | None
    """The provider's id of the message (SendGrid `X-Message-Id`, Postmark `MessageID`, the
    SMTP `Message-ID` we set); opens, clicks and bounces reported later carry it."""


class EmailProvider(Protocol):
    async def check(self) -> str:
        """One real authenticated call; what it learnt (e.g. the key's scopes). Raises
        `ProviderError`."""
        ...

    async def send(self, email: OutgoingEmail) -> SentEmail: ...


# --- CRM ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordUpdate:
    """New values of some fields of one CRM company (HubSpot) or account (Salesforce)."""

    record_id: str
    properties: Mapping[str, str | None]


@dataclass(frozen=True)
class CrmTaskDraft:
    record_id: str
    """The company/account the task is associated with."""
    subject: str
    body: str
    due_at: datetime | None = None
    owner_record_id: str | None = None
    """The CRM's id of the owner (HubSpot owner id, Salesforce user id), when known."""
    priority: str | None = None
    """Tenure's word (`low`, `normal`, `high`, `urgent`); each provider maps it to its own."""


@dataclass(frozen=True)
class CrmTaskState:
    task_record_id: str
    completed: bool


@dataclass(frozen=True)
class CrmCompany:
    record_id: str
    name: str
    domain: str | None = None
    owner_record_id: str | None = None


@dataclass(frozen=True)
class CrmContact:
    record_id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company_record_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrmOwner:
    record_id: str
    email: str
    name: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    """Opaque; None on the last page. A sync stores it to resume where it stopped."""


class CrmProvider(Protocol):
    async def check(self) -> str: ...

    async def update_records(self, updates: Sequence[RecordUpdate]) -> None:
        """Writes the fields, in batches the provider accepts (HubSpot: 100 per call)."""
        ...

    async def create_task(self, task: CrmTaskDraft) -> str:
        """The CRM's id of the new task."""
        ...

    async def task_states(self, task_record_ids: Sequence[str]) -> list[CrmTaskState]: ...

    async def companies(self, cursor: str | None) -> Page[CrmCompany]: ...

    async def contacts(self, cursor: str | None) -> Page[CrmContact]: ...

    async def owners(self, cursor: str | None) -> Page[CrmOwner]: ...


CredentialsChanged = Callable[[dict[str, str]], None]
"""Called by a provider that renewed its credentials (Salesforce's refreshed access token), so
the caller stores them encrypted with the integration."""
