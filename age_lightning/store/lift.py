"""What to offer each age group: the lift of every (age band, category) with an interval.

The lift of a band in a category is the band's corrected share among the category's buyers over its corrected
share among all buyers (of the same store, where the log is grouped by store too): 1.4 means the band is 40% more
common among the category's buyers than among everyone's. Both shares come from one joint bootstrap (shares.py:
the same error-model replicate for the category and for all buyers), so the ratio's interval keeps their
correlation. The counted lift (of predicted bands, uncorrected) comes beside it.
"""

from dataclasses import dataclass

import numpy as np

from age_lightning.shares import BANDS, Estimates, interval


@dataclass(frozen=True)
class Lift:
    """One category's lift of every band, (bands,) each, within one outer group (e.g. a store; () for all)."""

    outer: tuple
    category: str
    buyers: int
    lift: np.ndarray
    low: np.ndarray
    high: np.ndarray
    counted: np.ndarray
    min_buyers: int

    @property
    def too_few(self) -> bool:
        return self.buyers < self.min_buyers

    @property
    def note(self) -> str:
        return f"too few buyers to rank ({self.buyers} < {self.min_buyers})" if self.too_few else ""


def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom; infinite where only the bottom is 0 (a band nobody else is in), NaN where both are."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(top > 0, top / bottom, np.where(bottom > 0, 0.0, np.nan))


def outer_groups(keys: list[tuple]) -> tuple[list[tuple], np.ndarray]:
    """The outer groups of categories keyed (outer values..., category), and which categories each holds
    (outer groups, categories): the `sums` that add each outer group's all buyers to an estimate."""
    outers = sorted({key[:-1] for key in keys})
    return outers, np.array([[key[:-1] == outer for key in keys] for outer in outers], dtype=np.int64)


def lifts(keys: list[tuple], found: Estimates, level: float, min_buyers: int) -> list[Lift]:
    """The lift of every category keyed (outer values..., category) in `found`: an estimate of the categories'
    shares with their outer groups' all buyers after them (shares.estimate with sums=outer_groups(keys)[1])."""
    outers, _ = outer_groups(keys)
    category, total = slice(0, len(keys)), slice(len(keys), None)
    of_outer = np.array([outers.index(key[:-1]) for key in keys])

    def lift_of(shares: np.ndarray) -> np.ndarray:
        """(..., groups, bands) shares -> (..., categories, bands) lift against each category's outer group."""
        return ratio(shares[..., category, :], shares[..., total, :][..., of_outer, :])

    point = lift_of(found.corrected)
    low, high = interval(lift_of(found.corrected_draws), point, level)
    counted = lift_of(found.counted)
    return [
        Lift(key[:-1], key[-1], int(found.photos[g]), point[g], low[g], high[g], counted[g], min_buyers)
        for g, key in enumerate(keys)
    ]


def to_offer(found: list[Lift]) -> dict[tuple, dict[str, list[Lift]]]:
    """Per outer group and band, the categories whose lift interval lies above 1, highest lift first (categories
    with too few buyers are never ranked)."""
    offer: dict[tuple, dict[str, list[Lift]]] = {}
    for item in found:
        bands = offer.setdefault(item.outer, {band: [] for band in BANDS})
        if item.too_few:
            continue
        for b, band in enumerate(BANDS):
            if item.low[b] > 1:
                bands[band].append(item)
    for bands in offer.values():
        for b, band in enumerate(BANDS):
            bands[band].sort(key=lambda item: -item.lift[b])
    return offer
