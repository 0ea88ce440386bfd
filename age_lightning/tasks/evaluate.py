"""The evaluation task: a checkpoint on a labeled folder -> report (evaluate.py is its command).

The image size, split settings and face policy default to the checkpoint's, so photos are framed as in training.
"""

import logging
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from age_lightning.ages import ID_CHECK_AGE
from age_lightning.evaluation.groups import flat_group_scalars
from age_lightning.evaluation.report import write_evaluation
from age_lightning.faces import NO_FACE
from age_lightning.model.inference import checkpoint_spec, load_checkpoint, predict_ages

log = logging.getLogger(__name__)


def checkpoint_datamodule(cfg: DictConfig, model, trained_data: dict):
    """The labeled folder of `cfg.data`, framed as the checkpoint was trained (image size, split settings, face
    policy) unless cfg says otherwise; set up."""
    spec = checkpoint_spec(model, trained_data).override(
        faces=OmegaConf.to_container(cfg.faces) if cfg.get("faces") else None
    )
    datamodule = hydra.utils.instantiate(
        cfg.data,
        image_size=cfg.data.image_size or spec.image_size,
        view=cfg.data.view or spec.view,
        split=cfg.data.split or trained_data.get("split"),
        faces=spec.faces.to_dict(),
    )
    datamodule.setup("test")
    return datamodule


def evaluate(cfg: DictConfig) -> dict:
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)
    datamodule = checkpoint_datamodule(cfg, model, trained_data)
    dataset = datamodule.dataset(cfg.split)
    predicted, scale = predict_ages(
        model,
        datamodule.loader(dataset),
        datamodule.eval_batch,
        description=f"Evaluating {len(dataset)} photos",
    )
    rows = datamodule.table(cfg.split)
    table = pd.DataFrame(
        {
            "source": rows["source"],
            "file_name": rows["file_name"],
            "real_age": dataset.ages.numpy(),
            "predicted_age": predicted,
        }
    )
    if scale is not None:
        table["scale"] = scale
    groups = list(cfg.get("groups") or []) + (["source"] if table["source"].nunique() > 1 else [])
    if groups:
        table[groups] = datamodule.group_columns(rows, groups).to_numpy()
    problems = [p for found in datamodule.problems.values() for p in found]
    no_face = sum(p.reason == NO_FACE for p in problems)
    context = {
        "checkpoint": str(cfg.ckpt_path),
        "data_root": str(cfg.data.root),
        "split": cfg.split,
        "flip_average": bool(model.hparams.flip_average),
        "faces": datamodule.spec.faces.mode,
        "skipped_rows": len(problems),
        "no_face_rows": no_face,
        "rows_with_face": len(datamodule.table("all")),
    }
    out_dir = Path(cfg.paths.output_dir)
    threshold = cfg.age_check.threshold or model.hparams.get("id_check_age", ID_CHECK_AGE)
    metrics = write_evaluation(
        table,
        out_dir,
        context,
        threshold,
        cfg.age_check.target_pass_through,
        model.calibration,
        model.error_model,
        groups,
    )
    if "groups" in metrics:  # TensorBoard: test/groups/<column>/<value>/...
        with SummaryWriter(str(out_dir / "tensorboard")) as writer:
            for tag, value in flat_group_scalars(metrics["groups"], "test").items():
                writer.add_scalar(tag, value)
    log.info("MAE %.2f years on %d photos; report: %s", metrics["mae"], metrics["n"], out_dir / "report.md")
    return metrics
