"""SendGrid v3 Mail Send: one personalization per email, our ids in its `custom_args`, so the
event webhook reports opens, clicks and bounces with them."""

from collections.abc import Mapping
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

SEND_SCOPE = "mail.send"
SCOPES_SHOWN = 12
"""A full-access key has hundreds of scopes; the check names the first few."""


class SendGrid:
    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {credentials['api_key']}"}

    async def check(self) -> str:
        response = await self._http.request(
            "check", "GET", f"{self._base_url}/v3/scopes", headers=self._headers
        )
        scopes = _scopes(response)
        shown = ", ".join(scopes[:SCOPES_SHOWN])
        more = f" and {len(scopes) - SCOPES_SHOWN} more" if len(scopes) > SCOPES_SHOWN else ""
        if SEND_SCOPE not in scopes:
            raise ProviderError(
                f"the API key lacks the {SEND_SCOPE} scope (it has {len(scopes)}: "
                f"{shown or 'none'}{more})",
                retryable=False,
                status=response.status_code,
                code="missing_scope",
            )
        return f"the API key may send mail ({SEND_SCOPE}); {len(scopes)} scopes: {shown}{more}"

    async def send(self, email: OutgoingEmail) -> SentEmail:
        response = await self._http.request(
            "send_email",
            "POST",
            f"{self._base_url}/v3/mail/send",
            headers=self._headers,
            json=mail_body(email),
            request_id=_message_id,
        )
        return SentEmail(_message_id(response))


def mail_body(email: OutgoingEmail) -> dict[str, Any]:
    """The Mail Send body, in the shape the `sendgrid` SDK's `Mail.get()` builds."""
    personalization: dict[str, Any] = {"to": [_address(email.to)]}
    if email.metadata:
        personalization["custom_args"] = dict(email.metadata)
    content = [{"type": "text/plain", "value": email.text}]
    if email.html is not None:
        # SendGrid refuses any order but text/plain first, then text/html.
        content.append({"type": "text/html", "value": email.html})
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _address(email.sender),
        "subject": email.subject,
        "content": content,
    }
    if email.reply_to is not None:
        body["reply_to"] = _address(email.reply_to)
    return body


def _address(address: Address) -> dict[str, str]:
    if address.name:
        return {"email": address.email, "name": address.name}
    return {"email": address.email}


def _message_id(response: httpx.Response) -> str | None:
    message_id = response.headers.get("x-message-id")
    return str(message_id) if message_id else None


def _scopes(response: httpx.Response) -> list[str]:
    try:
        scopes = response.json()["scopes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            "the scopes answer is not the expected JSON", retryable=False, status=200
        ) from exc
    if not isinstance(scopes, list):
        raise ProviderError("the scopes answer has no scope list", retryable=False, status=200)
    return [str(scope) for scope in scopes]
