"""The training order: which photos an epoch shows, in what order, each with the seed of its augmentation."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Sampler

from age_lightning.ages import age_band
from age_lightning.errors import UserError

BALANCE_KEYS = ("source", "age_band")


@dataclass
class BalanceSettings:
    """How training photos are drawn (the `data.balance` config node is generated from these defaults)."""

    by: list = field(default_factory=list)  # any of source, age_band; []: each photo once per epoch
    power: float = 1.0  # 1: inverse group frequency, 0.5: its square root
    cap: float = 4.0  # no group drawn more than cap times as often as its share
    source_weights: dict | None = None  # e.g. {aaf_train: 2}: that source folder drawn twice as often
    band_weights: dict | None = None  # e.g. {13-17: 2, 18-24: 2}: those age bands drawn twice as often


def balance_weights(table: pd.DataFrame, settings: BalanceSettings) -> np.ndarray | None:
    """A sampling weight per row that evens out the groups formed by `settings.by` (source and/or age_band); None
    when there is nothing to weigh (no `by`, no source or band weights): every photo once per epoch.

    A row of a group with n photos weighs (n_largest / n) ** power, at most `cap`: power 1 is inverse frequency
    (every group as often as the largest, up to cap times as often as its size), 0.5 its square root.
    source_weights then multiplies the rows of the named source folders (e.g. {aaf_train: 2}: that folder drawn
    twice as often as balancing alone would), to lean the recipe towards the population that matters most, and
    band_weights those of the named age bands (e.g. {13-17: 2, 18-24: 2}: the ages where the ID check decides).
    """
    by, power, cap = list(settings.by), settings.power, settings.cap
    unknown = sorted(set(by) - set(BALANCE_KEYS))
    if unknown:
        raise UserError(f"data.balance.by: unknown {unknown}; use any of {list(BALANCE_KEYS)}")
    if cap < 1 or power < 0:
        raise UserError(f"data.balance needs cap >= 1 and power >= 0, got cap={cap}, power={power}")
    keys = pd.DataFrame({"source": table["source"], "age_band": age_band(table["age"])})
    if not (by or settings.source_weights or settings.band_weights):
        return None
    weights = np.ones(len(table))
    if by:
        sizes = keys.groupby(by)[by[0]].transform("size").to_numpy(dtype=float)
        weights = np.minimum((sizes.max() / sizes) ** power, cap)
    weights = weights * _named_weights(keys["source"], settings.source_weights, "source_weights", "a data.root folder")
    return weights * _named_weights(keys["age_band"], settings.band_weights, "band_weights", "an age band")


def _named_weights(values: pd.Series, weights: dict | None, key: str, what: str) -> np.ndarray:
    """Each row's weight from {value: weight} (1 for values not named); a name no row has, or a weight <= 0, is
    an error listing the names there are."""
    weights = {str(name): weight for name, weight in (weights or {}).items()}
    present = sorted(set(values))
    if set(weights) - set(present) or any(not weight > 0 for weight in weights.values()):
        raise UserError(f"data.balance.{key} {weights}: each must name {what} ({present}) with a weight > 0")
    return values.astype(str).map(weights).fillna(1.0).to_numpy(dtype=float)


class EpochShuffle(Sampler):
    """Yields (index, sample seed) in an order drawn from (seed, epoch); the sample seed drives that sample's
    augmentation. Epoch k's batches then never depend on earlier epochs or on the number of workers, so a run
    resumed from a checkpoint continues exactly like an uninterrupted one. Lightning calls set_epoch.

    With weights, each epoch draws as many rows as there are, with replacement, each with its weight's chance.
    """

    def __init__(self, size: int, seed: int, weights: np.ndarray | None = None):
        self.size, self.seed, self.epoch = size, seed, 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + 1000 * self.epoch)
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        seeds = torch.randint(0, 2**62, (self.size,), generator=generator).tolist()
        return iter(zip(order.tolist(), seeds))
