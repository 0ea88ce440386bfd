"""Calibrated age intervals and the interval ID-check rule (split conformal prediction).

An uncertain model gives, per photo, an age and a scale (years). Calibration on labeled photos that were never
used for training or model choice turns them into guarantees that hold for new photos like those:

- **Interval** `[age + lower * scale, age + upper * scale]`: at most `alpha` of true ages fall below it and at
  most `alpha` above it. `lower`/`upper` are order statistics of the scores (true - age) / scale.
- **ID check, interval rule**: a buyer passes without being asked only if `age - margin * scale` (the ID lower
  bound) is above LEGAL_AGE; `margin` is set on the calibration *minors* so that a minor passes with probability
  at most `max_pass`. The bound is exact for any model and any data distribution, as long as the store's photos are
  exchangeable with the calibration photos (same camera, same population); recalibrate when they are not.

Both need enough photos: a bound at level a needs at least 1/a - 1 of them (minors, for the ID rule); with fewer
there is no such bound, and `CalibrationError` says so instead of inventing one.
"""

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from age_lightning.ages import ID_CHECK_AGE, LEGAL_AGE, MAX_AGE, MIN_AGE
from age_lightning.errors import UserError

ALPHA = 0.05     # per side: a 90% interval
MAX_PASS = 0.02  # share of minors the interval ID rule may let through
RULES = ("point", "interval")


class CalibrationError(UserError):
    """The calibration photos cannot support the bound asked for."""


def nominal_quantile(head: str, p: float) -> float:
    """Quantile p of the head's standard distribution (scale 1): the uncalibrated interval's multiplier."""
    if head == "laplace":
        return math.log(2 * p) if p < 0.5 else -math.log(2 * (1 - p))
    return NormalDist().inv_cdf(p)


def _order_statistic(values: np.ndarray, k: int, what: str, level: float) -> float:
    """The k-th smallest value (1-based), or a CalibrationError when k falls outside the sample."""
    n = len(values)
    if not 1 <= k <= n:
        needed = math.ceil(1 / level - 1)
        raise CalibrationError(f"{n} calibration {what} are too few for a bound at {level:.3g}: it needs at "
                               f"least {needed}; add labeled photos or relax the level")
    return float(np.sort(values)[k - 1])


def interval_multipliers(ages, predicted, scale, alpha: float = ALPHA) -> tuple[float, float]:
    """Split-conformal (lower, upper) multipliers of the scale: P(true < lower bound) <= alpha, same above."""
    scores = (np.asarray(ages, float) - np.asarray(predicted, float)) / np.asarray(scale, float)
    n = len(scores)
    lower = _order_statistic(scores, math.floor(alpha * (n + 1)), "photos", alpha)
    upper = _order_statistic(scores, math.ceil((1 - alpha) * (n + 1)), "photos", alpha)
    return lower, upper


def pass_cut(ages, score, max_pass: float = MAX_PASS) -> float:
    """The cut c such that a new minor's score exceeds c with probability <= max_pass.

    c is the k-th largest of the calibration minors' scores with k = floor(max_pass * (n + 1)): a new minor's
    score is above it only if it ranks among the top k of the n + 1, which happens with probability k / (n + 1).
    """
    minors = np.asarray(ages, float) < LEGAL_AGE
    scores = np.asarray(score, float)[minors]
    n = len(scores)
    if n == 0:
        raise CalibrationError(f"the calibration photos hold no minors (under {LEGAL_AGE}): the ID rule's "
                               f"pass-through cannot be bounded; add labeled photos of minors")
    return _order_statistic(scores, n + 1 - math.floor(max_pass * (n + 1)), "minors", max_pass)


@dataclass(frozen=True)
class Calibration:
    """What calibration found; travels in the checkpoint and in model.json."""

    alpha: float
    lower: float
    upper: float
    max_pass: float
    margin: float           # interval rule: pass when age - margin * scale > LEGAL_AGE
    point_threshold: float  # the point rule calibrated the same way (pass when age > it), for comparison
    photos: int
    minors: int
    source: str = ""

    @classmethod
    def fit(cls, ages, predicted, scale, alpha: float = ALPHA, max_pass: float = MAX_PASS,
            source: str = "") -> "Calibration":
        lower, upper = interval_multipliers(ages, predicted, scale, alpha)
        predicted = np.asarray(predicted, float)
        margin = pass_cut(ages, (predicted - LEGAL_AGE) / np.asarray(scale, float), max_pass)
        threshold = pass_cut(ages, predicted, max_pass)
        return cls(alpha, lower, upper, max_pass, margin, threshold, len(ages),
                   int(np.sum(np.asarray(ages) < LEGAL_AGE)), source)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Calibration | None":
        return None if not data else cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def bounds(self, predicted, scale) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated interval, within the valid age range."""
        predicted, scale = np.asarray(predicted, float), np.asarray(scale, float)
        return (np.clip(predicted + self.lower * scale, MIN_AGE, MAX_AGE),
                np.clip(predicted + self.upper * scale, MIN_AGE, MAX_AGE))

    def id_lower_bound(self, predicted, scale) -> np.ndarray:
        return np.clip(np.asarray(predicted, float) - self.margin * np.asarray(scale, float), MIN_AGE, MAX_AGE)

    def asks_for_id(self, predicted, scale) -> np.ndarray:
        """The interval rule: ask unless the ID lower bound is above LEGAL_AGE."""
        return ~(self.id_lower_bound(predicted, scale) > LEGAL_AGE)


def default_rule(calibration: Calibration | None) -> str:
    """The ID rule a model uses unless told otherwise: interval when it is calibrated, else point."""
    return "interval" if calibration else "point"


@dataclass(frozen=True)
class IdCheck:
    """The configured ID rule. point: ask when the age is under id_check_age (Challenge 25). interval: ask unless
    the calibrated ID lower bound is above LEGAL_AGE (needs a calibrated uncertain model)."""

    rule: str = "point"
    id_check_age: float = ID_CHECK_AGE
    calibration: Calibration | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            raise UserError(f"id_rule must be one of {RULES}, got {self.rule!r}")
        if self.rule == "interval" and self.calibration is None:
            raise UserError("id_rule=interval needs a calibrated model with an uncertain head (train with "
                            "model.head=laplace, or calibrate it with recalibrate.py, then export it again)")

    def asks_for_id(self, ages, scales=None) -> np.ndarray:
        if self.rule == "point":
            return np.asarray(ages, float) < self.id_check_age
        return self.calibration.asks_for_id(ages, scales)

    def bounds(self, ages, scales=None) -> tuple[np.ndarray, np.ndarray] | None:
        """The calibrated interval, or None when the model has none."""
        return None if self.calibration is None or scales is None else self.calibration.bounds(ages, scales)
