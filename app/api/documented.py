"""Answers taken from the OpenAPI document, the contract: which query parameters and which
methods a path has."""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from app.errors import InvalidInput


async def reject_unknown_query_parameters(request: Request) -> None:
    """A typo such as `?teir=smb` must not silently list everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known, repeatable = _query_parameters(request.app, route.path_format, request.method.lower())
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[
                {"loc": ["query", n], "msg": "unknown query parameter", "type": "extra_forbidden"}
                for n in unknown
            ],
        )
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({n for n in names if names.count(n) > 1} - repeatable)
    if repeated:
        raise InvalidInput(
            f"query parameter(s) given more than once: {', '.join(repeated)}",
            errors=[
                {"loc": ["query", n], "msg": "given more than once", "type": "value_error"}
                for n in repeated
            ],
        )


async def reject_nul_characters(request: Request) -> None:
    """NUL cannot be stored in PostgreSQL text, so no parameter may carry it."""
    names = [
        (location, name)
        for location, values in (
            ("query", request.query_params.multi_items()),
            ("path", list(request.path_params.items())),
        )
        for name, value in values
        if "\x00" in name or "\x00" in str(value)
    ]
    if names:
        raise InvalidInput(
            "parameters must not contain NUL (\\u0000) characters",
            errors=[
                {"loc": [loc, n], "msg": "contains NUL", "type": "value_error"} for loc, n in names
            ],
        )


async def reject_invalid_utf8(request: Request) -> None:
    """Percent-encoded bytes that are not UTF-8 (a lone surrogate's `%ED%A0%80` among them)
    would silently become U+FFFD: refuse them, as the same text in a body is refused."""
    raw_path = request.scope.get("raw_path") or b""
    places: list[list[str | int]] = []
    if not _is_utf8(raw_path.partition(b"?")[0]):
        places.append(["path"])
    for pair in request.scope.get("query_string", b"").split(b"&"):
        name, _, value = pair.partition(b"=")
        if not (_is_utf8(name) and _is_utf8(value)):
            places.append(["query", unquote_to_bytes(name).decode(errors="replace")])
    if places:
        raise InvalidInput(
            "percent-encoded text in the URL must be UTF-8 (lone surrogates are not)",
            errors=[{"loc": loc, "msg": "not UTF-8", "type": "text_encoding"} for loc in places],
        )


def _is_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode()
    except UnicodeDecodeError:
        return False
    return True


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every documented method on a concrete path, for the `Allow` header of a 405; HEAD
    wherever GET is (see HeadAsGetMiddleware). As in routing, the most literal template wins:
    `/v1/clients/batch` is that path, not a `/v1/clients/{client_id}`."""
    matches = [(p, names) for p, names in _path_patterns(app) if p.regex.fullmatch(path)]
    fewest = min((p.parameters for p, _ in matches), default=0)
    methods = {method.upper() for p, names in matches if p.parameters == fewest for method in names}
    return sorted(methods | {"HEAD"} if "GET" in methods else methods)


# Every app instance serves the same routes, so these are kept per process, not per app.
_QUERY_PARAMETERS: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {}
_PATH_PATTERNS: list[tuple["_PathPattern", tuple[str, ...]]] = []


def _query_parameters(
    app: FastAPI, path: str, method: str
) -> tuple[frozenset[str], frozenset[str]]:
    """The documented query parameters, and those of them that are arrays (may repeat)."""
    key = (path, method)
    if key not in _QUERY_PARAMETERS:
        operation = app.openapi()["paths"].get(path, {}).get(method, {})
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        _QUERY_PARAMETERS[key] = (
            frozenset(p["name"] for p in query),
            frozenset(p["name"] for p in query if _is_array(p.get("schema", {}))),
        )
    return _QUERY_PARAMETERS[key]


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(
        _is_array(option) for option in schema.get("anyOf", [])
    )


@dataclass(frozen=True)
class _PathPattern:
    regex: re.Pattern[str]
    parameters: int


def _path_patterns(app: FastAPI) -> list[tuple[_PathPattern, tuple[str, ...]]]:
    if not _PATH_PATTERNS:
        for template, item in app.openapi()["paths"].items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            pattern = _PathPattern(re.compile(regex), template.count("{"))
            _PATH_PATTERNS.append((pattern, tuple(item)))
    return _PATH_PATTERNS
