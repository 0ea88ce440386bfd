"""Accuracy where the decision is made, as age-assurance reviews state it (NIST FATE Age Estimation, ACCS): the MAE
and the share of estimates within 1, 2 and 5 years, by year of age (13-30) and by age band, each with a 95%
bootstrap interval (the percentile interval of BOOTSTRAP resamples of that age's photos), and how the error and the
face step's detection rate change with the face's size in pixels between the eyes."""

from dataclasses import asdict

import numpy as np

from age_lightning.ages import AGE_BANDS, age_band
from age_lightning.evaluation.outcomes import Rate

CARD_YEARS = range(13, 31)
WITHIN = (1, 2, 5)
BOOTSTRAP = 1000
LEVEL = 0.95


def accuracy(abs_error, seed: int = 0) -> dict:
    """{n, mae, within_1, within_2, within_5}, each figure as [value, low, high] (None without photos)."""
    abs_error = np.asarray(abs_error, float)
    n = len(abs_error)
    if n == 0:
        return {"n": 0, "mae": None, **{f"within_{k}": None for k in WITHIN}}
    resampled = abs_error[np.random.default_rng(seed).integers(0, n, (BOOTSTRAP, n))]
    tails = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]

    def figure(value: float, draws: np.ndarray) -> list[float]:
        return [float(value), *(float(q) for q in np.quantile(draws, tails))]

    found = {"n": n, "mae": figure(abs_error.mean(), resampled.mean(axis=1))}
    for k in WITHIN:
        found[f"within_{k}"] = figure((abs_error <= k).mean(), (resampled <= k).mean(axis=1))
    return found


def accuracy_by_age(real, predicted, seed: int = 0) -> dict:
    """{"years": {"13": accuracy, ..., "30": ...}, "bands": {band: accuracy}}."""
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)
    abs_error, bands = np.abs(predicted - real), np.asarray(age_band(real))
    return {
        "years": {str(year): accuracy(abs_error[np.floor(real) == year], seed) for year in CARD_YEARS},
        "bands": {band: accuracy(abs_error[bands == band], seed) for band in AGE_BANDS},
    }


def face_size_row(scale: float, real, predicted, eye_distance) -> dict:
    """The photos shrunk by `scale`: how many the face step still finds, the median pixels between their eyes, and
    the accuracy on those found (predicted and eye_distance are NaN where no face is found)."""
    real, predicted, eye_distance = (np.asarray(a, float) for a in (real, predicted, eye_distance))
    found = ~np.isnan(predicted)
    return {
        "scale": float(scale),
        "detected": asdict(Rate.of(int(found.sum()), len(real))),
        "eye_distance": float(np.median(eye_distance[found])) if found.any() else None,
        "accuracy": accuracy(np.abs(predicted[found] - real[found])),
    }
