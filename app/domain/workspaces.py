"""Workspace vocabulary: the tiers and lifecycle stages a book of business is sorted into."""

import re

from app.errors import InvalidInput

DEFAULT_TIERS: tuple[str, ...] = ("enterprise", "mid", "smb")
DEFAULT_LIFECYCLE_STAGES: tuple[str, ...] = (
    "onboarding",
    "first_value",
    "adoption",
    "renewal",
    "expansion",
)
VOCABULARY_WORD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_VOCABULARY = 50
MAX_NAME_LENGTH = 200


def validate_name(name: str, subject: str = "a workspace name") -> str:
    """The API's rule for names, for callers that bypass it (the CLI): 1 to 200 characters
    once surrounding spaces are trimmed."""
    trimmed = name.strip()
    if not trimmed or len(trimmed) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{subject} takes 1 to {MAX_NAME_LENGTH} characters besides spaces",
            errors=[_error("name", "blank or too long")],
        )
    return trimmed


def validate_vocabulary(field: str, words: list[str]) -> list[str]:
    """A workspace's own list: non-empty, unique, lower snake_case words, order kept."""
    if not words:
        raise InvalidInput(f"{field} must not be empty", errors=[_error(field, "empty list")])
    if len(words) > MAX_VOCABULARY:
        raise InvalidInput(
            f"{field} allows at most {MAX_VOCABULARY} entries",
            errors=[_error(field, f"more than {MAX_VOCABULARY} entries")],
        )
    if len(set(words)) != len(words):
        raise InvalidInput(f"{field} has duplicates", errors=[_error(field, "duplicate entries")])
    bad = [w for w in words if not VOCABULARY_WORD.match(w)]
    if bad:
        raise InvalidInput(
            f"{field} entries must be lower snake_case words",
            errors=[_error(field, f"invalid entry {w!r}") for w in bad],
        )
    return list(words)


def _error(field: str, message: str) -> dict[str, object]:
    return {"loc": ["body", field], "msg": message, "type": "value_error"}
