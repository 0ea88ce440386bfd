"""One table and one figure for a Hydra multirun of train.py.

Written automatically at the end of every multirun (a Hydra callback, see conf/hydra/default.yaml), and
rebuilt for any sweep folder with: `python sweep_summary.py sweep_dir=logs/train/multiruns/<date>_<time>`.
Outputs in the sweep folder: sweep_summary.csv, sweep_summary.md, val_mae_curves.png.
"""

import json
import shlex
from pathlib import Path

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from age_lightning.errors import UserError
from age_lightning.evaluation import plots
from age_lightning.formatting import markdown_table
from age_lightning.tasks.runs import RUN_SUMMARY

COLUMNS = ["run", "overrides", "status", "val_mae_best", "test_mae", "epochs", "wall_time_s", "error"]


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        write_sweep_summary(Path(config.hydra.sweep.dir))


def collect_runs(sweep_dir: Path) -> pd.DataFrame:
    """One row per run folder (those with .hydra/overrides.yaml), best val MAE first, failed runs last."""
    rows = []
    for run in sorted(p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")):
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
        summary_file = run / RUN_SUMMARY
        summary = (
            json.loads(summary_file.read_text())
            if summary_file.is_file()
            else {"status": "failed", "error": "no run_summary.json: the run was killed or is still running"}
        )
        metrics = summary.get("metrics", {})
        rows.append(
            {
                "run": run.name,
                "overrides": " ".join(overrides),
                "status": summary.get("status", "completed"),
                "val_mae_best": metrics.get("val/mae_best"),
                "test_mae": metrics.get("test/mae"),
                "epochs": summary.get("epochs"),
                "wall_time_s": summary.get("wall_time_s"),
                "error": summary.get("error", ""),
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["failed"] = table["status"] != "completed"
    return table.sort_values(["failed", "val_mae_best"], na_position="last").drop(columns="failed")


def val_mae_curve(run: Path) -> list[float]:
    """val/mae after each validation, read from the run's TensorBoard events."""
    values = []
    for events in sorted(run.glob("tensorboard/events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if "val/mae" in accumulator.Tags()["scalars"]:
            values += [event.value for event in accumulator.Scalars("val/mae")]
    return values


def write_sweep_summary(sweep_dir: Path) -> pd.DataFrame:
    table = collect_runs(sweep_dir)
    table.to_csv(sweep_dir / "sweep_summary.csv", index=False)
    (sweep_dir / "sweep_summary.md").write_text(render_markdown(table, sweep_dir))
    curves = {run: val_mae_curve(sweep_dir / run) for run in table["run"]}
    plots.save(
        plots.metric_curves(
            {run: c for run, c in curves.items() if c}, "val/mae (years)", f"Validation MAE, {sweep_dir.name}"
        ),
        sweep_dir / "val_mae_curves.png",
    )
    failed = int((table["status"] != "completed").sum())
    print(f"Sweep summary: {len(table)} runs ({failed} failed) in {sweep_dir / 'sweep_summary.md'}")
    return table


def render_markdown(table: pd.DataFrame, sweep_dir: Path) -> str:
    def cell(value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return f"{value:.2f}" if isinstance(value, float) else value

    header = ["run", "status", "best val MAE", "test MAE", "epochs", "wall time (s)", "error"]
    keys = ["run", "status", "val_mae_best", "test_mae", "epochs", "wall_time_s", "error"]
    lines = [
        f"# Sweep {sweep_dir.name}",
        "",
        f"{len(table)} runs, sorted by best validation MAE (years).",
        "",
        *markdown_table(header, [[cell(row[k]) for k in keys] for _, row in table.iterrows()]),
    ]
    completed = table[table["status"] == "completed"]
    if len(completed):
        best = completed.iloc[0]
        command = " ".join(shlex.quote(o) for o in best["overrides"].split())
        lines += ["", f"Rerun the best: `python train.py {command}`"]
    lines += ["", "![validation MAE curves](val_mae_curves.png)", ""]
    return "\n".join(lines)


def sweep_summary(cfg: DictConfig) -> None:
    """Rebuild a multirun's sweep_summary.csv / .md and val_mae_curves.png."""
    if not Path(cfg.sweep_dir).is_dir():
        raise UserError(f"sweep_dir {cfg.sweep_dir} is not a folder")
    write_sweep_summary(Path(cfg.sweep_dir))
