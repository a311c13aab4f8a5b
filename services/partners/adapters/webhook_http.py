"""HTTP to webhook receivers that connects only to addresses it has checked.

The check runs inside the connection itself: a network backend resolves the host, refuses
the connection unless every address is allowed (domain.webhook_target), and connects to the
address it checked — so a DNS answer that changes after the check (rebinding) cannot switch
it. The URL keeps its host name, so the Host header, SNI and certificate verification are
those of the name, as without the guard. No proxies from the environment (a proxy would
connect on our behalf) and no redirects.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from services.partners.domain.webhook_target import (
    IPAddress,
    RefusedTarget,
    WebhookTarget,
    check_address,
    parse_url,
)

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(target: WebhookTarget, resolve: Resolver, dev_mode: bool) -> list[IPAddress]:
    """Every address of the target, each allowed; RefusedTarget otherwise (one bad address
    refuses all: a name that also points inward is not a public receiver)."""
    if target.address is not None:
        found = [str(target.address)]
    else:
        try:
            found = await resolve(target.host, target.port)
        except OSError:
            raise RefusedTarget("name does not resolve") from None
    if not found:
        raise RefusedTarget("name does not resolve")
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
    for address in addresses:
        check_address(address, dev_mode, plain_http=target.scheme == "http")
    return addresses


async def check_registration(url: str, dev_mode: bool, resolve: Resolver = system_resolver) -> None:
    """What an admin's webhook URL must pass before it is stored."""
    await checked_addresses(parse_url(url, dev_mode), resolve, dev_mode)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, connects to the first one checked."""

    def __init__(self, scheme: str, dev_mode: bool, resolve: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._scheme, self._dev_mode, self._resolve = scheme, dev_mode, resolve

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        target = parse_url(f"{self._scheme}://{netloc}/", self._dev_mode)
        addresses = await checked_addresses(target, self._resolve, self._dev_mode)
        return await self._inner.connect_tcp(str(addresses[0]), port, timeout=timeout,
                                             local_address=local_address, socket_options=socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("refused address", "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response and error mapping) on a guarded pool."""

    def __init__(self, scheme: str, dev_mode: bool, resolve: Resolver, ssl_context: ssl.SSLContext) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context,
                                                  network_backend=_GuardedBackend(scheme, dev_mode, resolve))


class GuardedTransport(httpx.AsyncBaseTransport):
    """One pinned transport per scheme: the backend of each knows which rule applies."""

    def __init__(self, dev_mode: bool, resolve: Resolver = system_resolver,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        context = ssl_context or httpx.create_ssl_context()
        self._by_scheme = {scheme: _PinnedTransport(scheme, dev_mode, resolve, context)
                           for scheme in ("https", "http")}
        self._dev_mode = dev_mode

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parse_url(str(request.url), self._dev_mode)  # scheme, credentials, numeric forms
        return await self._by_scheme[request.url.scheme].handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._by_scheme.values():
            await transport.aclose()


def guarded_client(timeout: float, dev_mode: bool, resolve: Resolver = system_resolver,
                   ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(dev_mode, resolve, ssl_context), timeout=timeout,
                             trust_env=False, follow_redirects=False)


def failure_class(exc: BaseException) -> str:
    """What an admin is told about a failed attempt: the class of failure, never what answered
    (so the delivery log cannot be used to map a network)."""
    if isinstance(exc, RefusedTarget):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return "TLS error"
        seen = seen.__cause__ or seen.__context__
    return "connection failed"


def status_class(status: int) -> str:
    return f"HTTP {status // 100}xx"
