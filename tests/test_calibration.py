"""Conformal calibration: the bounds against hand computations and their guarantees on data with known noise."""

import numpy as np
import pytest

from age_lightning.ages import LEGAL_AGE
from age_lightning.calibration import (
    Calibration,
    CalibrationError,
    IdCheck,
    interval_multipliers,
    nominal_quantile,
    pass_cut,
)
from age_lightning.errors import UserError


def population(n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages 1-80 and a model that knows each photo's noise: predicted = true + Laplace noise of a known scale
    that depends on the photo (sharp or blurry: 2 to 8 years)."""
    ages = rng.uniform(1, 80, n)
    scale = np.exp(rng.uniform(np.log(2), np.log(8), n))
    predicted = ages + rng.laplace(0, scale)
    return ages, predicted, scale


def test_interval_multipliers_are_the_order_statistics_of_a_hand_computation():
    ages = np.arange(19.0)                  # scores (age - predicted) / scale are 0, 1, ..., 18 ...
    predicted, scale = np.zeros(19), np.ones(19)
    rng = np.random.default_rng(0)
    order = rng.permutation(19)             # ... in any order
    lower, upper = interval_multipliers(ages[order], predicted[order], scale[order], alpha=0.1)
    # n = 19, alpha = 0.1: lower = floor(0.1 * 20) = 2nd smallest score = 1; upper = ceil(0.9 * 20) = 18th = 17
    assert (lower, upper) == (1.0, 17.0)
    calibration = Calibration(0.1, lower, upper, 0.1, 0.0, 0.0, 19, 0)
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
    assert below <= 0.05 + 0.01 and above <= 0.05 + 0.01   # the guarantee (with sampling slack)
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
    calibration = Calibration(0.05, -3.0, 3.0, 0.02, 2.0, 20.0, 100, 10)
    low, high = calibration.bounds([1.0, 119.0], [5.0, 5.0])
    assert low.min() >= 0 and high.max() <= 120
    assert calibration.id_lower_bound([1.0], [5.0])[0] == 0


def test_interval_rule_needs_a_calibration():
    with pytest.raises(UserError, match="recalibrate"):
        IdCheck("interval")
    with pytest.raises(UserError, match="point"):
        IdCheck("strict")
    assert IdCheck("point", 25).asks_for_id([24.9, 25.0]).tolist() == [True, False]
