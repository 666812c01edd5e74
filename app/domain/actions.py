"""Actions: what a trigger run or a cadence step does for one client, in order, each after an
optional delay. The kinds themselves (create a task, set fields, open a signal, enroll in a
cadence, and the ones later issues add) live behind one registry in `app.services.actions`;
this module holds their shape and the rules every kind shares."""

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_ACTIONS = 10
MAX_DELAY_SECONDS = 90 * 86_400
"""A delay of up to 90 days: longer waits are a cadence's job."""


class ActionStatus(StrEnum):
    PENDING = "pending"  # written, waiting for its due time or for a retry
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed for good, or out of tries; the error is kept
    SKIPPED = "skipped"  # nothing left to act on (the client was deleted)


@dataclass(frozen=True)
class ActionSpec:
    """One action as a definition names it: the kind, its parameters, the delay after the
    run that schedules it."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    delay_seconds: int = 0

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params), "delay_seconds": self.delay_seconds}


@dataclass(frozen=True)
class ActionProblem:
    """`path` is a JSON pointer into the definition's `actions` list."""

    path: str
    message: str


ParamChecks = Mapping[str, Callable[[Mapping[str, Any]], list[str]]]
"""Each action kind's pure parameter check by kind name (`ActionKind.problems`)."""


def parse_actions(
    document: Any, known: ParamChecks
) -> tuple[list[ActionSpec], list[ActionProblem]]:
    """The action list of a definition, and every problem with it: shape, delays, unknown
    kinds, and each kind's own parameter problems (at `/i/params`)."""
    problems: list[ActionProblem] = []
    if not isinstance(document, list):
        return [], [ActionProblem("", "must be a list of actions")]
    if len(document) > MAX_ACTIONS:
        problems.append(ActionProblem("", f"at most {MAX_ACTIONS} actions"))
    specs: list[ActionSpec] = []
    for index, item in enumerate(document[:MAX_ACTIONS]):
        where = f"/{index}"
        if not isinstance(item, dict):
            problems.append(ActionProblem(where, "must be an object with `kind` and `params`"))
            continue
        if extra := sorted(set(item) - {"kind", "params", "delay_seconds"}):
            problems.append(ActionProblem(where, f"unknown members: {', '.join(extra)}"))
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in known:
            names = ", ".join(sorted(known))
            problems.append(ActionProblem(f"{where}/kind", f"must be one of: {names}"))
            kind = None
        params = item.get("params", {})
        if not isinstance(params, dict):
            problems.append(ActionProblem(f"{where}/params", "must be an object"))
            params = {}
        delay = item.get("delay_seconds", 0)
        if isinstance(delay, bool) or not isinstance(delay, int):
            problems.append(ActionProblem(f"{where}/delay_seconds", "must be a whole number"))
            delay = 0
        elif not 0 <= delay <= MAX_DELAY_SECONDS:
            problems.append(
                ActionProblem(f"{where}/delay_seconds", f"must lie in 0..{MAX_DELAY_SECONDS}")
            )
            delay = 0
        if kind is not None:
            problems += [ActionProblem(f"{where}/params", m) for m in known[kind](params)]
            specs.append(ActionSpec(kind, params, delay))
    return specs, problems


# Shared parameter checks: each returns the problems of one parameter, worded for people. -----

TEMPLATE = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")
PLACEHOLDERS = ("client.name", "client.external_id", "client.tier", "client.lifecycle_stage")
"""What a task's title and body may quote: `{{client.name}}` and the like."""


def check_text(
    params: Mapping[str, Any], name: str, max_length: int, *, required: bool = False
) -> list[str]:
    value = params.get(name)
    if value is None:
        return [f"`{name}` is required"] if required else []
    if not isinstance(value, str) or not value.strip():
        return [f"`{name}` must be non-empty text"]
    if len(value) > max_length:
        return [f"`{name}` must be at most {max_length} characters"]
    unknown = sorted(set(TEMPLATE.findall(value)) - set(PLACEHOLDERS))
    if unknown:
        return [f"`{name}` quotes unknown placeholders: {', '.join(unknown)}"]
    return []


def check_choice(params: Mapping[str, Any], name: str, choices: Sequence[str]) -> list[str]:
    value = params.get(name)
    if value is None or value in choices:
        return []
    return [f"`{name}` must be one of: {', '.join(choices)}"]


def check_int(params: Mapping[str, Any], name: str, low: int, high: int) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [f"`{name}` must be a whole number in {low}..{high}"]
    return []


def check_uuid(params: Mapping[str, Any], name: str, *, required: bool = False) -> list[str]:
    value = params.get(name)
    if value is None:
        return [f"`{name}` is required"] if required else []
    if not isinstance(value, str):
        return [f"`{name}` must be an id"]
    try:
        uuid.UUID(value)
    except ValueError:
        return [f"`{name}` must be an id"]
    return []


def check_known(params: Mapping[str, Any], allowed: Sequence[str]) -> list[str]:
    extra = sorted(set(params) - set(allowed))
    return [f"unknown parameters: {', '.join(extra)}"] if extra else []


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Fills `{{client.name}}`-style placeholders; an empty value reads as empty text."""
    return TEMPLATE.sub(lambda m: values.get(m.group(1)) or "", template)
