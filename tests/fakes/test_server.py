"""The fakes' plumbing answers over real HTTP and produces the faults it is told to."""

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Faults, serving


def _app(faults: Faults) -> Starlette:
    async def hello(request: Request) -> Response:
        return await faults.intercept(request) or JSONResponse({"hello": "world"})

    return Starlette(routes=[Route("/hello", hello)])


def test_answers_and_scripted_faults() -> None:
    faults = Faults()
    with serving(_app(faults)) as base_url:
        assert httpx.get(f"{base_url}/hello").json() == {"hello": "world"}
        faults.fail_next(1, 429, retry_after="2")
        limited = httpx.get(f"{base_url}/hello")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
        assert httpx.get(f"{base_url}/hello").status_code == 200
        faults.down_for(60)
        assert httpx.get(f"{base_url}/hello").status_code == 503
        faults.recover()
        assert httpx.get(f"{base_url}/hello").status_code == 200
