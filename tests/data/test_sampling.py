"""Training order: every photo once per epoch by default, or drawn to even out sources and age bands."""

import numpy as np
import pandas as pd
import pytest

from age_lightning.data.sampling import BalanceSettings, EpochShuffle, balance_weights
from age_lightning.errors import UserError


def table(counts: dict) -> pd.DataFrame:
    """Rows of (source, age) with `counts[(source, age)]` copies."""
    rows = [(source, age) for (source, age), n in counts.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=["source", "age"])


def test_inverse_frequency_is_capped():
    rows = table({("a", 30): 800, ("a", 15): 100, ("a", 70): 400})
    weights = balance_weights(rows, BalanceSettings(by=["age_band"], power=1.0, cap=4.0))
    assert weights[rows["age"] == 30].max() == 1.0  # the largest group keeps weight 1
    assert weights[rows["age"] == 70][0] == pytest.approx(2.0)  # 800 / 400
    assert weights[rows["age"] == 15][0] == pytest.approx(4.0)  # 800 / 100 = 8, capped at 4
    root = balance_weights(rows, BalanceSettings(by=["age_band"], power=0.5, cap=4.0))
    assert root[rows["age"] == 15][0] == pytest.approx(8**0.5)


def test_sources_and_bands_together():
    rows = table({("a", 30): 600, ("b", 30): 200, ("b", 15): 50})
    weights = balance_weights(rows, BalanceSettings(by=["source", "age_band"], cap=10))
    assert sorted(set(np.round(weights, 6))) == [1.0, 3.0, 10.0]  # 600/600, 600/200, 600/50 = 12 capped at 10
    with pytest.raises(UserError, match="unknown"):
        balance_weights(rows, BalanceSettings(by=["gender"]))


def test_weighted_epochs_draw_rare_groups_more_often_and_are_reproducible():
    rows = table({("a", 30): 900, ("a", 15): 100})
    sampler = EpochShuffle(len(rows), seed=3, weights=balance_weights(rows, BalanceSettings(by=["age_band"], cap=9)))
    drawn = [index for index, _ in sampler]
    teens = rows["age"].to_numpy()[drawn] == 15
    assert len(drawn) == 1000 and 0.4 < teens.mean() < 0.6  # about half, against 10% of the rows
    assert drawn == [index for index, _ in sampler]  # same epoch, same draw
    sampler.set_epoch(1)
    assert drawn != [index for index, _ in sampler]


def test_unweighted_epochs_show_every_photo_once():
    sampler = EpochShuffle(50, seed=0)
    assert sorted(index for index, _ in sampler) == list(range(50))


def test_source_weights_lean_towards_a_folder_after_balancing():
    rows = table({("a", 30): 600, ("b", 30): 200})
    balanced = balance_weights(rows, BalanceSettings(by=["source"], source_weights={"b": 2}))
    assert balanced[rows["source"] == "b"].sum() == pytest.approx(2 * balanced[rows["source"] == "a"].sum())
    alone = balance_weights(
        rows, BalanceSettings(by=[], source_weights={"b": 2})
    )  # no balancing: b's rows simply count twice
    assert sorted(set(alone)) == [1.0, 2.0]
    assert (
        balance_weights(rows, BalanceSettings(by=[], source_weights={})) is None
    )  # nothing to weigh: every photo once per epoch
    with pytest.raises(UserError, match="a data.root folder"):
        balance_weights(rows, BalanceSettings(by=["source"], source_weights={"c": 2}))


def test_band_weights_draw_the_decisive_ages_more_often_after_balancing():
    rows = table({("a", 15): 100, ("a", 20): 100, ("a", 30): 400, ("a", 70): 100})
    weights = balance_weights(rows, BalanceSettings(by=["age_band"], band_weights={"13-17": 2, "18-24": 2}))
    share = {age: weights[rows["age"] == age].sum() / weights.sum() for age in (15, 20, 30, 70)}
    assert share[15] == share[20] == pytest.approx(2 * share[30]) and share[30] == pytest.approx(share[70])
    with pytest.raises(UserError, match=r"an age band \(\['13-17', '18-24', '25-39', '60\+'\]\)"):
        balance_weights(rows, BalanceSettings(by=[], band_weights={"0-12": 2}))
