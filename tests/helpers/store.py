"""A synthetic model and labeled photos for the store's tests: answers with a known error, no network, no torch."""

import numpy as np

from age_lightning.deploy.model_file import ModelFile
from age_lightning.input_spec import InputSpec
from age_lightning.shares import ErrorModel
from age_lightning.store.generator import Photos


def answer(true_age, rng) -> np.ndarray:
    """A model's answers: regression to the middle and an error growing with age, as a trained model's."""
    true_age = np.asarray(true_age, float)
    return np.clip(true_age + 0.15 * (35 - true_age) + rng.normal(0, 2.5 + 0.08 * true_age), 1, 100)


def labeled(count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    true_age = rng.integers(1, 86, count).astype(float)
    return true_age, answer(true_age, rng)


def model_file(seed: int = 0, photos: int = 3000) -> ModelFile:
    """A point model whose error model comes from `photos` labeled photos."""
    true_age, predicted = labeled(photos, np.random.default_rng(seed))
    return ModelFile(InputSpec(64), error_model=ErrorModel.fit(true_age, predicted))


def photos(seed: int = 1, count: int = 4000) -> Photos:
    """Labeled photos the model never trained on, answered."""
    true_age, predicted = labeled(count, np.random.default_rng(seed))
    return Photos(np.array([f"photo{i}.jpg" for i in range(count)]), true_age, predicted, None)
