"""The service's published contract: the answers' models and the request bodies, as /openapi.json shows them."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from age_lightning.deploy.sale_context import FIELDS, VALUE

BINARY = {"type": "string", "format": "binary"}
PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One photo as the raw body: a JPEG or PNG file. (Browsers may also send it as the one file field of a "
            "multipart/form-data form, at most 16 fields, or as application/octet-stream: the same bytes and rules.)"
        ),
        # Only the raw image types are machine-readable here: a JSON schema can say "binary" but not "a JPEG", so a
        # contract offering a multipart file or any octet-stream body would promise to accept bytes that the
        # server (rightly) refuses with 415. Every body this contract allows is a request the server answers.
        "content": {"image/jpeg": {"schema": BINARY}, "image/png": {"schema": BINARY}},
    }
}


# What a till may send with the photo for the answer log (sale_context.py checks them; form fields work too).
SALE_HEADERS = {
    "parameters": [
        {
            "name": header,
            "in": "header",
            "required": False,
            "description": f"The {name.replace('_', ' ')}, kept in the answer log (form field: {name})",
            "schema": {"type": "string", "pattern": f"^{VALUE.pattern}$"},
        }
        for name, header in FIELDS.items()
    ]
}


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in one line")
    request_id: str | None = Field(None, description="The X-Request-ID of the request, for the server's log")


class FaceAnswer(BaseModel):
    box: list[float] = Field(description="x0, y0, x1, y1 in the photo's pixels (the whole photo without the face step)")
    score: float | None = Field(description="The face detector's confidence; null without the face step")
    predicted_age: float
    age_scale: float | None = Field(description="The uncertain head's scale (years); null for a point model")
    age_low: float | None = Field(description="Calibrated interval; null for an uncalibrated model")
    age_high: float | None
    age_band: str
    asks_for_id: bool
    p_minor: float | None = Field(
        description="P(true age < 18) for a buyer of the stated alcohol buyers' age mix, from the model's errors on "
        "labeled photos; null for a model without an error model"
    )
    p_under_25: float | None = Field(description="P(true age < 25), likewise")


class ModelInfo(BaseModel):
    file: str
    version: str | None
    training_config_hash: str | None
    sha256: str
    head: str
    faces: str
    id_rule: str


class AgeAnswer(BaseModel):
    faces: list[FaceAnswer] = Field(description="One entry per face, the face policy's preferred one first")
    model: ModelInfo
    time_ms: float
    shift: str | None = Field(
        description="The till's shift alarm after this photo: none, or alarm (its photos no longer look like the "
        "calibration photos: every face is asked for ID until an operator clears it); null for a model without a "
        "shift reference, or a photo without a face"
    )
    log_unavailable: bool = Field(
        description="True when the service keeps an answer log and could not commit this answer's row (the "
        "answer stands; the failure is counted on /metrics); false when the row is committed, or without a log"
    )


class ShiftCleared(BaseModel):
    till: str
    shift: str


class SaleOutcome(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")  # true/false only (not 0, "yes"), nothing else

    completed: bool = Field(description="The sale went through (false: abandoned at the till)")
    id_checked: bool = Field(description="The cashier pressed the POS's age-verification button")


class OutcomeKept(BaseModel):
    sale_id: str
    status: str = Field(description="recorded, or unchanged when the same outcome was already kept")


class LoggedFace(BaseModel):
    predicted_age: float
    age_scale: float | None
    age_low: float | None
    age_high: float | None
    age_band: str
    asks_for_id: bool
    p_minor: float | None


class LoggedAnswer(BaseModel):
    id: int = Field(description="The row's id: pass the last one as `after` for the next page")
    time: datetime = Field(description="When the answer was given (UTC)")
    request_id: str
    till: str
    store: str | None
    cashier: str | None
    sale_id: str | None
    event: str | None
    model_file: str
    model_sha256: str
    model_version: str | None
    id_rule: str
    faces: int
    status: str = Field(description="ok, or no_face")
    shift: str | None = Field(description="The till's shift alarm after this photo: none or alarm (every face asked)")
    completed: bool | None = Field(description="The sale's outcome as its till reported it; null until then")
    id_checked: bool | None
    answers: list[LoggedFace] = Field(description="One per face, the preferred one first")


class AnswersPage(BaseModel):
    answers: list[LoggedAnswer]
    next_after: int | None = Field(description="`after` for the next page; null on the last page")


class Status(BaseModel):
    status: str


def errors(*codes: int) -> dict:
    """OpenAPI `responses` for the error statuses a route answers with, all with the one error model."""
    meaning = {
        400: "Not a usable request: the photo (empty, truncated, corrupt, malformed form) or a named field",
        401: "Missing or unknown API key (see WWW-Authenticate)",
        403: "The key's role may not call this route (a till's key reading the log, an auditor's asking an age)",
        404: "No such sale among this till's answers",
        408: "The body arrived too slowly",
        413: "Body or image over the limits",
        409: "A different outcome of this sale is already kept",
        415: "Not a JPEG or PNG",
        500: "Failure inside the server",
        503: "Busy, not ready, or the answer log unavailable: retry after Retry-After seconds",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}
