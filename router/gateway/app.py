"""`create_app(GatewayConfig)`: the FastAPI app of the OpenAI-compatible HTTP gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from hybridserve.errors import HybridServeError
from hybridserve.metrics import GatewayMetrics, render
from hybridserve.router.gateway.config import GatewayConfig
from hybridserve.router.gateway.errors import http_error
from hybridserve.router.gateway.metrics import MetricsMiddleware
from hybridserve.router.gateway.protocol import ErrorResponse
from hybridserve.router.gateway.router_client import RouterClient
from hybridserve.router.gateway.routes import create_routes


def _error(exc: BaseException) -> JSONResponse:
    status, body = http_error(exc)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


async def _typed_error(request: Request, exc: Exception) -> Response:
    return _error(exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = ErrorResponse.of(str(exc.detail), "invalid_request_error", code=exc.status_code)
    return JSONResponse(body.model_dump(mode="json"), status_code=exc.status_code)


def create_app(config: GatewayConfig) -> FastAPI:
    """The app; its router channel opens at startup and closes at shutdown (lifespan)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.router_client = RouterClient(config.router_address, config.request_timeout_s)
        try:
            yield
        finally:
            await app.state.router_client.close()

    app = FastAPI(title="hybridserve", lifespan=lifespan, docs_url=None, redoc_url=None)
    registry = CollectorRegistry()  # per app: several gateways may share one test process
    app.add_middleware(MetricsMiddleware, metrics=GatewayMetrics(registry))
    for cls in (HybridServeError, ValidationError, Exception):
        app.add_exception_handler(cls, _typed_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.include_router(create_routes(config))

    @app.get("/health")
    async def health(request: Request) -> Response:
        """200 when the router answers and some group is healthy, else 503."""
        try:
            status = await request.app.state.router_client.cluster_status()
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        healthy = sum(group.healthy for group in status.groups)
        ok = healthy > 0
        body = {"status": "ok" if ok else "unavailable", "healthy_groups": healthy}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = render(registry)
        return Response(body, media_type=content_type)

    return app
