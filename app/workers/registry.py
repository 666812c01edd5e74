"""The one list of jobs and schedules, read by the arq worker and by the in-process runner.

Adding a consumer of a fact is one entry here; the job module imports only `app.workers.job`."""

from functools import lru_cache

from app.domain.jobs import Cadence, OutboxKind, Timetable
from app.workers import actions as action_jobs
from app.workers import cadences, contracts, crm, health, maintenance, sweeper, tasks
from app.workers import emails as email_jobs
from app.workers import triggers as trigger_jobs
from app.workers.job import Job, Registry, Schedule

EVALUATE = Job(
    "clients.evaluate",
    health.evaluate_clients,
    consumes=(OutboxKind.CLIENTS_CHANGED.value,),
    timeout_seconds=120,
)
RESCORE = Job("health.rescore_portfolio", health.rescore_portfolio, timeout_seconds=3600)
CADENCE_TICK = Job("cadences.tick", cadences.tick, timeout_seconds=1800)
CADENCE_FOLLOW = Job(
    "cadences.follow_clients",
    cadences.follow_clients,
    consumes=(OutboxKind.CLIENT_UPDATED.value,),
    timeout_seconds=120,
)
PURGE = Job("maintenance.purge", maintenance.purge_expired_records)
CONTRACT_ENDS = Job("contracts.announce_ended", contracts.announce_ended)
SWEEP = Job("outbox.sweep", sweeper.sweep_outbox, timeout_seconds=60)
TRIGGERS = Job(
    "triggers.evaluate",
    trigger_jobs.evaluate,
    consumes=(
        OutboxKind.HEALTH_CHANGED.value,
        OutboxKind.SIGNAL_OPENED.value,
        OutboxKind.SIGNAL_RESOLVED.value,
        OutboxKind.CLIENT_UPDATED.value,
        OutboxKind.EVENT_INGESTED.value,
        OutboxKind.CONTRACT_ENDED.value,
    ),
    timeout_seconds=600,
)
TRIGGER_TICK = Job("triggers.tick", trigger_jobs.tick, timeout_seconds=60)
ACTIONS = Job("actions.run", action_jobs.run, timeout_seconds=120, retry=action_jobs.ACTION_RETRY)
TRIGGER_JOBS = [TRIGGERS, TRIGGER_TICK, ACTIONS]
TASK_ESCALATION = Job("tasks.escalate", tasks.escalate_overdue, timeout_seconds=120)
EMAIL_SEND = Job("emails.send", email_jobs.send, timeout_seconds=120, retry=email_jobs.EMAIL_RETRY)
CRM_NOTE_HEALTH = Job(
    "crm.note_health",
    crm.note_health_changes,
    consumes=(OutboxKind.HEALTH_CHANGED.value,),
    timeout_seconds=120,
)
CRM_PUSH = Job("crm.push", crm.push, timeout_seconds=120, retry=crm.CRM_RETRY)
CRM_MIRROR_TASKS = Job(
    "crm.mirror_tasks", crm.request_mirrors, consumes=(OutboxKind.TASK_CREATED.value,)
)
CRM_MIRROR_TASK = Job("crm.mirror_task", crm.mirror_task, timeout_seconds=60, retry=crm.CRM_RETRY)
CRM_READ_TASKS = Job("crm.read_tasks", crm.read_tasks, timeout_seconds=120, retry=crm.CRM_RETRY)
CRM_TICK = Job("crm.tick", crm.tick, timeout_seconds=60)
CRM_SYNC = Job("crm.sync", crm.sync, timeout_seconds=300, retry=crm.CRM_RETRY)
CRM_JOBS = [
    CRM_NOTE_HEALTH,
    CRM_PUSH,
    CRM_MIRROR_TASKS,
    CRM_MIRROR_TASK,
    CRM_READ_TASKS,
    CRM_TICK,
    CRM_SYNC,
]


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Triggers consume the facts their `when` names; webhooks, CRM sync and live
    subscriptions register here as they arrive."""
    return Registry(
        jobs=[
            *TRIGGER_JOBS,
            EVALUATE,
            RESCORE,
            CADENCE_TICK,
            CADENCE_FOLLOW,
            PURGE,
            CONTRACT_ENDS,
            SWEEP,
            TASK_ESCALATION,
            EMAIL_SEND,
            *CRM_JOBS,
        ],
        schedules=[
            Schedule(RESCORE, Timetable(Cadence.DAILY, hour=3, minute=7)),
            Schedule(CADENCE_TICK, Timetable(Cadence.HOURLY, minute=5)),
            Schedule(PURGE, Timetable(Cadence.HOURLY, minute=17)),
            Schedule(CONTRACT_ENDS, Timetable(Cadence.HOURLY, minute=11)),
            Schedule(SWEEP, Timetable(Cadence.SECONDS, every=15), through_outbox=False),
            Schedule(TRIGGER_TICK, Timetable(Cadence.EVERY_MINUTE)),
            # Every minute: snoozes end and escalations land within a minute of their time.
            Schedule(TASK_ESCALATION, Timetable(Cadence.EVERY_MINUTE, second=30)),
            # Every minute: stale pushes are asked for again; task states every five.
            Schedule(CRM_TICK, Timetable(Cadence.EVERY_MINUTE, second=45)),
        ],
    )
