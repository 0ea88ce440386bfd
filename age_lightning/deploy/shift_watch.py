"""The service's shift alarm: one test martingale per till (age_lightning.shift) over how its photos look, with
its metrics, its log line, and the fall-back while it is on.

While a till's alarm is on, its ID rule asks for ID on every face: the promise degrades to "every adult asked",
never to "more minors passed", until an operator clears the alarm (POST /v1/shift/{till}/clear with an operator's
key, after recalibrating or reviewing it) or the service restarts. A new model means a restart, so every till
starts afresh with it.
"""

import logging

import numpy as np

from age_lightning.deploy.observability import Metrics, log_fields
from age_lightning.shift import DELTA, ShiftReference, TillShift, photo_statistics

log = logging.getLogger("age_lightning.server")
NONE, ALARM = "none", "alarm"


class ShiftWatch:
    def __init__(self, reference: ShiftReference | None, metrics: Metrics, delta: float = DELTA):
        self.reference, self.metrics, self.delta = reference, metrics, delta
        self.tills: dict[str, TillShift] = {}
        self.rng = np.random.default_rng()

    def observe(self, till: str, inputs: np.ndarray, predicted_age: float) -> str | None:
        """The till's state after a photo whose preferred face is `inputs` (the network input), answered
        `predicted_age`: none or alarm; None for a model without a shift reference."""
        if self.reference is None:
            return None
        state = self.tills.setdefault(till, TillShift())
        p = self.reference.p_values(photo_statistics(inputs[None]), np.array([predicted_age]), self.rng)[0]
        if state.observe(float(p), self.delta):
            self.metrics.shift_alarms.labels(till).inc()
            log.warning(
                "Shift alarm at till %s: its photos no longer look like the calibration photos; every face is "
                "asked for ID until an operator clears it",
                till,
                extra=log_fields(till=till, evidence=round(state.evidence, 1), photos=state.photos),
            )
        self.metrics.shift_evidence.labels(till).set(state.evidence)
        return ALARM if state.alarm else NONE

    def clear(self, till: str, by: str) -> None:
        """Start the till afresh (evidence 1, no alarm), and log who did."""
        was = self.tills.pop(till, TillShift())
        self.metrics.shift_evidence.labels(till).set(1.0)
        log.warning(
            "Shift alarm of till %s cleared by %s",
            till,
            by,
            extra=log_fields(till=till, by=by, was_alarm=was.alarm, evidence=round(was.evidence, 1)),
        )
