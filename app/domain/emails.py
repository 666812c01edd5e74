"""Email rules: what the `send_email` action accepts, who an email goes to and from, the
guards that may refuse it, the workspace's email settings and an email's life.

An email is decided in two steps so nothing accepted is lost: the action writes the record
(queued, suppressed, or a draft for review) and a job sends it. The guards run when the
record is written and again when a draft is approved; a refusal is a `suppressed` record with
its reason, never a silent drop."""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.errors import Conflict, InvalidInput

MAX_ADDRESS = 320
MAX_NAME = 200
MAX_ROLE = 200
MAX_CAP_COUNT = 1000
MAX_CAP_DAYS = 365
ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\"]+$")
"""A plausible address: the provider is the judge of deliverability; this keeps out what can
never be one (no `@`, spaces, a display-name form)."""


class EmailStatus(StrEnum):
    DRAFT = "draft"  # review mode: waits for a person to approve or discard it
    QUEUED = "queued"  # accepted; the `emails.send` job sends it
    SENT = "sent"
    FAILED = "failed"  # the provider refused it for good, or the tries ran out
    SUPPRESSED = "suppressed"  # a guard refused it; `status_reason` says which
    DISCARDED = "discarded"  # a draft a person threw away


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class RecipientKind(StrEnum):
    PRIMARY_CONTACT = "primary_contact"
    ROLE = "role"
    OWNER = "owner"


@dataclass(frozen=True)
class Recipient:
    kind: RecipientKind
    role: str | None = None
    """With `ROLE`: the contact role, compared without regard to case."""


@dataclass(frozen=True)
class Sender:
    """`email` None: the integration's sender address, the owner's name, the owner as
    reply-to (`from: "owner"`, the default)."""

    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class SendEmailParams:
    template_id: str
    to: Recipient = Recipient(RecipientKind.PRIMARY_CONTACT)
    sender: Sender = Sender()
    review: bool | None = None
    """None: the workspace's email settings decide."""
    integration_id: str | None = None
    allow_churned: bool = False


PARAMS = ("template_id", "to", "from", "review", "integration_id", "allow_churned")


def normalize_address(email: str) -> str:
    """The form the cap and the suppression list compare: trimmed and lower-cased."""
    return email.strip().lower()


def is_address(email: str) -> bool:
    return len(email) <= MAX_ADDRESS and ADDRESS.fullmatch(email.strip()) is not None


def parse_params(params: Mapping[str, Any]) -> tuple[SendEmailParams | None, list[str]]:
    """The action's parameters, or every problem with them at once."""
    problems: list[str] = []
    if extra := sorted(set(params) - set(PARAMS)):
        problems.append(f"unknown parameters: {', '.join(extra)}")
    template_id = params.get("template_id")
    if template_id is None:
        problems.append("`template_id` is required")
    elif not _is_uuid(template_id):
        problems.append("`template_id` must be an id")
    integration_id = params.get("integration_id")
    if integration_id is not None and not _is_uuid(integration_id):
        problems.append("`integration_id` must be an id")
    recipient, more = _recipient(params.get("to", RecipientKind.PRIMARY_CONTACT.value))
    problems += more
    sender, more = _sender(params.get("from", "owner"))
    problems += more
    for name in ("review", "allow_churned"):
        if name in params and not isinstance(params[name], bool):
            problems.append(f"`{name}` must be true or false")
    if problems:
        return None, problems
    assert isinstance(template_id, str)
    assert recipient is not None
    assert sender is not None
    return (
        SendEmailParams(
            template_id=template_id,
            to=recipient,
            sender=sender,
            review=params.get("review"),
            integration_id=integration_id,
            allow_churned=bool(params.get("allow_churned", False)),
        ),
        [],
    )


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


TO_DOC = '`to` must be "primary_contact", "owner" or {"role": "<contact role>"}'
FROM_DOC = '`from` must be "owner" or {"email": "<address>", "name": "<name>"}'


def _recipient(value: Any) -> tuple[Recipient | None, list[str]]:
    if value == RecipientKind.PRIMARY_CONTACT.value:
        return Recipient(RecipientKind.PRIMARY_CONTACT), []
    if value == RecipientKind.OWNER.value:
        return Recipient(RecipientKind.OWNER), []
    if isinstance(value, dict) and set(value) == {"role"}:
        role = value["role"]
        if isinstance(role, str) and 0 < len(role.strip()) <= MAX_ROLE:
            return Recipient(RecipientKind.ROLE, role.strip()), []
        return None, [f"`to.role` must be a contact role of 1..{MAX_ROLE} characters"]
    return None, [TO_DOC]


def _sender(value: Any) -> tuple[Sender | None, list[str]]:
    if value == "owner":
        return Sender(), []
    if not isinstance(value, dict) or not set(value) <= {"email", "name"} or "email" not in value:
        return None, [FROM_DOC]
    problems = []
    email, name = value.get("email"), value.get("name")
    if not isinstance(email, str) or not is_address(email):
        problems.append("`from.email` must be an email address")
    if name is not None and not (isinstance(name, str) and 0 < len(name) <= MAX_NAME):
        problems.append(f"`from.name` must be a name of 1..{MAX_NAME} characters")
    if problems:
        return None, problems
    assert isinstance(email, str)
    return Sender(email.strip(), name), []


# Settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailSettings:
    cap_count: int = 3
    """No address gets more than this many Tenure emails (queued or sent) ..."""
    cap_days: int = 7
    """... in this many days, across every trigger and cadence."""
    review: bool = False
    """The default of the action's `review`: every email waits as a draft for approval."""


DEFAULT_SETTINGS = EmailSettings()


def to_document(settings: EmailSettings) -> dict[str, Any]:
    return {
        "cap_count": settings.cap_count,
        "cap_days": settings.cap_days,
        "review": settings.review,
    }


def from_document(document: Mapping[str, Any]) -> EmailSettings:
    """A stored document over the defaults: a field added later reads as its default."""
    known = {k: v for k, v in document.items() if k in to_document(DEFAULT_SETTINGS)}
    return replace(DEFAULT_SETTINGS, **known)


def apply_changes(settings: EmailSettings, changes: Mapping[str, Any]) -> EmailSettings:
    problems = []
    for name in ("cap_count", "cap_days"):
        value = changes.get(name)
        high = MAX_CAP_COUNT if name == "cap_count" else MAX_CAP_DAYS
        if name in changes and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high
        ):
            problems.append(
                {"loc": ["body", name], "msg": f"a whole number in 1..{high}", "type": "range"}
            )
    if "review" in changes and not isinstance(changes["review"], bool):
        problems.append({"loc": ["body", "review"], "msg": "true or false", "type": "bool"})
    if problems:
        raise InvalidInput("the email settings are not valid", errors=problems)
    return replace(settings, **{k: v for k, v in changes.items() if k in to_document(settings)})


# Guards --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardInput:
    """What the guards read about one email about to be queued."""

    client_churned: bool
    allow_churned: bool
    suppression: str | None
    """The reason the address is on the suppression list, if it is."""
    recent_count: int
    """Tenure emails queued or sent to the address within the cap's window."""


def cap_window_start(settings: EmailSettings, now: datetime) -> datetime:
    return now - timedelta(days=settings.cap_days)


def refusal(facts: GuardInput, settings: EmailSettings) -> str | None:
    """Why the email must not go out, or None. The order puts the most lasting reason first,
    so the record says what a person must change."""
    if facts.client_churned and not facts.allow_churned:
        return "the client has churned (the action does not allow churned clients)"
    if facts.suppression is not None:
        return f"the address is on the suppression list ({facts.suppression})"
    if facts.recent_count >= settings.cap_count:
        return (
            f"the per-contact cap: the address had {facts.recent_count} email(s) in the last "
            f"{settings.cap_days} day(s), at most {settings.cap_count} allowed"
        )
    return None


# An email's life -----------------------------------------------------------------------------

COUNTED = (EmailStatus.QUEUED, EmailStatus.SENT)
"""What the per-contact cap counts: a draft is not yet outreach; a failure never arrived."""


def check_reviewable(status: EmailStatus) -> None:
    """Approve and discard act on drafts only."""
    if status is not EmailStatus.DRAFT:
        raise Conflict(f"the email is {status.value}; only a draft can be approved or discarded")
