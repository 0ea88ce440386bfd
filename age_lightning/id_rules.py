"""The till's ID decision: which buyers are asked for ID, under the point rule (Challenge 25) or the calibrated
interval rule. One convention for every rule: a buyer passes only when the rule's score is above its cut."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from age_lightning.ages import ID_CHECK_AGE, LEGAL_AGE
from age_lightning.errors import UserError

RULES = ("point", "interval")


def asks_unless_above(score, cut: float) -> np.ndarray:
    """A buyer passes only when the rule's score is above its cut, and is asked for ID when it is at or below it
    (point rules: the predicted age against a threshold such as ID_CHECK_AGE; the interval rule: the ID lower bound
    against LEGAL_AGE)."""
    return ~(np.asarray(score, float) > cut)


def interval_asks(predicted, scale, margin: float) -> np.ndarray:
    """The interval rule: ask unless the ID lower bound, age - margin x scale, is above LEGAL_AGE."""
    return asks_unless_above(np.asarray(predicted, float) - margin * np.asarray(scale, float), LEGAL_AGE)


class Calibrated(Protocol):
    """What the interval rule needs of a calibration (`calibration.Calibration`)."""

    def asks_for_id(self, predicted, scale) -> np.ndarray: ...

    def bounds(self, predicted, scale) -> tuple[np.ndarray, np.ndarray]: ...


def default_rule(calibration: Calibrated | None) -> str:
    """The ID rule a model uses unless told otherwise: interval when it is calibrated, else point."""
    return "interval" if calibration else "point"


@dataclass(frozen=True)
class IdCheck:
    """The configured ID rule. point: ask unless the age is above id_check_age (Challenge 25). interval: ask
    unless the calibrated ID lower bound is above LEGAL_AGE (needs a calibrated uncertain model)."""

    rule: str = "point"
    id_check_age: float = ID_CHECK_AGE
    calibration: Calibrated | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            raise UserError(f"id_rule must be one of {RULES}, got {self.rule!r}")
        if self.rule == "interval" and self.calibration is None:
            raise UserError(
                "id_rule=interval needs a calibrated model with an uncertain head (train with "
                "model.head=laplace, or calibrate it with recalibrate.py, then export it again)"
            )

    def asks_for_id(self, ages, scales=None) -> np.ndarray:
        if self.calibration is None or self.rule == "point":  # (interval always has a calibration: __post_init__)
            return asks_unless_above(ages, self.id_check_age)
        return self.calibration.asks_for_id(ages, scales)

    def bounds(self, ages, scales=None) -> tuple[np.ndarray, np.ndarray] | None:
        """The calibrated interval, or None when the model has none."""
        return None if self.calibration is None or scales is None else self.calibration.bounds(ages, scales)
