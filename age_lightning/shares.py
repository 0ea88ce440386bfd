"""Age-band shares of a group of photos, corrected for the model's errors, with intervals (quantification).

Counting predicted bands gives biased shares: a regression model pulls ages toward the middle, so the youngest and
oldest bands are under-counted, by an amount that depends on the group's own age mix. The corrections here assume
what quantification calls prior-probability shift: the mix of bands changes between groups, while a band's photos
are predicted the same way everywhere (the model's errors, measured on labeled photos it never trained on, hold).

- `acc` (adjusted classify-and-count): the share of each predicted band is a mixture, over true bands, of the
  confusion matrix P(predicted band | true band) measured on the labeled photos; invert it (least squares on the
  simplex).
- `dm` (distribution matching): the same on histograms of the predicted age (3-year bins) instead of the six
  predicted bands: more equations for the same six unknowns, so the inversion is steadier.
- `em` (Saerens, Latinne, Decaestecker 2002): each photo's probability of every band from the calibrated predictive
  distribution (the prediction plus the empirical distribution of (true - predicted) / scale on the labeled
  photos), re-weighted by expectation-maximization until the band shares and the photos' probabilities agree.

Intervals are percentile bootstraps that resample both the group's photos and the labeled photos of the error
model, so they account for both finite samples. Everything runs on per-cell counts, so a million predictions take
about as long as a thousand.
"""

import math
from dataclasses import dataclass

import numpy as np

from age_lightning.ages import AGE_BANDS
from age_lightning.errors import UserError

BANDS = tuple(AGE_BANDS)
EDGES = np.array(list(AGE_BANDS.values())[1:], dtype=float)  # the inner band boundaries
METHODS = ("acc", "dm", "em")
DEFAULT_METHOD = "dm"  # measured (docs/benchmarks.md, "Age-group shares"): closest to the truth on shifted mixes
BOOTSTRAP = 200
LEVEL = 0.95
MIN_PHOTOS = 100  # fewer photos than this: the intervals are too wide to be useful, and the output says so


class SharesError(UserError):
    """The shares cannot be estimated from what was given."""


def band_index(ages) -> np.ndarray:
    """Index into BANDS of each age."""
    return np.searchsorted(EDGES, np.asarray(ages, dtype=float), side="right")


@dataclass(frozen=True)
class ErrorModel:
    """The model's errors on labeled photos it never trained on: their true ages, predicted ages and (for an
    uncertain model) scales, in years. Travels in the checkpoint and in model.json, like the calibration."""

    true_age: np.ndarray
    predicted: np.ndarray
    scale: np.ndarray | None
    source: str = ""

    @classmethod
    def fit(cls, true_age, predicted, scale=None, source: str = "") -> "ErrorModel":
        true_age, predicted = np.asarray(true_age, float), np.asarray(predicted, float)
        if len(true_age) == 0 or len(true_age) != len(predicted):
            raise SharesError("the error model needs labeled photos with a prediction each")
        return cls(true_age, predicted, None if scale is None else np.asarray(scale, float), source)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ErrorModel | None":
        if not data:
            return None
        return cls.fit(data["true_age"], data["predicted"], data.get("scale"), data.get("source", ""))

    def to_dict(self) -> dict:
        def rounded(values):
            return None if values is None else np.round(values, 2).tolist()

        return {
            "true_age": rounded(self.true_age),
            "predicted": rounded(self.predicted),
            "scale": rounded(self.scale),
            "source": self.source,
        }

    @property
    def photos(self) -> int:
        return len(self.true_age)

    def resample(self, rng: np.random.Generator) -> "ErrorModel":
        rows = rng.integers(0, self.photos, self.photos)
        return ErrorModel(
            self.true_age[rows], self.predicted[rows], None if self.scale is None else self.scale[rows], self.source
        )

    def prior(self) -> np.ndarray:
        """The band shares of the labeled photos."""
        return np.bincount(band_index(self.true_age), minlength=len(BANDS)) / self.photos

    def confusion(self) -> np.ndarray:
        """P(predicted band | true band), rows true bands; a band without labeled photos gets a uniform row."""
        counts = np.zeros((len(BANDS), len(BANDS)))
        np.add.at(counts, (band_index(self.true_age), band_index(self.predicted)), 1)
        rows = counts.sum(axis=1, keepdims=True)
        return np.where(rows > 0, counts / np.maximum(rows, 1), 1 / len(BANDS))

    def histograms(self, bins: np.ndarray) -> np.ndarray:
        """(bands, bins): P(predicted age in bin | true band), a band without labeled photos uniform."""
        counts = np.zeros((len(BANDS), len(bins) - 1))
        np.add.at(
            counts, (band_index(self.true_age), np.clip(np.digitize(self.predicted, bins) - 1, 0, len(bins) - 2)), 1
        )
        rows = counts.sum(axis=1, keepdims=True)
        return np.where(rows > 0, counts / np.maximum(rows, 1), 1 / (len(bins) - 1))

    def band_probabilities(self, predicted, scale) -> np.ndarray:
        """(n, bands): each prediction's probability of every band under the calibrated predictive distribution,
        true = predicted + scale * r with r drawn from the labeled photos' standardized errors."""
        own_scale = self.scale if self.scale is not None else np.ones_like(self.predicted)
        errors = np.sort((self.true_age - self.predicted) / own_scale)
        scale = np.ones_like(predicted) if scale is None or self.scale is None else scale
        standardized = (EDGES[None, :] - predicted[:, None]) / scale[:, None]
        # empirical CDF, smoothed (+0.5) so that no band is impossible for any photo
        below = (np.searchsorted(errors, standardized, side="right") + 0.5) / (len(errors) + 1)
        cdf = np.concatenate([np.zeros((len(predicted), 1)), below, np.ones((len(predicted), 1))], axis=1)
        return np.diff(cdf, axis=1)


@dataclass(frozen=True)
class Cells:
    """A group's predictions compressed to distinct (age, scale) cells with counts (0.5-year resolution: far
    finer than any band, and few enough cells for a fast bootstrap)."""

    predicted: np.ndarray
    scale: np.ndarray | None
    counts: np.ndarray

    @classmethod
    def of(cls, predicted, scale=None) -> "Cells":
        predicted = np.round(2 * np.asarray(predicted, float)) / 2
        if scale is None:
            values, counts = np.unique(predicted, return_counts=True)
            return cls(values, None, counts)
        scale = np.maximum(np.round(2 * np.asarray(scale, float)) / 2, 0.5)
        pairs, counts = np.unique(np.stack([predicted, scale], axis=1), axis=0, return_counts=True)
        return cls(pairs[:, 0], pairs[:, 1], counts)

    @property
    def photos(self) -> int:
        return int(self.counts.sum())

    def with_counts(self, counts: np.ndarray) -> "Cells":
        return Cells(self.predicted, self.scale, counts)


def naive_shares(cells: Cells) -> np.ndarray:
    """Share of each predicted band (counting)."""
    return np.bincount(band_index(cells.predicted), weights=cells.counts, minlength=len(BANDS)) / cells.photos


def adjusted_count(error_model: ErrorModel, cells: Cells) -> np.ndarray:
    """ACC: the shares p whose predicted-band mixture confusion.T @ p is closest to the counted shares."""
    solution, *_ = np.linalg.lstsq(error_model.confusion().T, naive_shares(cells), rcond=None)
    return project_to_simplex(solution)


def expectation_maximization(
    error_model: ErrorModel, cells: Cells, iterations: int = 1000, tolerance: float = 1e-7
) -> np.ndarray:
    """EM prior adjustment of the calibrated predictive band probabilities (SLD)."""
    probabilities = error_model.band_probabilities(cells.predicted, cells.scale)
    prior = np.maximum(error_model.prior(), 1e-6)
    weights = cells.counts / cells.photos
    shares = prior
    for _ in range(iterations):
        adjusted = probabilities * (shares / prior)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        updated = weights @ adjusted
        if np.abs(updated - shares).max() < tolerance:
            return updated
        shares = updated
    return shares


def distribution_matching(error_model: ErrorModel, cells: Cells, width: float = 3.0) -> np.ndarray:
    """DM: the shares whose mixture of the bands' predicted-age histograms is closest to the group's histogram."""
    bins = np.arange(0, 123, width)
    observed = np.histogram(cells.predicted, bins, weights=cells.counts)[0] / cells.photos
    solution, *_ = np.linalg.lstsq(error_model.histograms(bins).T, observed, rcond=None)
    return project_to_simplex(solution)


ESTIMATORS = {"acc": adjusted_count, "dm": distribution_matching, "em": expectation_maximization}


def project_to_simplex(values: np.ndarray) -> np.ndarray:
    """The closest point (Euclidean) with non-negative entries summing to 1 (Duchi et al. 2008)."""
    ordered = np.sort(values)[::-1]
    cumulative = np.cumsum(ordered) - 1
    rank = np.nonzero(ordered - cumulative / np.arange(1, len(values) + 1) > 0)[0][-1]
    return np.maximum(values - cumulative[rank] / (rank + 1), 0)


@dataclass(frozen=True)
class BandShares:
    """One group's shares: counted, corrected (with the bootstrap interval), and how many photos they rest on."""

    photos: int
    naive: np.ndarray
    share: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str
    level: float
    min_photos: int = MIN_PHOTOS

    @property
    def too_few(self) -> bool:
        return self.photos < self.min_photos

    @property
    def note(self) -> str:
        return f"too few photos for a useful interval ({self.photos} < {self.min_photos})" if self.too_few else ""

    def to_dict(self) -> dict:
        return {
            "photos": self.photos,
            "method": self.method,
            "level": self.level,
            "note": self.note,
            "naive": dict(zip(BANDS, self.naive.round(4).tolist())),
            "corrected": {
                band: {"share": round(float(s), 4), "low": round(float(lo), 4), "high": round(float(hi), 4)}
                for band, s, lo, hi in zip(BANDS, self.share, self.low, self.high)
            },
        }


def estimate_shares(
    error_model: ErrorModel | None,
    predicted,
    scale=None,
    method: str = DEFAULT_METHOD,
    bootstrap: int = BOOTSTRAP,
    level: float = LEVEL,
    min_photos: int = MIN_PHOTOS,
    seed: int = 0,
) -> BandShares:
    """Corrected band shares of one group of predictions (years), with a `level` bootstrap interval."""
    if error_model is None:
        raise SharesError(
            "this model has no error model: calibrate it on labeled photos it never trained on "
            "(python recalibrate.py ckpt_path=... data.root=<labeled folder>), then export it again"
        )
    if method not in ESTIMATORS:
        raise SharesError(f"method must be one of {METHODS}, got {method!r}")
    predicted = np.asarray(predicted, float)
    if len(predicted) == 0:
        raise SharesError("no predictions to estimate shares from")
    if method == "em" and error_model.scale is not None and scale is None:
        raise SharesError(
            "method=em with an uncertain model needs each prediction's age_scale (predict again "
            "with this version), or use method=acc"
        )
    cells = Cells.of(predicted, scale if method == "em" and error_model.scale is not None else None)
    estimator = ESTIMATORS[method]
    rng = np.random.default_rng(seed)
    replicates = np.array(
        [
            estimator(
                error_model.resample(rng), cells.with_counts(rng.multinomial(cells.photos, cells.counts / cells.photos))
            )
            for _ in range(bootstrap)
        ]
    )
    tail = 100 * (1 - level) / 2
    low, high = (
        np.percentile(replicates, [tail, 100 - tail], axis=0) if bootstrap else (np.full(len(BANDS), math.nan),) * 2
    )
    return BandShares(
        cells.photos, naive_shares(cells), estimator(error_model, cells), low, high, method, level, min_photos
    )


def total_variation(a, b) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).sum() / 2)
