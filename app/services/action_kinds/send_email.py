"""`send_email`: an email written for the client from a template, to its primary contact, a
contact of a role or its owner, through the workspace's email integration.

The action writes the email record only (queued with its send job, suppressed with the
guard's reason, or a draft with a review task); the job `emails.send` calls the provider. One
email per action run: a retried action finds the email it made.

Parameters: `template_id` (required); `to`: "primary_contact" (default), "owner" or
{"role": "<contact role>"}; `from`: "owner" (default: the integration's sender address with
the owner's name, the owner as reply-to) or {"email", "name"}; `review` (default: the
workspace's email settings); `integration_id` (default: the workspace's email integration);
`allow_churned` (default false)."""

from collections.abc import Mapping
from typing import Any

from app.domain.emails import parse_params
from app.errors import AppError
from app.services.actions import ActionContext, ActionFailed
from app.services.emails import EmailCause, compose


class SendEmail:
    name = "send_email"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        return parse_params(params)[1]

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        parsed, problems = parse_params(params)
        if parsed is None:  # written before a rule tightened: the definition must change
            raise ActionFailed("; ".join(problems))
        cause = EmailCause(context.action_run_id, context.trigger_id, context.cadence_id)
        try:
            email, created = await compose(
                context.session, context.workspace_id, context.client_id, parsed, cause, context.now
            )
        except AppError as exc:  # no recipient, template or integration: the data must change
            raise ActionFailed(exc.detail, retryable=False) from exc
        result: dict[str, Any] = {
            "email_id": str(email.id),
            "status": email.status,
            "created": created,
        }
        if email.status_reason:
            result["reason"] = email.status_reason
        if email.task_id is not None:
            result["task_id"] = str(email.task_id)
        return result
