"""The shift alarm's evidence (age_lightning/shift.py), on generated streams: how often it alarms where nothing
changed (over many draws, not one seed), how soon where the photos turn dark and noisy, and that the changes it
must not mind (brighter, sharper) leave it quiet."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from age_lightning.ages import AGE_BANDS
from age_lightning.input_spec import InputSpec, photo_square
from age_lightning.shift import DELTA, EPSILONS, ShiftReference, TillShift, jumper_step, photo_statistics
from helpers import ASTRONAUT

COVARIANCE = 0.04 * np.array([[1, 0.5, -0.3], [0.5, 1, -0.2], [-0.3, -0.2, 1]])
CENTER = np.array([0.0, 1.0, 1.0])


def photos(rng, count: int, move=(0.0, 0.0, 0.0), ages=(0, 90)) -> tuple[np.ndarray, np.ndarray]:
    """Statistics and predicted ages of `count` photos; faces answered over 60 look flatter and rougher (as real
    ones do)."""
    age = rng.uniform(*ages, count)
    by_age = np.outer(age >= 60, [0.0, -0.1, 0.2])
    return rng.multivariate_normal(CENTER + np.array(move), COVARIANCE, count) + by_age, age


def first_alarms(draws: int, reference_photos: int, stream_photos: int, seed=0, **stream) -> np.ndarray:
    """For each draw (a fresh reference and a stream), the index of the photo that starts the alarm, or -1."""
    rng = np.random.default_rng(seed)
    capital = np.full((draws, len(EPSILONS)), 1 / len(EPSILONS))
    first = np.full(draws, -1)
    p = np.stack(
        [
            ShiftReference.fit(*photos(rng, reference_photos)).p_values(*photos(rng, stream_photos, **stream), rng)
            for _ in range(draws)
        ]
    )
    for photo in range(stream_photos):
        capital = jumper_step(capital, p[:, photo])
        first[(capital.sum(axis=1) >= 1 / DELTA) & (first < 0)] = photo
    return first


def test_where_nothing_changed_it_alarms_in_at_most_delta_of_the_streams():
    """400 draws of a 1,000-photo reference and a 3,000-photo stream from the same distribution: at most
    delta = 1% alarm in expectation (Ville); 10 or more of 400 would happen with probability 0.3% at 1%."""
    assert (first_alarms(400, 1000, 3000) >= 0).sum() < 10


def test_dark_noisy_photos_alarm_within_a_few_hundred():
    first = first_alarms(50, 1000, 600, move=(-0.1, -0.05, 0.05), seed=1)  # half a spread darker, flatter, rougher
    assert (first >= 0).all() and np.median(first) < 300


@pytest.mark.parametrize(
    "stream",
    [{"move": (0.2, 0.0, 0.0)}, {"move": (0.0, 0.2, -0.2)}, {"ages": (60, 90)}, {"ages": (0, 12)}],
    ids=["brighter", "sharper", "only pensioners", "only children"],
)
def test_harmless_changes_stay_quiet(stream):
    """A better camera, or other buyers: pensioners' faces are flatter and rougher, but each face is compared with
    the reference photos answered in its band of age. A band's reference is a sample: with 4,000 reference photos
    (the calibration and validation splits), 300-1,300 per band."""
    assert (first_alarms(100, 4000, 2000, seed=2, **stream) >= 0).sum() <= 3


def test_the_statistics_see_a_dim_noisy_camera_not_a_blurred_one():
    spec = InputSpec(64)
    photo = Image.open(ASTRONAUT).convert("RGB")

    def statistics(image: Image.Image) -> np.ndarray:
        return photo_statistics(spec.normalize(photo_square(image, spec.side))[None])[0]

    rng = np.random.default_rng(0)
    dim = np.asarray(photo, np.float32) * 0.35 + rng.normal(0, 12, np.asarray(photo).shape)
    dim_photo = Image.fromarray(np.clip(dim, 0, 255).astype(np.uint8))
    reference = ShiftReference(statistics(photo), np.full(3, 0.05), ())
    assert reference.strangeness_of(statistics(dim_photo)) > 5
    assert reference.strangeness_of(statistics(photo.filter(ImageFilter.GaussianBlur(2)))) < 1


def test_a_till_keeps_its_alarm_until_cleared_and_the_reference_round_trips():
    till = TillShift()
    started = [till.observe(0.001) for _ in range(20)]
    assert started.count(True) == 1 and till.alarm and till.evidence >= 1 / DELTA
    assert not till.observe(0.9) and till.alarm
    statistics, ages = photos(np.random.default_rng(3), 600)
    reference = ShiftReference.fit(statistics, ages)
    again = ShiftReference.from_dict(reference.to_dict())
    assert np.allclose(again.center, reference.center, atol=1e-6) and len(again.strangeness) == len(AGE_BANDS)
    for band, first in enumerate(AGE_BANDS.values()):  # each band's own photos, or every photo where too few
        own = ((ages >= first) & (ages < ([*AGE_BANDS.values(), 999][band + 1]))).sum()
        assert len(again.strangeness[band]) == (own if own >= 30 else 600)
    older = ShiftReference.from_dict({"center": [0.1, 0.8, 0.3], "spread": [0.5, 0.2, 0.1], "strangeness": [0, 1]})
    assert all(list(band) == [0, 1] for band in older.strangeness)  # written before the bands: one list for all


def test_a_long_shifted_stream_never_overflows_and_stays_alarmed():
    capital = np.full(len(EPSILONS), 1 / len(EPSILONS))
    for _ in range(20_000):  # p near 0 on every photo: capital would reach 2 ** 20,000 unchecked
        capital = jumper_step(capital, np.array(0.0))
    assert np.isfinite(capital).all() and 1 / DELTA <= capital.sum() <= len(EPSILONS) * 1e12
