"""The checkout service: an exported model behind a small HTTP API (FastAPI on uvicorn; serve.py starts it).

    POST /v1/age        a JPEG/PNG (raw body or multipart) -> one entry per face: box, score, age, bounds, band,
                        asks_for_id                                               [API key]
    GET  /metrics       Prometheus text: requests by status and till, latency, faces, batches, errors  [API key]
    GET  /health/live   200 while the process runs
    GET  /health/ready  200 once the model is loaded and its loop runs (503 otherwise); /health is the same
    GET  /              a demo page, only with demo=true (its requests need a key like any other)
    GET  /docs, /openapi.json   only with docs=true

Callers: with `api_keys`, every call but health needs `Authorization: Bearer <key>` of a till in the keys file
(access.py); without, the service accepts only loopback connections unless `allow_anonymous=true`.

Under load: a request takes a place in the server only once its whole body has arrived (within `body_timeout_s`),
so slow uploads cannot crowd out the tills. At most `max_queue` photos are then in the server at once (decoding,
face step or waiting for the model); one more gets 503 with Retry-After. Faces of waiting photos run through the
model together, at most `max_batch` at a time, and at most `max_faces` per photo (the largest).

Privacy: photos are held in memory only for their request; nothing of a photo is written to disk or to the logs,
which carry one JSON line of metadata per request (request id, till, status, bytes, faces, milliseconds).
"""

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from omegaconf import MISSING
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from age_lightning.deploy.access import ANONYMOUS, UNAUTHENTICATED, TillKeys, is_loopback
from age_lightning.deploy.api_schema import PHOTO_BODY, AgeAnswer, Status, errors
from age_lightning.deploy.batcher import Batcher
from age_lightning.deploy.observability import Metrics, log_fields
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.predict_files import answers
from age_lightning.deploy.uploads import open_photo, read_photo
from age_lightning.errors import UserError
from age_lightning.images import ImageLimits
from age_lightning.input_spec import PhotoPreparer

log = logging.getLogger("age_lightning.server")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass
class ServeConfig:
    model: str = MISSING  # model.onnx (or model_int8.onnx), with its .json beside it
    host: str = "127.0.0.1"  # 0.0.0.0 to accept other machines (the tills): needs api_keys
    port: int = 8000
    api_keys: str | None = None  # keys file, one `NAME:SHA256HEX` line per till (python make_key.py name=...)
    allow_anonymous: bool = False  # serve other machines without keys (not for a store network)
    ssl_certfile: str | None = None  # TLS: certificate and private key (PEM); both or neither
    ssl_keyfile: str | None = None
    demo: bool = False  # the demo page at /
    docs: bool = False  # /docs and /openapi.json
    max_batch: int = 8  # faces run through the model together
    max_queue: int = 16  # photos in the server at once; one more gets 503 + Retry-After
    max_bytes: int = 10_000_000  # larger bodies get 413
    max_pixels: int = 40_000_000  # larger images get 413 (decompression bombs), checked before decoding
    max_side: int = 10_000  # a longer side gets 413
    max_aspect: float = 4.0  # sides more unequal get 413
    max_decoded_mb: int = 256  # images that would take more memory to decode get 413 (16-bit, CMYK...)
    max_faces: int = 4  # faces estimated per photo, the largest first
    body_timeout_s: float = 10.0  # a body taking longer to arrive gets 408
    timeout_s: float = 10.0  # estimating taking longer gets 503 + Retry-After
    shutdown_timeout_s: int = 10  # seconds: on SIGTERM, requests in flight get this long to finish
    max_connections: int = 64  # open connections; beyond, uvicorn itself answers 503
    prepare_threads: int = 2  # threads decoding photos and running the face step
    model_threads: int = 1  # onnxruntime threads for the age model (0: all cores); 1 measured best on 2 cores
    id_rule: str | None = None  # point | interval; None: model.json's
    id_check_age: float | None = None  # the point rule asks unless the age is above it; None: model.json's

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.max_pixels, self.max_side, self.max_aspect, self.max_decoded_mb * 2**20)


def till_keys(cfg: ServeConfig) -> TillKeys | None:
    """The keys file's tills, or None for an anonymous service, which only loopback may be unless asked for."""
    if (cfg.ssl_certfile is None) != (cfg.ssl_keyfile is None):
        raise UserError("TLS needs both ssl_certfile and ssl_keyfile")
    if cfg.api_keys:
        return TillKeys.load(cfg.api_keys)
    if not is_loopback(cfg.host):
        if not cfg.allow_anonymous:
            raise UserError(
                f"host={cfg.host} lets other machines call the service: give api_keys=FILE (make a key "
                f"per till with python make_key.py name=till-01), or allow_anonymous=true"
            )
        log.warning("Serving %s without API keys (allow_anonymous=true): anyone who reaches it can call it", cfg.host)
    return None


class AgeService:
    """What the endpoints share: the model, the face step, the ID rule, the batcher and the metrics."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.model = OnnxAgeModel(cfg.model, cfg.model_threads)
        self.spec = self.model.spec.override(id_rule=cfg.id_rule, id_check_age=cfg.id_check_age)
        self.id_check, self.policy = self.spec.id_check, self.spec.faces
        self.preparer = PhotoPreparer(self.spec)
        self.prepare_pool = ThreadPoolExecutor(cfg.prepare_threads, thread_name_prefix="age-prepare")
        self.metrics = Metrics()
        self.batcher = Batcher(self.model, cfg.max_batch, self.metrics.batch.observe, self._batcher_crashed)
        self.in_server = 0
        meta = self.model.metadata
        self.model_info = {
            "file": Path(cfg.model).name,
            "version": meta.get("model_version"),
            "training_config_hash": meta.get("training_config_hash"),
            "sha256": hashlib.sha256(Path(cfg.model).read_bytes()).hexdigest()[:16],
            "head": meta.get("output", {}).get("head", "point"),
            "faces": self.policy.mode,
            "id_rule": self.id_check.rule,
        }

    def _batcher_crashed(self, error: BaseException) -> None:
        self.metrics.restarts.inc()
        log.error("The model loop died; restarting it", extra=log_fields(error=type(error).__name__))

    @contextlib.contextmanager
    def place(self):
        """A place among the `max_queue` photos in the server, or 503."""
        if self.in_server >= self.cfg.max_queue:
            raise HTTPException(503, "busy: too many photos waiting; retry shortly", {"Retry-After": "1"})
        self.in_server += 1
        self.metrics.in_server.inc()
        try:
            yield
        finally:
            self.in_server -= 1
            self.metrics.in_server.dec()

    def prepare(self, body: bytes) -> list[tuple[np.ndarray, dict]]:
        """Decode and run the face step (in a worker thread): the network inputs and each face's box and score."""
        image = open_photo(body, self.cfg.limits, draft_side=self.preparer.min_size)
        return [
            (
                array,
                {"box": [0, 0, image.width, image.height], "score": None}
                if face is None
                else {"box": [round(v, 1) for v in face.box], "score": round(face.score, 3)},
            )
            for array, face in self.preparer.every_face(image, self.cfg.max_faces)
        ]

    async def estimate(self, body: bytes) -> list[dict]:
        prepared = await asyncio.get_running_loop().run_in_executor(self.prepare_pool, self.prepare, body)
        self.metrics.faces.observe(len(prepared))
        if not prepared:
            return []
        ages, scales = await self.batcher.predict([array for array, _ in prepared])
        return [{**face, **answer} for (_, face), answer in zip(prepared, answers(ages, scales, self.id_check))]


def create_app(cfg: ServeConfig) -> FastAPI:
    keys = till_keys(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = AgeService(cfg)  # the model is loaded before the first request is accepted
        service.batcher.start()
        app.state.service = service
        log.info(
            "Serving %s (%s head, faces %s, ID rule %s) on %s://%s:%d, %s",
            service.model_info["file"],
            service.model_info["head"],
            service.policy.mode,
            service.id_check.rule,
            "https" if cfg.ssl_certfile else "http",
            cfg.host,
            cfg.port,
            f"{len(keys.digests)} till key(s)" if keys else "no API keys",
        )
        yield
        await service.batcher.stop()
        service.prepare_pool.shutdown(wait=False, cancel_futures=True)
        app.state.service = None

    app = FastAPI(
        title="Age estimation checkout service",
        lifespan=lifespan,
        redoc_url=None,
        docs_url="/docs" if cfg.docs else None,
        openapi_url="/openapi.json" if cfg.docs else None,
    )
    app.state.service = None
    bearer = HTTPBearer(auto_error=False, description="A till's API key (python make_key.py name=...)")

    def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        """The calling till's name, from its key; 401 without a known key."""
        till = ANONYMOUS if keys is None else keys.till(credentials.credentials) if credentials else None
        if till is None:
            raise HTTPException(
                401, "missing or unknown API key: send Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
            )
        request.state.till = till
        return till

    def ready_service(request: Request) -> AgeService:
        service = request.app.state.service
        if service is None or not service.batcher.alive:
            raise HTTPException(503, "not ready; retry shortly", {"Retry-After": "1"})
        return service

    @app.middleware("http")
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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail), "request_id": getattr(request.state, "request_id", None)},
            error.status_code,
            error.headers,
        )

    @app.post(
        "/v1/age",
        response_model=AgeAnswer,
        openapi_extra=PHOTO_BODY,
        responses=errors(400, 401, 408, 413, 415, 500, 503),
    )
    async def age(
        request: Request, till: str = Depends(authorize), service: AgeService = Depends(ready_service)
    ) -> dict:
        started = time.perf_counter()
        body = await read_photo(request, cfg.max_bytes, cfg.body_timeout_s)  # before taking a place
        request.state.body_bytes = len(body)
        with service.place():
            try:
                faces = await asyncio.wait_for(service.estimate(body), cfg.timeout_s)
            except asyncio.TimeoutError:
                raise HTTPException(
                    503, f"timed out after {cfg.timeout_s:g} s; retry shortly", {"Retry-After": "1"}
                ) from None
        request.state.faces = len(faces)
        return {
            "faces": faces,
            "model": service.model_info,
            "time_ms": round(1000 * (time.perf_counter() - started), 1),
        }

    # response_class=Response: only the declared text/plain for 200, and the errors' JSON model for the others
    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                "description": "Prometheus text format",
            },
            **errors(401, 503),
        },
    )
    async def metrics(till: str = Depends(authorize), service: AgeService = Depends(ready_service)):
        return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live", response_model=Status)
    async def live() -> dict:
        return {"status": "live"}

    @app.get("/health/ready", response_model=Status, responses=errors(503))
    @app.get("/health", response_model=Status, responses=errors(503), include_in_schema=False)
    async def ready(service: AgeService = Depends(ready_service)) -> dict:
        return {"status": "ready"}

    if cfg.demo:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def demo() -> str:
            return files("age_lightning.deploy").joinpath("demo.html").read_text()

    return app
