"""Conformal calibration: the bounds against hand computations and their guarantees on data with known noise."""

import numpy as np
import pytest

from age_lightning.ages import LEGAL_AGE
from age_lightning.calibration import (
    ALL_MINORS,
    Calibration,
    CalibrationError,
    binary_kl,
    interval_multipliers,
    nominal_quantile,
    pass_cut,
    robust_level,
    year_groups,
)
from age_lightning.errors import UserError
from age_lightning.id_rules import IdCheck

EVERY_MINOR = {"minor_ages": ALL_MINORS, "max_pass_per_year": None}  # the margin fitted on every minor, pooled


def population(n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages 1-80 and a model that knows each photo's noise: predicted = true + Laplace noise of a known scale
    that depends on the photo (sharp or blurry: 2 to 8 years)."""
    ages = rng.uniform(1, 80, n)
    scale = np.exp(rng.uniform(np.log(2), np.log(8), n))
    predicted = ages + rng.laplace(0, scale)
    return ages, predicted, scale


def test_interval_multipliers_are_the_order_statistics_of_a_hand_computation():
    ages = np.arange(19.0)  # scores (age - predicted) / scale are 0, 1, ..., 18 ...
    predicted, scale = np.zeros(19), np.ones(19)
    rng = np.random.default_rng(0)
    order = rng.permutation(19)  # ... in any order
    lower, upper = interval_multipliers(ages[order], predicted[order], scale[order], alpha=0.1)
    # n = 19, alpha = 0.1: lower = floor(0.1 * 20) = 2nd smallest score = 1; upper = ceil(0.9 * 20) = 18th = 17
    assert (lower, upper) == (1.0, 17.0)
    calibration = Calibration(
        alpha=0.1, lower=lower, upper=upper, max_pass=0.1, margin=0.0, point_threshold=0.0, photos=19, minors=0
    )
    low, high = calibration.bounds([30.0], [2.0])
    assert (low[0], high[0]) == (32.0, 64.0)


def test_pass_cut_is_the_kth_largest_minor_score():
    ages = np.array([5, 10, 12, 15, 16, 17, 30, 40, 50] + [17] * 13, float)  # 19 minors, 3 adults
    scores = np.array([3, 9, 1, 7, 2, 8, 100, 100, 100] + [0] * 13, float)
    # max_pass 0.1 with 19 minors: k = floor(0.1 * 20) = 2 -> the 2nd largest minor score, 8
    assert pass_cut(ages, scores, max_pass=0.1) == 8.0
    margin = Calibration.fit(ages, 18 + scores, np.ones(len(ages)), alpha=0.1, max_pass=0.1, **EVERY_MINOR).margin
    assert margin == 8.0 - 0.0  # z = (predicted - 18) / scale = the scores


def test_too_few_photos_or_no_minors_give_a_clear_error_instead_of_a_bound():
    ages, predicted, scale = population(30, np.random.default_rng(1))
    with pytest.raises(CalibrationError, match="at least 49"):
        pass_cut(ages, predicted, max_pass=0.02)
    with pytest.raises(CalibrationError, match="too few"):
        interval_multipliers(ages[:10], predicted[:10], scale[:10], alpha=0.05)
    adults = ages + LEGAL_AGE
    with pytest.raises(CalibrationError, match="no minors"):
        Calibration.fit(adults, adults, np.ones(len(adults)))


def test_calibrated_intervals_reach_their_coverage_on_new_data_with_known_noise():
    rng = np.random.default_rng(2)
    calibration = Calibration.fit(*population(3000, rng), alpha=0.05, max_pass=0.02)
    ages, predicted, scale = population(100_000, rng)
    low, high = calibration.bounds(predicted, scale)
    below, above = (ages < low).mean(), (ages > high).mean()
    assert below <= 0.05 + 0.01 and above <= 0.05 + 0.01  # the guarantee (with sampling slack)
    assert below >= 0.05 - 0.015 and above >= 0.05 - 0.015  # and not by being needlessly wide
    # the noise really is Laplace: the calibrated multipliers land near the distribution's own quantiles
    assert calibration.lower == pytest.approx(nominal_quantile("laplace", 0.05), abs=0.3)
    assert calibration.upper == pytest.approx(nominal_quantile("laplace", 0.95), abs=0.3)


def test_calibrated_rules_keep_minors_pass_through_under_their_cap_on_new_data():
    rng = np.random.default_rng(3)
    interval, point = [], []
    for _ in range(40):  # the guarantee is an average over calibration sets
        calibration = Calibration.fit(*population(1000, rng), alpha=0.05, max_pass=0.05, **EVERY_MINOR)
        ages, predicted, scale = population(4000, rng)
        minors = ages < LEGAL_AGE
        asks = IdCheck("interval", calibration=calibration).asks_for_id(predicted, scale)
        interval.append((~asks[minors]).mean())
        point.append((predicted[minors] > calibration.point_threshold).mean())
    assert 0.035 < np.mean(interval) <= 0.05 + 0.005 and 0.035 < np.mean(point) <= 0.05 + 0.005


def test_bounds_never_leave_the_valid_age_range():
    calibration = Calibration(
        alpha=0.05, lower=-3.0, upper=3.0, max_pass=0.02, margin=2.0, point_threshold=20.0, photos=100, minors=10
    )
    low, high = calibration.bounds([1.0, 119.0], [5.0, 5.0])
    assert low.min() >= 0 and high.max() <= 120
    assert calibration.id_lower_bound([1.0], [5.0])[0] == 0


def test_interval_rule_needs_a_calibration():
    with pytest.raises(UserError, match="recalibrate"):
        IdCheck("interval")
    with pytest.raises(UserError, match="point"):
        IdCheck("strict")
    # one convention for every rule: a buyer passes only when the score is above the cut (id_rules.asks_unless_above)
    assert IdCheck("point", 25).asks_for_id([24.9, 25.0, 25.1]).tolist() == [True, True, False]


def two_groups(n: int, rng, hard_share: float = 0.15):
    """Minors and adults in two groups; the model guesses the "hard" group's people 8 years too old, so its
    minors' ID scores sit above the easy group's."""
    hard = rng.random(n) < hard_share
    ages = np.where(rng.random(n) < 0.5, rng.uniform(5, 18, n), rng.uniform(18, 70, n))
    scale = np.full(n, 3.0)
    predicted = ages + 8 * hard + rng.laplace(0, scale)
    return ages, predicted, scale, np.where(hard, "hard", "easy")


def test_per_group_calibration_keeps_the_hard_groups_minors_under_the_cap():
    """Averaged over many calibration draws: the pooled margin lets the hard group's minors through far above the
    cap, the worst-group margin keeps them under it, and it costs more adults asked (recorded)."""
    rng = np.random.default_rng(0)
    ages, predicted, scale, group = two_groups(200_000, rng)
    hard_minors = (group == "hard") & (ages < LEGAL_AGE)
    pooled_rates, group_rates = [], []
    for _ in range(60):
        cal = two_groups(4000, rng)
        pooled = Calibration.fit(*cal[:3], max_pass=0.02, **EVERY_MINOR)
        worst = Calibration.fit(*cal[:3], max_pass=0.02, groups=cal[3], group_columns=("difficulty",), **EVERY_MINOR)
        pooled_rates.append(np.mean(~pooled.asks_for_id(predicted[hard_minors], scale[hard_minors])))
        group_rates.append(np.mean(~worst.asks_for_id(predicted[hard_minors], scale[hard_minors])))
    assert np.mean(pooled_rates) > 0.05 and np.mean(group_rates) <= 0.02
    assert worst.margin > pooled.margin and worst.groups["columns"] == ["difficulty"]
    assert set(worst.groups["margins"]) == {"easy", "hard"}
    assert worst.groups["adults_asked"] > worst.groups["adults_asked_pooled"]
    assert Calibration.from_dict(worst.to_dict()) == worst


def test_a_group_too_small_for_the_cap_is_named_or_skipped():
    rng = np.random.default_rng(1)
    ages, predicted, scale, group = two_groups(3000, rng, hard_share=0.01)  # ~15 hard minors: too few for 2%
    with pytest.raises(CalibrationError, match="group 'hard'.*small_groups=skip"):
        Calibration.fit(ages, predicted, scale, groups=group, **EVERY_MINOR)
    skipped = Calibration.fit(ages, predicted, scale, groups=group, small_groups="skip", **EVERY_MINOR)
    assert list(skipped.groups["skipped"]) == ["hard"] and list(skipped.groups["margins"]) == ["easy"]


def test_robust_level_solves_the_binary_kl_ball():
    assert robust_level(0.02, 0.0) == 0.02
    for shift in (0.01, 0.05, 0.2):
        p = robust_level(0.02, shift)
        assert p < 0.02 and binary_kl(0.02, p) == pytest.approx(shift, rel=1e-6)


def test_the_robust_margin_holds_under_a_shift_inside_the_ball_and_the_plain_one_does_not():
    """Calibration minors' scores ~ N(0, 1); a new population's ~ N(0.2, 1): KL = 0.2^2 / 2 = 0.02."""
    rng = np.random.default_rng(2)
    shifted = rng.normal(0.2, 1, 200_000)
    plain_rates, robust_rates = [], []
    for _ in range(40):
        scores = rng.normal(0, 1, 3000)
        ages, predicted, scale = np.full(3000, 10.0), LEGAL_AGE + scores, np.ones(3000)
        plain = Calibration.fit(ages, predicted, scale, max_pass=0.02, **EVERY_MINOR)
        robust = Calibration.fit(ages, predicted, scale, max_pass=0.02, shift=0.02, **EVERY_MINOR)
        plain_rates.append(np.mean(shifted > plain.margin))
        robust_rates.append(np.mean(shifted > robust.margin))
    assert np.mean(plain_rates) > 0.025 and np.mean(robust_rates) <= 0.02
    assert robust.shift == 0.02 and robust.lower < plain.lower and robust.upper > plain.upper


def teen_population(n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages 0-60, a third of them 13-17 year olds, and a model that guesses teenagers older the older they are (+1 at
    13 to +5 at 17), as the shared folders' models do: the 17-year-olds' ID scores sit highest among minors."""
    ages = np.where(rng.random(n) < 1 / 3, rng.uniform(13, 18, n), rng.uniform(0, 60, n))
    teen_bias = np.where((ages >= 13) & (ages < 18), np.floor(ages) - 12, 0.0)
    scale = np.full(n, 3.0)
    return ages, ages + teen_bias + rng.laplace(0, scale), scale


def test_the_teen_margin_holds_its_level_pooled_and_per_year_over_many_draws():
    """Over 100 calibration draws (about 330 teenagers each): at most 2% of 13-17 year olds pass and at most 3% of
    each year (measured: 0.7% and at most 1.8%, at 17); the 13-17 cap alone lets 4.6% of 17-year-olds through, and
    the margin fitted on every minor (the old rule) 6.4%."""
    rng = np.random.default_rng(4)
    ages, predicted, scale = teen_population(300_000, rng)
    years = np.floor(ages)
    teens = (ages >= 13) & (ages < 18)
    teen_rates, year_rates, pooled_17, old_17 = [], {year: [] for year in range(13, 18)}, [], []
    for _ in range(100):
        found = Calibration.fit(*teen_population(1000, rng), max_pass=0.02, max_pass_per_year=0.03)
        passing = ~found.asks_for_id(predicted, scale)
        teen_rates.append(passing[teens].mean())
        for year in year_rates:
            year_rates[year].append(passing[years == year].mean())
        pooled = Calibration.fit(*teen_population(1000, rng), max_pass=0.02, max_pass_per_year=None)
        pooled_17.append((~pooled.asks_for_id(predicted, scale))[years == 17].mean())
        old = Calibration.fit(*teen_population(1000, rng), max_pass=0.02, **EVERY_MINOR)
        old_17.append((~old.asks_for_id(predicted, scale))[years == 17].mean())
    assert found.minor_ages == (13, 17) and found.promise["pooled"]["photos"] > 250
    assert [group["ages"] for group in found.promise["years"]] == ["13", "14", "15", "16", "17"]
    assert np.mean(teen_rates) <= 0.02 + 0.002
    assert all(np.mean(rates) <= 0.03 + 0.003 for rates in year_rates.values()), {
        year: np.mean(rates) for year, rates in year_rates.items()
    }
    assert np.mean(year_rates[17]) > np.mean(year_rates[13])  # the cap binds where the model errs most
    assert np.mean(pooled_17) > 0.03  # the 13-17 cap alone would let the 17-year-olds through above their cap
    assert np.mean(old_17) > 0.05  # fitted on children too, the margin fails the oldest teenagers


def test_too_few_teenagers_is_an_error_naming_the_number_needed():
    rng = np.random.default_rng(5)
    ages, predicted, scale = population(2000, rng)  # ages 1-80: about 120 of 13-17
    keep = ~((ages >= 13) & (ages < 18)) | (np.arange(len(ages)) % 4 == 0)  # about 30 teenagers left
    with pytest.raises(CalibrationError, match=r"calibration minors aged 13-17 are too few .* needs at least 49"):
        Calibration.fit(ages[keep], predicted[keep], scale[keep], max_pass=0.02)
    adults = ages + LEGAL_AGE
    with pytest.raises(CalibrationError, match="no minors aged 13-17"):
        Calibration.fit(adults, adults, np.ones(len(adults)))


def test_year_groups_pool_neighbours_until_each_has_enough_photos():
    years = np.array([13] * 10 + [14] * 30 + [15] * 40 + [16] * 5 + [17] * 20)
    # a 3% cut needs 33 photos: 13+14 hold 40, 15 alone 40, and 16+17's 25 join the group before them
    assert year_groups(years, 0.03) == [(13, 14), (15, 17)]
    assert year_groups(np.array([16] * 10), 0.03) == [(16, 16)]  # too few in all: one group, whose cut says so


def test_a_calibration_written_before_minor_ages_was_fitted_on_every_minor():
    found = Calibration.fit(*population(3000, np.random.default_rng(6)), max_pass=0.05)
    old = {k: v for k, v in found.to_dict().items() if k not in ("minor_ages", "max_pass_per_year", "promise")}
    assert Calibration.from_dict(old).minor_ages == ALL_MINORS and found.minor_ages == (13, 17)
    assert Calibration.from_dict(found.to_dict()) == found
