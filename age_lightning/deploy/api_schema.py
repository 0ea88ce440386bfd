"""The service's published contract: the answers' models and the request bodies, as /openapi.json shows them."""

from pydantic import BaseModel, Field

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


class Status(BaseModel):
    status: str


def errors(*codes: int) -> dict:
    """OpenAPI `responses` for the error statuses a route answers with, all with the one error model."""
    meaning = {
        400: "Not a usable photo (empty, truncated, corrupt, malformed form)",
        401: "Missing or unknown API key (see WWW-Authenticate)",
        408: "The body arrived too slowly",
        413: "Body or image over the limits",
        415: "Not a JPEG or PNG",
        500: "Failure inside the server",
        503: "Busy, or not ready: retry after Retry-After seconds",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}
