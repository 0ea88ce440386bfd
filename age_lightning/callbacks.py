"""Lightning callbacks specific to age regression."""

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD
from age_lightning.plots import image_grid, plt


class PredictionGrid(L.Callback):
    """Logs a grid of fixed validation images titled with true and predicted age to TensorBoard."""

    def __init__(self, num_images: int = 16, every_n_epochs: int = 1):
        self.num_images = num_images
        self.every_n_epochs = every_n_epochs

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        last = epoch + 1 >= (trainer.max_epochs or 0)
        if trainer.sanity_checking or not trainer.is_global_zero or not (epoch % self.every_n_epochs == 0 or last):
            return
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not loggers:
            return
        images, ages = trainer.datamodule.eval_images("val", self.num_images)
        was_training = pl_module.training
        pl_module.eval()
        predicted = pl_module.predict_age(images.to(pl_module.device)).cpu()
        pl_module.train(was_training)
        figure = image_grid(denormalize(images), [f"{a:.0f} / {p:.0f}" for a, p in zip(ages, predicted)],
                            ["black" if abs(a - p) < 10 else "red" for a, p in zip(ages, predicted)],
                            suptitle="true / predicted age")
        for logger in loggers:
            logger.experiment.add_figure("val/predictions", figure, global_step=trainer.global_step, close=False)
        plt.close(figure)


def denormalize(images: torch.Tensor) -> list:
    """Normalized (N, 3, H, W) tensors back to H x W x 3 arrays in 0..1 for display."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return [(image.float() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() for image in images]
