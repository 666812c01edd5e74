"""The template language of emails: Jinja2's immutable sandbox, bounded in work and size.

The sandbox stops attribute escapes (`__class__`, `mro`) but not work: nested loops, recursive
macros, `'x' * 10**9` or a string doubled by `{% set %}` would hang or exhaust a worker. So
every render carries a `Budget`, charged by each loop iteration, call, attribute lookup,
operator, filter and piece of output (a rewrite of the parsed template routes loops, `~` and
output through `Bounds`), and each value built is capped before or as it is made. Filters and
the callable methods of built-in types are allow-lists: each one's output grows at most with
its inputs, or is checked before it is built.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import wraps
from typing import Any

from jinja2 import ChainableUndefined, Undefined, nodes, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape, soft_str


@dataclass(frozen=True)
class RenderLimits:
    steps: int = 100_000
    """Loop iterations, calls, lookups, operators, filters and outputs of one render."""
    produced: int = 1_000_000
    """Characters (or items) built in one render, output and intermediate values together."""
    value: int = 200_000
    """Characters (or items) of any one value."""
    int_bits: int = 4096
    seconds: float = 1.0
    """Wall-clock backstop, checked every `CLOCK_EVERY` steps."""


CLOCK_EVERY = 256


class RenderAborted(Exception):
    """A render stopped by its budget: the template does too much work or builds too much."""


class Budget:
    def __init__(self, limits: RenderLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.steps = 0
        self.produced = 0
        self.clock = clock
        self.deadline = clock() + limits.seconds

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise RenderAborted(
                f"the template does too much work (over {self.limits.steps:,} steps: loops, "
                "calls and lookups)"
            )
        if self.steps % CLOCK_EVERY == 0 and self.clock() > self.deadline:
            raise RenderAborted(f"the template took longer than {self.limits.seconds:g}s")

    def produce(self, value: Any) -> Any:
        """Counts a built value against the caps; returns it."""
        size = _size(value)
        if size is None:
            return value
        if size > self.limits.value:
            raise RenderAborted(
                f"the template builds a value of {size:,} characters or items "
                f"(at most {self.limits.value:,})"
            )
        self.produced += size
        if self.produced > self.limits.produced:
            raise RenderAborted(
                f"the template builds over {self.limits.produced:,} characters in all"
            )
        return value

    def check_size(self, size: int) -> None:
        if size > self.limits.value:
            raise RenderAborted(
                f"the template would build a value of {size:,} characters or items "
                f"(at most {self.limits.value:,})"
            )


_SIZED = (str, list, tuple, dict, set, frozenset, bytes)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, _SIZED) else None


_current: ContextVar[Budget | None] = ContextVar("email_template_budget", default=None)


def budget() -> Budget:
    current = _current.get()
    if current is None:  # rendering outside `bounded`: never unbounded
        raise RenderAborted("templates render only within a budget")
    return current


class bounded:  # noqa: N801 - used as `with bounded(limits):`
    """The budget of one render, for the sandbox hooks below."""

    def __init__(self, limits: RenderLimits) -> None:
        self.budget = Budget(limits)

    def __enter__(self) -> Budget:
        self._token = _current.set(self.budget)
        return self.budget

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


class Bounds(Extension):
    """What the rewritten template calls for loops, `~` and output."""

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        spend = budget()
        for item in iterable:
            spend.step()
            yield item

    def concat_text(self, *parts: Any) -> str:
        return self._concat(str_join, parts)

    def concat_markup(self, *parts: Any) -> str:
        return self._concat(markup_join, parts)

    def _concat(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        spend = budget()
        spend.step()
        spend.check_size(sum(len(p) if isinstance(p, str) else 32 for p in parts))
        return spend.produce(join(parts))  # type: ignore[no-any-return]

    def emit(self, value: Any) -> Any:
        spend = budget()
        spend.step()
        spend.produce(value if isinstance(value, str) else str(value))
        return value


class _Rewrite(NodeTransformer):
    """Routes loops, `~` and output through `Bounds`."""

    def __init__(self, autoescape: bool) -> None:
        self.concat = "concat_markup" if autoescape else "concat_text"

    @staticmethod
    def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        """Carries the line of what it wraps, so errors name the template's line."""
        method = nodes.ExtensionAttribute(Bounds.identifier, name, lineno=lineno)
        return nodes.Call(method, args, [], None, None, lineno=lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 - the visitor's naming
        self.generic_visit(node)
        node.iter = self._call("iterate", [node.iter], node.iter.lineno)  # type: ignore[list-item]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return self._call(self.concat, list(node.nodes), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        node.nodes = [self._call("emit", [child], child.lineno) for child in node.nodes]
        return node


def bound(tree: nodes.Template, autoescape: bool) -> nodes.Template:
    result = _Rewrite(autoescape).visit(tree)
    assert isinstance(result, nodes.Template)
    return result


# Methods of built-in values a template may call: each builds at most what it is given.
_TEXT_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "isalnum",
        "isalpha",
        "isdigit",
        "islower",
        "isspace",
        "isupper",
        "lower",
        "lstrip",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "title",
        "upper",
    }
)
_METHODS: tuple[tuple[Any, frozenset[str]], ...] = (
    (str, _TEXT_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    (list | tuple, frozenset({"count", "index"})),
    (datetime | date, frozenset({"isoformat", "isoweekday", "weekday"})),
    (int | float | Decimal | bool | bytes | set | frozenset | range, frozenset()),
)


def _allowed_method(obj: Any, attr: str) -> bool | None:
    """None: not a built-in value; the sandbox's own rules apply."""
    for kinds, names in _METHODS:
        if isinstance(obj, kinds):
            return attr in names
    return None


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus the budget: see the module docstring."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/", "-"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return not (callable(value) and _allowed_method(obj, attr) is False)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to {attribute!r} of a {type(obj).__name__} value is not allowed"
        )

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is not on the allow-list; refused as any other method

    def getattr(self, obj: Any, attribute: str) -> Any:
        budget().step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        budget().step()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if type(getattr(__obj, "__self__", None)) is Bounds:
            # The rewrite's own calls (loops, `~`, output) charge the budget themselves and
            # take positional arguments; the code generator's `_loop_vars` are not theirs.
            return __obj(*args)
        spend = budget()
        spend.step()
        result = super().call(__context, __obj, *args, **kwargs)
        spend.check_size(_size(result) or 0)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spend = budget()
        spend.step()
        _precheck(operator, left, right, spend)
        result = self.binop_table[operator](left, right)
        return spend.produce(result) if isinstance(result, str | list | tuple) else result


def _precheck(operator: str, left: Any, right: Any, spend: Budget) -> None:
    limits = spend.limits
    if operator == "%" and isinstance(left, str):
        raise SecurityError("`%` formatting of text is not available; use the filters")
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                spend.check_size(len(seq) * max(times, 0))
        if _is_int(left) and _is_int(right):
            _check_bits(abs(left).bit_length() + abs(right).bit_length(), limits)
    if operator == "**":
        _check_power(left, right, limits)
    if operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, type(left)):
        spend.check_size(len(left) + len(right))


def _check_power(base: Any, exponent: Any, limits: RenderLimits) -> None:
    if isinstance(exponent, int | float | Decimal) and not -10_000 <= exponent <= 10_000:
        raise RenderAborted("exponents are limited to 10,000")
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        _check_bits(abs(base).bit_length() * exponent, limits)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: int, limits: RenderLimits) -> None:
    if bits > limits.int_bits:
        raise RenderAborted(f"the template builds a number over {limits.int_bits} bits")


# Filters ---------------------------------------------------------------------------------------


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that costs a step and whose result counts against the caps (Jinja's calling
    convention markers, such as `pass_eval_context`, travel with `wraps`)."""

    @wraps(function)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        spend = budget()
        spend.step()
        result = function(*args, **kwargs)
        return spend.produce(result) if _size(result) is not None else result

    return filter_


def default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, which also stands in for None: a missing value of the context."""
    if isinstance(value, Undefined) or value is None or (boolean and not value):
        return default_value
    return value


def join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = []
    spend = budget()
    for item in value:
        spend.step()
        items.append(item)
    size = sum(len(str(i)) for i in items) + len(str(d)) * max(len(items) - 1, 0)
    spend.check_size(size)
    return jinja_filters.sync_do_join(eval_ctx, items, d)


join = pass_eval_context(join)


def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    budget().check_size(len(text) + hits * max(len(new) - len(old), 0))
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


replace = pass_eval_context(replace)

LONG_MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
DATE_STYLES: dict[str, Callable[[date], str]] = {
    "long": lambda d: f"{LONG_MONTHS[d.month - 1]} {d.day}, {d.year}",
    "short": lambda d: f"{LONG_MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    "iso": lambda d: d.isoformat(),
}


def format_date(value: Any, style: str = "long") -> str:
    """`long` (November 5, 2026), `short` (Nov 5, 2026), `iso` (2026-11-05), or a strftime
    pattern. A date-time shows its UTC day; a missing value shows nothing."""
    day = _as_date(value)
    if day is None:
        return ""
    named = DATE_STYLES.get(style)
    if named is not None:
        return named(day)
    if len(style) > 100:
        raise RenderAborted("a date pattern is at most 100 characters")
    return day.strftime(style)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"date: {str(value)[:40]!r} is not a date") from None


CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
"""Written before the amount; any other currency is written after it by its code."""
MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def money(value: Any, currency: str | None = None) -> str:
    """`{{ mrr|money }}` (an amount with its currency) or `{{ 1250|money('EUR') }}`:
    "$1,250.00", "€1,250.00", "1,250.00 CHF". Amounts are never converted or summed across
    currencies; a missing amount shows nothing."""
    if isinstance(value, Mapping):
        amount, currency = value.get("amount"), currency or value.get("currency")
    else:
        amount = value
    if amount is None or amount == "":
        return ""
    try:
        number = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"money: {str(amount)[:40]!r} is not an amount") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
        raise ValueError("money: the amount is out of range")
    code = (currency or "").upper()
    places = MINOR_UNITS.get(code, 2)
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{abs(rounded):,.{places}f}"
    sign = "-" if rounded < 0 else ""
    if code in CURRENCY_SYMBOLS:
        return f"{sign}{CURRENCY_SYMBOLS[code]}{text}"
    return f"{sign}{text} {code}".rstrip()


def _first(value: Iterable[Any]) -> Any:
    return next(iter(value), None)


def _last(value: Any) -> Any:
    items = list(value)
    return items[-1] if items else None


FILTERS: dict[str, Callable[..., Any]] = {
    name: _bounded(function)
    for name, function in dict[str, Callable[..., Any]](
        {
            "abs": abs,
            "capitalize": jinja_filters.do_capitalize,
            "count": len,
            "d": default,
            "date": format_date,
            "default": default,
            "e": escape,
            "escape": escape,
            "first": _first,
            "float": jinja_filters.do_float,
            "int": jinja_filters.do_int,
            "join": join,
            "last": _last,
            "length": len,
            "list": jinja_filters.sync_do_list,
            "lower": jinja_filters.do_lower,
            "max": jinja_filters.do_max,
            "min": jinja_filters.do_min,
            "money": money,
            "replace": replace,
            "reverse": jinja_filters.do_reverse,
            "round": jinja_filters.do_round,
            "sort": jinja_filters.do_sort,
            "string": soft_str,
            "striptags": jinja_filters.do_striptags,
            "sum": jinja_filters.sync_do_sum,
            "title": jinja_filters.do_title,
            "trim": jinja_filters.do_trim,
            "truncate": jinja_filters.do_truncate,
            "upper": jinja_filters.do_upper,
            "urlencode": jinja_filters.do_urlencode,
            "wordcount": jinja_filters.do_wordcount,
        }
    ).items()
}
"""The filters templates may use. Left out: those that build more than they are given
(`center`, `indent`, `wordwrap`, `format`, `batch`), `safe` and `forceescape` (an HTML body
escapes every value), and the ones that reach attributes by name (`map`, `attr`, `groupby`)."""


def _finalize(value: Any) -> Any:
    """A missing value of the context prints as nothing, not "None"."""
    return "" if value is None else value


def make_environment(autoescape: bool) -> BoundedSandbox:
    env = BoundedSandbox(
        autoescape=autoescape,
        undefined=ChainableUndefined,
        finalize=_finalize,
        extensions=[Bounds],
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
    )
    env.filters = dict(FILTERS)
    env.globals = {"range": env.globals["range"], "dict": dict}
    return env


TEXT = make_environment(autoescape=False)
HTML = make_environment(autoescape=True)
GLOBALS = frozenset(TEXT.globals)
"""Names every template may use besides the context's."""

__all__ = ["HTML", "TEXT", "Markup", "RenderAborted", "RenderLimits", "bound", "bounded"]
