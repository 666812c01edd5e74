"""A fake Postmark API on 127.0.0.1: `POST /email` and `GET /server`, answering as Postmark does
(401 with ErrorCode 10 for a wrong server token, 422 with its ErrorCode for a refused message,
200 with ErrorCode 0 and a MessageID when sent), and keeping what it accepted."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import HeaderRegistry
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeSender

SERVER_TOKEN = "fake-postmark-server-token"
SERVER_NAME = "Tenure tests"
MAX_RECIPIENTS = 50
STREAMS = ("outbound",)
INACTIVE_RECIPIENT = 406


@dataclass(frozen=True)
class Mailbox:
    name: str
    email: str


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    body: dict[str, Any]
    sender: Mailbox
    """`From` as a mail client reads it (the quoting undone)."""
    recipients: tuple[Mailbox, ...]


class FakePostmark(FakeSender[ReceivedMessage]):
    """Serves while entered (`with FakePostmark() as fake:`) or as the `fake_postmark` fixture."""

    def __init__(self, server_token: str = SERVER_TOKEN, server_name: str = SERVER_NAME) -> None:
        super().__init__()
        self.server_token = server_token
        self.server_name = server_name
        self.inactive: set[str] = set()
        """Recipients Postmark has marked inactive (a hard bounce, a complaint): refused, 406."""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/email", self._send, methods=["POST"]),
                Route("/server", self._server_info, methods=["GET"]),
            ]
        )

    async def _send(self, request: Request) -> Response:
        refused = await self.faults.intercept(request) or self._unauthorized(request)
        if refused is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _refusal(409, "JSON required.")
        try:
            body = await request.json()
        except ValueError:
            return _refusal(402, "Invalid JSON.")
        if not isinstance(body, dict):
            return _refusal(403, "Incompatible JSON: an object is expected.")
        sender = _mailboxes(body.get("From"))
        if sender is None or len(sender) != 1:
            return _refusal(300, f"Invalid 'From' address: '{body.get('From')}'.")
        recipients = _mailboxes(body.get("To"))
        if not recipients:
            return _refusal(300, "Zero recipients specified")
        if len(recipients) > MAX_RECIPIENTS:
            return _refusal(300, f"Maximum of {MAX_RECIPIENTS} recipients allowed.")
        if "ReplyTo" in body and not _mailboxes(body["ReplyTo"]):
            return _refusal(300, f"Invalid 'ReplyTo' address: '{body['ReplyTo']}'.")
        if not body.get("TextBody") and not body.get("HtmlBody"):
            return _refusal(300, "Provide either email TextBody or HtmlBody or both.")
        if body.get("MessageStream", "outbound") not in STREAMS:
            return _refusal(1235, "The message stream for the provided 'ID' was not found.")
        metadata = body.get("Metadata", {})
        if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()
        ):
            return _refusal(300, "Metadata values must be strings.")
        inactive = [box.email for box in recipients if box.email.lower() in self.inactive]
        if inactive:
            return _refusal(
                INACTIVE_RECIPIENT,
                "You tried to send to recipient(s) that have been marked as inactive. "
                f"Found inactive addresses: {', '.join(inactive)}.",
            )
        message_id = str(uuid.uuid4())
        self._keep(ReceivedMessage(message_id, body, sender[0], tuple(recipients)))
        return JSONResponse(
            {
                "To": body["To"],
                "SubmittedAt": datetime.now(UTC).isoformat(),
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        )

    async def _server_info(self, request: Request) -> Response:
        refused = await self.faults.intercept(request) or self._unauthorized(request)
        return refused or JSONResponse(
            {"ID": 1, "Name": self.server_name, "Color": "blue", "DeliveryType": "Live"}
        )

    def _unauthorized(self, request: Request) -> Response | None:
        if request.headers.get("x-postmark-server-token") == self.server_token:
            return None
        return _refusal(10, "Request does not contain a valid Server token.", status=401)


def _mailboxes(value: object) -> list[Mailbox] | None:
    """The addresses of a header value (`"Doe, Jane" <j@x.com>, k@y.com`); None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        header = HeaderRegistry()("To", value)
        addresses = getattr(header, "addresses", ())
    except (HeaderParseError, ValueError, IndexError):
        return None
    if getattr(header, "defects", ()):
        return None
    boxes = [Mailbox(a.display_name, a.addr_spec) for a in addresses]
    return boxes if all(box.email.count("@") == 1 for box in boxes) else None


def _refusal(code: int, message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"ErrorCode": code, "Message": message}, status_code=status)


@pytest.fixture
def fake_postmark() -> Iterator[FakePostmark]:
    with FakePostmark() as fake:
        yield fake
