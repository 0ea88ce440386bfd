"""The service's routes: POST /v1/age, GET /metrics, the health checks, and the demo page (its own router, only
included with demo=true). The contract they publish is api_schema.py's."""

import time
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from age_lightning.deploy.api_schema import PHOTO_BODY, AgeAnswer, Status, errors
from age_lightning.deploy.dependencies import Config, ReadyService, Till
from age_lightning.deploy.uploads import read_photo

router = APIRouter()
demo_router = APIRouter()


@router.post(
    "/v1/age", response_model=AgeAnswer, openapi_extra=PHOTO_BODY, responses=errors(400, 401, 408, 413, 415, 500, 503)
)
async def age(request: Request, till: Till, service: ReadyService, cfg: Config) -> dict:
    started = time.perf_counter()
    body = await read_photo(request, cfg.max_bytes, cfg.body_timeout_s)  # before taking a place
    request.state.body_bytes = len(body)
    with service.place():
        faces = await service.estimate(body)
    request.state.faces = len(faces)
    return {"faces": faces, "model": service.model_info, "time_ms": round(1000 * (time.perf_counter() - started), 1)}


# response_class=Response: only the declared text/plain for 200, and the errors' JSON model for the others
@router.get(
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
async def metrics(till: Till, service: ReadyService):
    return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/health/live", response_model=Status)
async def live() -> dict:
    return {"status": "live"}


@router.get("/health/ready", response_model=Status, responses=errors(503))
@router.get("/health", response_model=Status, responses=errors(503), include_in_schema=False)
async def ready(service: ReadyService) -> dict:
    return {"status": "ready"}


@demo_router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def demo() -> str:
    return files("age_lightning.deploy").joinpath("demo.html").read_text()
