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
- `em` (EMQ: Saerens, Latinne, Decaestecker 2002): the band shares that maximize the likelihood of the group's
  answers, each band's answers distributed as its labeled photos' are (a Gaussian kernel over the predicted age,
  the same one as p_minor's), found by expectation-maximization.

With a bootstrap, the corrected shares are the mean of its replicates (bagging: one inversion of a noisy error
model swings, the mean of many is steadier), then shrunk toward the counted shares by how far the correction
stands out of its own noise (`shrink`):
where the error model is too small or too noisy for the correction to be trusted (a mix close to the labeled
photos', a demo model calibrated on a few photos), the counted shares come back; a clear correction is kept whole.

Intervals are percentile bootstraps that resample both the group's photos and the labeled photos of the error
model, so they account for both finite samples; groups estimated together share each replicate's error model, so
that their ratios (lift) have intervals too. Everything runs on per-cell counts (half a year of predicted age), so
a million predictions take about as long as a thousand.
"""

import math
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np

from age_lightning.ages import AGE_BANDS, MAX_AGE
from age_lightning.errors import UserError

BANDS = tuple(AGE_BANDS)
CELL = 0.5  # years: predictions are counted on half-year cells, far finer than the model's errors
CELLS = np.arange(0.0, MAX_AGE + CELL, CELL)
BANDWIDTH = 2.0  # years: the kernel's standard deviation over the predicted age
EDGES = np.array(list(AGE_BANDS.values())[1:], dtype=float)  # the inner band boundaries
METHODS = ("acc", "dm", "em")
# measured (docs/benchmarks.md, "Age-group shares and lift"): closest to the truth, and intervals at their level
DEFAULT_METHOD = "em"
BOOTSTRAP = 200
LEVEL = 0.95
MIN_PHOTOS = 100  # fewer photos than this: the intervals are too wide to be useful, and the output says so


class SharesError(UserError):
    """The shares cannot be estimated from what was given."""


def cell_index(predicted) -> np.ndarray:
    """The half-year cell of each predicted age."""
    return np.clip(np.rint(np.asarray(predicted, float) / CELL), 0, len(CELLS) - 1).astype(np.int64)


@cache
def _kernel(bandwidth: float) -> np.ndarray:
    """(cells, cells) Gaussian weights between half-year cells."""
    return np.exp(-0.5 * np.square((CELLS[:, None] - CELLS[None, :]) / bandwidth))


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

    @property
    def on_cells(self) -> np.ndarray:
        """The predicted ages rounded to their half-year cells, as a group's predictions are counted."""
        return CELLS[cell_index(self.predicted)]

    def prior(self) -> np.ndarray:
        """The band shares of the labeled photos."""
        return np.bincount(band_index(self.true_age), minlength=len(BANDS)) / self.photos

    def confusion(self) -> np.ndarray:
        """P(predicted band | true band), rows true bands; a band without labeled photos gets a uniform row."""
        counts = np.zeros((len(BANDS), len(BANDS)))
        np.add.at(counts, (band_index(self.true_age), band_index(self.on_cells)), 1)
        rows = counts.sum(axis=1, keepdims=True)
        return np.where(rows > 0, counts / np.maximum(rows, 1), 1 / len(BANDS))

    def histograms(self, bins: np.ndarray) -> np.ndarray:
        """(bands, bins): P(predicted age in bin | true band), a band without labeled photos uniform."""
        counts = np.zeros((len(BANDS), len(bins) - 1))
        np.add.at(
            counts, (band_index(self.true_age), np.clip(np.digitize(self.on_cells, bins) - 1, 0, len(bins) - 2)), 1
        )
        rows = counts.sum(axis=1, keepdims=True)
        return np.where(rows > 0, counts / np.maximum(rows, 1), 1 / (len(bins) - 1))

    def smoothed_counts(self, bandwidth: float = BANDWIDTH) -> np.ndarray:
        """(cells, bands): the labeled photos of each true band, counted at each half-year cell of the predicted
        age and smoothed by a Gaussian kernel over it: the likelihood of an answer given the band, up to the
        band's count."""
        counts = np.zeros((len(CELLS), len(BANDS)))
        np.add.at(counts, (cell_index(self.predicted), band_index(self.true_age)), 1)
        return _kernel(bandwidth) @ counts


@dataclass(frozen=True)
class Cells:
    """Groups of predictions counted on the half-year cells of the predicted age: counts (groups, cells), with the
    cells' predicted ages. Far finer than any band, and few enough cells that a million predictions bootstrap
    fast."""

    cell: np.ndarray  # indices into CELLS
    counts: np.ndarray

    @classmethod
    def of(cls, *groups) -> "Cells":
        """Groups of predictions, one array of predicted ages each, on the cells any of them uses."""
        codes = [cell_index(group) for group in groups]
        cell = np.unique(np.concatenate(codes))
        return cls(cell, np.array([np.bincount(code, minlength=len(CELLS))[cell] for code in codes]))

    @property
    def predicted(self) -> np.ndarray:
        return CELLS[self.cell]

    @property
    def photos(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def with_counts(self, counts: np.ndarray) -> "Cells":
        return Cells(self.cell, counts)


def _shares_of(cells: Cells, columns: np.ndarray, width: int) -> np.ndarray:
    """(groups, width): each group's share of photos whose cell falls in each column."""
    found = np.zeros((len(cells.predicted), width))
    found[np.arange(len(cells.predicted)), columns] = 1
    return cells.counts @ found / cells.photos[:, None]


def naive_shares(cells: Cells) -> np.ndarray:
    """(groups, bands): the share of each predicted band (counting)."""
    return _shares_of(cells, band_index(cells.predicted), len(BANDS))


def adjusted_count(error_model: ErrorModel, cells: Cells) -> np.ndarray:
    """ACC: the shares p whose predicted-band mixture confusion.T @ p is closest to the counted shares."""
    solution, *_ = np.linalg.lstsq(error_model.confusion().T, naive_shares(cells).T, rcond=None)
    return project_to_simplex(solution.T)


def expectation_maximization(
    error_model: ErrorModel, cells: Cells, iterations: int = 1000, tolerance: float = 1e-6
) -> np.ndarray:
    """EMQ (Saerens, Latinne, Decaestecker 2002), all groups at once: the band shares that maximize the
    likelihood of the groups' answers, each band's answers distributed as its labeled photos' (smoothed_counts)."""
    counts = error_model.smoothed_counts()[cells.cell]
    likelihood = counts / np.maximum(counts.sum(axis=0), 1e-12) + 1e-12  # P(cell | band); no cell impossible
    weights = cells.counts / cells.photos[:, None]
    shares = np.tile(error_model.prior(), (len(weights), 1))
    for _ in range(iterations):
        # each cell's photos shared out over the bands by Bayes' rule, as two matrix products
        updated = shares * ((weights / (shares @ likelihood.T)) @ likelihood)
        if np.abs(updated - shares).max() < tolerance:
            return updated
        shares = updated
    return shares


def distribution_matching(error_model: ErrorModel, cells: Cells, width: float = 3.0) -> np.ndarray:
    """DM: the shares whose mixture of the bands' predicted-age histograms is closest to the group's histogram."""
    bins = np.arange(0, 123, width)
    column = np.clip(np.digitize(cells.predicted, bins) - 1, 0, len(bins) - 2)
    observed = _shares_of(cells, column, len(bins) - 1)
    solution, *_ = np.linalg.lstsq(error_model.histograms(bins).T, observed.T, rcond=None)
    return project_to_simplex(solution.T)


ESTIMATORS = {"acc": adjusted_count, "dm": distribution_matching, "em": expectation_maximization}


def project_to_simplex(values: np.ndarray) -> np.ndarray:
    """Each row's closest point (Euclidean) with non-negative entries summing to 1 (Duchi et al. 2008)."""
    values = np.atleast_2d(values)
    ordered = -np.sort(-values, axis=1)
    cumulative = np.cumsum(ordered, axis=1) - 1
    positive = ordered - cumulative / np.arange(1, values.shape[1] + 1) > 0
    rank = values.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)
    threshold = cumulative[np.arange(len(values)), rank] / (rank + 1)
    return np.maximum(values - threshold[:, None], 0)


def shrink(counted: np.ndarray, corrected: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep of each group's correction (corrected - counted) only the part its noise does not explain: the weight
    1 - noise / |correction|^2, clipped to [0, 1] (positive-part James-Stein). A correction within its own noise
    falls back to the counted shares; a clear one is kept whole. Returns (shares, weight)."""
    change = corrected - counted
    weight = np.clip(1 - noise / np.maximum(np.square(change).sum(axis=1), 1e-12), 0, 1)
    return counted + weight[:, None] * change, weight


@dataclass(frozen=True)
class Estimates:
    """Counted and corrected band shares of the groups of one Cells, each (groups, bands), with bootstrap
    replicates of the unshrunk correction (replicates, groups, bands) drawn jointly: each replicate resamples the
    error model once for every group, so that ratios between groups (lift) keep their correlation."""

    photos: np.ndarray
    counted: np.ndarray
    corrected: np.ndarray  # shrunk toward counted where the correction is noisy
    weight: np.ndarray  # (groups,): how much of the correction was kept (1: all)
    counted_draws: np.ndarray
    corrected_draws: np.ndarray


def estimate(
    error_model: ErrorModel,
    cells: Cells,
    method: str = DEFAULT_METHOD,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    shrinkage: bool = True,
    sums: np.ndarray | None = None,
) -> Estimates:
    """Every group's counted and corrected shares with their joint bootstrap replicates (groups' photos and the
    error model's both resampled). The corrected shares are the replicates' mean (bagging: one inversion of a
    noisy error model swings, their mean is steadier), with `shrinkage` shrunk toward the counted shares by how
    far the correction stands out of its noise (`shrink`). `sums` (extra groups, groups) adds groups made of
    others (all buyers of a store: the sum of its categories), resampled as the sums of their parts."""
    estimator = ESTIMATORS[method]
    rng = np.random.default_rng(seed)

    def with_sums(counts: np.ndarray) -> Cells:
        return cells.with_counts(counts if sums is None else np.vstack([counts, sums @ counts]))

    whole = with_sums(cells.counts)
    photos = cells.photos
    counted_draws = np.empty((bootstrap, len(whole.counts), len(BANDS)))
    corrected_draws = np.empty_like(counted_draws)
    for r in range(bootstrap):
        resampled = with_sums(np.array([rng.multinomial(n, row / n) for n, row in zip(photos, cells.counts)]))
        counted_draws[r] = naive_shares(resampled)
        corrected_draws[r] = estimator(error_model.resample(rng), resampled)
    counted, weight = naive_shares(whole), np.ones(len(whole.counts))
    if bootstrap < 2:
        return Estimates(whole.photos, counted, estimator(error_model, whole), weight, counted_draws, corrected_draws)
    corrected = corrected_draws.mean(axis=0)
    if shrinkage:
        changes = corrected_draws - counted_draws
        corrected, weight = shrink(counted, corrected, changes.var(axis=0).sum(axis=1))
    return Estimates(whole.photos, counted, corrected, weight, counted_draws, corrected_draws)


def interval(draws: np.ndarray, point: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile bootstrap interval of each entry of draws (replicates, ...), widened to hold the point
    estimate where shrinkage moved it out; replicates that are NaN are left out, NaN without any."""
    if len(draws) == 0:
        return (np.full(point.shape, math.nan),) * 2
    tail = 100 * (1 - level) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an entry with no replicate: NaN, said so
        low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return np.minimum(low, point), np.maximum(high, point)


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
    weight: float = 1.0

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
            "correction_kept": round(self.weight, 3),
            "note": self.note,
            "naive": dict(zip(BANDS, self.naive.round(4).tolist())),
            "corrected": {
                band: {"share": round(float(s), 4), "low": round(float(lo), 4), "high": round(float(hi), 4)}
                for band, s, lo, hi in zip(BANDS, self.share, self.low, self.high)
            },
        }


def check(error_model: ErrorModel | None, method: str) -> ErrorModel:
    """The error model, if shares can be estimated with it and `method`; a SharesError saying what to do if not."""
    if error_model is None:
        raise SharesError(
            "this model has no error model: calibrate it on labeled photos it never trained on "
            "(python recalibrate.py ckpt_path=... data.root=<labeled folder>), then export it again"
        )
    if method not in ESTIMATORS:
        raise SharesError(f"method must be one of {METHODS}, got {method!r}")
    return error_model


def group_shares(
    error_model: ErrorModel,
    cells: Cells,
    method: str = DEFAULT_METHOD,
    bootstrap: int = BOOTSTRAP,
    level: float = LEVEL,
    min_photos: int = MIN_PHOTOS,
    seed: int = 0,
    shrinkage: bool = True,
    sums: np.ndarray | None = None,
) -> tuple[list[BandShares], Estimates]:
    """Each group's BandShares (the groups of `cells`, then those of `sums`, as in `estimate`), and the estimates
    they come from (for lift)."""
    found = estimate(error_model, cells, method, bootstrap, seed, shrinkage, sums)
    low, high = interval(found.corrected_draws, found.corrected, level)
    return [
        BandShares(
            int(found.photos[g]),
            found.counted[g],
            found.corrected[g],
            low[g],
            high[g],
            method,
            level,
            min_photos,
            float(found.weight[g]),
        )
        for g in range(len(found.photos))
    ], found


def estimate_shares(
    error_model: ErrorModel | None,
    predicted,
    method: str = DEFAULT_METHOD,
    bootstrap: int = BOOTSTRAP,
    level: float = LEVEL,
    min_photos: int = MIN_PHOTOS,
    seed: int = 0,
    shrinkage: bool = True,
) -> BandShares:
    """Corrected band shares of one group of predictions (years), with a `level` bootstrap interval."""
    error_model = check(error_model, method)
    predicted = np.asarray(predicted, float)
    if len(predicted) == 0:
        raise SharesError("no predictions to estimate shares from")
    cells = Cells.of(predicted)
    [shares], _ = group_shares(error_model, cells, method, bootstrap, level, min_photos, seed, shrinkage)
    return shares


def total_variation(a, b) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).sum() / 2)
