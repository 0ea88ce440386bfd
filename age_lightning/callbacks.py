"""Lightning callbacks specific to age regression."""

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402

from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


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
        dataset = trainer.datamodule.dataset("val")
        count = min(self.num_images, len(dataset))
        images, ages = zip(*(dataset[i] for i in range(count)))
        images = torch.stack(images).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        predicted = pl_module.predict_age(images).cpu()
        pl_module.train(was_training)
        figure = prediction_figure(images.cpu(), torch.stack(ages), predicted)
        for logger in loggers:
            logger.experiment.add_figure("val/predictions", figure, global_step=trainer.global_step, close=False)
        plt.close(figure)


def prediction_figure(images: torch.Tensor, ages: torch.Tensor, predicted: torch.Tensor) -> plt.Figure:
    """Grid of normalized image tensors with 'true / predicted' age titles."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    columns = min(8, len(images))
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, age, guess in zip(axes.flat, images, ages, predicted):
        axis.imshow((image.float() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy())
        axis.set_title(f"{age:.0f} / {guess:.0f}", fontsize=9, color="black" if abs(age - guess) < 10 else "red")
    figure.suptitle("true / predicted age", fontsize=10)
    figure.tight_layout()
    return figure
