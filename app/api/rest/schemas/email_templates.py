import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    Name,
    Paginated,
    example,
    optional,
)
from app.domain import email_context
from app.domain.email_templates import BODY_SOURCE_MAX, SUBJECT_SOURCE_MAX

Description = Annotated[str, StringConstraints(max_length=2000)]
# Characters here; the domain also caps a body at BODY_SOURCE_MAX UTF-8 bytes and says so.
Subject = Annotated[
    str,
    Field(
        min_length=1,
        max_length=SUBJECT_SOURCE_MAX,
        description="One line once rendered, at most 998 characters.",
    ),
]
TextBody = Annotated[
    str,
    Field(
        min_length=1,
        max_length=BODY_SOURCE_MAX,
        description=f"Plain text; values are not escaped. At most {BODY_SOURCE_MAX:,} bytes.",
    ),
]
HtmlBody = Annotated[
    str,
    Field(
        min_length=1,
        max_length=BODY_SOURCE_MAX,
        description=f"HTML; every value is escaped. At most {BODY_SOURCE_MAX:,} bytes.",
    ),
]

EXAMPLE_SUBJECT = "{{ client.name }}: checking in"
EXAMPLE_TEXT = (
    "Hi {{ contact.first_name|default('there') }},\n\n"
    "Your renewal is on {{ renewal_date|date }}. Could we talk this week?\n\n"
    "{{ owner.first_name }}"
)
EXAMPLE_HTML = "<p>Hi {{ contact.first_name|default('there') }},</p>"


class EmailTemplateCreate(InputModel):
    model_config = example(
        name="Renewal check-in",
        description="Sent 60 days before renewal",
        subject=EXAMPLE_SUBJECT,
        text_body=EXAMPLE_TEXT,
        html_body=EXAMPLE_HTML,
    )

    name: Name
    description: Description | None = None
    subject: Subject
    text_body: TextBody
    html_body: HtmlBody | None = None


class EmailTemplateUpdate(InputModel):
    model_config = example(subject="{{ client.name }}: a quick question")

    name: Name = optional()
    description: Description | None = optional()
    subject: Subject = optional()
    text_body: TextBody = optional()
    html_body: HtmlBody | None = optional("null removes the HTML body.")


class EmailTemplateRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="Renewal check-in",
        description="Sent 60 days before renewal",
        subject=EXAMPLE_SUBJECT,
        text_body=EXAMPLE_TEXT,
        html_body=EXAMPLE_HTML,
        version=1,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    description: str | None
    subject: str
    text_body: str
    html_body: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class EmailTemplatePage(Paginated[EmailTemplateRead]):
    pass


class EmailPreviewRequest(InputModel):
    model_config = example(client_id=EXAMPLE_ID)

    client_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(
        default=None,
        description="The recipient; by default the client's primary contact.",
    )


class EmailSourcePreviewRequest(InputModel):
    model_config = example(subject=EXAMPLE_SUBJECT, text_body=EXAMPLE_TEXT, client_id=EXAMPLE_ID)

    subject: Subject
    text_body: TextBody
    html_body: HtmlBody | None = None
    client_id: uuid.UUID | None = Field(
        default=None, description="Render for this client; without it, for an example client."
    )
    contact_id: uuid.UUID | None = Field(
        default=None, description="The recipient; by default the client's primary contact."
    )


class Recipient(BaseModel):
    email: str
    name: str | None


class EmailPreview(BaseModel):
    model_config = example(
        subject="Globex: checking in",
        text="Hi Hank,\n\nYour renewal is on January 31, 2027. Could we talk this week?\n\nDana",
        html="<p>Hi Hank,</p>",
        to={"email": "hank@globex.example", "name": "Hank Scorpio"},
        context=email_context.as_json(email_context.EXAMPLE),
    )

    subject: str
    text: str
    html: str | None
    to: Recipient | None = Field(description="The contact it would go to; null without one.")
    context: dict[str, Any] = Field(description="The variables the template was rendered with.")
