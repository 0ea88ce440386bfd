"""The probability that a buyer is a minor (true age under 18), and under 25, given the model's answer for their
photo: `p_minor` and `p_under_25`.

Bayes' rule with its two parts kept apart:
- **the likelihood of the answer at each true age** comes from the error model (labeled photos the model never
  trained on, their true and predicted ages): a Gaussian kernel over the predicted age;
- **the age mix of the buyers** is a stated setting (`BUYERS`, the age bands' shares of a store's alcohol buyers)
  or a mix estimated from the store's own answers (shares.py). It replaces the labeled photos' own mix, which is
  full of children: each labeled photo weighs (buyers' share / labeled photos' share) of its age band.

P(minor | answer) = sum over labeled photos of kernel(answer - their answer) * weight * [true age < 18], over the
same sum without the indicator. A lower estimate never makes a minor less likely: the result is made
non-increasing in the predicted age (isotonic regression). It is tabulated on half-year cells of the predicted
age, so that a million answers cost a table lookup, and an audit can work on counts per cell.
"""

from dataclasses import dataclass

import numpy as np

from age_lightning.ages import AGE_BANDS, ID_CHECK_AGE, LEGAL_AGE
from age_lightning.errors import UserError
from age_lightning.shares import BANDS, BANDWIDTH, CELLS, ErrorModel, band_index, cell_index

# A stated mix of a store's alcohol buyers (shares of the age bands; no children). A store that knows its own mix
# says so (buyers=...), or lets the audit estimate it from its answers.
BUYERS = {"0-12": 0.0, "13-17": 0.01, "18-24": 0.14, "25-39": 0.30, "40-59": 0.35, "60+": 0.20}


def buyers_mix(buyers: dict | np.ndarray) -> np.ndarray:
    """Band shares (summing to 1) from a {band: share} dict or an array in AGE_BANDS order."""
    if isinstance(buyers, dict):
        unknown = sorted(set(buyers) - set(BANDS))
        if unknown:
            raise UserError(f"buyers: unknown age bands {unknown}; use {list(BANDS)}")
        buyers = np.array([float(buyers.get(band, 0.0)) for band in BANDS])
    mix = np.asarray(buyers, float)
    if mix.shape != (len(BANDS),) or (mix < 0).any() or not mix.sum() > 0:
        raise UserError(f"buyers: one share >= 0 per age band {list(BANDS)}, not all 0; got {mix.tolist()}")
    return mix / mix.sum()


def non_increasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-increasing fit to `values` (pool adjacent violators)."""
    means, sizes, counts = [], [], []
    for value, weight in zip(values, weights):
        means.append(value)
        sizes.append(weight)
        counts.append(1)
        while len(means) > 1 and means[-2] < means[-1]:
            weight = sizes[-2] + sizes[-1]
            merged = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / weight if weight > 0 else means[-1]
            count = counts[-2] + counts[-1]
            del means[-1], sizes[-1], counts[-1]
            means[-1], sizes[-1], counts[-1] = merged, weight, count
    return np.repeat(means, counts)


@dataclass(frozen=True)
class MinorProbability:
    """P(true age < 18) and P(true age < 25) for each half-year cell of the predicted age, under `buyers`."""

    p_minor: np.ndarray
    p_under_25: np.ndarray
    buyers: np.ndarray  # the band mix it assumes
    buyers_source: str  # "stated" or how it was estimated

    @classmethod
    def fit(
        cls,
        error_model: ErrorModel,
        buyers: dict | np.ndarray = BUYERS,
        buyers_source: str = "stated",
        bandwidth: float = BANDWIDTH,
    ) -> "MinorProbability":
        mix = buyers_mix(buyers)
        true_band = band_index(error_model.true_age)
        labeled = np.bincount(true_band, minlength=len(BANDS)) / error_model.photos
        missing = [band for band, share, own in zip(BANDS, mix, labeled) if share > 0 and own == 0]
        if missing:
            raise UserError(
                f"the error model ({error_model.photos} labeled photos) has none aged {missing}, which the buyers' "
                f"mix holds: calibrate on photos of every age band the store's buyers have"
            )
        weight = np.divide(mix, labeled, out=np.zeros(len(BANDS)), where=labeled > 0)
        smoothed = error_model.smoothed_counts(bandwidth) * weight  # (cells, bands), reweighted to the buyers
        support = smoothed.sum(axis=1)
        floor = 1e-12 * support.max()
        probabilities = []
        for limit in (LEGAL_AGE, ID_CHECK_AGE):  # both are band edges: the bands below them
            raw = smoothed[:, : band_index(limit)].sum(axis=1) / np.maximum(support, floor)
            probabilities.append(non_increasing(raw, support + floor))
        return cls(probabilities[0], probabilities[1], mix, buyers_source)

    @classmethod
    def for_answers(cls, error_model: ErrorModel | None) -> "MinorProbability | None":
        """The stated buyers' p_minor that predictions and the service answer with; None (the answers' p_minor
        empty) for a model without an error model, or one whose labeled photos miss an age band of the mix."""
        try:
            return None if error_model is None else cls.fit(error_model)
        except UserError:
            return None

    @property
    def minors_share(self) -> float:
        """The share of minors among the buyers it assumes (at least 1e-6)."""
        return max(float(self.buyers[: BANDS.index("18-24")].sum()), 1e-6)

    def of(self, predicted) -> tuple[np.ndarray, np.ndarray]:
        """(p_minor, p_under_25) of each predicted age."""
        cells = cell_index(predicted)
        return self.p_minor[cells], self.p_under_25[cells]

    def describe(self) -> dict:
        return {
            "buyers": dict(zip(AGE_BANDS, np.round(self.buyers, 4).tolist())),
            "buyers_source": self.buyers_source,
        }


def replicates(error_model: ErrorModel, buyers: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, cells) bootstrap replicates of p_minor, each fitted on a resample of the labeled photos: how much
    the finite calibration sample moves it."""
    draws = [MinorProbability.fit(error_model.resample(rng), buyers).p_minor for _ in range(count)]
    return np.array(draws).reshape(count, len(CELLS))
