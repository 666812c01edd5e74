"""API keys: a recognisable secret shown once, stored only as a hash, with scopes."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from app.errors import InvalidInput

KEY_PREFIX = "tnr_"
DISPLAY_PREFIX_LENGTH = 12


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True)
class NewKey:
    secret: str
    prefix: str
    hash: str


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=secret[:DISPLAY_PREFIX_LENGTH], hash=hash_key(secret))


def hash_key(secret: str) -> str:
    """SHA-256 suffices: keys carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> list[Scope]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    return normalize_scopes(names)


def normalize_scopes(names: list[str]) -> list[Scope]:
    if not names:
        raise InvalidInput("at least one scope is required")
    try:
        scopes = {Scope(name) for name in names}
    except ValueError as exc:
        raise InvalidInput(f"unknown scope; choose from {', '.join(Scope)}") from exc
    return sorted(scopes, key=list(Scope).index)


def grants(held: list[Scope], needed: Scope) -> bool:
    """`admin` implies every scope; `read` and `write` are independent so ingest-only keys exist."""
    return needed in held or Scope.ADMIN in held


@dataclass(frozen=True)
class Principal:
    """Who is calling: the workspace every query is scoped to, and what the key may do."""

    workspace_id: uuid.UUID
    api_key_id: uuid.UUID
    scopes: tuple[Scope, ...]


NO_API_KEY = uuid.UUID(int=0)
"""The `api_key_id` of writes no API key made: a job's, acting for the workspace."""


def job_principal(workspace_id: uuid.UUID, scope: Scope) -> Principal:
    """A background job acting in a workspace through the services the API calls."""
    return Principal(workspace_id, NO_API_KEY, (scope,))
