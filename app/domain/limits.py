"""What every value a client sends must satisfy, so that once accepted it can be stored,
computed with and read back by every reader (PostgreSQL jsonb, SQLite, the response
serializer, date arithmetic).

- Free-form JSON (client attributes, event properties) nests at most `MAX_JSON_DEPTH` levels:
  real attributes use a handful; the response serializer refuses about 255 levels, and a
  deeply nested document costs every reader recursion it may not have. A whole request body
  nests at most `MAX_BODY_DEPTH` levels: room for a free-form field inside a typed body.
- Text is valid Unicode without NUL: a lone surrogate (`"\\ud800"`) cannot be encoded as
  UTF-8, and PostgreSQL text and jsonb refuse NUL.
- Numbers are finite and fit a 64-bit float, so any reader can compute with them (a
  scorecard reads a client attribute as a number).
- Times and dates lie in [`EARLIEST_TIME`, `LATEST_TIME`): windows of up to ten years (twice
  that for trends) and horizons of two years are subtracted from and added to them, which
  fails with OverflowError near the calendar's ends (years 1 and 9999). 1900 is before any
  record a client keeps; 9000 leaves a thousand years of arithmetic before 9999.
"""

import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

MAX_JSON_DEPTH = 32
MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8
MAX_NUMBER = sys.float_info.max
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
EARLIEST_DATE = EARLIEST_TIME.date()
LATEST_DATE = LATEST_TIME.date()
TIME_RANGE = f"from {EARLIEST_DATE.isoformat()} up to (not including) {LATEST_DATE.isoformat()}"

_SURROGATE = re.compile("[\\ud800-\\udfff]")


@dataclass(frozen=True)
class JsonFault:
    """Why a JSON value cannot be kept: `code` for machines, `message` for people."""

    code: str
    message: str


NUMBER_TOO_LARGE = JsonFault(
    "number_too_large", f"numbers must be at most {MAX_NUMBER:.4g} in magnitude (a 64-bit float)"
)

NOT_FINITE = JsonFault("number_not_finite", "numbers must be finite (no NaN or Infinity)")


def json_size(value: Any) -> int:
    """The UTF-8 bytes of a JSON value written compactly: how free-form JSON is measured
    against its cap (client attributes, event properties), whatever the client's spacing."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def text_fault(text: str) -> JsonFault | None:
    if "\x00" in text:
        return JsonFault("text_nul", "text must not contain NUL (\\u0000) characters")
    if not text.isascii() and _SURROGATE.search(text):
        return JsonFault(
            "text_surrogate",
            "text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) cannot be stored",
        )
    return None


def json_fault(value: Any, max_depth: int = MAX_JSON_DEPTH) -> JsonFault | None:
    """The first reason the parsed JSON `value` cannot be stored and read back, or None.

    Iterative, so a value nested far deeper than the limit costs no recursion; only
    containers go on the stack (this runs for every event of a 5,000-event batch)."""
    if not isinstance(value, dict | list | tuple):
        return _scalar_fault(value)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, level = stack.pop()
        if level > max_depth:
            return JsonFault("json_too_deep", f"JSON must nest at most {max_depth} levels")
        if isinstance(container, dict):
            for key in container:
                if isinstance(key, str) and (fault := text_fault(key)):
                    return fault
            children = container.values()
        else:
            children = container
        for child in children:
            if isinstance(child, dict | list | tuple):
                stack.append((child, level + 1))
            elif fault := _scalar_fault(child):
                return fault
    return None


def _scalar_fault(value: Any) -> JsonFault | None:
    if isinstance(value, str):
        return text_fault(value)
    if isinstance(value, float):
        return None if math.isfinite(value) else NOT_FINITE
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        return NUMBER_TOO_LARGE
    return None


def time_fault(value: datetime) -> JsonFault | None:
    """Outside the range the service computes with (see the module docstring)."""
    if EARLIEST_TIME <= value < LATEST_TIME:
        return None
    return JsonFault("time_out_of_range", f"must be {TIME_RANGE}")


def date_fault(value: date) -> JsonFault | None:
    if EARLIEST_DATE <= value < LATEST_DATE:
        return None
    return JsonFault("date_out_of_range", f"must be {TIME_RANGE}")
