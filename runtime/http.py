"""FastAPI wiring shared by the services: lifespan, RFC 9457 problem details, body limit,
/healthz and /readyz. The faststream KafkaBroker runs inside the app's lifespan."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import metrics
from runtime.auth import Principal, require
from runtime.service import ServiceRuntime

PROBLEM = "application/problem+json"


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
           415: "Unsupported Media Type", 422: "Unprocessable Content"}


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


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
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.http_max_body_bytes)
    app.add_middleware(metrics.HttpLatency)
    # HTTP server spans; the trace continues through the outbox into Kafka.
    app.add_middleware(OpenTelemetryMiddleware, excluded_urls="healthz,readyz,metrics",
                       exclude_spans=["receive", "send"])  # one server span per request is enough

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = await runtime.ready()
        return JSONResponse({"ready": all(checks.values()), "checks": checks},
                            status_code=200 if all(checks.values()) else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = await metrics.render(runtime)
        return Response(body, media_type=content_type)

    @app.post("/v1/ops/consumption/pause", tags=["ops"], status_code=204)
    async def pause_consumption(_: Principal = Depends(require("admin"))) -> None:
        """Stop consuming (offsets stay where they are); the lag metric shows what piles up."""
        runtime.consumer.pause()

    @app.post("/v1/ops/consumption/resume", tags=["ops"], status_code=204)
    async def resume_consumption(_: Principal = Depends(require("admin"))) -> None:
        runtime.consumer.resume()

    @app.post("/v1/ops/relay/pause", tags=["ops"], status_code=204)
    async def pause_relay(_: Principal = Depends(require("admin"))) -> None:
        """Hold outbox publishing; the backlog metrics show what waits."""
        runtime.relay.pause()

    @app.post("/v1/ops/relay/resume", tags=["ops"], status_code=204)
    async def resume_relay(_: Principal = Depends(require("admin"))) -> None:
        runtime.relay.resume()

    for router in routers:
        app.include_router(router)
    return app
