"""Are a till's photos still like the calibration photos? Label-free evidence of a shift, per till.

The ID rule's promise holds for photos like the calibration photos. A till cannot label its photos, but it can see
how they look. Each face's network input gives three statistics that a camera or its light changes, and the buyers'
ages barely do: `brightness` (mean), `contrast` (the spread of its luminance) and `roughness` (how much neighbouring
pixels differ, per unit of contrast: sensor noise raises it, blur lowers it). A face's *strangeness* counts only
the harmful direction of each (darker, flatter, noisier than the calibration photos' median, in units of their
spread), so a brighter or sharper camera, or other buyers, do not raise it.

Its conformal p-value against the calibration photos' strangeness (ties broken at random) is uniform when the
photos are exchangeable with them. A till's p-values feed a test martingale: the Simple Jumper of Vovk et al.
(2021, "Retrain or not retrain: conformal test martingales for change-point detection"), with betting functions
that bet on small p-values only, and 1% of its capital redistributed at each step so that it can rise quickly
after a long quiet time. By Ville's inequality, on photos like the calibration photos its evidence ever reaches
1/delta with probability at most delta, however long the till runs. The state of a till is 3 numbers.
"""

from dataclasses import dataclass, field

import numpy as np

STATISTICS = ("brightness", "contrast", "roughness")
HARMFUL = np.array([-1.0, -1.0, 1.0])  # darker, flatter, noisier
DELTA = 0.01
EPSILONS = np.array([-2.0, -1.0, 0.0])  # betting functions 1 + e (p - 1/2): bet on small p, or not at all
JUMP = 0.01
CEILING = 1e12  # far above any alarm level 1/delta


def photo_statistics(inputs: np.ndarray) -> np.ndarray:
    """(n, 3) statistics of n network inputs (n, 3 channels, height, width), normalized as the model sees them:
    the luminance of every other row (the channels' mean), its mean, its spread, and the mean difference of
    horizontal neighbours per unit of spread. About 20 microseconds for one 64 px face."""
    inputs = np.asarray(inputs, np.float32)
    luminance = (inputs[:, 0, ::2] + inputs[:, 1, ::2] + inputs[:, 2, ::2]) / 3
    contrast = luminance.std(axis=(1, 2))
    detail = np.abs(luminance[:, :, 1:] - luminance[:, :, :-1]).mean(axis=(1, 2))
    return np.stack([luminance.mean(axis=(1, 2)), contrast, detail / np.maximum(contrast, 1e-6)], axis=1)


@dataclass(frozen=True)
class ShiftReference:
    """The calibration photos' statistics, reduced to what the test needs: each statistic's median and spread,
    and the photos' strangeness, sorted."""

    center: np.ndarray
    spread: np.ndarray
    strangeness: np.ndarray

    @classmethod
    def fit(cls, statistics: np.ndarray) -> "ShiftReference":
        statistics = np.asarray(statistics, float)
        center = np.median(statistics, axis=0)
        spread = np.maximum(np.median(np.abs(statistics - center), axis=0) * 1.4826, 1e-6)
        reference = cls(center, spread, np.zeros(0))
        return cls(center, spread, np.sort(reference.strangeness_of(statistics)))

    def strangeness_of(self, statistics: np.ndarray) -> np.ndarray:
        excess = HARMFUL * (np.asarray(statistics, float) - self.center) / self.spread
        return np.clip(excess, 0, None).sum(axis=-1)

    def p_values(self, statistics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conformal p-values of new photos: the share of calibration photos at least as strange, ties at
        random."""
        strangeness = self.strangeness_of(statistics)
        below, up_to = (np.searchsorted(self.strangeness, strangeness, side=side) for side in ("left", "right"))
        above, ties = len(self.strangeness) - up_to, up_to - below
        return (above + rng.random(strangeness.shape) * (ties + 1)) / (len(self.strangeness) + 1)

    def to_dict(self) -> dict:
        return {
            "statistics": list(STATISTICS),
            "center": self.center.round(6).tolist(),
            "spread": self.spread.round(6).tolist(),
            "strangeness": self.strangeness.round(4).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> "ShiftReference | None":
        if not data:
            return None
        return cls(np.array(data["center"]), np.array(data["spread"]), np.array(data["strangeness"]))


def jumper_step(capital: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The Simple Jumper's capitals (..., 3) after p-values `p` (...): redistribute JUMP of the total evenly,
    then bet. The evidence is the capitals' sum (it starts at 1). Capital above CEILING is thrown away, so that a
    long shifted stream never overflows: a bettor who discards money is still a supermartingale, and Ville's bound
    holds."""
    total = capital.sum(axis=-1, keepdims=True)
    capital = (1 - JUMP) * capital + JUMP * total / len(EPSILONS)
    return np.minimum(capital * (1 + EPSILONS * (np.asarray(p)[..., None] - 0.5)), CEILING)


@dataclass
class TillShift:
    """One till's state: its martingale's capitals, whether its alarm is on, and its photos since the start."""

    capital: np.ndarray = field(default_factory=lambda: np.full(len(EPSILONS), 1 / len(EPSILONS)))
    alarm: bool = False
    photos: int = 0

    @property
    def evidence(self) -> float:
        return float(self.capital.sum())

    def observe(self, p: float, delta: float = DELTA) -> bool:
        """Take one photo's p-value; True when this photo starts the alarm (evidence >= 1/delta). Once on, the
        alarm stays on, and the evidence where it rang, until cleared."""
        self.photos += 1
        if self.alarm:
            return False
        self.capital = jumper_step(self.capital, np.array(p))
        started = not self.alarm and self.evidence >= 1 / delta
        self.alarm = self.alarm or started
        return started
