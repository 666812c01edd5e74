"""Cron expressions for scheduled triggers: the five classic fields, in UTC.

`minute hour day-of-month month day-of-week`, each `*`, a number, a range `a-b`, a step
(`*/n`, `a-b/n`, `a/n`) or a comma list of those; months and weekdays also by their English
three-letter names (`jan`, `mon`); weekday 0 and 7 are both Sunday. As in Vixie cron, when
both day fields are restricted a day matching either one is due. Written here rather than
taken from a library: fifty lines, no dependency, and the rules are the ones documented."""

from dataclasses import dataclass
from datetime import datetime, timedelta

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
HORIZON_DAYS = 366 * 8
"""How far ahead a due moment is looked for: 29 February can be eight years away."""


class CronInvalid(ValueError):
    """The expression's problems, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_from: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day of week", 0, 7, WEEKDAYS, 0),
)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_due(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def next_after(self, moment: datetime) -> datetime:
        """The first due minute strictly after `moment` (timezone-aware, read in its zone:
        pass UTC)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for offset in range(HORIZON_DAYS):
            current = day + timedelta(days=offset)
            if not self._day_due(current):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    candidate = current.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        raise CronInvalid([f"{self.expression!r} never falls due"])


def parse_cron(expression: str) -> Cron:
    """Raises CronInvalid with every problem of the expression."""
    if not isinstance(expression, str):
        raise CronInvalid(["must be text such as `0 9 * * mon-fri`"])
    parts = expression.lower().split()
    if len(parts) != len(_FIELDS):
        raise CronInvalid(["must have five fields: minute hour day-of-month month day-of-week"])
    problems: list[str] = []
    values: list[frozenset[int]] = []
    for field, text in zip(_FIELDS, parts, strict=True):
        try:
            values.append(_parse_field(field, text))
        except ValueError as exc:
            problems.append(f"{field.name}: {exc}")
            values.append(frozenset())
    if problems:
        raise CronInvalid(problems)
    minutes, hours, days, months, weekdays = values
    return Cron(
        expression=" ".join(parts),
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        days_restricted=parts[2] != "*",
        weekdays_restricted=parts[4] != "*",
    )


def _parse_field(field: _Field, text: str) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        spec, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"{item!r} has a step that is not a positive number")
            step = int(step_text)
        if spec == "*":
            low, high = field.low, field.high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            low, high = _value(field, first), _value(field, last)
            if low > high:
                raise ValueError(f"{item!r} runs backwards")
        else:
            low = _value(field, spec)
            high = field.high if step_text else low
        found.update(range(low, high + 1, step))
    return frozenset(found)


def _value(field: _Field, text: str) -> int:
    if text in field.names:
        return field.names.index(text) + field.names_from
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number in {field.low}..{field.high}")
    number = int(text)
    if not field.low <= number <= field.high:
        raise ValueError(f"{number} is outside {field.low}..{field.high}")
    return number


def check_cron(expression: str) -> list[str]:
    """Every problem of the expression, including one that never falls due."""
    try:
        cron = parse_cron(expression)
    except CronInvalid as exc:
        return exc.problems
    impossible = cron.days_restricted and not cron.weekdays_restricted
    if impossible and not any(d <= _longest(m) for m in cron.months for d in cron.days):
        return [f"{cron.expression!r} never falls due"]
    return []


def _longest(month: int) -> int:
    return 29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
