"""Which client class speaks for each integration kind: the one place a kind becomes code."""

from collections.abc import Mapping
from typing import Protocol, TypeVar

from app.domain.integrations import IntegrationKind
from app.integrations.base import CredentialsChanged, CrmProvider, EmailProvider
from app.integrations.http import ProviderHttp
from app.integrations.hubspot import HubSpot
from app.integrations.log import LogEmail
from app.integrations.postmark import Postmark
from app.integrations.salesforce import Salesforce
from app.integrations.sendgrid import SendGrid
from app.integrations.smtp import Smtp

P_co = TypeVar("P_co", covariant=True)


class ProviderClass(Protocol[P_co]):
    """The constructor every provider client has."""

    def __call__(
        self,
        http: ProviderHttp,
        base_url: str,
        credentials: Mapping[str, str],
        on_credentials: CredentialsChanged | None = None,
    ) -> P_co: ...


EMAIL_PROVIDERS: dict[IntegrationKind, ProviderClass[EmailProvider]] = {
    IntegrationKind.SENDGRID: SendGrid,
    IntegrationKind.POSTMARK: Postmark,
    IntegrationKind.SMTP: Smtp,
    IntegrationKind.LOG: LogEmail,
}
CRM_PROVIDERS: dict[IntegrationKind, ProviderClass[CrmProvider]] = {
    IntegrationKind.HUBSPOT: HubSpot,
    IntegrationKind.SALESFORCE: Salesforce,
}


class UnsupportedKind(Exception):
    """A kind with no client in this build for the purpose asked."""


def email_provider(
    kind: IntegrationKind,
    http: ProviderHttp,
    base_url: str,
    credentials: Mapping[str, str],
    on_credentials: CredentialsChanged | None = None,
) -> EmailProvider:
    try:
        cls = EMAIL_PROVIDERS[kind]
    except KeyError:
        raise UnsupportedKind(f"{kind.value} is not an email provider") from None
    return cls(http, base_url, credentials, on_credentials)


def crm_provider(
    kind: IntegrationKind,
    http: ProviderHttp,
    base_url: str,
    credentials: Mapping[str, str],
    on_credentials: CredentialsChanged | None = None,
) -> CrmProvider:
    try:
        cls = CRM_PROVIDERS[kind]
    except KeyError:
        raise UnsupportedKind(f"{kind.value} is not a CRM") from None
    return cls(http, base_url, credentials, on_credentials)
