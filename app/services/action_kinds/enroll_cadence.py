"""`enroll_cadence`: puts the client in a cadence (`params.cadence_id`), through
`app.services.cadence_enrolment.enroll_once`. Idempotent: a client already in the cadence
stays where it stands. A cadence that is gone or disabled fails the action for good."""

import uuid
from collections.abc import Mapping
from typing import Any

from app.domain.actions import check_known, check_uuid
from app.domain.cadences import EnrollmentSource
from app.errors import AppError
from app.services.actions import ActionContext, ActionFailed
from app.services.cadence_enrolment import enroll_once


class EnrollCadence:
    name = "enroll_cadence"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        return [
            *check_known(params, ("cadence_id",)),
            *check_uuid(params, "cadence_id", required=True),
        ]

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            enrollment, created = await enroll_once(
                context.session,
                context.workspace_id,
                cadence_id=uuid.UUID(params["cadence_id"]),
                client_id=context.client_id,
                now=context.now,
                source=EnrollmentSource.TRIGGER,
            )
        except AppError as exc:  # the cadence or the client is gone, or the cadence disabled
            raise ActionFailed(exc.detail, retryable=False) from exc
        return {"enrollment_id": str(enrollment.id), "enrolled": created}
