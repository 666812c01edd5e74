"""`open_signal` and `resolve_signal`: a custom signal kind a trigger raises and clears.

Custom kinds are named `custom.<word>` (at most 25 characters after the prefix), so they never
collide with the kinds Tenure detects; detection leaves them as they are. One unresolved signal
per client and kind holds for them too: opening one that is open changes nothing. They are
announced like any signal (`signal.opened`, `signal.resolved`), so other triggers and webhooks
see them."""

from collections.abc import Mapping
from typing import Any

from app.db.repositories.signals import NewSignal, SignalRepository
from app.domain.actions import check_choice, check_known, check_text
from app.domain.signals import Severity
from app.domain.triggers import CUSTOM_SIGNAL
from app.facts import SignalsOpened, SignalsResolved
from app.services.actions import ActionContext
from app.services.outbox import emit
from app.services.signals import opened_fact, resolved_fact

SEVERITIES = [s.value for s in Severity]


def _kind_problems(params: Mapping[str, Any]) -> list[str]:
    kind = params.get("kind")
    if not isinstance(kind, str) or not CUSTOM_SIGNAL.fullmatch(kind):
        return ["`kind` must be a custom kind: `custom.` then a lower-case word (at most 25)"]
    return []


class OpenSignal:
    name = "open_signal"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        return [
            *check_known(params, ("kind", "severity", "note")),
            *_kind_problems(params),
            *check_choice(params, "severity", SEVERITIES),
            *check_text(params, "note", 500),
        ]

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        figures: dict[str, Any] = {"note": params.get("note")}
        if context.trigger_id is not None:
            figures["trigger_id"] = str(context.trigger_id)
        signal = NewSignal(
            context.client_id, params["kind"], params.get("severity", "medium"), figures
        )
        opened = await SignalRepository(context.session).open(
            context.workspace_id, [signal], context.now
        )
        if not opened:
            return {"opened": False, "reason": "a signal of this kind is already open"}
        await emit(
            context.session,
            [SignalsOpened(signals=[opened_fact(signal, context.now)])],
            workspace_id=context.workspace_id,
            now=context.now,
        )
        return {"opened": True, "signal_id": str(signal.id)}


class ResolveSignal:
    name = "resolve_signal"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        return [*check_known(params, ("kind",)), *_kind_problems(params)]

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        repository = SignalRepository(context.session)
        unresolved = await repository.unresolved(context.workspace_id, [context.client_id])
        found = [s for s in unresolved.get(context.client_id, []) if s.kind == params["kind"]]
        resolved = await repository.resolve([s.id for s in found], context.now)
        facts = [resolved_fact(s, context.now) for s in found if s.id in resolved]
        if facts:
            await emit(
                context.session,
                [SignalsResolved(signals=facts)],
                workspace_id=context.workspace_id,
                now=context.now,
            )
        return {"resolved": [str(f.signal_id) for f in facts]}
