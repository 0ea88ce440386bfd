"""Train/val/calibration/test assignment of labeled rows."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from age_lightning.data.labels import SPLITS
from age_lightning.errors import DatasetError

PROTOCOLS = ("auto", "random", "column", "seed_notebook")


@dataclass
class SplitSettings:
    """How a folder's rows are split (the `data.split` config node is generated from these defaults)."""

    protocol: str = "auto"  # auto: the csv's `split` column if present, else random | random | column | seed_notebook
    fractions: dict = field(
        default_factory=lambda: {"train": 0.7, "val": 0.075, "calibration": 0.075, "test": 0.15}
    )  # calibration: see model.head
    seed: int = 0
    # a teen-enriched calibration split: {ages: [13, 17], calibration: 0.35} moves training rows of those ages into
    # calibration until it holds that share of them (val and test rows stay), so that the ID rule's promise to them
    # rests on more photos; null: none
    enrich: dict | None = None


# The reference Keras notebook used ImageDataGenerator(validation_split=0.25), which takes the *first*
# 25% of the dataframe's rows as validation and the rest as training, without shuffling and without a test set.
SEED_NOTEBOOK_VAL_FRACTION = 0.25


def assign_splits(
    table: pd.DataFrame, protocol: str, fractions: dict, seed: int, total_rows: int, enrich: dict | None = None
) -> pd.Series:
    """Split name (one of SPLITS) of each row of a validated labels table.

    `total_rows` is the number of data lines in labels.csv, invalid ones included, so that dropping a bad row
    never moves other rows between splits under the row-order protocol. `enrich` (`enrich_calibration`) applies to
    a random split only: a split column or the notebook's protocol is kept as given.
    """
    if protocol not in PROTOCOLS:
        raise DatasetError(f"unknown split protocol {protocol!r}; choose one of {PROTOCOLS}")
    if protocol == "auto":
        protocol = "column" if "split" in table.columns else "random"
    if protocol == "column":
        if "split" not in table.columns:
            raise DatasetError(
                "data.split.protocol=column needs a 'split' column (train/val/calibration/test) in labels.csv"
            )
        return table["split"].rename("split")
    if protocol == "seed_notebook":
        first_val_lines = int(SEED_NOTEBOOK_VAL_FRACTION * total_rows)
        is_val = (table["line"] - 2) < first_val_lines
        return pd.Series(np.where(is_val, "val", "train"), index=table.index, name="split")
    return enrich_calibration(_random_split(table.index, fractions, seed), table["age"], enrich, seed)


def enrich_calibration(split: pd.Series, ages: pd.Series, enrich: dict | None, seed: int) -> pd.Series:
    """Move training rows aged enrich["ages"] (first, last whole year) into calibration, chosen at random with
    `seed`, until calibration holds the share enrich["calibration"] of those rows; the other splits keep theirs."""
    if not enrich:
        return split
    if set(enrich) != {"ages", "calibration"} or not 0 <= enrich["calibration"] < 1:
        raise DatasetError(f"data.split.enrich must be {{ages: [first, last], calibration: share < 1}}, got {enrich}")
    first, last = enrich["ages"]
    chosen = (ages >= first) & (ages < last + 1)
    wanted = round(enrich["calibration"] * int(chosen.sum())) - int((chosen & (split == "calibration")).sum())
    movable = split.index[chosen & (split == "train")]
    moved = np.random.default_rng(seed + 1).permutation(movable)[: max(0, min(wanted, len(movable)))]
    return split.where(~split.index.isin(moved), "calibration")


def _random_split(index: pd.Index, fractions: dict, seed: int) -> pd.Series:
    """Seeded random fractions. Calibration rows come out of what val would be without them, so adding a
    calibration split leaves the train and test rows unchanged."""
    total = sum(fractions.values())
    if set(fractions) - set(SPLITS) or any(f < 0 for f in fractions.values()) or abs(total - 1) > 1e-6:
        raise DatasetError(
            f"data.split.fractions must give {'/'.join(SPLITS)} fractions summing to 1, got "
            f"{fractions} (sum {total:g}); a command-line value is merged with the defaults, so give "
            f"all four, e.g. data.split.fractions={{train:0.8,val:0.1,calibration:0,test:0.1}}"
        )
    n = len(index)
    held = round((fractions.get("val", 0) + fractions.get("calibration", 0)) * n)
    # val comes first when rows are few: a training run needs it, calibration is optional (it may be empty)
    n_calibration = max(0, min(round(fractions.get("calibration", 0) * n), held - (fractions.get("val", 0) > 0)))
    n_test = round(fractions.get("test", 0) * n)
    if n - held - n_test < 1 or (fractions.get("val", 0) > 0 and held == n_calibration):
        raise DatasetError(f"{n} valid rows are too few for split fractions {fractions}")
    names = np.array(
        ["val"] * (held - n_calibration)
        + ["calibration"] * n_calibration
        + ["test"] * n_test
        + ["train"] * (n - held - n_test)
    )
    shuffled = np.empty(n, dtype=object)
    shuffled[np.random.default_rng(seed).permutation(n)] = names
    return pd.Series(shuffled, index=index, name="split")
