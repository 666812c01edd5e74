"""The send-time half of the SSRF guard: every connection goes to an address that was checked.

A name is resolved once per connection (every A and AAAA record, through the event loop's
`getaddrinfo`); the connection is refused when any of its addresses is refused, and otherwise
made to one of those very addresses, so a second lookup cannot answer differently (DNS
rebinding). TLS still names the host: httpcore hands the origin's host name to `start_tls`
(SNI and the certificate check), and the Host header comes from the URL, so only the socket's
destination changes. What counts as refused is `app/domain/urls.py`'s rule.

httpx 0.28 takes no network backend, so `GuardedTransport` owns its httpcore pools (public
httpcore API) and maps httpcore's errors to httpx's as httpx's own transport does. Plain http
(allowed only with `allow_loopback`) has a pool of its own whose connections may go to
loopback addresses only."""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from app.domain.urls import (
    IPAddress,
    address_problem,
    host_problem,
    is_loopback_address,
    parse_ip_host,
)
from app.integrations.base import ProviderError

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Every address a host name resolves to, for a TCP connection to `port`."""

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class DestinationRefused(ProviderError):
    """A call refused before any byte was sent, because of where it would go. Final: another
    try reaches the same place."""

    def __init__(self, message: str, *, host: str, address: IPAddress | None = None) -> None:
        super().__init__(message, retryable=False, code="destination_refused")
        self.host = host
        self.address = address


async def resolve_with_event_loop(host: str, port: int) -> list[IPAddress]:
    """The system resolver, as every other connection of this process would use it."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def allowed_addresses(
    host: str,
    port: int,
    *,
    allow_loopback: bool,
    resolver: Resolver = resolve_with_event_loop,
    loopback_only: bool = False,
) -> list[IPAddress]:
    """The addresses a connection to `host` may use: all of them, or `DestinationRefused`
    naming the first refused one. An address literal (in any notation) is not resolved.
    A name that cannot be resolved raises `httpcore.ConnectError` (another try may help)."""
    try:
        literal = parse_ip_host(host)
    except ValueError as exc:
        raise DestinationRefused(f"refused to connect to {host}: {exc}", host=host) from exc
    if literal is not None:
        addresses: Sequence[IPAddress] = [literal]
    else:
        addresses = await _resolve(host, port, resolver)
    resolved = "" if literal is not None else f" ({host} resolves to {_listed(addresses)})"
    for address in addresses:
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem is None and loopback_only and not is_loopback_address(address):
            problem = f"plain http may go only to loopback addresses, and {address} is not one"
        if problem is not None:
            raise DestinationRefused(
                f"refused to connect to {host}: {problem}{resolved}", host=host, address=address
            )
    return list(addresses)


async def _resolve(host: str, port: int, resolver: Resolver) -> Sequence[IPAddress]:
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
    if not addresses:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return addresses


def _listed(addresses: Iterable[IPAddress]) -> str:
    return ", ".join(str(address) for address in addresses)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects to checked addresses only; `inner` makes the actual sockets."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        resolver: Resolver = resolve_with_event_loop,
        loopback_only: bool = False,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._loopback_only = loopback_only
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                addresses = await allowed_addresses(
                    host,
                    port,
                    allow_loopback=self._allow_loopback,
                    resolver=self._resolver,
                    loopback_only=self._loopback_only,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout} s") from exc
        options = list(socket_options) if socket_options is not None else None
        failures: list[str] = []
        for address in addresses:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=options,
                )
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failures.append(f"{address}: {exc}")
        raise httpcore.ConnectError(f"could not connect to {host} ({'; '.join(failures)})")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("refused to connect to a Unix socket", host=path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose every connection passes the guard: https to public
    addresses, and with `allow_loopback` also loopback addresses (over http too)."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        resolver: Resolver = resolve_with_event_loop,
        limits: httpx.Limits = DEFAULT_LIMITS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        context = ssl_context or httpx.create_ssl_context(trust_env=False)

        def pool(*, loopback_only: bool) -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=GuardedNetworkBackend(
                    allow_loopback=allow_loopback, resolver=resolver, loopback_only=loopback_only
                ),
            )

        self._https = pool(loopback_only=False)
        self._http = pool(loopback_only=True) if allow_loopback else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        pool = self._pool_for(url)
        problem = host_problem(url.host, allow_loopback=self._allow_loopback)
        if problem is not None:
            raise DestinationRefused(f"refused to call {url.host}: {problem}", host=url.host)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def _pool_for(self, url: httpx.URL) -> httpcore.AsyncConnectionPool:
        if url.scheme == "https":
            return self._https
        if url.scheme == "http" and self._http is not None:
            return self._http
        raise DestinationRefused(
            f"refused to call {url.host} over {url.scheme}: only https is allowed (plain http "
            "only to loopback, when TENURE_ALLOW_LOOPBACK_URLS is on)",
            host=url.host,
        )

    async def aclose(self) -> None:
        await self._https.aclose()
        if self._http is not None:
            await self._http.aclose()


def guarded_client(
    *,
    allow_loopback: bool,
    resolver: Resolver = resolve_with_event_loop,
    limits: httpx.Limits = DEFAULT_LIMITS,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` over `GuardedTransport`: no redirects, nothing read from the
    environment (proxies, .netrc, SSL_CERT_FILE)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_loopback=allow_loopback, resolver=resolver, limits=limits, ssl_context=ssl_context
        ),
        follow_redirects=False,
        trust_env=False,
    )


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close: Any = getattr(self._stream, "aclose", None)
        if close is not None:
            with _as_httpx_errors():
                await close()


_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's error as the httpx error of the same name (the most specific one)."""
    try:
        yield
    except Exception as exc:
        for kind in type(exc).__mro__:
            mapped = _HTTPX_ERRORS.get(kind)
            if mapped is not None:
                raise mapped(str(exc)) from exc
        raise
