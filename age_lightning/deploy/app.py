"""The checkout service: an exported model behind a small HTTP API (FastAPI on uvicorn; serve.py starts it).

    POST /v1/age        a JPEG/PNG (raw body or multipart) -> one entry per face: box, score, age, bounds, band,
                        asks_for_id                                               [a till's key]
    POST /v1/sales/{id} the sale's outcome (completed, id_checked), with answer_log=...  [a till's key]
    GET  /v1/answers    the answer log, paginated, with answer_log=...            [an auditor's key]
    POST /v1/shift/{till}/clear  clear a till's shift alarm (shift_watch.py)     [an operator's key]
    GET  /metrics       Prometheus text: requests by status and till, latency, faces, batches, errors  [API key]
    GET  /health/live   200 while the process runs
    GET  /health/ready  200 once the model is loaded and its loop runs (503 otherwise); /health is the same
    GET  /              a demo page, only with demo=true (its requests need a key like any other)
    GET  /docs, /openapi.json   only with docs=true

The parts: `create_app` here (start-up, the request middleware, the error handler), the routes (routes.py), their
dependencies (dependencies.py), the model and batcher they share (service.py), the contract (api_schema.py), keys
(access.py), uploads (uploads.py), what a till sends with a photo (sale_context.py), metrics and logs
(observability.py), and the answer log (answer_log.py, over answer_db.py).

Callers: with `api_keys`, every call but health needs `Authorization: Bearer <key>` of a till in the keys file
(access.py); without, the service accepts only loopback connections unless `allow_anonymous=true`.

Under load: a request takes a place in the server only once its whole body has arrived (within `body_timeout_s`),
so slow uploads cannot crowd out the tills. At most `max_queue` photos are then in the server at once (decoding,
face step or waiting for the model); one more gets 503 with Retry-After. Faces of waiting photos run through the
model together, at most `max_batch` at a time, and at most `max_faces` per photo (the largest).

Privacy: photos are held in memory only for their request; nothing of a photo is written to disk or to the logs,
which carry one JSON line of metadata per request (request id, till, status, bytes, faces, milliseconds). The
answer log keeps the answers, never the photo (answer_db.py lists what a row holds).
"""

import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from age_lightning.deploy.access import UNAUTHENTICATED, ApiKeys, is_loopback
from age_lightning.deploy.answer_log import AnswerLog
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.observability import log_fields
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.routes import demo_router, log_router, router
from age_lightning.deploy.service import AgeService
from age_lightning.errors import UserError

log = logging.getLogger("age_lightning.server")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def api_keys(cfg: ServeConfig) -> ApiKeys | None:
    """The keys file's tills, or None for an anonymous service, which only loopback may be unless asked for."""
    if (cfg.ssl_certfile is None) != (cfg.ssl_keyfile is None):
        raise UserError("TLS needs both ssl_certfile and ssl_keyfile")
    if cfg.api_keys:
        return ApiKeys.load(cfg.api_keys)
    if not is_loopback(cfg.host):
        if not cfg.allow_anonymous:
            raise UserError(
                f"host={cfg.host} lets other machines call the service: give api_keys=FILE (make a key "
                f"per till with python make_key.py name=till-01), or allow_anonymous=true"
            )
        log.warning("Serving %s without API keys (allow_anonymous=true): anyone who reaches it can call it", cfg.host)
    return None


def create_app(cfg: ServeConfig, load_model: Callable[[ServeConfig], OnnxAgeModel] | None = None) -> FastAPI:
    """The service for `cfg`; its model is loaded at start-up (lifespan) by `load_model` (default: the ONNX file
    `cfg.model`; tests pass a stand-in)."""
    keys = api_keys(cfg)
    load = load_model or (lambda cfg: OnnxAgeModel(cfg.model, cfg.model_threads))
    answer_log = (
        AnswerLog(cfg.answer_log, cfg.answer_log_keep_days, cfg.answer_log_timeout_s) if cfg.answer_log else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = AgeService(cfg, load(cfg), answer_log)  # the model is loaded before the first request is accepted
        await service.start()  # the answer log's first retention pass is done before the first request
        app.state.service = service
        log.info(
            "Serving %s (%s head, faces %s, ID rule %s) on %s://%s:%d, %s, %s",
            service.model_info["file"],
            service.model_info["head"],
            service.policy.mode,
            service.id_check.rule,
            "https" if cfg.ssl_certfile else "http",
            cfg.host,
            cfg.port,
            f"{len(keys.digests)} key(s)" if keys else "no API keys",
            f"answers kept in {answer_log.name} for {answer_log.keep_days} days" if answer_log else "no answer log",
        )
        yield
        await service.stop()
        app.state.service = None

    app = FastAPI(
        title="Age estimation checkout service",
        lifespan=lifespan,
        redoc_url=None,
        docs_url="/docs" if cfg.docs else None,
        openapi_url="/openapi.json" if cfg.docs else None,
    )
    app.state.cfg, app.state.keys, app.state.service = cfg, keys, None
    app.middleware("http")(observe)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(RequestValidationError)(invalid_request)
    app.include_router(router)
    if answer_log:
        app.include_router(log_router)
    if cfg.demo:
        app.include_router(demo_router)
    return app


async def observe(request: Request, call_next):
    """Request id, one JSON log line, metrics of /v1/age, and a JSON 500 for anything unexpected."""
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    started, error = time.perf_counter(), None
    try:
        response = await call_next(request)
    except Exception as failure:  # noqa: BLE001 - every failure gets an answer, a count and a log line
        error = type(failure).__name__
        response = JSONResponse(
            {"error": "internal error; the server's log has its class", "request_id": request.state.request_id}, 500
        )
    elapsed = time.perf_counter() - started
    state, service = request.state, request.app.state.service
    till = getattr(state, "till", UNAUTHENTICATED)
    if service is not None:
        if error:
            service.metrics.errors.labels(error).inc()
        if request.url.path == "/v1/age":
            service.metrics.requests.labels(str(response.status_code), till).inc()
            service.metrics.latency.observe(elapsed)
    response.headers["X-Request-ID"] = state.request_id
    fields = log_fields(
        request_id=state.request_id,
        till=till,
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        body_bytes=getattr(state, "body_bytes", None),
        faces=getattr(state, "faces", None),
        ms=round(1000 * elapsed, 1),
        error=error,
    )
    (log.error if error else log.info)("request", extra=fields)
    return response


async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error as the contract's one error body, with the request id."""
    return JSONResponse(
        {"error": str(error.detail), "request_id": getattr(request.state, "request_id", None)},
        error.status_code,
        error.headers,
    )


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """A malformed parameter or body as a 400 naming it (the first one), in the one error body."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
    return JSONResponse(
        {"error": f"{where}: {first['msg']}", "request_id": getattr(request.state, "request_id", None)}, 400
    )
