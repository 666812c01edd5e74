"""All tables, imported here so that metadata is complete for Alembic."""

from app.db.models.api_key import ApiKey
from app.db.models.cadence import Cadence, CadenceEnrollment
from app.db.models.client import Client, ClientStageChange
from app.db.models.contact import Contact
from app.db.models.contract import Contract
from app.db.models.crm import CrmLink, CrmSync
from app.db.models.email import Email, EmailSuppression
from app.db.models.email_settings import EmailSettingsRecord
from app.db.models.email_template import EmailTemplate
from app.db.models.event import Event, EventKey, Ticket
from app.db.models.health import HealthOverride, HealthSnapshot, Scorecard, ScorecardVersion
from app.db.models.idempotency import IdempotencyRecord
from app.db.models.integration import Integration, IntegrationCall
from app.db.models.outbox import OutboxMessage
from app.db.models.owner import Owner
from app.db.models.signal import Signal, SignalSettingsRecord
from app.db.models.task import Task, TaskSettingsRecord
from app.db.models.trigger import (
    ActionRun,
    Trigger,
    TriggerRun,
    TriggerSettingsRecord,
    TriggerVersion,
)
from app.db.models.workspace import Workspace

__all__ = [
    "ActionRun",
    "ApiKey",
    "Cadence",
    "CadenceEnrollment",
    "Client",
    "ClientStageChange",
    "Contact",
    "Contract",
    "CrmLink",
    "CrmSync",
    "Email",
    "EmailSettingsRecord",
    "EmailSuppression",
    "EmailTemplate",
    "Event",
    "EventKey",
    "HealthOverride",
    "HealthSnapshot",
    "IdempotencyRecord",
    "Integration",
    "IntegrationCall",
    "OutboxMessage",
    "Owner",
    "Scorecard",
    "ScorecardVersion",
    "Signal",
    "SignalSettingsRecord",
    "Task",
    "TaskSettingsRecord",
    "Ticket",
    "Trigger",
    "TriggerRun",
    "TriggerSettingsRecord",
    "TriggerVersion",
    "Workspace",
]
