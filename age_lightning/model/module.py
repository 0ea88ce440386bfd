"""LightningModule: ResNet50 backbone + a regression head predicting age in years (and, with an uncertain head,
a scale: how far off the age may be for this photo)."""

from typing import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import CatMetric, MeanAbsoluteError, MeanMetric, MinMetric

from age_lightning.ages import ID_CHECK_AGE, MAX_AGE, MIN_AGE
from age_lightning.calibration import ALPHA, Calibration, nominal_quantile
from age_lightning.errors import UserError
from age_lightning.evaluation.metrics import evaluation_metrics, flat_scalars
from age_lightning.model.backbone import build_resnet50
from age_lightning.shares import ErrorModel
from age_lightning.shift import ShiftReference

LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss, "smooth_l1": F.smooth_l1_loss}
# Negative log-likelihoods (constants dropped) of a residual r given a log scale, for the uncertain heads.
NLLS = {
    "laplace": lambda r, log_scale: r.abs() * torch.exp(-log_scale) + log_scale,
    "gaussian": lambda r, log_scale: 0.5 * r.square() * torch.exp(-2 * log_scale) + log_scale,
}
HEADS = ("point", *NLLS)
LOG_SCALE_RANGE = (-6.0, 4.0)  # in units of the training ages' std: about 0.05 to 1000 years


class AgeRegressor(L.LightningModule):
    """Trains on the normalized age (age - mean) / std of the training split, reports in years.

    The normalization is stored in the checkpoint (buffers), so a loaded model predicts years directly.
    """

    def __init__(
        self,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        weights: str | None = "IMAGENET1K_V2",
        weights_path: str | None = None,
        download: bool = True,
        loss: str = "l1",
        dropout: float = 0.0,
        backbone_lr_mult: float = 1.0,
        freeze_backbone: bool = False,
        channels_last: bool = True,
        id_check_age: float = ID_CHECK_AGE,
        compile: bool = False,
        head: str = "point",
        flip_average: bool = True,
        decision_ages: tuple[float, ...] = (),
        decision_weight: float = 0.0,
        decision_temperature: float = 2.0,
    ):
        """
        optimizer: partial optimizer (Hydra `_partial_: true`) taking the parameter groups; only training needs it.
        scheduler: partial `age_lightning.model.schedules` factory taking (optimizer, total_steps), or None.
        backbone_lr_mult: backbone learning rate = lr * backbone_lr_mult (the head gets lr).
        id_check_age: the age-check threshold used for the test/age_check/* metrics.
        compile: run the backbone through torch.compile (the module and its checkpoints stay uncompiled).
        head: "point" (the age only) or an uncertain head, "laplace" or "gaussian": a second output, the log of
            the scale of that distribution around the age, trained by its negative log-likelihood on the age's
            residual. The age output and the backbone are trained by `loss` exactly as with the point head (the
            likelihood sees the age and the features detached), so uncertainty never trades away point accuracy.
        flip_average: outside training, answer for each image the mean of its own and its mirror image's outputs
            (validation, test, calibration, export and serving alike; twice the inference cost).
        decision_ages, decision_weight, decision_temperature: a decision-aware term added to the loss. For each
            age t (e.g. 18 and 25, where the ID check decides), the predicted age read as the logit
            (predicted - t) / temperature of "at least t" is scored by binary cross-entropy against the true side
            of t, times decision_weight: a photo estimated on the wrong side of a decision age costs more than
            its years of error alone. [] or weight 0: the age's loss alone.
        """
        super().__init__()
        if loss not in LOSSES:
            raise UserError(f"model.loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if head not in HEADS:
            raise UserError(f"model.head must be one of {HEADS}, got {head!r}")
        if decision_weight < 0 or decision_temperature <= 0:
            raise UserError(
                f"model.decision_weight must be >= 0 and model.decision_temperature > 0, got "
                f"{decision_weight} and {decision_temperature}"
            )
        # Only plain values go into checkpoints, so they load with torch.load(weights_only=True).
        self.save_hyperparameters(logger=False, ignore=["optimizer", "scheduler"])
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.backbone = build_resnet50(weights, weights_path, download)
        self.initial_weights = weights  # what the backbone started from (the model card says it)
        outputs = 1 if head == "point" else 2
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.backbone.num_features, outputs))
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        self.register_buffer("age_mean", torch.tensor(0.0))
        self.register_buffer("age_std", torch.tensor(1.0))
        self.loss_fn = LOSSES[loss]
        self.train_mae, self.val_mae, self.test_mae = MeanAbsoluteError(), MeanAbsoluteError(), MeanAbsoluteError()
        self.val_mae_best = MinMetric()
        self.val_mae_best.persistent(True)  # a resumed run keeps its best so far
        self.val_coverage, self.val_width = MeanMetric(), MeanMetric()  # of the uncalibrated interval
        self.test_ages, self.test_predictions, self.test_scales = CatMetric(), CatMetric(), CatMetric()
        self.calibration: Calibration | None = None  # set by calibration, saved in checkpoints
        self.error_model: ErrorModel | None = None  # likewise: the errors on held-back photos, for age-group shares
        self.shift_reference: ShiftReference | None = None  # likewise: how those photos look, for the shift alarm
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.backbone_forward = torch.compile(self.backbone.forward) if compile else self.backbone.forward

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if stage == "fit" and hasattr(datamodule, "folders"):  # the labeled folders' training split
            mean, std = datamodule.folders.train_age_stats
            self.age_mean.fill_(mean)
            self.age_std.fill_(std)

    @property
    def uncertain(self) -> bool:
        return self.hparams.get("head", "point") != "point"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalized age, shape (batch,), and its log scale (None for the point head); outside training with
        flip_average, each the mean over the image and its mirror image."""
        if self.training or not self.hparams.flip_average:
            return self._outputs(images)
        normalized, log_scale = self._outputs(torch.cat([images, images.flip(-1)]))
        return normalized.view(2, -1).mean(0), None if log_scale is None else log_scale.view(2, -1).mean(0)

    def _outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        features = self.backbone_forward(images)
        normalized = self.head(features)[:, 0].float()
        if not self.uncertain:
            return normalized, None
        # the scale reads the features but never shapes them: the backbone learns from the age's loss alone
        return normalized, self.head(features.detach())[:, 1].float().clamp(*LOG_SCALE_RANGE)

    @torch.no_grad()
    def predict_age(self, images: torch.Tensor) -> torch.Tensor:
        """Age in years, clamped to the valid range."""
        return self.predict(images)[0]

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Age in years (clamped to the valid range) and its scale in years (None for the point head)."""
        normalized, log_scale = self(images)
        scale = None if log_scale is None else torch.exp(log_scale) * self.age_std
        return self.to_years(normalized).clamp(MIN_AGE, MAX_AGE), scale

    def to_years(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * self.age_std + self.age_mean

    def _step(self, batch):
        images, ages = batch
        normalized, log_scale = self(images)
        target = (ages - self.age_mean) / self.age_std
        loss = self.loss_fn(normalized, target) + self._decision_loss(self.to_years(normalized), ages)
        if log_scale is not None:
            loss = loss + NLLS[self.hparams.head](target - normalized.detach(), log_scale).mean()
        scale = None if log_scale is None else torch.exp(log_scale.detach()) * self.age_std
        return loss, self.to_years(normalized).detach().clamp(MIN_AGE, MAX_AGE), ages, scale

    def _decision_loss(self, years: torch.Tensor, ages: torch.Tensor) -> torch.Tensor | float:
        """Binary cross-entropy of the predicted age's side of each decision age (see __init__)."""
        thresholds, weight = self.hparams.get("decision_ages", ()), self.hparams.get("decision_weight", 0.0)
        if not thresholds or not weight:
            return 0.0
        t = torch.as_tensor(thresholds, dtype=years.dtype, device=years.device)
        logits = (years[:, None] - t) / self.hparams.decision_temperature
        return weight * F.binary_cross_entropy_with_logits(logits, (ages[:, None] >= t).to(logits.dtype))

    def training_step(self, batch, batch_idx):
        loss, predicted, ages, scale = self._step(batch)
        self.train_mae(predicted, ages)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(ages))
        self.log("train/mae", self.train_mae, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, predicted, ages, scale = self._step(batch)
        self.val_mae(predicted, ages)
        self.log("val/loss", loss, on_epoch=True, prog_bar=False, sync_dist=True, batch_size=len(ages))
        self.log("val/mae", self.val_mae, on_epoch=True, prog_bar=True)
        if self.uncertain:  # the head's own (uncalibrated) 1 - 2 * ALPHA interval
            z = nominal_quantile(self.hparams.head, 1 - ALPHA)
            inside = (ages - predicted).abs() <= z * scale
            self.val_coverage(inside.float())
            self.val_width(2 * z * scale)
            self.log("val/coverage", self.val_coverage, on_epoch=True)
            self.log("val/width", self.val_width, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a couple of batches before training is not a result
            return
        self.val_mae_best(self.val_mae.compute())
        best = self.val_mae_best.compute()
        self.log("val/mae_best", best, prog_bar=True, sync_dist=True)
        self.log("hp_metric", best, sync_dist=True)  # TensorBoard's HParams tab compares runs by this

    def test_step(self, batch, batch_idx):
        loss, predicted, ages, scale = self._step(batch)
        self.test_mae(predicted, ages)
        self.log("test/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(ages))
        self.log("test/mae", self.test_mae, on_epoch=True, prog_bar=True)
        self.test_ages.update(ages)
        self.test_predictions.update(predicted)
        if scale is not None:
            self.test_scales.update(scale)

    def on_test_epoch_end(self) -> None:
        """The evaluation report's metrics (per band, age check, calibrated intervals) as test/... scalars, over
        all ranks."""
        ages, predicted = self.test_ages.compute(), self.test_predictions.compute()
        scale = self.test_scales.compute().float().cpu().numpy() if self.uncertain else None
        for metric in (self.test_ages, self.test_predictions, self.test_scales):
            metric.reset()
        metrics = evaluation_metrics(
            ages.cpu().numpy(),
            predicted.float().cpu().numpy(),
            self.hparams.id_check_age,
            scale=scale,
            calibration=self.calibration,
        )
        scalars = flat_scalars(metrics, "test")
        self.log_dict(
            {k: v for k, v in scalars.items() if k != "test/mae" and not k.endswith(("/n", "/count"))},
            rank_zero_only=True,
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.calibration:
            checkpoint["calibration"] = self.calibration.to_dict()
        if self.error_model:
            checkpoint["error_model"] = self.error_model.to_dict()
        if self.shift_reference:
            checkpoint["shift_reference"] = self.shift_reference.to_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.calibration = Calibration.from_dict(checkpoint.get("calibration"))
        self.error_model = ErrorModel.from_dict(checkpoint.get("error_model"))
        self.shift_reference = ShiftReference.from_dict(checkpoint.get("shift_reference"))
        self.initial_weights = checkpoint.get("hyper_parameters", {}).get("weights")  # load_checkpoint drops them

    def configure_optimizers(self):
        head = [p for p in self.head.parameters() if p.requires_grad]
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        lr = self.optimizer_factory.keywords["lr"]
        groups = [{"params": head, "lr": lr, "name": "head"}]  # names show in TensorBoard as lr-Adam/head
        if backbone:
            groups.append({"params": backbone, "lr": lr * self.hparams.backbone_lr_mult, "name": "backbone"})
        optimizer = self.optimizer_factory(params=groups)
        if not self.scheduler_factory:  # None, or the empty `scheduler: none` config
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
