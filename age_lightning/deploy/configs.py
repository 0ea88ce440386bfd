"""The typed options of the torch-free commands (predict_onnx.py, serve.py, make_key.py, shares.py): one
dataclass each, parsed from key=value arguments by `options.parse_options`. Each option's `help` is what `--help`
prints beside its default."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from age_lightning.images import ImageLimits


def option(default: Any, help: str) -> Any:
    """A dataclass field with its one-line help."""
    return field(default=default, metadata={"help": help})


@dataclass
class PredictOnnxConfig:
    """Predict ages of photos with an exported model (model.onnx + model.json), without torch."""

    model: str = option(MISSING, "model.onnx (or model_int8.onnx), with its .json beside it")
    input: str = option(MISSING, "an image file or a folder (searched recursively)")
    output: str = option("predictions.csv", "the CSV to write")
    batch_size: int = option(32, "photos run through the model together")
    id_rule: str | None = option(None, "point | interval (calibrated uncertain models); none: model.json's")
    id_check_age: float | None = option(None, "the point rule asks unless the age is above it; none: model.json's")
    faces: str | None = option(None, "none | align; none: the face policy the model was trained with")
    threads: int = option(0, "onnxruntime threads; 0: all cores")


@dataclass
class ServeConfig:
    """The checkout service: an exported model behind an HTTP API for the tills."""

    model: str = option(MISSING, "model.onnx (or model_int8.onnx), with its .json beside it")
    host: str = option("127.0.0.1", "0.0.0.0 to accept other machines (the tills): needs api_keys")
    port: int = option(8000, "TCP port")
    api_keys: str | None = option(None, "keys file, one NAME:SHA256HEX line per till (make_key.py name=...)")
    allow_anonymous: bool = option(False, "serve other machines without keys (not for a store network)")
    ssl_certfile: str | None = option(None, "TLS certificate (PEM); needs ssl_keyfile too")
    ssl_keyfile: str | None = option(None, "TLS private key (PEM); needs ssl_certfile too")
    demo: bool = option(False, "the demo page at /")
    docs: bool = option(False, "/docs and /openapi.json")
    max_batch: int = option(8, "faces run through the model together")
    max_queue: int = option(16, "photos in the server at once; one more gets 503 + Retry-After")
    max_bytes: int = option(10_000_000, "larger bodies get 413")
    max_pixels: int = option(40_000_000, "larger images get 413 (decompression bombs), checked before decoding")
    max_side: int = option(10_000, "a longer image side gets 413")
    max_aspect: float = option(4.0, "image sides more unequal get 413")
    max_decoded_mb: int = option(256, "images that would take more memory to decode get 413 (16-bit, CMYK...)")
    max_faces: int = option(4, "faces estimated per photo, the largest first")
    body_timeout_s: float = option(10.0, "a body taking longer to arrive gets 408")
    timeout_s: float = option(10.0, "estimating taking longer gets 503 + Retry-After")
    shutdown_timeout_s: int = option(10, "on SIGTERM, requests in flight get this many seconds to finish")
    max_connections: int = option(64, "open connections; beyond, uvicorn itself answers 503")
    prepare_threads: int = option(2, "threads decoding photos and running the face step")
    model_threads: int = option(1, "onnxruntime threads for the age model (0: all cores); 1 measured best on 2 cores")
    id_rule: str | None = option(None, "point | interval; none: model.json's")
    id_check_age: float | None = option(None, "the point rule asks unless the age is above it; none: model.json's")
    answer_log: str | None = option(None, "keep a row per answer: answers.db (SQLite) or postgresql://user@host/db")
    answer_log_keep_days: int = option(90, "answer log rows older than this are deleted (checked hourly)")
    answer_log_required: bool = option(False, "true: 503 when the row cannot be kept; false: answer, log_unavailable")
    answer_log_timeout_s: float = option(1.0, "a row not committed within this is taken as not kept (the till waits)")
    store: str | None = option(None, "the store named in the answer log (a key's store= in the keys file wins)")

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.max_pixels, self.max_side, self.max_aspect, self.max_decoded_mb * 2**20)


@dataclass
class KeyConfig:
    """Make an API key for a till, an auditor or an operator of the checkout service (printed once; the keys file
    holds its SHA-256)."""

    name: str = option(MISSING, "the till's name, as it will appear in the logs and metrics")
    role: str = option("till", "till (asks for ages) | auditor (reads the answer log) | operator (clears alarms)")
    store: str | None = option(None, "the store the till's answers are logged under")
