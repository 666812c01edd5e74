"""What an integration accepts from a client: its kind's credential fields, a bounded options
document. Pure checks; the service turns the problems into a 422."""

from collections.abc import Mapping
from typing import Any

from app.domain.integrations import KINDS, IntegrationKind, KindSpec
from app.domain.limits import MAX_JSON_DEPTH, JsonFault, json_fault, json_size

MAX_CREDENTIAL_CHARS = 8192
"""A credential value: keys and tokens are far shorter; a Salesforce refresh token is ~100."""
MAX_CREDENTIAL_NAME_CHARS = 64
MAX_OPTIONS_BYTES = 16_384
MAX_OPTIONS_DEPTH = MAX_JSON_DEPTH
"""The limit of every free-form JSON field; the size cap is what keeps options small."""


def credential_problems(
    kind: IntegrationKind, credentials: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every missing required field and every field the kind does not know, at its location.
    Values are never quoted: a problem names fields only."""
    spec = KINDS[kind]
    known = (*spec.required, *spec.optional)
    problems: list[dict[str, Any]] = []
    for name in spec.required:
        if name not in credentials:
            problems.append(
                {
                    "loc": ["body", "credentials", name],
                    "msg": f"required for kind {kind.value}",
                    "type": "missing",
                }
            )
    for name in credentials:
        if name not in known:
            problems.append(
                {
                    "loc": ["body", "credentials", name],
                    "msg": f"not a credential of kind {kind.value}; it takes "
                    + describe_fields(spec),
                    "type": "unknown_credential",
                }
            )
    return problems


def describe_fields(spec: KindSpec) -> str:
    if not spec.required and not spec.optional:
        return "no credentials"
    text = "required: " + (", ".join(spec.required) or "none")
    if spec.optional:
        text += "; optional: " + ", ".join(spec.optional)
    return text


OPTIONS_TOO_LARGE = JsonFault(
    "options_too_large", f"options must be at most {MAX_OPTIONS_BYTES} bytes as compact JSON"
)


def options_fault(options: Mapping[str, Any]) -> JsonFault | None:
    if fault := json_fault(dict(options), MAX_OPTIONS_DEPTH):
        return fault
    if json_size(dict(options)) > MAX_OPTIONS_BYTES:
        return OPTIONS_TOO_LARGE
    return None


def base_url_problem(kind: IntegrationKind, base_url: str | None) -> str | None:
    """A kind without a default URL (SMTP names its host in the credentials; `log`) takes none."""
    if base_url is not None and KINDS[kind].default_base_url is None:
        return f"kind {kind.value} takes no base_url"
    return None


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every credential value of some length replaced: a provider may echo what it
    was sent in an error, and such text reaches logs and API answers."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text
