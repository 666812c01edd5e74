"""The playbooks every workspace starts with, like its default scorecard: the issue's five
defaults, as four trigger documents (validated by `app.domain.triggers.parse_definition` like
any user's) and the tier cadences of `app.domain.cadences.default_cadences`. Editable,
disable-able and deletable; nothing else in Tenure depends on them existing."""

from dataclasses import dataclass
from typing import Any

DAY_HOURS = 24


@dataclass(frozen=True)
class DefaultTrigger:
    name: str
    description: str
    definition: dict[str, Any]


def _task(title: str, body: str, *, due_in_days: int, priority: str, **more: Any) -> dict[str, Any]:
    params = {"title": title, "body": body, "due_in_days": due_in_days, "priority": priority}
    return {"kind": "create_task", "params": {**params, **more}}


ACTIVE = {"field": "status", "op": "eq", "value": "active"}

DEFAULT_TRIGGERS: tuple[DefaultTrigger, ...] = (
    DefaultTrigger(
        name="At risk: task for the owner",
        description="When a client's health band becomes at_risk, its owner gets a high-priority "
        "task due in 2 days.",
        definition={
            "when": {"kind": "health.band_changed", "to": ["at_risk"]},
            "condition": ACTIVE,
            "actions": [
                _task(
                    "{{client.name}} is at risk: review their health",
                    "Their health score fell into at_risk. Look at the explanation of the "
                    "score, reach out, and log what you did.",
                    due_in_days=2,
                    priority="high",
                )
            ],
            # A client that recovers and falls again within a week does not get a second task.
            "control": {"reentry": "once_per_cooldown", "cooldown_hours": 7 * DAY_HOURS},
        },
    ),
    DefaultTrigger(
        name="Gone quiet: flag the owner",
        description="No logged touchpoint for 45 days (the gone_quiet signal): the owner gets a "
        "task linked to the signal.",
        definition={
            "when": {"kind": "signal.opened", "signal_kinds": ["gone_quiet"]},
            "condition": ACTIVE,
            "actions": [
                _task(
                    "No touchpoint with {{client.name}} in 45 days",
                    "Nobody has logged a call, meeting, email or note with this client for 45 "
                    "days. Get in touch; completing this task with a channel logs the "
                    "touchpoint.",
                    due_in_days=3,
                    priority="high",
                    channel="call",
                )
            ],
            "control": {"reentry": "once_per_cooldown", "cooldown_hours": 14 * DAY_HOURS},
        },
    ),
    DefaultTrigger(
        name="Renewal approaching, no recent touchpoint",
        description="Every morning: clients whose renewal is within 90 days and who had no "
        "touchpoint in 30 get a renewal conversation task.",
        definition={
            "when": {"kind": "schedule", "cron": "0 8 * * *"},
            "condition": {
                "all": [
                    ACTIVE,
                    {"field": "days_to_renewal", "op": "lte", "value": 90},
                    {
                        "any": [
                            {"field": "days_since_touchpoint", "op": "gte", "value": 30},
                            {"field": "days_since_touchpoint", "op": "not_exists"},
                        ]
                    },
                ]
            },
            "actions": [
                _task(
                    "Renewal conversation with {{client.name}}",
                    "Their renewal is within 90 days and nobody has spoken with them for a "
                    "month. Book the renewal conversation.",
                    due_in_days=7,
                    priority="high",
                    channel="meeting",
                )
            ],
            "control": {"reentry": "once_per_cooldown", "cooldown_hours": 30 * DAY_HOURS},
        },
    ),
    DefaultTrigger(
        name="Contract ended: debrief",
        description="When a contract ends (it expires or is cancelled), the owner gets a "
        "debrief task: the close-out conversation, logged as a touchpoint when done.",
        definition={
            "when": {"kind": "contract.ended"},
            "actions": [
                _task(
                    "Debrief {{client.name}}: close-out conversation",
                    "A contract ended. Hold the close-out conversation: what went well, what "
                    "did not, what comes next. Complete this task with its outcome and channel; "
                    "it is logged as a touchpoint.",
                    due_in_days=5,
                    priority="normal",
                    channel="meeting",
                )
            ],
            # Every contract that ends deserves its debrief; one open task per client at a time.
            "control": {"reentry": "every_time", "debounce_seconds": 60},
        },
    ),
)
