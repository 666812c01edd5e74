"""Trigger evaluation: a fact wakes the triggers waiting for it, a schedule sweeps the
portfolio, a person runs one by hand. Each way ends the same: the clients that match, the
control policy (`app.domain.triggers.decide`), one recorded run per decision, the actions of
the fired ones scheduled. Reads are in bulk (client views, run history, the cap's counts), a
constant number of statements per fact or per page of a schedule.

What is recorded: every decision for a client that matched, with the condition's values;
clients that did not match leave nothing. A schedule, which sees every still-matching client
again at each tick, records fired, held-out and capped decisions but not the ones re-entry
holds back (`cooled_down`, `already_fired`): those would repeat for every client at every tick
and explain nothing new."""

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Trigger, TriggerVersion
from app.db.repositories.client_views import ClientViewRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.db.repositories.triggers import TriggerRepository
from app.domain.conditions import MATCH_ALL, Condition, FieldName, evaluate, leaves
from app.domain.triggers import (
    CAP_WINDOW,
    DEFAULT_FREQUENCY_CAP,
    WAKES,
    Decision,
    Definition,
    DefinitionInvalid,
    Outcome,
    RunHistory,
    Tally,
    Wake,
    WhenKind,
    decide,
    forced,
    held_back_since,
    merge_wakes,
    parse_definition,
)
from app.facts import (
    ClientsUpdated,
    ContractsEnded,
    EventsIngested,
    HealthChanged,
    SignalsOpened,
    SignalsResolved,
)
from app.services.actions import ActionTarget, action_kinds, schedule_many

log = logging.getLogger("tenure.triggers")

EVALUATE_JOB = "triggers.evaluate"
SCHEDULE_PAGE = 10_000
"""Clients per page of a schedule's sweep: one statement for the page's matches with their run
history, cap counts and the rows their values are read from, one insert of the runs and two of
the actions. Each page runs the condition again, so pages are large."""
DUE_PER_TICK = 200
SCHEDULE_QUIET = (Outcome.COOLED_DOWN, Outcome.ALREADY_FIRED)


@dataclass(frozen=True)
class LiveTrigger:
    id: uuid.UUID
    version: int
    definition: Definition


@dataclass
class Summary:
    """What an evaluation decided, by outcome: the job's result."""

    triggers: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1

    def document(self) -> dict[str, Any]:
        return {"triggers": self.triggers, "outcomes": dict(sorted(self.outcomes.items()))}


@dataclass(frozen=True)
class Candidate:
    """A client that matched, with what explains it."""

    client_id: uuid.UUID
    values: dict[str, Any]
    signal_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Decided:
    client_id: uuid.UUID
    decision: Decision
    run_id: uuid.UUID | None
    """None when the decision was not recorded (a schedule's quiet re-entry)."""


def reads(conditions: Sequence[Condition]) -> set[FieldName]:
    """The fields these conditions read: what their clients' views must load."""
    return {leaf.name for condition in conditions for leaf in leaves(condition)}


def action_checks() -> dict[str, Any]:
    return {name: kind.problems for name, kind in action_kinds().items()}


def parse(document: Mapping[str, Any]) -> Definition:
    """A definition with the action kinds of this version; raises DefinitionInvalid."""
    return parse_definition(document, action_checks())


def live_trigger(trigger: Trigger, version: TriggerVersion) -> LiveTrigger | None:
    """None when the stored definition no longer holds (an action kind this version lacks)."""
    try:
        definition = parse(version.definition)
    except DefinitionInvalid as exc:
        log.warning("trigger %s v%s skipped: %s", trigger.id, version.version, exc)
        return None
    return LiveTrigger(trigger.id, version.version, definition)


async def frequency_cap(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    record = await TriggerRepository(session).settings(workspace_id)
    return DEFAULT_FREQUENCY_CAP if record is None else record.max_firings_per_client_per_day


# --- facts -----------------------------------------------------------------------------------


def wakes_of(fact: Any) -> list[Wake]:
    """What a fact tells, client by client, in the terms triggers wait for."""
    if isinstance(fact, HealthChanged):
        return [Wake(c.client_id, band_from=c.previous_band, band_to=c.band) for c in fact.changes]
    if isinstance(fact, SignalsOpened | SignalsResolved):
        return [Wake(s.client_id, signal_id=s.signal_id, signal_kind=s.kind) for s in fact.signals]
    if isinstance(fact, ClientsUpdated):
        return [Wake(c.client_id, fields=(c.name,)) for c in fact.changes]
    if isinstance(fact, EventsIngested):
        return [Wake(e.client_id, event_types=(e.type,)) for e in fact.events]
    if isinstance(fact, ContractsEnded):
        return [Wake(c.client_id) for c in fact.contracts]
    return []


async def evaluate_fact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    fact_kind: str,
    fact_id: uuid.UUID | None,
    wakes: Sequence[Wake],
    now: datetime,
) -> Summary:
    """The triggers this fact wakes, for the clients it names."""
    summary = Summary()
    kinds = WAKES.get(fact_kind, ())
    if not kinds or not wakes:
        return summary
    repository = TriggerRepository(session)
    pairs = await repository.live(workspace_id, [k.value for k in kinds])
    triggers = [t for t in (live_trigger(*pair) for pair in pairs) if t is not None]
    summary.triggers = len(triggers)
    admitted = {t.id: merge_wakes(t.definition.when, wakes) for t in triggers}
    candidates = {client_id for wakes_by in admitted.values() for client_id in wakes_by}
    if not candidates:
        return summary
    views = await ClientViewRepository(session).load(
        workspace_id,
        sorted(candidates),
        now,
        reads=reads([t.definition.condition for t in triggers]),
    )
    matched: dict[uuid.UUID, list[Candidate]] = {}
    for trigger in triggers:
        found = []
        for client_id, wake in admitted[trigger.id].items():
            view = views.get(client_id)
            if view is None:  # deleted meanwhile
                continue
            evaluation = evaluate(trigger.definition.condition, view)
            if evaluation.matched:
                found.append(Candidate(client_id, evaluation.values, wake.signal_id))
        matched[trigger.id] = sorted(found, key=lambda c: c.client_id)
    every = {c.client_id for found in matched.values() for c in found}
    tally = Tally(
        await frequency_cap(session, workspace_id),
        await repository.fired_since(workspace_id, sorted(every), now - CAP_WINDOW),
    )
    for trigger in triggers:
        await decide_and_record(
            session,
            workspace_id,
            trigger,
            matched[trigger.id],
            tally,
            now,
            fact_kind=fact_kind,
            fact_id=fact_id,
            summary=summary,
        )
    return summary


async def decide_and_record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    trigger: LiveTrigger,
    candidates: Sequence[Candidate],
    tally: Tally,
    now: datetime,
    *,
    fact_kind: str,
    fact_id: uuid.UUID | None,
    summary: Summary,
    schedule: bool = False,
    force: bool = False,
    histories: Mapping[uuid.UUID, RunHistory] | None = None,
) -> list[Decided]:
    """The policy for each client that matched, one run row per recorded decision (one
    statement), and the fired runs' actions (two)."""
    if not candidates:
        return []
    repository = TriggerRepository(session)
    if histories is None:
        histories = await repository.histories(trigger.id, [c.client_id for c in candidates])
    control = trigger.definition.control
    decisions: list[tuple[Candidate, Decision]] = []
    for candidate in candidates:
        if force:
            decision = forced()
            tally.add(candidate.client_id)
        else:
            history = histories.get(candidate.client_id, RunHistory())
            decision = decide(
                control,
                history,
                tally,
                trigger.id,
                candidate.client_id,
                now,
                debounce=not schedule,
            )
        summary.count(decision.outcome)
        decisions.append((candidate, decision))
    recorded = [(c, d) for c, d in decisions if not (schedule and d.outcome in SCHEDULE_QUIET)]
    rows: list[dict[str, Any]] = []
    targets: list[ActionTarget] = []
    run_ids: dict[uuid.UUID, uuid.UUID] = {}
    for candidate, decision in recorded:
        run_id = run_ids[candidate.client_id] = uuid.uuid4()
        rows.append(
            {
                "id": run_id,
                "workspace_id": workspace_id,
                "trigger_id": trigger.id,
                "trigger_version": trigger.version,
                "client_id": candidate.client_id,
                "fact_kind": fact_kind,
                "fact_id": fact_id,
                "signal_id": candidate.signal_id,
                "outcome": decision.outcome.value,
                "holdout": decision.holdout,
                "detail": decision.detail,
                "condition_values": candidate.values,
                "created_at": now,
            }
        )
        if decision.outcome is Outcome.FIRED:
            targets.append(ActionTarget(candidate.client_id, run_id, candidate.signal_id))
    decided = [Decided(c.client_id, d, run_ids.get(c.client_id)) for c, d in decisions]
    await repository.insert_runs(rows)
    if targets and trigger.definition.actions:
        await schedule_many(session, workspace_id, targets, trigger.definition.actions, now)
    return decided


# --- schedules -------------------------------------------------------------------------------


async def request_due_schedules(session: AsyncSession, now: datetime) -> int:
    """The tick: each schedule trigger whose moment came gets an evaluation request of its own
    (its own job, retries and failure) and its next moment. Moments missed while nothing ran
    are one evaluation, not a burst."""
    repository = TriggerRepository(session)
    due = await repository.due_schedules(now, DUE_PER_TICK)
    messages = []
    for workspace_id, trigger_id in due:
        live = await load_live(session, workspace_id, trigger_id, lock=False)
        cron = live.definition.when.cron if live else None
        await repository.set_next_due(trigger_id, cron.next_after(now) if cron else None)
        if live is None:
            continue
        messages.append(
            NewMessage(
                kind=EVALUATE_JOB,
                payload={"trigger_id": str(trigger_id), "due_at": now.isoformat()},
                workspace_id=workspace_id,
                dedupe_key=f"trigger-schedule:{trigger_id}:{now.isoformat()}",
            )
        )
    return await OutboxRepository(session).add(messages, now)


async def evaluate_schedule(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    trigger_id: uuid.UUID,
    now: datetime,
    *,
    page_size: int = SCHEDULE_PAGE,
) -> Summary:
    """A scheduled trigger over the whole portfolio, set-based: the condition as one SQL
    statement per page of clients (in id order), then the policy on the page in bulk."""
    summary = Summary()
    repository = TriggerRepository(session)
    trigger = await load_live(session, workspace_id, trigger_id, lock=True)
    if trigger is None or trigger.definition.when.kind is not WhenKind.SCHEDULE:
        return summary
    summary.triggers = 1
    cap = await frequency_cap(session, workspace_id)
    condition = trigger.definition.condition
    explained = condition != MATCH_ALL
    views = ClientViewRepository(session)
    held_back_after = held_back_since(trigger.definition.control, now)
    after: uuid.UUID | None = None
    while True:
        page = await repository.sweep_page(
            workspace_id,
            trigger.id,
            condition,
            now,
            now - CAP_WINDOW,
            held_back_after=held_back_after,
            after=after,
            limit=page_size,
            with_views=explained,
        )
        if not page:
            break
        values: dict[uuid.UUID, dict[str, Any]] = {}
        if explained:  # the SQL decided the match; the values that explain it, from its rows
            rows = {c.id: c.row for c in page}
            loaded = await views.views(workspace_id, rows, now, reads([condition]))
            values = {i: evaluate(condition, view).values for i, view in loaded.items()}
        # Re-entry was applied in SQL: what remains is decided by the cap and the holdout
        # (schedules are not debounced), so no client's own history is needed.
        await decide_and_record(
            session,
            workspace_id,
            trigger,
            [Candidate(c.id, values.get(c.id, {})) for c in page],
            Tally(cap, {c.id: c.fired for c in page if c.fired}),
            now,
            fact_kind=WhenKind.SCHEDULE.value,
            fact_id=None,
            summary=summary,
            schedule=True,
            histories={},
        )
        if len(page) < page_size:
            break
        after = page[-1].id
    return summary


async def load_live(
    session: AsyncSession, workspace_id: uuid.UUID, trigger_id: uuid.UUID, *, lock: bool
) -> LiveTrigger | None:
    """An enabled, live trigger with its current definition (locked on PostgreSQL)."""
    repository = TriggerRepository(session)
    trigger = await repository.get(workspace_id, trigger_id, for_update=lock)
    if trigger is None or not trigger.enabled:
        return None
    version = await repository.version(workspace_id, trigger_id, trigger.current_version)
    return None if version is None else live_trigger(trigger, version)
