"""The checkout service: an exported model behind a small HTTP API (FastAPI on uvicorn; serve.py starts it).

    POST /v1/age   a JPEG/PNG (raw body or multipart) -> one entry per face: box, score, age, bounds, band, asks_for_id
    GET  /health   200 once the model is loaded (503 before)
    GET  /metrics  Prometheus text: requests, latency, faces per photo, batch sizes, photos in the server
    GET  /         a one-page demo: drop a photo, see the boxes and ages drawn on it

Under load: at most `max_queue` photos are in the server at once (decoding, face step or waiting for the model);
one more gets 503 with Retry-After instead of a growing queue. Photos waiting for the model are run together in
batches of up to `max_batch`. Bodies over `max_bytes`, images over `max_pixels` and requests slower than
`timeout_s` are refused. Photos are held in memory only for their request: nothing of a photo is written to disk
or to the logs, which carry only metadata (status, size in bytes, faces found, milliseconds).
"""

import asyncio
import hashlib
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from omegaconf import MISSING
from PIL import Image, UnidentifiedImageError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.formparsers import MultiPartException, MultiPartParser

from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.predict_files import PhotoPreparer, answers
from age_lightning.faces import FacePolicy
from age_lightning.images import ImageTooLarge, load_rgb

log = logging.getLogger("age_lightning.server")
IMAGE_TYPES = ("image/jpeg", "image/png", "application/octet-stream")


@dataclass
class ServeConfig:
    model: str = MISSING              # model.onnx (or model_int8.onnx), with its .json beside it
    host: str = "127.0.0.1"           # 0.0.0.0 to accept other machines (the tills)
    port: int = 8000
    max_batch: int = 8                # photos run through the model together
    max_queue: int = 16               # photos in the server at once; one more gets 503 + Retry-After
    max_bytes: int = 10_000_000       # larger bodies get 413
    max_pixels: int = 40_000_000      # larger images get 413 (decompression bombs)
    timeout_s: float = 10.0           # a request taking longer gets 503 + Retry-After
    max_connections: int = 256        # open connections; beyond, uvicorn itself answers 503 (no Retry-After)
    prepare_threads: int = 2          # threads decoding photos and running the face step
    model_threads: int = 1            # onnxruntime threads for the age model (0: all cores); 1 measured best on 2 cores
    id_rule: str | None = None        # point | interval; None: model.json's
    id_check_age: float | None = None  # the point rule asks below this age; None: model.json's


class RequestError(Exception):
    """A request the server refuses: HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("age_requests", "HTTP requests to /v1/age by status", ["status"],
                                registry=self.registry)
        self.latency = Histogram("age_request_seconds", "Time to answer /v1/age", registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10))
        self.faces = Histogram("age_faces_per_photo", "Faces found per photo", registry=self.registry,
                               buckets=(0, 1, 2, 3, 5, 10))
        self.batch = Histogram("age_model_batch_size", "Photos per model run", registry=self.registry,
                               buckets=(1, 2, 4, 8, 16, 32))
        self.in_server = Gauge("age_photos_in_server", "Photos being decoded, searched or waiting for the model",
                               registry=self.registry)


class Batcher:
    """Runs the model on the faces of all waiting requests together, one batch at a time, in its own thread."""

    def __init__(self, model: OnnxAgeModel, max_batch: int, metrics: Metrics):
        self.model, self.max_batch, self.metrics = model, max_batch, metrics
        self.queue: asyncio.Queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="age-model")
        self.task: asyncio.Task | None = None

    async def predict(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((np.stack(arrays), future))
        return await future

    async def run(self) -> None:
        while True:
            waiting = [await self.queue.get()]
            while not self.queue.empty() and sum(len(a) for a, _ in waiting) < self.max_batch:
                waiting.append(self.queue.get_nowait())
            waiting = [(a, f) for a, f in waiting if not f.cancelled()]  # timed out while waiting
            if not waiting:
                continue
            images = np.concatenate([a for a, _ in waiting])
            self.metrics.batch.observe(len(images))
            try:
                ages, scales = await asyncio.get_running_loop().run_in_executor(self.executor, self.model, images)
            except Exception as error:  # noqa: BLE001 - handed to the requests, the loop goes on
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(error)
                continue
            start = 0
            for arrays, future in waiting:
                end = start + len(arrays)
                if not future.done():
                    future.set_result((ages[start:end], None if scales is None else scales[start:end]))
                start = end


class AgeService:
    """What the endpoints share: the model, the face step, the ID rule, the batcher and the metrics."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.model = OnnxAgeModel(cfg.model, cfg.model_threads)
        self.id_check = self.model.id_check(cfg.id_rule, cfg.id_check_age)
        self.policy = FacePolicy.from_dict(self.model.metadata.get("faces"))
        self.preparer = PhotoPreparer(self.model.image_size, self.policy)
        self.prepare_pool = ThreadPoolExecutor(cfg.prepare_threads, thread_name_prefix="age-prepare")
        self.metrics = Metrics()
        self.batcher = Batcher(self.model, cfg.max_batch, self.metrics)
        self.in_server = 0
        meta = self.model.metadata
        self.model_info = {"file": Path(cfg.model).name, "version": meta.get("model_version"),
                           "training_config_hash": meta.get("training_config_hash"),
                           "sha256": hashlib.sha256(Path(cfg.model).read_bytes()).hexdigest()[:16],
                           "head": meta.get("output", {}).get("head", "point"), "faces": self.policy.mode,
                           "id_rule": self.id_check.rule}

    def prepare(self, body: bytes) -> list[tuple[np.ndarray, dict]]:
        """Decode and run the face step (in a worker thread): the network inputs and each face's box and score."""
        try:
            image = load_rgb(io.BytesIO(body), max_pixels=self.cfg.max_pixels)
        except ImageTooLarge as error:
            raise RequestError(413, f"image too large: {error}") from None
        except (UnidentifiedImageError, Image.DecompressionBombError):
            raise RequestError(400, "the body is not a JPEG or PNG image") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise RequestError(400, f"the image could not be decoded (truncated or corrupt): {error}") from None
        return [(array, {"box": [0, 0, image.width, image.height], "score": None} if face is None else
                 {"box": [round(v, 1) for v in face.box], "score": round(face.score, 3)})
                for array, face in self.preparer.every_face(image)]

    async def estimate(self, body: bytes) -> list[dict]:
        prepared = await asyncio.get_running_loop().run_in_executor(self.prepare_pool, self.prepare, body)
        self.metrics.faces.observe(len(prepared))
        if not prepared:
            return []
        ages, scales = await self.batcher.predict([array for array, _ in prepared])
        return [{**face, **answer} for (_, face), answer in zip(prepared, answers(ages, scales, self.id_check))]


async def read_photo(request: Request, max_bytes: int) -> bytes:
    """The photo's bytes from a raw image body or the first file of a multipart form, size-capped while reading."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (*IMAGE_TYPES, "multipart/form-data"):
        raise RequestError(415, f"content type {content_type or 'missing'!r}: send image/jpeg, image/png or "
                                f"multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(413, f"body of {int(declared):,} bytes is over the {max_bytes:,} accepted")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(413, f"body is over the {max_bytes:,} bytes accepted")
    if content_type == "multipart/form-data":
        body = await _first_file(request, bytes(body))
    if not body:
        raise RequestError(400, "empty body: send a JPEG or PNG photo")
    return bytes(body)


async def _first_file(request: Request, body: bytes) -> bytes:
    async def stream():
        yield body

    try:
        form = await MultiPartParser(request.headers, stream()).parse()
    except MultiPartException as error:
        raise RequestError(400, f"malformed multipart body: {error}") from None
    uploads = [value for _, value in form.multi_items() if hasattr(value, "read")]
    if not uploads:
        raise RequestError(400, "the multipart form holds no file: send the photo as a file field")
    return await uploads[0].read()


def create_app(cfg: ServeConfig) -> FastAPI:
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = AgeService(cfg)  # the model is loaded before the first request is accepted
        service.batcher.task = asyncio.create_task(service.batcher.run())
        state["service"] = service
        log.info("Serving %s (%s head, faces %s, ID rule %s) on http://%s:%d", service.model_info["file"],
                 service.model_info["head"], service.policy.mode, service.id_check.rule, cfg.host, cfg.port)
        yield
        service.batcher.task.cancel()
        state.clear()

    app = FastAPI(title="Age estimation checkout service", lifespan=lifespan)

    @app.post("/v1/age")
    async def age(request: Request) -> JSONResponse:
        service: AgeService = state["service"]
        started, status, faces, size = time.perf_counter(), 200, None, None
        try:
            if service.in_server >= cfg.max_queue:
                raise RequestError(503, "busy: too many photos waiting; retry shortly", {"Retry-After": "1"})
            service.in_server += 1
            service.metrics.in_server.inc()
            try:
                body = await read_photo(request, cfg.max_bytes)
                size = len(body)
                faces = await asyncio.wait_for(service.estimate(body), cfg.timeout_s)
            finally:
                service.in_server -= 1
                service.metrics.in_server.dec()
            elapsed = time.perf_counter() - started
            response = JSONResponse({"faces": faces, "model": service.model_info,
                                     "time_ms": round(1000 * elapsed, 1)})
        except RequestError as error:
            status = error.status
            response = JSONResponse({"error": str(error)}, status, error.headers)
        except asyncio.TimeoutError:
            status = 503
            response = JSONResponse({"error": f"timed out after {cfg.timeout_s:g} s; retry shortly"}, status,
                                    {"Retry-After": "1"})
        elapsed = time.perf_counter() - started
        service.metrics.requests.labels(str(status)).inc()
        service.metrics.latency.observe(elapsed)
        log.info("POST /v1/age %d bytes=%s faces=%s ms=%.1f", status, size,
                 None if faces is None else len(faces), 1000 * elapsed)  # metadata only, never the photo
        return response

    @app.get("/health")
    async def health() -> JSONResponse:
        service = state.get("service")
        if service is None:
            return JSONResponse({"status": "loading"}, 503)
        return JSONResponse({"status": "ready", "model": service.model_info})

    @app.get("/metrics")
    async def metrics() -> Response:
        service = state.get("service")
        body = generate_latest(service.metrics.registry) if service else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def demo() -> str:
        return files("age_lightning.deploy").joinpath("demo.html").read_text()

    return app
