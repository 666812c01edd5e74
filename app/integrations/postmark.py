"""Postmark's Email API: one message per `POST /email` on the transactional ("outbound")
stream, our ids in `Metadata`, which Postmark hands back in its webhooks."""

import json
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress
from typing import Any

import httpx

from app.integrations.base import (
    Address,
    CredentialsChanged,
    OutgoingEmail,
    ProviderError,
    SentEmail,
)
from app.integrations.http import ProviderHttp

MESSAGE_STREAM = "outbound"


class Postmark:
    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "X-Postmark-Server-Token": credentials["server_token"],
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    async def check(self) -> str:
        response = await self._call("check", "GET", "/server", None)
        answer = _json_object(response)
        name = answer.get("Name")
        if not isinstance(name, str):
            raise ProviderError("the server answer has no Name", retryable=False, status=200)
        return f"server token of the Postmark server {name!r}"

    async def send(self, email: OutgoingEmail) -> SentEmail:
        response = await self._call("send_email", "POST", "/email", message_body(email))
        answer = _json_object(response)
        code = answer.get("ErrorCode")
        if code != 0:
            # Postmark answers a refusal with 422, but its ErrorCode is the word that counts.
            raise ProviderError(
                f"Postmark error {code}: {answer.get('Message')}",
                retryable=False,
                status=response.status_code,
                code=str(code),
            )
        message_id = answer.get("MessageID")
        return SentEmail(message_id if isinstance(message_id, str) else None)

    async def _call(
        self, operation: str, method: str, path: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        try:
            return await self._http.request(
                operation,
                method,
                f"{self._base_url}{path}",
                headers=self._headers,
                json=body,
                request_id=_request_id,
            )
        except ProviderError as error:
            raise _with_postmark_code(error) from error


def message_body(email: OutgoingEmail) -> dict[str, Any]:
    body: dict[str, Any] = {
        "From": mailbox(email.sender),
        "To": mailbox(email.to),
        "Subject": email.subject,
        "TextBody": email.text,
        "MessageStream": MESSAGE_STREAM,
    }
    if email.html is not None:
        body["HtmlBody"] = email.html
    if email.reply_to is not None:
        body["ReplyTo"] = mailbox(email.reply_to)
    if email.metadata:
        body["Metadata"] = dict(email.metadata)
    return body


def mailbox(address: Address) -> str:
    """`Name <email>`, the name quoted when it holds specials (`"Doe, Jane" <j@x.com>`)."""
    if not address.name:
        return address.email
    try:
        return str(HeaderAddress(display_name=address.name, addr_spec=address.email))
    except (ValueError, HeaderParseError) as exc:
        raise ProviderError(
            f"not a usable address: {address.email!r} ({exc})", retryable=False
        ) from exc


def _request_id(response: httpx.Response) -> str | None:
    try:
        message_id = response.json().get("MessageID")
    except (ValueError, AttributeError):
        return None
    return message_id if isinstance(message_id, str) else None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as exc:
        raise ProviderError(
            "the answer is not JSON", retryable=False, status=response.status_code
        ) from exc
    if not isinstance(answer, dict):
        raise ProviderError(
            "the answer is not a JSON object", retryable=False, status=response.status_code
        )
    return answer


def _with_postmark_code(error: ProviderError) -> ProviderError:
    """The refusal with Postmark's own ErrorCode and Message (406: inactive recipient, 10: bad
    token, 300: invalid request), read from the refused answer."""
    try:
        answer = json.loads(error.body or "")
    except ValueError:
        return error
    if not isinstance(answer, dict) or "ErrorCode" not in answer:
        return error
    return ProviderError(
        f"{error.status} Postmark error {answer['ErrorCode']}: {answer.get('Message')}",
        retryable=error.retryable,
        retry_after=error.retry_after,
        status=error.status,
        code=str(answer["ErrorCode"]),
    )
