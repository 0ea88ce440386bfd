"""Conformal calibration: the bounds against hand computations and their guarantees on data with known noise."""

import numpy as np
import pytest

from age_lightning.ages import LEGAL_AGE
from age_lightning.calibration import (
    Calibration,
    CalibrationError,
    binary_kl,
    interval_multipliers,
    nominal_quantile,
    pass_cut,
    robust_level,
)
from age_lightning.errors import UserError
from age_lightning.id_rules import IdCheck


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
    margin = Calibration.fit(ages, 18 + scores, np.ones(len(ages)), alpha=0.1, max_pass=0.1).margin
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
        calibration = Calibration.fit(*population(1000, rng), alpha=0.05, max_pass=0.05)
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
        pooled = Calibration.fit(*cal[:3], max_pass=0.02)
        worst = Calibration.fit(*cal[:3], max_pass=0.02, groups=cal[3], group_columns=("difficulty",))
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
        Calibration.fit(ages, predicted, scale, groups=group)
    skipped = Calibration.fit(ages, predicted, scale, groups=group, small_groups="skip")
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
        plain = Calibration.fit(ages, predicted, scale, max_pass=0.02)
        robust = Calibration.fit(ages, predicted, scale, max_pass=0.02, shift=0.02)
        plain_rates.append(np.mean(shifted > plain.margin))
        robust_rates.append(np.mean(shifted > robust.margin))
    assert np.mean(plain_rates) > 0.025 and np.mean(robust_rates) <= 0.02
    assert robust.shift == 0.02 and robust.lower < plain.lower and robust.upper > plain.upper
