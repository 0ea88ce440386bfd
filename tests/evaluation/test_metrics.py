import json
from dataclasses import asdict

import numpy as np
import pytest

from age_lightning.ages import age_band
from age_lightning.evaluation.metrics import (
    age_check_curve,
    age_check_metrics,
    band_metrics,
    evaluation_metrics,
    flat_scalars,
    minor_probability_metrics,
    regression_metrics,
    reliability,
)
from age_lightning.evaluation.outcomes import Rate
from age_lightning.shares import ErrorModel
from helpers.store import answer


def test_regression_metrics_on_hand_made_predictions():
    m = regression_metrics([10, 20, 30, 40], [12, 20, 24, 41])  # errors +2, 0, -6, +1
    assert m["n"] == 4 and m["mae"] == pytest.approx(2.25) and m["bias"] == pytest.approx(-0.75)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 0 + 36 + 1) / 4)) and m["median_abs_error"] == pytest.approx(1.5)
    assert m["within_5"] == pytest.approx(0.75)


def test_bands_split_fractional_ages_once_and_empty_bands_are_none():
    assert list(age_band([12.5, 13, 17.9, 18, 24.99, 25, 60, 116])) == [
        "0-12",
        "13-17",
        "13-17",
        "18-24",
        "18-24",
        "25-39",
        "60+",
        "60+",
    ]
    bands = band_metrics([5, 15, 16], [7, 11, 16])
    assert bands["0-12"] == {"n": 1, "mae": 2.0, "bias": 2.0}
    assert bands["13-17"] == {"n": 2, "mae": 2.0, "bias": -2.0}
    assert bands["60+"] == {"n": 0, "mae": None, "bias": None}


def test_clopper_pearson_upper_bound_matches_known_values():
    # zero events: the exact two-sided 95% upper bound is 1 - 0.025 ** (1 / n)
    assert Rate.of(0, 300).upper == pytest.approx(1 - 0.025 ** (1 / 300), rel=1e-6)
    # 1 of 10: the textbook Clopper-Pearson interval is (0.0025, 0.4450)
    assert Rate.of(1, 10).upper == pytest.approx(0.4450, abs=1e-4)
    assert asdict(Rate.of(0, 0)) == {"count": 0, "n": 0, "share": None, "upper": None}


def test_age_check_counts_minors_passing_and_adults_asked():
    real = [10, 15, 16, 17, 20, 30, 40, 50]
    predicted = [12, 26, 14, 30, 22, 24, 45, 52]
    check = age_check_metrics(real, predicted, threshold=25)
    assert check["minors_pass_through"]["count"] == 2 and check["minors_pass_through"]["n"] == 4
    assert check["teens_pass_through"]["count"] == 2 and check["teens_pass_through"]["n"] == 3
    assert check["adult_friction"]["count"] == 1 and check["adult_friction"]["n"] == 3
    assert check["young_adults_asked"] == asdict(Rate.of(1, 1))


def test_threshold_search_finds_smallest_threshold_meeting_target():
    # 400 minors predicted 10..29, adults predicted 20..59: only T >= 29 lets no minor through (a buyer passes only
    # when predicted above the threshold)
    real = np.r_[np.full(400, 15.0), np.full(400, 40.0)]
    predicted = np.r_[np.linspace(10, 29, 400), np.linspace(20, 59, 400)]
    search = age_check_metrics(real, predicted, target=0.01)["threshold_for_target"]
    assert search["threshold"] == 29.0 and search["minors_upper"] == pytest.approx(1 - 0.025 ** (1 / 400))
    assert search["adult_friction"]["count"] == int((np.linspace(20, 59, 400) <= 29).sum())
    # too few minors: even zero passes cannot bound the share below 1%
    few = age_check_metrics([15, 40], [10, 40], target=0.01)["threshold_for_target"]
    assert few["threshold"] is None and "not reachable: with 1 minors" in few["reason"]


def test_no_minors_is_not_measurable_and_json_has_no_nan():
    metrics = evaluation_metrics([30, 40, 70], [31, 38, 60])
    assert metrics["age_check"] == {
        "measurable": False,
        "reason": "not measurable: no minors in this set",
        "threshold": 25,
    }
    json.dumps(metrics, allow_nan=False)  # raises on NaN or inf


def test_curve_is_monotone_and_flat_scalars_skip_none():
    curve = age_check_curve([10, 15, 30, 40], [20, 28, 22, 50])
    assert curve["minors_pass_through"] == sorted(curve["minors_pass_through"], reverse=True)
    assert curve["adult_friction"] == sorted(curve["adult_friction"])
    scalars = flat_scalars({"mae": 1.0, "bands": {"60+": {"mae": None}}, "ok": True}, "test")
    assert scalars == {"test/mae": 1.0}


def test_reliability_tells_a_calibrated_probability_from_an_overconfident_one():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 50_000)
    event = rng.random(len(p)) < p
    calibrated = reliability(p, event)
    overconfident = reliability(np.clip(1.6 * (p - 0.5) + 0.5, 0, 1), event)
    assert calibrated["ece"] < 0.01 < 0.05 < overconfident["ece"]
    assert calibrated["brier"] == pytest.approx(1 / 6, abs=0.005)  # E[p(1-p)] for p uniform
    assert sum(b["n"] for b in calibrated["bins"]) == len(p) and len(calibrated["bins"]) == 10


def test_p_minor_metrics_per_subset_and_a_band_the_error_model_lacks():
    rng = np.random.default_rng(4)
    real = rng.integers(1, 86, 6000).astype(float)
    predicted = answer(real, rng)
    error_model = ErrorModel.fit(real[:3000], predicted[:3000])
    found = minor_probability_metrics(real[3000:], predicted[3000:], error_model, {"young": real[3000:] < 40})
    assert set(found) == {"all", "young"} and found["young"]["n"] == (real[3000:] < 40).sum()
    assert found["all"]["p_minor"]["ece"] < 0.03 and found["young"]["p_minor"]["ece"] < 0.05
    adults = ErrorModel.fit(real[real >= 25][:500], predicted[real >= 25][:500])
    assert "none aged" in minor_probability_metrics(real, predicted, adults)["all"]["note"]
