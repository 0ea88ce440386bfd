"""LightningDataModule over a labeled-photo folder: labels.csv (file_name, real_age) + an image folder."""

import logging
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from age_lightning.data import cache
from age_lightning.data.labels import (
    LabelsSpec,
    Problem,
    format_problems,
    label_columns,
    read_labels,
    write_problems,
)
from age_lightning.data.sampling import EpochShuffle, balance_weights
from age_lightning.data.splits import SPLITS, SplitSettings, assign_splits
from age_lightning.data.transforms import BatchAugmentation, eval_batch
from age_lightning.errors import DatasetError
from age_lightning.faces import NO_FACE, FacePolicy
from age_lightning.input_spec import InputSpec
from age_lightning.preprocess import DEFAULT_IMAGE_SIZE, DEFAULT_VIEW

log = logging.getLogger(__name__)

INVALID_ROWS_FILE = "invalid_rows.csv"


class SquareDataset(Dataset):
    """(uint8 square (3, side, side), age in years[, augmentation seed]) for each row of a validated table.

    Squares come from the cache array when there is one, else each photo is decoded here (in a worker).
    All transforms run later, on whole batches (AgeDataModule.on_after_batch_transfer).
    """

    def __init__(self, table: pd.DataFrame, make_square: cache.SquareMaker, squares: np.ndarray | None = None):
        self.paths = table["path"].tolist()
        self.rows = table["cache_row"].to_numpy() if squares is not None else None
        self.ages = torch.tensor(table["age"].to_numpy(), dtype=torch.float32)
        self.make_square, self.squares = make_square, squares

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]):
        """key: an index, or (index, seed) from EpochShuffle to make the random augmentation reproducible."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        if self.squares is not None:
            square = self.squares[self.rows[index]]
        else:
            try:
                square = self.make_square(self.paths[index])[0]
            except Exception as error:  # the file changed since validation: say which one
                raise RuntimeError(f"could not read {self.paths[index]}: {error}") from error
        image = torch.from_numpy(np.array(square)).permute(2, 0, 1)  # a writable copy
        return (image, self.ages[index]) if seed is None else (image, self.ages[index], seed)


class AgeDataModule(L.LightningDataModule):
    def __init__(
        self,
        root: str | list[str],
        labels_file: str = "labels.csv",
        image_dir: str = "final_files",
        file_column: str = "file_name",
        age_column: str = "real_age",
        sep: str = ",",
        split: dict | None = None,
        on_invalid: str = "error",
        check_images: bool = True,
        image_size: int = DEFAULT_IMAGE_SIZE,
        view: float | None = None,
        augmentation: dict | None = None,
        faces: dict | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        report_dir: str | None = None,
        cache: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
        balance: dict | None = None,
        progressive: dict | None = None,
    ):
        """
        root: a labeled-photo folder, or several (a list) that are validated and split each on its own and trained
          on together; every row keeps its folder's name as `source`.
        split: {protocol: auto|random|column|seed_notebook, fractions: {train, val, calibration, test}, seed}.
        on_invalid: "error" stops on any bad row; "skip" drops bad rows and writes them to report_dir.
        view: the answer's view, a fraction of the square's side (`preprocess.view_taps`); None:
          preprocess.DEFAULT_VIEW, recorded as its value so that the checkpoint keeps it.
        augmentation: keyword arguments of `transforms.BatchAugmentation` (crop_scale, hflip, rotation,
          color_jitter).
        faces: the face policy (`faces.FacePolicy` fields); mode align detects and aligns every photo once, into
          the cache, and a photo without a face is an invalid row.
        seed: the training shuffle of epoch k is seeded with (seed, k).
        balance: {by: [source, age_band], power, cap, source_weights} draws training photos with
          `sampling.balance_weights` (by: [] and no source_weights shows every photo once per epoch).
        cache: keep the photos' squares in a memory-mapped array in cache_dir (always on with faces.mode=align).
        progressive: {size, epochs}: progressive resizing, the first `epochs` training passes at `size` px (the same
          crops with fewer pixels: cheaper passes), the rest and every evaluation at image_size.
        """
        super().__init__()
        if on_invalid not in ("error", "skip"):
            raise ValueError(f"data.on_invalid must be 'error' or 'skip', got {on_invalid!r}")
        self.save_hyperparameters(logger=False)
        self.hparams.view = DEFAULT_VIEW if view is None else view
        roots = [root] if isinstance(root, (str, Path)) else list(root)
        self.specs = [
            LabelsSpec(
                root=str(r),
                labels_file=labels_file,
                image_dir=image_dir,
                file_column=file_column,
                age_column=age_column,
                sep=sep,
            )
            for r in roots
        ]
        names = [Path(r).name for r in roots]
        self.sources = names if len(set(names)) == len(names) else [str(r) for r in roots]
        self.split = asdict(SplitSettings(**(split or {})))
        self.spec = InputSpec(image_size, FacePolicy.from_dict(faces), self.hparams.view)
        self.augmentation = BatchAugmentation(image_size, self.hparams.view, **(augmentation or {}))
        self.progressive = dict(progressive or {"size": image_size, "epochs": 0})
        size, epochs = self.progressive.get("size", 0), self.progressive.get("epochs", -1)
        if set(self.progressive) != {"size", "epochs"} or size < 1 or epochs < 0:
            raise ValueError(f"data.progressive must be {{size: >= 1, epochs: >= 0}}, got {progressive}")
        self.uses_cache = cache or self.spec.faces.aligns
        self.tables: dict[str, pd.DataFrame] = {}
        self.squares: np.ndarray | None = None  # the cache array
        self.problems: dict[str, list[Problem]] = {}  # labels.csv path -> its invalid rows
        self._valid_rows: pd.DataFrame | None = None  # load_table's result, validated once per process

    def prepare_data(self) -> None:
        """Runs once per node (local rank 0) before setup: validation and, with the cache, building it."""
        self.load_table()

    def setup(self, stage: str | None = None) -> None:
        if self.tables:
            return
        table = self.load_table()
        for name in SPLITS:
            self.tables[name] = table[table["split"] == name].reset_index(drop=True)
        sizes = {name: len(t) for name, t in self.tables.items()}
        log.info("Split %s (protocol %s): %s", ", ".join(self.sources), self.split["protocol"], sizes)
        if stage in ("fit", None) and (sizes["train"] == 0 or sizes["val"] == 0):
            raise DatasetError(f"training needs non-empty train and val splits, got {sizes}")

    def load_table(self) -> pd.DataFrame:
        """All valid rows with their split; applies the on_invalid policy to the problems found.

        Validation (which decodes every image, and with faces=align detects every face) runs once per process:
        prepare_data and setup share the result.
        """
        if self._valid_rows is None:
            self._valid_rows = self._validate()
        return self._valid_rows.copy()

    def _validate(self) -> pd.DataFrame:
        tables, problems = [], {}
        for spec, source in zip(self.specs, self.sources):
            table, found = read_labels(spec, check_images=self.hparams.check_images)
            self._stop_on(spec, found)
            tables.append(table.assign(source=source))
            problems[str(spec.labels_path)] = found
        table = pd.concat(tables, ignore_index=True)
        if self.uses_cache and not table.empty:
            table = self._attach_cache(table, problems)
        self.problems = problems
        invalid = sum(len(found) for found in problems.values())
        if invalid:
            report = Path(self.hparams.report_dir or ".") / INVALID_ROWS_FILE
            write_problems(problems, report)
            log.warning(
                "Skipping %d invalid row(s) of %s (data.on_invalid=skip); list written to %s",
                invalid,
                ", ".join(problems),
                report,
            )
        if table.empty:
            raise DatasetError(f"no valid rows left in {', '.join(problems)}")
        table["split"] = pd.concat(
            [
                self._assign_splits(table[table["source"] == source], problems[str(spec.labels_path)])
                for spec, source in zip(self.specs, self.sources)
            ]
        )
        return table

    def _assign_splits(self, rows: pd.DataFrame, problems: list[Problem]) -> pd.Series:
        """Each folder is split on its own, so each has its share of train, val and test rows."""
        if rows.empty:
            return pd.Series(dtype=object)
        total_rows = len(rows) + len({p.line for p in problems})
        return assign_splits(
            rows, self.split["protocol"], dict(self.split["fractions"]), self.split["seed"], total_rows
        )

    def _stop_on(self, spec: LabelsSpec, problems: list[Problem]) -> None:
        if problems and self.hparams.on_invalid == "error":
            raise DatasetError(
                format_problems(spec, problems) + "\nFix these rows, or set data.on_invalid=skip to train without them."
            )

    def _attach_cache(self, table: pd.DataFrame, problems: dict[str, list[Problem]]) -> pd.DataFrame:
        """Build or load the squares of `table`'s photos; under a face policy, photos without a face become
        problems (added to `problems`) and the others get the face found (box, score, number of faces)."""
        if not self.hparams.cache_dir:
            raise DatasetError("data.cache=true and faces.mode=align need data.cache_dir")
        self.squares, faces = cache.load_or_build(table["path"].tolist(), self.hparams.cache_dir, self.spec)
        table["cache_row"] = range(len(table))
        if faces is None:
            return table
        table = pd.concat([table, faces], axis=1)
        missing = table["faces_found"] == 0
        for spec, source in zip(self.specs, self.sources):
            rows = table[missing & (table["source"] == source)]
            found = [Problem(line, name, NO_FACE) for line, name in zip(rows["line"], rows["file_name"])]
            self._stop_on(spec, found)
            problems[str(spec.labels_path)] = sorted(problems[str(spec.labels_path)] + found, key=lambda p: p.line)
        return table[~missing].reset_index(drop=True)

    def group_columns(self, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        """The named group columns for `rows` (one of this datamodule's tables): `source` is the folder, any other
        is read from that folder's labels.csv (`labels.label_columns`)."""
        values = pd.DataFrame(index=rows.index, columns=columns, dtype=object)
        if "source" in columns:
            values["source"] = rows["source"]
        labelled = [c for c in columns if c != "source"]
        for source, spec in zip(self.sources, self.specs) if labelled else ():
            chosen = rows["source"] == source
            try:
                found = label_columns(spec, rows.loc[chosen, "line"].to_numpy(), labelled)
            except DatasetError as error:
                raise DatasetError(f"groups={columns}: {error}") from None
            values.loc[chosen, labelled] = found.to_numpy()
        return values

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
            raise DatasetError(f"unknown split {split!r}; use {', '.join(SPLITS)} or all")
        return self.tables[split]

    def dataset(self, split: str) -> SquareDataset:
        return SquareDataset(self.table(split), cache.SquareMaker(self.spec), self.squares)

    def eval_batch(self, squares: torch.Tensor) -> torch.Tensor:
        """uint8 squares -> the network's normalized input (the answer's view)."""
        return eval_batch(squares, self.hparams.image_size, self.hparams.view)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Batches arrive as uint8 squares: transform them here, on the accelerator. Training batches (from
        EpochShuffle) carry a seed per image for its augmentation."""
        images, ages, *seeds = batch
        if images.dtype != torch.uint8:
            return batch
        if seeds:
            return self.augmentation(images, seeds[0].tolist(), self.train_size()), ages
        return self.eval_batch(images), ages

    def train_size(self) -> int:
        """The side of this epoch's training images (data.progressive)."""
        epoch = self.trainer.current_epoch if self.trainer else 0
        return self.progressive["size"] if epoch < self.progressive["epochs"] else self.hparams.image_size

    def eval_images(self, split: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `count` images of a split, evaluation-transformed, and their ages (for display)."""
        dataset = self.dataset(split)
        images, ages = zip(*(dataset[i] for i in range(min(count, len(dataset)))))
        return self.eval_batch(torch.stack(images)), torch.stack(ages)

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        weights = balance_weights(self.tables["train"], **(self.hparams.balance or {}))
        return self.loader(
            dataset,
            sampler=EpochShuffle(len(dataset), self.hparams.seed, weights),
            drop_last=len(dataset) > self.hparams.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("test"))

    def loader(self, dataset: Dataset, sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.hparams.persistent_workers and workers > 0,
        )
