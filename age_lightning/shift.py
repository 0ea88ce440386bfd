"""Are a till's photos still like the calibration photos? Label-free evidence of a shift, per till.

The ID rule's promise holds for photos like the calibration photos. A till cannot label its photos, but it can see
how they look. Each face's network input gives three statistics that a camera or its light changes: `brightness`
(mean), `contrast` (the spread of its luminance) and `roughness` (how much neighbouring pixels differ, per unit of
contrast: sensor noise raises it, blur lowers it). A face's *strangeness* counts only the harmful direction of
each (darker, flatter, noisier than the reference photos' median, in units of their spread), so a brighter or
sharper camera does not raise it. Age changes them too (old faces are rougher and flatter), so each face is
compared only with the reference photos of its band of *predicted* age (the model's own answer: no label needed),
and a store with more pensioners or children is not a shifted camera. The reference photos are the calibration
photos and, after training, the validation photos beside them: a band's reference is a sample, and a test over
thousands of photos would find the error of a small one.

Its conformal p-value against those photos' strangeness (ties broken at random) is uniform when the photos are
exchangeable with them. A till's p-values feed a test martingale: the Simple Jumper of Vovk et al.
(2021, "Retrain or not retrain: conformal test martingales for change-point detection"), with betting functions
that bet on small p-values only, and 1% of its capital redistributed at each step so that it can rise quickly
after a long quiet time. By Ville's inequality, on photos like the calibration photos its evidence ever reaches
1/delta with probability at most delta, however long the till runs. The state of a till is 3 numbers.
"""

from dataclasses import dataclass, field

import numpy as np

from age_lightning.ages import AGE_BANDS

STATISTICS = ("brightness", "contrast", "roughness")
HARMFUL = np.array([-1.0, -1.0, 1.0])  # darker, flatter, noisier
DELTA = 0.01
EPSILONS = np.array([-2.0, -1.0, 0.0])  # betting functions 1 + e (p - 1/2): bet on small p, or not at all
JUMP = 0.01
CEILING = 1e12  # far above any alarm level 1/delta
BAND_STARTS = np.array(list(AGE_BANDS.values()), float)
MIN_BAND = 30  # reference photos a band of predicted age needs for its own p-values (else: every photo's)


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
    """The reference photos' statistics, reduced to what the test needs: each statistic's median and spread, and
    the photos' strangeness, sorted, for each band of predicted age (Mondrian conformal: a new photo is compared
    only with the reference photos answered in its band, so its p-value is uniform whatever the buyers' ages)."""

    center: np.ndarray
    spread: np.ndarray
    strangeness: tuple  # len(AGE_BANDS) sorted arrays; a band with fewer than MIN_BAND photos holds every photo's

    @classmethod
    def fit(cls, statistics: np.ndarray, predicted_age: np.ndarray) -> "ShiftReference":
        statistics = np.asarray(statistics, float)
        center = np.median(statistics, axis=0)
        spread = np.maximum(np.median(np.abs(statistics - center), axis=0) * 1.4826, 1e-6)
        found, bands = cls(center, spread, ()).strangeness_of(statistics), _bands(predicted_age)
        every = np.sort(found)
        return cls(
            center,
            spread,
            tuple(
                np.sort(found[bands == band]) if (bands == band).sum() >= MIN_BAND else every
                for band in range(len(AGE_BANDS))
            ),
        )

    def strangeness_of(self, statistics: np.ndarray) -> np.ndarray:
        excess = HARMFUL * (np.asarray(statistics, float) - self.center) / self.spread
        return np.clip(excess, 0, None).sum(axis=-1)

    def p_values(self, statistics: np.ndarray, predicted_age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conformal p-values of new photos: the share of the reference photos of the same band of predicted age at
        least as strange, ties at random."""
        strangeness, bands = self.strangeness_of(statistics), _bands(predicted_age)
        p = np.empty(strangeness.shape)
        for band in set(bands.tolist()):
            chosen, reference = bands == band, self.strangeness[band]
            below, up_to = (np.searchsorted(reference, strangeness[chosen], side=side) for side in ("left", "right"))
            above, ties = len(reference) - up_to, up_to - below
            p[chosen] = (above + rng.random(int(chosen.sum())) * (ties + 1)) / (len(reference) + 1)
        return p

    def to_dict(self) -> dict:
        return {
            "statistics": list(STATISTICS),
            "center": self.center.round(6).tolist(),
            "spread": self.spread.round(6).tolist(),
            "bands": list(AGE_BANDS),  # of the predicted age: one sorted strangeness list each
            "strangeness": [band.round(4).tolist() for band in self.strangeness],
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> "ShiftReference | None":
        """From model.json or a checkpoint; a reference written before the bands (one list) serves every band."""
        if not data:
            return None
        found = data["strangeness"]
        bands = found if found and isinstance(found[0], list) else [found] * len(AGE_BANDS)
        return cls(np.array(data["center"]), np.array(data["spread"]), tuple(np.array(band) for band in bands))


def _bands(predicted_age) -> np.ndarray:
    """The index in AGE_BANDS of each predicted age."""
    return np.maximum(np.searchsorted(BAND_STARTS, predicted_age, side="right") - 1, 0)


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
