"""LightningDataModule over labeled-photo folders: a thin adapter from the checked table (`folders.LabeledFolders`)
to batches: datasets of uint8 squares, the training order (`sampling`), and the transforms on the accelerator."""

from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from age_lightning.data import cache
from age_lightning.data.folders import LabeledFolders
from age_lightning.data.labels import LabelsFormat
from age_lightning.data.sampling import BalanceSettings, EpochShuffle, balance_weights
from age_lightning.data.splits import SplitSettings
from age_lightning.data.transforms import BatchAugmentation, eval_batch
from age_lightning.errors import DatasetError, UserError
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec
from age_lightning.preprocess import DEFAULT_IMAGE_SIZE, DEFAULT_VIEW


@dataclass
class LoaderSettings:
    """How batches are loaded (the `data.loader` config node is generated from these defaults)."""

    batch_size: int = 32
    num_workers: int = 2  # DataLoader worker processes (0: in the main process)
    pin_memory: bool = True  # used only when CUDA is available
    persistent_workers: bool = True  # keep the workers between epochs (with num_workers > 0)


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
        labels: dict | None = None,
        split: dict | None = None,
        on_invalid: str = "error",
        check_images: bool = True,
        image_size: int = DEFAULT_IMAGE_SIZE,
        view: float | None = None,
        augmentation: dict | None = None,
        faces: dict | None = None,
        loader: dict | None = None,
        balance: dict | None = None,
        progressive: dict | None = None,
        cache: bool = False,
        cache_dir: str | None = None,
        report_dir: str | None = None,
        seed: int = 0,
    ):
        """
        root: a labeled-photo folder, or several (a list) that are validated and split each on its own and trained
          on together; every row keeps its folder's name as `source`.
        labels, split, loader, balance: `labels.LabelsFormat`, `splits.SplitSettings`, `LoaderSettings` and
          `sampling.BalanceSettings` fields (what is not given keeps its default there).
        on_invalid, check_images, cache, cache_dir, report_dir: see `folders.LabeledFolders`.
        view: the answer's view, a fraction of the square's side (`preprocess.view_taps`); None:
          preprocess.DEFAULT_VIEW, recorded as its value so that the checkpoint keeps it.
        augmentation: keyword arguments of `transforms.BatchAugmentation` (crop_scale, hflip, rotation,
          color_jitter).
        faces: the face policy (`faces.FacePolicy` fields); mode align detects and aligns every photo once, into
          the cache, and a photo without a face is an invalid row.
        progressive: {size, epochs}: progressive resizing, the first `epochs` training passes at `size` px (the same
          crops with fewer pixels: cheaper passes), the rest and every evaluation at image_size.
        seed: the training shuffle of epoch k is seeded with (seed, k).
        """
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.hparams.view = DEFAULT_VIEW if view is None else view
        self.split = SplitSettings(**(split or {}))
        self.loader_settings = LoaderSettings(**(loader or {}))
        self.balance = BalanceSettings(**(balance or {}))
        self.spec = InputSpec(image_size, FacePolicy.from_dict(faces), self.hparams.view)
        self.augmentation = BatchAugmentation(image_size, self.hparams.view, **(augmentation or {}))
        self.progressive = dict(progressive or {"size": image_size, "epochs": 0})
        size, epochs = self.progressive.get("size", 0), self.progressive.get("epochs", -1)
        if set(self.progressive) != {"size", "epochs"} or size < 1 or epochs < 0:
            raise UserError(f"data.progressive must be {{size: >= 1, epochs: >= 0}}, got {progressive}")
        self.folders = LabeledFolders(
            [root] if isinstance(root, str) else [str(r) for r in root],
            LabelsFormat(**(labels or {})),
            self.split,
            self.spec,
            on_invalid=on_invalid,
            check_images=check_images,
            cache=cache,
            cache_dir=cache_dir,
            report_dir=report_dir,
        )

    def prepare_data(self) -> None:
        """Runs once per node (local rank 0) before setup: validation and, with the cache, building it."""
        self.folders.load()

    def setup(self, stage: str | None = None) -> None:
        self.folders.load()
        sizes = {name: len(t) for name, t in self.folders.tables.items()}
        if stage in ("fit", None) and (sizes["train"] == 0 or sizes["val"] == 0):
            raise DatasetError(f"training needs non-empty train and val splits, got {sizes}")

    def dataset(self, split: str) -> SquareDataset:
        return SquareDataset(self.folders.table(split), cache.SquareMaker(self.spec), self.folders.squares)

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
        weights = balance_weights(self.folders.table("train"), self.balance)
        return self.loader(
            dataset,
            sampler=EpochShuffle(len(dataset), self.hparams.seed, weights),
            drop_last=len(dataset) > self.loader_settings.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("test"))

    def loader(self, dataset: Dataset, sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
        settings = self.loader_settings
        return DataLoader(
            dataset,
            batch_size=settings.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=settings.num_workers,
            pin_memory=settings.pin_memory and torch.cuda.is_available(),
            persistent_workers=settings.persistent_workers and settings.num_workers > 0,
        )
