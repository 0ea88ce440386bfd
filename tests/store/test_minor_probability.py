"""p_minor is a probability a store can read as one: among buyers given 0.3, about 30% are minors, under the
buyers' age mix it assumes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from age_lightning.errors import UserError
from age_lightning.minor_probability import BUYERS, MinorProbability, non_increasing
from age_lightning.shares import BANDS, ErrorModel
from helpers.store import answer, model_file

TEEN_HEAVY = {"13-17": 0.10, "18-24": 0.30, "25-39": 0.30, "40-59": 0.20, "60+": 0.10}


def buyers(mix: dict, count: int, rng) -> np.ndarray:
    """True ages drawn by band shares, uniform within a band."""
    limits = {
        "0-12": (1, 13),
        "13-17": (13, 18),
        "18-24": (18, 25),
        "25-39": (25, 40),
        "40-59": (40, 60),
        "60+": (60, 86),
    }
    names = [band for band in BANDS if mix.get(band, 0) > 0]
    band = rng.choice(len(names), count, p=np.array([mix[n] for n in names]) / sum(mix[n] for n in names))
    low, high = np.array([limits[n] for n in names]).T
    return rng.integers(low[band], high[band]).astype(float)


def calibration_error(p: np.ndarray, minor: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins of p."""
    order = np.argsort(p)
    return sum(abs(p[b].mean() - minor[b].mean()) * len(b) for b in np.array_split(order, bins)) / len(p)


@pytest.mark.parametrize("mix", [BUYERS, TEEN_HEAVY], ids=["alcohol buyers", "teen-heavy"])
def test_p_minor_is_calibrated_under_the_mix_it_is_told(mix):
    rng = np.random.default_rng(7)
    ages = buyers(mix, 200_000, rng)
    probability = MinorProbability.fit(model_file().error_model, mix)
    p_minor, p_under_25 = probability.of(answer(ages, rng))
    assert calibration_error(p_minor, ages < 18) < 0.01
    assert calibration_error(p_under_25, ages < 25) < 0.03
    assert abs(p_minor.mean() - (ages < 18).mean()) < 0.005  # the expected count of minors is right


def test_the_wrong_mix_is_not_calibrated():
    """The mix matters: p_minor fitted for ordinary alcohol buyers undercounts a teen-heavy crowd."""
    rng = np.random.default_rng(8)
    ages = buyers(TEEN_HEAVY, 100_000, rng)
    p_minor, _ = MinorProbability.fit(model_file().error_model, BUYERS).of(answer(ages, rng))
    assert (ages < 18).mean() - p_minor.mean() > 0.03


def test_a_lower_estimate_never_makes_a_minor_less_likely():
    probability = MinorProbability.fit(model_file(photos=400).error_model)
    assert (np.diff(probability.p_minor) <= 1e-12).all() and (np.diff(probability.p_under_25) <= 1e-12).all()
    assert probability.p_minor[0] > 0.9 and probability.p_minor[-1] < 0.01


@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.integers(0, 2**32 - 1))
def test_non_increasing_is_the_closest_non_increasing_fit(values, seed):
    values = np.array(values)
    weights = np.random.default_rng(seed).uniform(0.1, 2, len(values))
    fitted = non_increasing(values, weights)
    assert (np.diff(fitted) <= 1e-12).all()
    assert np.isclose((fitted * weights).sum(), (values * weights).sum())  # PAVA keeps the weighted mean
    if (np.diff(values) <= 0).all():
        assert np.allclose(fitted, values)


def test_a_mix_the_labeled_photos_cannot_speak_for_is_a_clear_error():
    adults = ErrorModel.fit([30.0, 40.0, 50.0, 70.0, 20.0], [31.0, 38.0, 52.0, 66.0, 24.0])
    with pytest.raises(UserError, match=r"none aged \['13-17'\]"):
        MinorProbability.fit(adults, BUYERS)
    with pytest.raises(UserError, match="unknown age bands"):
        MinorProbability.fit(model_file().error_model, {"teens": 1.0})
