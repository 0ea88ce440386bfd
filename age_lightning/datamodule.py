"""LightningDataModule over a labeled-photo folder: labels.csv (file_name, real_age) + an image folder."""

import logging
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from age_lightning import cache
from age_lightning.images import load_rgb
from age_lightning.labels import DatasetError, LabelsSpec, format_problems, read_labels, write_problems
from age_lightning.preprocess import EVAL_CROP_RATIO
from age_lightning.splits import assign_splits
from age_lightning.synthetic import ensure_synthetic_dataset
from age_lightning.transforms import eval_transform, train_transform

log = logging.getLogger(__name__)

INVALID_ROWS_FILE = "invalid_rows.csv"


def seeded(transform, image, seed: int | None):
    """transform(image) with its random choices drawn from `seed`; the global RNG state is left as it was."""
    if seed is None:
        return transform(image)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return transform(image)


class AgeDataset(Dataset):
    """(image tensor, age in years as float32) for each row of a validated labels table."""

    def __init__(self, table: pd.DataFrame, transform, decode_size: int | None = None):
        self.paths = table["path"].tolist()
        self.ages = torch.tensor(table["age"].to_numpy(), dtype=torch.float32)
        self.transform = transform
        self.decode_size = decode_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]):
        """key: an index, or (index, seed) from EpochShuffle to make the random augmentation reproducible."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        try:
            image = load_rgb(self.paths[index], min_size=self.decode_size)
        except Exception as error:  # the file changed since validation: say which one
            raise RuntimeError(f"could not read {self.paths[index]}: {error}") from error
        return seeded(self.transform, image, seed), self.ages[index]


class CachedAgeDataset(Dataset):
    """(uint8 image tensor (3, side, side) from the decoded-image cache, age[, augmentation seed]): workers only
    slice an array. The transforms run later on whole batches, on the accelerator
    (AgeDataModule.on_after_batch_transfer), each image's augmentation seeded by EpochShuffle as without the cache.
    """

    def __init__(self, table: pd.DataFrame, array):
        self.rows = table["cache_row"].to_numpy()
        self.ages = torch.tensor(table["age"].to_numpy(), dtype=torch.float32)
        self.array = array

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | tuple[int, int]):
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = torch.from_numpy(self.array[self.rows[index]].copy()).permute(2, 0, 1)
        return (image, self.ages[index]) if seed is None else (image, self.ages[index], seed)


class EpochShuffle(Sampler):
    """Yields (index, sample seed) in an order drawn from (seed, epoch); the sample seed drives that sample's
    augmentation. Epoch k's batches then never depend on earlier epochs or on the number of workers, so a run
    resumed from a checkpoint continues exactly like an uninterrupted one. Lightning calls set_epoch."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + 1000 * self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        seeds = torch.randint(0, 2**62, (self.size,), generator=generator).tolist()
        return iter(zip(order, seeds))


class AgeDataModule(L.LightningDataModule):
    def __init__(self, root: str, labels_file: str = "labels.csv", image_dir: str = "final_files",
                 file_column: str = "file_name", age_column: str = "real_age", sep: str = ",",
                 split: dict | None = None, on_invalid: str = "error", check_images: bool = True,
                 image_size: int = 224, augmentation: dict | None = None, batch_size: int = 32,
                 num_workers: int = 0, pin_memory: bool = False, persistent_workers: bool = False,
                 report_dir: str | None = None, synthetic: dict | None = None, cache: bool = False,
                 cache_dir: str | None = None, seed: int = 0):
        """
        split: {protocol: auto|random|column|seed_notebook, fractions: {train, val, test}, seed}.
        on_invalid: "error" stops on any bad row; "skip" drops bad rows and writes them to report_dir.
        augmentation: keyword arguments of `transforms.train_transform` (crop_scale, hflip, rotation, color_jitter).
        seed: the training shuffle of epoch k is seeded with (seed, k).
        synthetic: when set, `prepare_data` first generates a demo dataset at `root` with these arguments.
        cache: decode each image once into a memory-mapped array in cache_dir (see cache.py); batches are then
          transformed on the accelerator.
        """
        super().__init__()
        if on_invalid not in ("error", "skip"):
            raise ValueError(f"data.on_invalid must be 'error' or 'skip', got {on_invalid!r}")
        self.save_hyperparameters(logger=False)
        self.spec = LabelsSpec(root=str(root), labels_file=labels_file, image_dir=image_dir,
                               file_column=file_column, age_column=age_column, sep=sep)
        self.split = {"protocol": "auto", "fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "seed": 0,
                      **(split or {})}
        self.train_transform = train_transform(image_size, **(augmentation or {}))
        self.eval_transform = eval_transform(image_size)
        self.tables: dict[str, pd.DataFrame] = {}
        self.cached = None  # the decoded-image array when cache_dir is set
        self._valid_rows: pd.DataFrame | None = None  # load_table's result, validated once per process

    def prepare_data(self) -> None:
        """Runs once per node (local rank 0) before setup: generate the demo data, build the image cache."""
        if self.hparams.synthetic:
            ensure_synthetic_dataset(self.spec.root, **self.hparams.synthetic)
        if self.hparams.cache:
            self._load_cache(self.load_table())

    def _load_cache(self, table: pd.DataFrame):
        if not self.hparams.cache_dir:
            raise DatasetError("data.cache=true needs data.cache_dir")
        return cache.load_or_build(table["path"].tolist(), self.hparams.cache_dir, self.decode_size,
                                   self.hparams.image_size)

    def setup(self, stage: str | None = None) -> None:
        if self.tables:
            return
        table = self.load_table()
        if self.hparams.cache:
            self.cached = self._load_cache(table)
            table["cache_row"] = range(len(table))
        for name in ("train", "val", "test"):
            self.tables[name] = table[table["split"] == name].reset_index(drop=True)
        sizes = {name: len(t) for name, t in self.tables.items()}
        log.info("Split %s (protocol %s): %s", self.spec.labels_path, self.split["protocol"], sizes)
        if stage in ("fit", None) and (sizes["train"] == 0 or sizes["val"] == 0):
            raise DatasetError(f"training needs non-empty train and val splits, got {sizes}")

    def load_table(self) -> pd.DataFrame:
        """All valid rows with their split; applies the on_invalid policy to the problems found.

        Validation (which decodes every image) runs once per process: prepare_data and setup share the result.
        """
        if self._valid_rows is None:
            self._valid_rows = self._validate()
        return self._valid_rows.copy()

    def _validate(self) -> pd.DataFrame:
        table, problems = read_labels(self.spec, check_images=self.hparams.check_images)
        if problems and self.hparams.on_invalid == "error":
            raise DatasetError(format_problems(self.spec, problems) +
                               "\nFix these rows, or set data.on_invalid=skip to train without them.")
        if problems:
            report = Path(self.hparams.report_dir or ".") / INVALID_ROWS_FILE
            write_problems(problems, report)
            log.warning("Skipping %d invalid row(s) of %s (data.on_invalid=skip); list written to %s",
                        len(problems), self.spec.labels_path, report)
        if table.empty:
            raise DatasetError(f"no valid rows left in {self.spec.labels_path}")
        total_rows = len(table) + len({p.line for p in problems})
        table["split"] = assign_splits(table, self.split["protocol"], dict(self.split["fractions"]),
                                       self.split["seed"], total_rows)
        return table

    @property
    def train_age_stats(self) -> tuple[float, float]:
        """Mean and standard deviation of the training ages (the regression target's normalization)."""
        ages = self.tables["train"]["age"]
        return float(ages.mean()), float(max(ages.std(ddof=0), 1.0))

    def baseline_mae(self, split: str) -> float:
        """MAE of always predicting the training mean age: the bar a model has to beat."""
        mean, _ = self.train_age_stats
        return float((self.tables[split]["age"] - mean).abs().mean())

    def table(self, split: str) -> pd.DataFrame:
        """The rows of one split, or of all splits for "all"."""
        if split == "all":
            return pd.concat(self.tables.values(), ignore_index=True)
        if split not in self.tables:
            raise DatasetError(f"unknown split {split!r}; use train, val, test or all")
        return self.tables[split]

    @property
    def decode_size(self) -> int:
        """Images are decoded (and cached) with the shorter side at this size: the evaluation resize."""
        return round(self.hparams.image_size / EVAL_CROP_RATIO)

    def dataset(self, split: str) -> Dataset:
        """Training split: augmented; any other: the evaluation transform (both deferred when cached)."""
        if self.cached is not None:
            return CachedAgeDataset(self.table(split), self.cached)
        transform = self.train_transform if split == "train" else self.eval_transform
        return AgeDataset(self.table(split), transform, decode_size=self.decode_size)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """With the cache, batches arrive as uint8 squares: transform them here, on the accelerator.
        Training batches (from EpochShuffle) carry a seed per image for its augmentation."""
        images, ages, *seeds = batch
        if self.cached is None or images.dtype != torch.uint8:
            return batch
        if seeds:
            return torch.stack([seeded(self.train_transform, image, seed)
                                for image, seed in zip(images, seeds[0].tolist())]), ages
        return self.eval_transform(images), ages

    def eval_images(self, split: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `count` images of a split, evaluation-transformed, and their ages (for display)."""
        if self.cached is None:
            dataset = AgeDataset(self.table(split), self.eval_transform, decode_size=self.decode_size)
        else:
            dataset = CachedAgeDataset(self.table(split), self.cached)
        images, ages = zip(*(dataset[i] for i in range(min(count, len(dataset)))))
        images = torch.stack(images)
        return (self.eval_transform(images) if images.dtype == torch.uint8 else images), torch.stack(ages)

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        return self.loader(dataset, sampler=EpochShuffle(len(dataset), self.hparams.seed),
                           drop_last=len(dataset) > self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("test"))

    def loader(self, dataset: Dataset, sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(dataset, batch_size=self.hparams.batch_size, sampler=sampler, drop_last=drop_last,
                          num_workers=workers, pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),
                          persistent_workers=self.hparams.persistent_workers and workers > 0)
