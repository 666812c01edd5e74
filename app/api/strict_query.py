"""Unknown query parameters are refused: a typo such as `?teir=smb` must not list everything."""

from functools import cache

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from app.errors import InvalidInput


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _documented_query_parameters(request.app, route.path, request.method.lower())
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[
                {
                    "loc": ["query", name],
                    "msg": "unknown query parameter",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ],
        )


@cache
def _documented_query_parameters(app: FastAPI, path: str, method: str) -> frozenset[str]:
    """The OpenAPI document is the contract, so it says which parameters exist."""
    operation = app.openapi()["paths"].get(path, {}).get(method, {})
    return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
