"""Integration kinds: what each provider account needs and what it is for.

Credentials are write-only: given on create or update, stored encrypted, never returned. Each
kind lists its fields here, once, for validation and for the API's description."""

from dataclasses import dataclass
from enum import StrEnum


class IntegrationKind(StrEnum):
    SENDGRID = "sendgrid"
    POSTMARK = "postmark"
    SMTP = "smtp"
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"
    LOG = "log"
    """Development: records what it would send, sends nothing."""


class Purpose(StrEnum):
    EMAIL = "email"
    CRM = "crm"


@dataclass(frozen=True)
class KindSpec:
    purpose: Purpose
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    default_base_url: str | None = None
    """None: the kind needs no URL (SMTP names its host in the credentials; `log`)."""
    timeout_seconds: float = 15.0


KINDS: dict[IntegrationKind, KindSpec] = {
    IntegrationKind.SENDGRID: KindSpec(
        Purpose.EMAIL, ("api_key",), default_base_url="https://api.sendgrid.com"
    ),
    IntegrationKind.POSTMARK: KindSpec(
        Purpose.EMAIL, ("server_token",), default_base_url="https://api.postmarkapp.com"
    ),
    IntegrationKind.SMTP: KindSpec(
        Purpose.EMAIL,
        ("host", "port", "username", "password"),
        # starttls: "true" (default) or "false"; ca_pem: the PEM certificate(s) to trust
        # instead of the system's store (a private CA, a self-signed test server).
        optional=("starttls", "ca_pem"),
        timeout_seconds=30.0,
    ),
    IntegrationKind.HUBSPOT: KindSpec(
        Purpose.CRM, ("access_token",), default_base_url="https://api.hubapi.com"
    ),
    IntegrationKind.SALESFORCE: KindSpec(
        Purpose.CRM,
        ("client_id", "client_secret", "refresh_token", "instance_url"),
        optional=("access_token", "login_url", "api_version"),
        timeout_seconds=20.0,
    ),
    IntegrationKind.LOG: KindSpec(Purpose.EMAIL, (), timeout_seconds=1.0),
}
