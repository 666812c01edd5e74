"""A fake SendGrid v3 API on 127.0.0.1: Mail Send and the scopes check, refusing what the real
API refuses (a wrong key, missing fields, more than 1000 personalizations, content in the
wrong order) with SendGrid's error shape, and keeping what it accepted."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeSender

API_KEY = "SG.fake-key.for-tests"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
DEFAULT_SCOPES = ("mail.send", "scopes.read", "user.profile.read")


@dataclass(frozen=True)
class ReceivedMail:
    message_id: str
    body: dict[str, Any]


class FakeSendGrid(FakeSender[ReceivedMail]):
    """Serves while entered (`with FakeSendGrid() as fake:`) or as the `fake_sendgrid` fixture."""

    def __init__(self, api_key: str = API_KEY, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> None:
        super().__init__()
        self.api_key = api_key
        self.scopes = list(scopes)
        self.invalid_recipients: set[str] = set()
        """Addresses refused with 400 as SendGrid refuses one it deems invalid."""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/mail/send", self._send, methods=["POST"]),
                Route("/v3/scopes", self._scopes, methods=["GET"]),
            ]
        )

    async def _send(self, request: Request) -> Response:
        refused = await self.faults.intercept(request) or self._unauthorized(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _errors([("Bad Request", None)])
        problems = mail_problems(body) or self._invalid_recipients(body)
        if problems:
            return _errors(problems)
        message_id = secrets.token_urlsafe(16)
        self._keep(ReceivedMail(message_id, body))
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    async def _scopes(self, request: Request) -> Response:
        refused = await self.faults.intercept(request) or self._unauthorized(request)
        return refused or JSONResponse({"scopes": self.scopes})

    def _invalid_recipients(self, body: dict[str, Any]) -> list[tuple[str, str | None]]:
        return [
            ("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email")
            for i, personalization in enumerate(body["personalizations"])
            for j, to in enumerate(personalization["to"])
            if to["email"].lower() in self.invalid_recipients
        ]

    def _unauthorized(self, request: Request) -> Response | None:
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return _errors(
            [("The provided authorization grant is invalid, expired, or revoked", None)],
            status=401,
        )


def mail_problems(body: object) -> list[tuple[str, str | None]]:
    """What SendGrid's Mail Send refuses, as (message, field) pairs."""
    if not isinstance(body, dict):
        return [("The request body must be a JSON object", None)]
    problems: list[tuple[str, str | None]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(
            (
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
            )
        )
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        problems.append(
            (
                f"The personalizations field must have no more than {MAX_PERSONALIZATIONS} items.",
                "personalizations",
            )
        )
    for index, personalization in enumerate(personalizations):
        field = f"personalizations.{index}"
        if not isinstance(personalization, dict):
            problems.append(("Each personalization must be an object.", field))
            continue
        recipients = personalization.get("to")
        if not isinstance(recipients, list) or not recipients:
            problems.append(
                (
                    "The to array is required for all personalization objects, "
                    "and must have at least one email object with a valid email "
                    "address.",
                    f"{field}.to",
                )
            )
        elif len(recipients) > MAX_RECIPIENTS:
            problems.append((f"No more than {MAX_RECIPIENTS} recipients.", f"{field}.to"))
        else:
            for position, recipient in enumerate(recipients):
                if not _is_address(recipient):
                    problems.append(
                        ("Does not contain a valid address.", f"{field}.to.{position}.email")
                    )
        custom_args = personalization.get("custom_args", {})
        if not isinstance(custom_args, dict) or not all(
            isinstance(value, str) for value in custom_args.values()
        ):
            problems.append(("Custom args values must be strings.", f"{field}.custom_args"))
        elif sum(len(f"{k}{v}".encode()) for k, v in custom_args.items()) > MAX_CUSTOM_ARGS_BYTES:
            # Each personalization is a message of its own, and the limit is per message.
            problems.append(("The custom_args exceed 10,000 bytes.", f"{field}.custom_args"))
    if not _is_address(body.get("from")):
        problems.append(
            (
                "The from object must be provided for every email send. It is an "
                "object that requires the email parameter, but may also contain a "
                "name parameter.",
                "from.email",
            )
        )
    if "reply_to" in body and not _is_address(body["reply_to"]):
        problems.append(("The reply_to email does not contain a valid address.", "reply_to"))
    has_template = isinstance(body.get("template_id"), str)
    subject = body.get("subject")
    every_own_subject = all(
        isinstance(p, dict) and isinstance(p.get("subject"), str) for p in personalizations
    )
    if not has_template and not every_own_subject and not (isinstance(subject, str) and subject):
        problems.append(
            (
                "The subject is required. You can get around this requirement if you "
                "use a template with a subject defined or if every personalization "
                "has a subject defined.",
                "subject",
            )
        )
    problems.extend(_content_problems(body.get("content"), has_template))
    return problems


def _content_problems(content: object, has_template: bool) -> list[tuple[str, str | None]]:
    if content is None and has_template:
        return []
    if not isinstance(content, list) or not content:
        return [
            (
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.",
                "content",
            )
        ]
    problems: list[tuple[str, str | None]] = []
    types: list[str] = []
    for index, block in enumerate(content):
        if (
            not isinstance(block, dict)
            or not isinstance(block.get("type"), str)
            or not isinstance(block.get("value"), str)
            or not block["value"]
        ):
            problems.append(
                (
                    "The content value must be a string at least one character in length.",
                    f"content.{index}.value",
                )
            )
            continue
        types.append(block["type"])
    expected = [kind for kind in ("text/plain", "text/html") if kind in types]
    if types[: len(expected)] != expected:
        problems.append(
            (
                "If present, text/plain and text/html may only be provided in order, "
                "following each other, and before any other content.",
                "content",
            )
        )
    return problems


def _is_address(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    email = value.get("email")
    name = value.get("name", "")
    return isinstance(email, str) and "@" in email.strip("@") and isinstance(name, str)


def _errors(problems: list[tuple[str, str | None]], status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": m, "field": f, "help": None} for m, f in problems]},
        status_code=status,
    )


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake
