"""Answers taken from the OpenAPI document, the contract: which query parameters and which
methods a path has."""

import re
from functools import cache

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from app.errors import InvalidInput


async def reject_unknown_query_parameters(request: Request) -> None:
    """A typo such as `?teir=smb` must not silently list everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_parameters(request.app, route.path, request.method.lower())
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[
                {"loc": ["query", n], "msg": "unknown query parameter", "type": "extra_forbidden"}
                for n in unknown
            ],
        )


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every documented method on a concrete path, for the `Allow` header of a 405."""
    return sorted(
        method.upper()
        for pattern, methods in _path_patterns(app)
        if pattern.fullmatch(path)
        for method in methods
    )


@cache
def _query_parameters(app: FastAPI, path: str, method: str) -> frozenset[str]:
    operation = app.openapi()["paths"].get(path, {}).get(method, {})
    return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


@cache
def _path_patterns(app: FastAPI) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    patterns = []
    for template, item in app.openapi()["paths"].items():
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(regex), tuple(item)))
    return tuple(patterns)
