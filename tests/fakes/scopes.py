"""A tiny SendGrid-like account endpoint on 127.0.0.1 for the integrations resource's tests:
`GET /v3/scopes` with a bearer key. A refused key is echoed back in the error, as careless
providers do, so tests can prove the echo never reaches our answers or logs."""

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Faults, serving

GOOD_KEY = "SG.the-right-key-0123456789"


def scopes_app(faults: Faults, key: str = GOOD_KEY) -> Starlette:
    async def scopes(request: Request) -> Response:
        if (faulty := await faults.intercept(request)) is not None:
            return faulty
        sent = request.headers.get("authorization", "")
        if sent != f"Bearer {key}":
            message = f"the key in {sent!r} is not valid"
            return JSONResponse({"errors": [{"message": message}]}, status_code=401)
        return JSONResponse({"scopes": ["mail.send", "scopes.read"]})

    return Starlette(routes=[Route("/v3/scopes", scopes, methods=["GET"])])


@contextmanager
def fake_account(faults: Faults | None = None) -> Iterator[tuple[str, Faults]]:
    """The fake's base URL and its faults, for the block."""
    faults = faults or Faults()
    with serving(scopes_app(faults)) as base_url:
        yield base_url, faults
