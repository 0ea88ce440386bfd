"""What the service tells its operators: Prometheus metrics and one JSON log line per request.

Logs and labels carry metadata only (request id, till, path, status, sizes, counts, times, error classes): never
image bytes, and never an error's text, which could echo what a caller sent.
"""

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "age_requests", "HTTP requests to /v1/age by status and till", ["status", "till"], registry=self.registry
        )
        self.latency = Histogram(
            "age_request_seconds",
            "Time to answer /v1/age",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.faces = Histogram(
            "age_faces_per_photo", "Faces estimated per photo", registry=self.registry, buckets=(0, 1, 2, 3, 5, 10)
        )
        self.batch = Histogram(
            "age_model_batch_size", "Faces per model run", registry=self.registry, buckets=(1, 2, 4, 8, 16, 32)
        )
        self.in_server = Gauge(
            "age_photos_in_server", "Photos being decoded, searched or waiting for the model", registry=self.registry
        )
        self.errors = Counter(
            "age_internal_errors",
            "Requests that failed inside the server (answered 500)",
            ["error"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "age_batcher_restarts", "Times the model loop died and was restarted", registry=self.registry
        )
        self.shift_evidence = Gauge(
            "age_shift_evidence",
            "The shift test's evidence per till (1 at the start; an alarm at 1/delta = 100)",
            ["till"],
            registry=self.registry,
        )
        self.shift_alarms = Counter(
            "age_shift_alarms", "Shift alarms started per till", ["till"], registry=self.registry
        )
        self.log_rows = Counter("age_answer_log_rows", "Answers committed to the answer log", registry=self.registry)
        self.log_failures = Counter(
            "age_answer_log_failures",
            "Answers whose row could not be committed in time (answered with log_unavailable, or 503)",
            registry=self.registry,
        )
        self.log_commit = Histogram(
            "age_answer_log_commit_seconds",
            "Time to commit one group of answer rows",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's `fields` (see `log_fields`)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the class only: a message may echo a request
        return json.dumps(line, default=str)


def log_fields(**fields) -> dict:
    """`extra` for a log call whose fields become keys of its JSON line."""
    return {"fields": fields}


def configure_json_logging(level: int = logging.INFO) -> None:
    """Every record as a JSON line on stderr, Python warnings (e.g. Pillow's about a corrupt file) included."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
