"""The service's routes: POST /v1/age, GET /metrics, the health checks; the answer log's routes (their own router,
only included with answer_log=...); and the demo page (likewise, only with demo=true). The contract they publish
is api_schema.py's."""

import datetime as dt
import re
import time
from importlib.resources import files
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BeforeValidator

from age_lightning.deploy import answer_db
from age_lightning.deploy.access import TILL_NAME
from age_lightning.deploy.answer_log import unavailable
from age_lightning.deploy.api_schema import (
    PHOTO_BODY,
    SALE_HEADERS,
    AgeAnswer,
    AnswersPage,
    OutcomeKept,
    SaleOutcome,
    ShiftCleared,
    Status,
    errors,
)
from age_lightning.deploy.dependencies import AnyCaller, Auditor, Config, Operator, ReadyLog, ReadyService, Till
from age_lightning.deploy.sale_context import VALUE, sale_context
from age_lightning.deploy.uploads import read_photo
from age_lightning.formatting import NUMBER

router = APIRouter()
log_router = APIRouter(max_body_size=4096)  # a sale's outcome is a few dozen bytes: 413 past 4 kB
demo_router = APIRouter()


@router.post(
    "/v1/age",
    response_model=AgeAnswer,
    openapi_extra={**PHOTO_BODY, **SALE_HEADERS},
    responses=errors(400, 401, 403, 408, 413, 415, 500, 503),
)
async def age(request: Request, till: Till, service: ReadyService, cfg: Config) -> dict:
    """Estimate the age of every face of a photo. With an answer log, X-Sale-Id, X-Cashier and X-Event (or form
    fields sale_id, cashier, event) are kept beside the answer."""
    started = time.perf_counter()
    body, form = await read_photo(request, cfg.max_bytes, cfg.body_timeout_s)  # before taking a place
    context = sale_context(request, form)
    request.state.body_bytes = len(body)
    with service.place():
        faces, shift = await service.estimate(body, till.name)
    request.state.faces = len(faces)
    kept = await service.keep(request.state.request_id, till, context, faces, shift)
    return {
        "faces": faces,
        "model": service.model_info,
        "time_ms": round(1000 * (time.perf_counter() - started), 1),
        "log_unavailable": not kept,
        "shift": shift,
    }


def not_a_number(value):
    """A time must be written as one (pydantic alone would read "0.5" as seconds since 1970)."""
    if isinstance(value, str) and re.fullmatch(NUMBER, value.strip()):
        raise ValueError("give a date or a time, e.g. 2026-12-01 or 2026-12-01T08:00Z")
    return value


Since = Annotated[
    dt.datetime | None,
    BeforeValidator(not_a_number),
    Query(description="Answers from this date or time on: 2026-12-01, 2026-12-01T08:00Z (UTC without a zone)"),
]
TillName = Annotated[str, Path(pattern=f"^{TILL_NAME.pattern}$", description="The till, as its key names it")]
SaleId = Annotated[str, Path(pattern=f"^{VALUE.pattern}$", description="The X-Sale-Id the till sent with the photo")]


@log_router.post("/v1/sales/{sale_id}", response_model=OutcomeKept, responses=errors(400, 401, 403, 404, 409, 413, 503))
async def sale(sale_id: SaleId, outcome: SaleOutcome, till: Till, answer_log: ReadyLog) -> dict:
    """A till's report on one of its sales, kept beside its answers for the cashier audit."""
    try:
        status = await answer_log.write(
            answer_db.record_outcome, till.name, sale_id, outcome.completed, outcome.id_checked
        )
    except sa.exc.SQLAlchemyError:
        raise unavailable() from None
    if status == "unknown":
        raise HTTPException(404, f"sale {sale_id}: no answer of till {till.name} has this sale id")
    if status == "conflict":
        raise HTTPException(409, f"sale {sale_id}: a different outcome is already kept")
    return {"sale_id": sale_id, "status": status}


@log_router.get("/v1/answers", response_model=AnswersPage, responses=errors(400, 401, 403, 503))
async def answers(
    auditor: Auditor,
    answer_log: ReadyLog,
    since: Since = None,
    till: Annotated[str | None, Query(pattern=f"^{TILL_NAME.pattern}$", description="One till's answers")] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="The page after this id (next_after of the last)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """The answer log, oldest first, one page at a time (an auditor's key only)."""
    try:
        rows = await answer_log.read(answer_db.page, since, till, after, limit)
    except sa.exc.SQLAlchemyError:
        raise unavailable() from None
    return {"answers": rows, "next_after": rows[-1]["id"] if len(rows) == limit else None}


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
async def metrics(caller: AnyCaller, service: ReadyService):
    return PlainTextResponse(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/v1/shift/{till}/clear", response_model=ShiftCleared, responses=errors(400, 401, 403, 503))
async def clear_shift(till: TillName, operator: Operator, service: ReadyService) -> dict:
    """Clear a till's shift alarm (after recalibrating, or reviewing a false alarm): it starts afresh."""
    service.shift.clear(till, by=operator.name)
    return {"till": till, "shift": "none"}


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
