"""The squares cache: built once, reused, invalidated by changes, and training with it equals training without."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from age_lightning.data import cache
from age_lightning.data.datamodule import AgeDataModule
from age_lightning.data.synthetic import ensure_synthetic_dataset
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec
from age_lightning.tasks.train import train
from helpers import compose_config, tiny_train_overrides

NO_FACES = FacePolicy()


def make_photos(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"{i}.jpg"
        Image.effect_noise(size, 50 + i).convert("RGB").save(path, quality=90)
        paths.append(str(path))
    return paths


def test_cache_is_built_once_reused_and_invalidated(tmp_path, monkeypatch):
    paths = make_photos(tmp_path / "photos", [(50, 50), (80, 40), (30, 90)])
    first, faces = cache.load_or_build(paths, tmp_path / "cache", InputSpec(32, NO_FACES))
    assert faces is None and first.shape == (3, 37, 37, 3) and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    stamp = os.stat(next((tmp_path / "cache").glob("*.npy"))).st_mtime_ns
    again, _ = cache.load_or_build(paths, tmp_path / "cache", InputSpec(32, NO_FACES))
    assert np.array_equal(first, again) and os.stat(next((tmp_path / "cache").glob("*.npy"))).st_mtime_ns == stamp
    monkeypatch.chdir(tmp_path)  # the same files named relatively share the entry
    cache.load_or_build([os.path.relpath(path) for path in paths], tmp_path / "cache", InputSpec(32, NO_FACES))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1

    Image.new("RGB", (50, 50), (255, 0, 0)).save(paths[0])  # a changed file gets a new cache entry
    os.utime(paths[0], ns=(stamp + 10**9, stamp + 10**9))
    changed, _ = cache.load_or_build(paths, tmp_path / "cache", InputSpec(32, NO_FACES))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2 and changed[0, 0, 0].tolist() == [254, 0, 0]
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_cached_eval_tensors_equal_the_uncached_path(tmp_path):
    root = tmp_path / "faces"
    ensure_synthetic_dataset(root, num_images=24, image_size=40, seed=1)
    make_photos(root / "final_files", [(61, 40), (40, 75)])  # non-square photos overwrite 0.jpg and 1.jpg
    for i in range(2):
        os.replace(root / "final_files" / f"{i}.jpg", root / "final_files" / f"{i:06d}.jpg")
    split = {"fractions": {"train": 0.5, "val": 0.5, "test": 0.0}}
    plain = AgeDataModule(root=str(root), image_size=32, split=split)
    cached = AgeDataModule(root=str(root), image_size=32, split=split, cache=True, cache_dir=str(tmp_path / "c"))
    for datamodule in (plain, cached):
        datamodule.setup("fit")
    for split_name in ("train", "val"):
        expected, ages = plain.eval_images(split_name, 12)
        actual, cached_ages = cached.eval_images(split_name, 12)
        assert torch.equal(ages, cached_ages)
        torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_training_with_the_cache_equals_training_without(tmp_path):
    """Same squares, same seeded batch augmentation: the cache changes the speed, never the result."""
    runs = [
        train(
            compose_config(
                "train",
                tiny_train_overrides(
                    tmp_path / name,
                    f"data.root={tmp_path}/faces",
                    f"data.cache={name == 'cached'}",
                    "augmentation=strong",
                    "trainer.max_epochs=2",
                ),
            )
        )
        for name in ("plain", "cached")
    ]
    assert list((tmp_path / "cached" / "cache" / "squares").glob("*.npy"))
    assert not (tmp_path / "plain" / "cache" / "squares").exists()
    for key in ("train/loss", "val/mae", "test/mae"):
        assert runs[0]["metrics"][key] == runs[1]["metrics"][key], key


def test_cached_augmentation_depends_only_on_seed_and_epoch(tmp_path):
    """Resumes are exact with the cache too: a training batch's augmentation ignores the global RNG state."""
    root = ensure_synthetic_dataset(tmp_path / "faces", num_images=24, image_size=40, seed=1)
    datamodule = AgeDataModule(
        root=str(root),
        image_size=32,
        loader={"batch_size": 8},
        seed=3,
        cache=True,
        cache_dir=str(tmp_path / "c"),
        augmentation={"crop_scale": (0.5, 1.0), "hflip": 0.5, "rotation": 10, "color_jitter": 0.3},
    )
    datamodule.setup("fit")

    def first_batch(epoch: int, global_seed: int) -> torch.Tensor:
        loader = datamodule.train_dataloader()
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(global_seed)
        images, ages = datamodule.on_after_batch_transfer(next(iter(loader)), 0)
        assert images.dtype == torch.float32 and images.shape == (8, 3, 32, 32) and ages.shape == (8,)
        return images

    assert torch.equal(first_batch(1, global_seed=0), first_batch(1, global_seed=123))
    assert not torch.equal(first_batch(1, global_seed=0), first_batch(2, global_seed=0))
