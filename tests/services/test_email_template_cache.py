"""A stored template compiles once per source: every email of a trigger renders the same one."""

from app.db.models import EmailTemplate
from app.domain.email_context import EXAMPLE
from app.domain.email_templates import render
from app.services.email_templates import compile_stored


def _template(subject: str) -> EmailTemplate:
    return EmailTemplate(subject=subject, text_body="Hi {{ contact.first_name }}", html_body=None)


def test_the_same_source_compiles_once_and_an_edit_compiles_anew() -> None:
    first = compile_stored(_template("Checking in, {{ client.name }}"))
    again = compile_stored(_template("Checking in, {{ client.name }}"))
    edited = compile_stored(_template("How are things, {{ client.name }}?"))

    assert again is first
    assert edited is not first
    rendered = render(edited, EXAMPLE)
    assert rendered.subject == f"How are things, {EXAMPLE['client']['name']}?"
