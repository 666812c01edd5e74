"""The development email kind: sends nothing, so a workspace can run its playbooks end to end
(the email record keeps what would have gone out) without a provider account."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from app.integrations.base import CredentialsChanged, OutgoingEmail, ProviderCall, SentEmail
from app.integrations.http import ProviderHttp


class LogEmail:
    def __init__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> None:
        self._http = http

    async def check(self) -> str:
        return "the log kind records emails and sends none"

    async def send(self, email: OutgoingEmail) -> SentEmail:
        message_id = f"log-{uuid.uuid4()}"
        self._http.record(
            ProviderCall(
                operation="send_email",
                method="LOG",
                url="log:",
                started_at=datetime.now(UTC),
                latency_ms=0.0,
                attempt=1,
                request_id=message_id,
            )
        )
        return SentEmail(message_id)
