"""The evaluation task: a checkpoint on a labeled folder -> report (evaluate.py is its command).

The image size, split settings and face policy default to the checkpoint's, so photos are framed as in training.
"""

import json
import logging
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.progress import track
from torch.utils.tensorboard import SummaryWriter

from age_lightning.ages import ID_CHECK_AGE
from age_lightning.calibration import Calibration
from age_lightning.evaluation import plots
from age_lightning.evaluation.accuracy import accuracy_by_age, face_size_row
from age_lightning.evaluation.groups import audit, flat_group_scalars
from age_lightning.evaluation.metrics import (
    age_check_curve,
    evaluation_metrics,
    minor_probability_metrics,
    pass_scores,
    regression_metrics,
    shares_metrics,
    tradeoff_curve,
)
from age_lightning.evaluation.render import PLOTS, render_report
from age_lightning.faces import NO_FACE
from age_lightning.input_spec import PhotoPreparer
from age_lightning.model.inference import checkpoint_spec, load_checkpoint, predict_ages
from age_lightning.shares import ErrorModel

log = logging.getLogger(__name__)
SWEEP_BATCH = 64
MIN_SUBSET = 100  # a group value needs this many photos for its own p_minor reliability


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
    rows = datamodule.folders.table(cfg.split)
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
    if "eye_distance" in rows:
        table["eye_distance"] = rows["eye_distance"].to_numpy()
    labelled = list(cfg.get("groups") or []) + (["source"] if table["source"].nunique() > 1 else [])
    if labelled:
        table[labelled] = datamodule.folders.group_columns(rows, labelled).to_numpy()
    table, groups = with_intersections(table, labelled)
    problems = [p for found in datamodule.folders.problems.values() for p in found]
    no_face = sum(p.reason == NO_FACE for p in problems)
    context = {
        "checkpoint": str(cfg.ckpt_path),
        "data_root": OmegaConf.to_container(cfg.data.root) if OmegaConf.is_list(cfg.data.root) else str(cfg.data.root),
        "split": cfg.split,
        "flip_average": bool(model.hparams.flip_average),
        "faces": datamodule.spec.faces.mode,
        "skipped_rows": len(problems),
        "no_face_rows": no_face,
        "rows_with_face": len(datamodule.folders.table("all")),
    }
    if datamodule.spec.faces.aligns and cfg.face_sizes.photos:
        context["face_sizes"] = face_size_sweep(model, datamodule.spec, rows, cfg.face_sizes)
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


def with_intersections(table: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The table with a column for each pair of group columns ("gender+race": "female+asian"), and all the group
    columns: audits report intersections, where a model's errors often hide."""
    pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1 :]]
    crossed = {f"{a}+{b}": table[a].astype(str) + "+" + table[b].astype(str) for a, b in pairs}
    return table.assign(**crossed), [*columns, *crossed]


def face_size_sweep(model, spec, rows: pd.DataFrame, settings: DictConfig) -> list[dict]:
    """How accuracy and detection fall as the face gets smaller (a camera further away): up to settings.photos of
    the split's photos (chosen at random, seed 0), each shrunk by every factor in settings.scales and run through
    the till's path (face step, network); one `face_size_row` per factor."""
    chosen = rows.sample(min(settings.photos, len(rows)), random_state=0)
    prepare = PhotoPreparer(spec)
    photos = [prepare.load(path) for path in chosen["path"]]
    found = []
    for scale in track(settings.scales, description=f"Shrinking {len(photos)} faces"):
        inputs, eyes = [], []
        for photo in photos:
            size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
            image, record = prepare(photo.resize(size, Image.Resampling.BILINEAR))
            inputs.append(image)
            eyes.append(record.get("eye_distance", np.nan))
        detected = [i for i, image in enumerate(inputs) if image is not None]
        predicted = np.full(len(photos), np.nan)
        for start in range(0, len(detected), SWEEP_BATCH):
            chunk = detected[start : start + SWEEP_BATCH]
            with torch.inference_mode():
                batch = torch.from_numpy(np.stack([inputs[i] for i in chunk])).to(model.device)
                predicted[chunk] = model.predict_age(batch).float().cpu().numpy()
        found.append(face_size_row(scale, chosen["age"].to_numpy(), predicted, eyes))
    return found


def write_evaluation(
    table: pd.DataFrame,
    out_dir: Path,
    context: dict,
    threshold: float,
    target: float,
    calibration: Calibration | None = None,
    error_model: ErrorModel | None = None,
    groups: list[str] = (),
) -> dict:
    """Write everything for `table` (source, file_name, real_age, predicted_age and, for an uncertain model,
    scale, plus the `groups` columns) into out_dir; return the metrics. With an error model also the corrected
    age-band shares; with groups, the per-group audit."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = table.assign(abs_error=(table["predicted_age"] - table["real_age"]).abs())
    real, predicted = table["real_age"].to_numpy(), table["predicted_age"].to_numpy()
    scale = table["scale"].to_numpy() if "scale" in table else None
    if scale is not None and calibration:
        low, high = calibration.bounds(predicted, scale)
        table = table.assign(age_low=low, age_high=high, asks_for_id=calibration.asks_for_id(predicted, scale))
    table.to_csv(out_dir / "predictions.csv", index=False, float_format="%.2f")
    metrics = {**context, **evaluation_metrics(real, predicted, threshold, target, scale, calibration)}
    metrics["accuracy"] = accuracy_by_age(real, predicted)
    if scale is not None and not calibration:
        metrics["uncertainty"] = {"calibrated": False}
    if error_model is not None:
        metrics["shares"] = shares_metrics(real, predicted, error_model)
        subsets = {
            f"{column}={value}": (table[column] == value).to_numpy()
            for column in groups
            for value, count in table[column].value_counts().items()
            if count >= MIN_SUBSET
        }
        metrics["p_minor"] = minor_probability_metrics(real, predicted, error_model, subsets)
    if groups:
        metrics["groups"] = audit(table, list(groups), threshold, calibration if scale is not None else None)
    if table["source"].nunique() > 1:  # several labeled folders: each one's errors too
        metrics["sources"] = {
            source: regression_metrics(rows["real_age"], rows["predicted_age"])
            for source, rows in table.groupby("source")
        }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))

    plots.save(plots.predicted_vs_real(real, predicted), out_dir / PLOTS["scatter"])
    plots.save(plots.band_errors(metrics["bands"]), out_dir / PLOTS["bands"])
    plots.save(plots.age_histogram(real, "Ages in the evaluated set"), out_dir / PLOTS["histogram"])
    if metrics["age_check"]["measurable"]:
        curve = age_check_curve(real, predicted)
        plots.save(plots.age_check_tradeoff(curve, threshold, target), out_dir / PLOTS["age_check"])
    uncertainty = metrics.get("uncertainty", {})
    if "intervals" in uncertainty:
        plots.save(
            plots.interval_coverage(uncertainty["intervals"]["bands"], uncertainty["nominal_coverage"]),
            out_dir / PLOTS["coverage"],
        )
        if metrics["age_check"]["measurable"]:
            curves = {rule: tradeoff_curve(real, score) for rule, score in pass_scores(predicted, scale).items()}
            plots.save(
                plots.id_rules_tradeoff(curves, uncertainty["calibrated_rules"], calibration.max_pass),
                out_dir / PLOTS["rules"],
            )
    for column, found in metrics.get("groups", {}).items():
        plots.save(plots.group_audit(column, found), out_dir / f"groups_{column}.png")
    if "p_minor" in metrics:
        plots.save(plots.reliability_diagram(metrics["p_minor"]), out_dir / PLOTS["p_minor"])
    if "shares" in metrics:
        plots.save(
            plots.band_shares({"corrected": metrics["shares"]}, metrics["shares"]["true"]), out_dir / PLOTS["shares"]
        )
    (out_dir / "report.md").write_text(render_report(metrics))
    return metrics
