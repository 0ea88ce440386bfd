"""Lightning callbacks specific to age regression."""

import signal
import threading

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from age_lightning.errors import UserError
from age_lightning.evaluation.plots import image_grid, plt
from age_lightning.preprocess import IMAGENET_MEAN, IMAGENET_STD


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
        figure = image_grid(
            denormalize(images),
            [f"{a:.0f} / {p:.0f}" for a, p in zip(ages, predicted)],
            ["black" if abs(a - p) < 10 else "red" for a, p in zip(ages, predicted)],
            suptitle="true / predicted age",
        )
        for logger in loggers:
            logger.experiment.add_figure("val/predictions", figure, global_step=trainer.global_step, close=False)
        plt.close(figure)


class NonFiniteLossError(UserError):
    pass


class StopOnNonFiniteLoss(L.Callback):
    """Stop at the first NaN/inf training loss with a message saying where and what to try."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at epoch {trainer.current_epoch}, step "
                f"{trainer.global_step} (batch {batch_idx}); training was stopped. Try a lower learning rate "
                f"(optimizer.lr), trainer.precision=32-true, or gradient clipping (trainer.gradient_clip_val=1.0), "
                f"and check the labels for extreme values. The last good checkpoint is in checkpoints/last.ckpt "
                f"if an epoch finished."
            )


class StopOnCtrlC(L.Callback):
    """Make Ctrl-C (SIGINT, kill -INT) always stop training with checkpoints/interrupted.ckpt.

    Two ways it used to be lost: a process started with SIGINT ignored (a script's `python train.py &`, nohup,
    some job runners) keeps Python's inherited "ignore"; and a KeyboardInterrupt that lands inside a finalizer
    (`__del__`, e.g. of a file object just after a checkpoint save) is printed and swallowed. So the handler is
    installed explicitly, and besides raising at once it leaves a flag that the next batch raises again from.
    """

    def __init__(self):
        self.requested = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        self.requested.set()
        raise KeyboardInterrupt

    def _stop_if_requested(self) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_if_requested()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._stop_if_requested()


class ReseedEachEpoch(L.Callback):
    """Seed the global RNGs from (seed, epoch) at the start of each training epoch, so that random layers
    (dropout) in epoch k do not depend on earlier epochs; with the datamodule's EpochShuffle (order and
    augmentation), a run resumed from an epoch-end checkpoint continues like an uninterrupted one on the CPU."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        L.seed_everything(self.seed + 1000 * trainer.current_epoch, workers=True, verbose=False)


def denormalize(images: torch.Tensor) -> list:
    """Normalized (N, 3, H, W) tensors back to H x W x 3 arrays in 0..1 for display."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return [(image.float() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() for image in images]
