"""FastAPI wiring shared by the services: lifespan, RFC 9457 problem details, body limit,
input that storage cannot hold (NUL bytes, out-of-range dates) refused as 422, /healthz and
/readyz. The faststream KafkaBroker runs inside the app's lifespan."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID
from urllib.parse import parse_qsl

import asyncpg

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi_offline import FastAPIOffline
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.personal import KeyId, readers_of
from runtime import metrics
from runtime.auth import Principal, admin
from runtime.consumer import TRANSIENT
from runtime.keyring import service_caller
from runtime.sealing import b64e
from runtime.unit_of_work import AccessRecord
from runtime.service import ServiceRuntime

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


async def service_runtime(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the ServiceRuntime of the app serving this request."""
    return request.app.state.runtime


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests"}


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


# A dependency that is away (PostgreSQL restarting, the broker gone) is the server's
# problem but not a bug: 503 with Retry-After, so clients and load balancers back off and
# retry; the request wrote nothing (its transaction never committed).
DEPENDENCY_DOWN = (*TRANSIENT, KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)
RETRY_AFTER_S = 5


async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: dependency unavailable: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    response = problem(503, "Service Unavailable", "a service this request needs (database or broker) is"
                       f" unavailable; nothing was changed, try again in {RETRY_AFTER_S} s")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Never a bare `500 text/plain`: a problem document (the traceback goes to the log only)."""
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return problem(500, "Internal Server Error", "an unexpected error; it has been logged")


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
            "rule": err["type"],
            "message": err["msg"],
        }
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(422, "Unprocessable Content", detail, errors=errors)


# -- input storage cannot hold --------------------------------------------------------------
# PostgreSQL text cannot hold NUL, and a timestamp near year 1 or 9999 overflows once moved
# to UTC: refused up front, naming the field, instead of a 500 from the driver.

EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


def invalid(field: str, message: str, rule: str = "value_error", where: str = "query") -> RequestValidationError:
    """A 422 problem naming `field`, shaped like FastAPI's own validation errors."""
    return RequestValidationError([{"loc": (where, field), "msg": message, "type": rule}])


def _in_range(value: date) -> date:
    try:
        day = value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    except OverflowError:
        day = date.min
    if isinstance(day, datetime):
        day = day.date()
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"out of range: between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def moment(value: str, field: str) -> datetime:
    """A cursor's timestamp, parsed and within range, else 422 naming `field`."""
    try:
        parsed = datetime.fromisoformat(value)
        return _in_range(parsed)  # type: ignore[return-value]
    except (ValueError, OverflowError) as exc:
        raise invalid(field, f"not a cursor this API returned ({exc})") from None


SaneDate = Annotated[date, AfterValidator(_in_range)]


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "body"
    elif isinstance(value, dict):
        for k, v in value.items():
            key = f"{path}.{k}" if path else str(k)
            if "\x00" in str(k):
                yield key
            yield from _nul_paths(v, key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nul_paths(v, f"{path}.{i}" if path else str(i))


def _nul_fields(scope: Scope, body: bytes) -> list[str]:
    fields = ["path"] if "\x00" in scope.get("path", "") else []
    query = scope.get("query_string", b"").decode("latin-1")
    fields += [f"query.{k}" for k, v in parse_qsl(query, keep_blank_values=True) if "\x00" in k + v]
    if not body:
        return fields
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip()
    if content_type == b"application/x-www-form-urlencoded":
        fields += [f"body.{k}" for k, v in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                   if "\x00" in k + v]
    elif b"\\u0000" in body or b"\x00" in body:
        try:
            fields += [f"body.{p}" if p != "body" else p for p in _nul_paths(json.loads(body), "")]
        except ValueError:
            pass  # not JSON: the endpoint's own validation says so
    return fields


class RejectNul:
    """422 naming each field (path, query or body) that holds a NUL byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        messages, body = [], b""
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            try:
                while True:
                    message = await receive()
                    messages.append(message)
                    body += message.get("body", b"")
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
            except StarletteHTTPException as exc:  # the body limit, outside the app's handlers
                return await problem(exc.status_code, _TITLES.get(exc.status_code, "Error"),
                                     str(exc.detail))(scope, receive, send)
        fields = _nul_fields(scope, body)
        if fields:
            errors = [{"field": f, "rule": "nul_byte", "message": "NUL bytes are not allowed"} for f in fields]
            detail = "; ".join(f"{f}: NUL bytes are not allowed" for f in fields[:5])
            return await problem(422, "Unprocessable Content", detail, errors=errors)(scope, receive, send)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    # The backstop for what no model caught: still the client's input, never a 500.
    return problem(422, "Unprocessable Content", "a value cannot be stored (out of range or not allowed)")


class BodyLimit:
    """413 for bodies above the limit, whether or not Content-Length is declared."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await problem(413, "Content Too Large", f"the body may be at most {self.max_bytes} bytes")(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise StarletteHTTPException(413, f"the body may be at most {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


class MetricsListener:
    """/metrics only on the metrics listener (loopback by default), and nothing else there:
    the API port does not show the service's internals to the world."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            on_metrics_port = (scope.get("server") or (None, None))[1] == self.port
            if (scope["path"] == "/metrics") != on_metrics_port:
                return await problem(404, "Not Found", "no such resource on this listener")(scope, receive, send)
        await self.app(scope, receive, send)


class DataKeyRequest(BaseModel):
    kids: list[str] = Field(min_length=1, max_length=500, description="<producer>/<key_class>/<subject> ids")


class DataKeys(BaseModel):
    keys: dict[str, str] = Field(description="kid -> 256-bit AES-GCM key, base64url")
    erased: list[str] = Field(description="kids this service no longer has: the case is erased")


def _case_of(subject: str) -> UUID | None:
    try:
        return UUID(subject)
    except ValueError:
        return None


async def release_data_keys(body: DataKeyRequest, caller: str = Depends(service_caller),
                            rt: ServiceRuntime = Depends(service_runtime)) -> DataKeys:
    """Data keys of this service's events, for a service that contracts/personal.py names as
    a reader of their key class (its token's audience must be this service). Every release
    and every refusal is in the processing log."""
    try:
        ids = [KeyId.parse(k) for k in body.kids]
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    me = rt.settings.service_name
    if foreign := [str(k) for k in ids if k.producer != me]:
        raise HTTPException(422, f"not keys of {me}: {', '.join(foreign[:5])}")
    refused = [k for k in ids if caller not in readers_of(k.key_class)]
    async with rt.unit_of_work() as uow:
        released = {} if refused else await rt.keys.existing(uow.conn, [str(k) for k in ids])
        for k in refused or [k for k in ids if str(k) in released]:
            uow.log_access(AccessRecord(action="data_key.release", outcome="denied" if refused else "allowed",
                                        organisation_id=caller, case_id=_case_of(k.subject), purpose=k.key_class))
    if refused:
        raise HTTPException(403, f"{caller} may not read {', '.join(sorted({k.key_class for k in refused}))} data")
    return DataKeys(keys={kid: b64e(key) for kid, key in released.items()},
                    erased=[str(k) for k in ids if str(k) not in released])


def create_app(runtime: ServiceRuntime, title: str, routers: list[APIRouter]) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # /docs serves Swagger UI from the package, not a CDN: it works on a closed network.
    app = FastAPIOffline(title=title, lifespan=lifespan, version="1")
    app.state.runtime = runtime
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for exc_type in DEPENDENCY_DOWN:
        app.add_exception_handler(exc_type, _dependency_down)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)  # type: ignore[arg-type]
    for unstorable in (OverflowError, asyncpg.DataError):
        app.add_exception_handler(unstorable, _unstorable)
    app.add_middleware(RejectNul)  # inside BodyLimit: it reads at most the allowed body
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.http_max_body_bytes)
    app.add_middleware(MetricsListener, port=runtime.settings.metrics_listener_port)
    app.add_middleware(metrics.HttpLatency)
    # HTTP server spans; the trace continues through the outbox into Kafka.
    app.add_middleware(OpenTelemetryMiddleware, excluded_urls="healthz,readyz,metrics",
                       exclude_spans=["receive", "send"])  # one server span per request is enough

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """Alive, unless the consumer stayed stalled after the runtime restarted it (then an
        orchestrator should restart the process)."""
        if runtime.monitor.alive():
            return JSONResponse({"status": "alive"})
        return JSONResponse({"status": "stalled", "consumer": runtime.monitor.report()}, status_code=503)

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Database and broker reachable, and the consumer not stalled; the consumer's lag
        (from the broker's high watermarks and the group's committed offsets) comes along."""
        checks = await runtime.ready()
        ready = all(checks.values())
        response = JSONResponse({"ready": ready, "checks": checks, "consumer": runtime.monitor.report()},
                                status_code=200 if ready else 503)
        if not ready:
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = await metrics.render(runtime)
        return Response(body, media_type=content_type)

    @app.post("/v1/ops/consumption/pause", tags=["ops"], status_code=204)
    async def pause_consumption(_: Principal = Depends(admin)) -> None:
        """Stop consuming (offsets stay where they are); the lag metric shows what piles up."""
        runtime.consumer.pause()

    @app.post("/v1/ops/consumption/resume", tags=["ops"], status_code=204)
    async def resume_consumption(_: Principal = Depends(admin)) -> None:
        runtime.consumer.resume()

    @app.post("/v1/ops/relay/pause", tags=["ops"], status_code=204)
    async def pause_relay(_: Principal = Depends(admin)) -> None:
        """Hold outbox publishing; the backlog metrics show what waits."""
        runtime.relay.pause()

    @app.post("/v1/ops/relay/resume", tags=["ops"], status_code=204)
    async def resume_relay(_: Principal = Depends(admin)) -> None:
        runtime.relay.resume()

    app.post("/v1/data-keys", tags=["data keys"], response_model=DataKeys)(release_data_keys)

    for router in routers:
        app.include_router(router)
    return app
