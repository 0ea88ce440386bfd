"""The store's commands: `age-shares` (shares.py), `age-audit` (audit.py), `age-store-log` (store_log.py) and
`age-answers` (answers.py).
Torch-free: they run from a till's install with the [store] extra."""

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv
from omegaconf import MISSING
from tqdm import tqdm

from age_lightning.deploy.answer_db import ALCOHOL_EVENT, shown, since_time
from age_lightning.deploy.commands import command
from age_lightning.deploy.configs import option
from age_lightning.deploy.model_file import ModelFile
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.predict_files import OK, predict_files
from age_lightning.errors import UserError
from age_lightning.input_spec import PhotoPreparer
from age_lightning.shares import BOOTSTRAP, DEFAULT_METHOD, LEVEL, MIN_PHOTOS, check, group_shares
from age_lightning.shift import DELTA
from age_lightning.store.answer_records import answer_batches, answer_schema
from age_lightning.store.audit import AuditSettings, run_audit
from age_lightning.store.audit_files import write_audit
from age_lightning.store.drift import replay, write_drift
from age_lightning.store.generator import Photos, StoreSettings, generate
from age_lightning.store.lift import lifts, outer_groups
from age_lightning.store.sales_log import Columns
from age_lightning.store.shares_files import read_error_model, write_lift, write_shares
from age_lightning.store.shares_log import read_groups


@dataclass
class AuditConfig(AuditSettings):
    """Which cashiers sell alcohol to buyers who look under age: a cashier audit of a store's sales log."""

    log: str = option(MISSING, "the sales log, CSV or Parquet (one row per sale)")
    model: str = option(MISSING, "the exported model.json (its model.onnx beside it answers a log of photos)")
    out: str = option("audit", "folder for audit.json, audit.csv, review.csv, audit.md, problems.csv, audit.png")
    columns: Columns = field(default_factory=Columns, metadata={"help": "the log's column names (columns.cashier=...)"})


@dataclass
class SharesConfig:
    """Age-band shares of buyers from a predictions file, corrected for the model's errors, with intervals; and
    with lift=true, what to offer each age group (the lift of every band in every category)."""

    predictions: str = option(MISSING, "a predictions CSV or Parquet file (predicted_age; a till's log of sales)")
    model: str = option(MISSING, "the exported model.json (it carries the error model)")
    by: str = option("", "grouping columns, comma-separated (e.g. store,category); none: one group")
    lift: bool = option(False, "also the lift of every band in each category: the last `by` column (per the others)")
    output: str = option("shares", "folder for shares.csv/.md/.json/.png (and lift.csv/.md/.png)")
    method: str = option(DEFAULT_METHOD, "em | dm | acc")
    shrinkage: bool = option(True, "shrink each correction toward the counted shares by how noisy it is")
    bootstrap: int = option(BOOTSTRAP, "bootstrap replicates for the intervals")
    level: float = option(LEVEL, "interval level")
    min_photos: int = option(MIN_PHOTOS, "groups (and lift's categories) with fewer photos are flagged as too few")
    seed: int = option(0, "the bootstrap's seed")


@dataclass
class AnswersConfig:
    """Export the service's answer log to a CSV file with the columns the audit reads (one row per answered photo)."""

    log: str = option(MISSING, "the answer log: answers.db (SQLite) or postgresql://user@host/db")
    out: str = option("answers.csv", "the CSV to write")
    since: str | None = option(None, "only answers from this date or time on (UTC), e.g. 2026-12-01")
    alcohol_event: str = option(ALCOHOL_EVENT, "the till's event that marks an alcohol sale (the alcohol column)")


@dataclass
class DriftConfig:
    """When and at which till the photos stopped looking like the calibration photos: the shift alarm replayed over
    a predictions file (predict_onnx.py's, or a log with its columns)."""

    predictions: str = option(MISSING, "a predictions CSV or Parquet file, in the order the photos were taken")
    model: str = option(MISSING, "the exported model.json (it carries the calibration photos' reference)")
    output: str = option("drift", "folder for drift.json, drift.csv, drift.png and problems.csv")
    by: str = option("till", "the till column; a file without it is one till")
    delta: float = option(DELTA, "the false-alarm rate a till may have over all its photos")
    seed: int = option(0, "the p-values' tie-breaking draws")


@dataclass
class StoreLogConfig(StoreSettings):
    """A generated chain's sales log from a labeled photo folder the model never trained on, to try the audit."""

    folder: str = option(MISSING, "a labeled folder (labels.csv with file_name,real_age beside final_files/)")
    model: str = option(MISSING, "the exported model.json (model.onnx beside it answers the photos)")
    answers: str | None = option(None, "a predictions CSV of the folder (predict_onnx.py) instead of answering")
    out: str = option("store", "folder for sales.csv, truth.csv, truth_cashiers.csv, truth_categories.csv")


def photo_answerer(model_json: Path):
    """answer(paths) -> (ages, scales, statuses) with the model beside model.json, with a progress bar."""
    model = OnnxAgeModel(model_json.parent / ModelFile.read(model_json).model_file)
    prepare = PhotoPreparer(model.spec)

    def answer(files: np.ndarray):
        rows = predict_files(
            [Path(f) for f in files], model, prepare, progress=lambda items, description: tqdm(items, desc=description)
        )
        ages = np.array([np.nan if r["predicted_age"] is None else r["predicted_age"] for r in rows], float)
        scales = np.array([np.nan if r["age_scale"] is None else r["age_scale"] for r in rows], float)
        return ages, scales if model.file.uncertain else None, [r["status"] for r in rows]

    return answer


def _audit(cfg: AuditConfig) -> None:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model_json = Path(cfg.model)
    answerer = cache(lambda: photo_answerer(model_json))  # model.onnx loaded once, and only for a log of photos
    with open(out / "problems.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason"])
        result = run_audit(
            cfg.log,
            ModelFile.read(model_json),
            cfg,
            cfg.columns,
            answer_photos=lambda files: answerer()(files),
            on_problems=writer.writerows,
        )
    written = write_audit(result, out, cfg.model, cfg.log)
    flagged = [c for c in result.cashiers if c["flagged"]]
    print(
        f"{result.alcohol_sales} alcohol sales of {len(result.cashiers)} cashiers audited ({result.test} test); "
        f"{len(flagged)} flagged at a {cfg.fdr:.0%} false discovery rate; {result.problem_count} bad row(s)"
    )
    for cashier in flagged:
        print(f"  flagged: {cashier['store']} {cashier['cashier']} (q = {cashier['q_value']:.3g})")
    print(f"written: {out}/{', '.join(written)}")


def _shares(cfg: SharesConfig) -> None:
    by = [column.strip() for column in cfg.by.split(",") if column.strip()]
    if cfg.lift and not by:
        raise UserError("lift=true needs by=<category column> (or by=store,category: the lift within each store)")
    error_model = check(read_error_model(cfg.model), cfg.method)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "problems.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason"])
        found = read_groups(cfg.predictions, by, on_problems=writer.writerows)
    sums = outer_groups(found.keys)[1] if cfg.lift else None  # each store's all buyers, for lift
    results, estimates = group_shares(
        error_model,
        found.cells,
        cfg.method,
        cfg.bootstrap,
        cfg.level,
        cfg.min_photos,
        cfg.seed,
        cfg.shrinkage,
        sums,
    )
    written = write_shares(list(zip(found.keys, results[: len(found.keys)])), by, out) + ["problems.csv"]
    print((out / "shares.md").read_text())
    if cfg.lift:
        written += write_lift(lifts(found.keys, estimates, cfg.level, cfg.min_photos), by[:-1], cfg.level, out)
        print((out / "lift.md").read_text())
    if found.skipped:
        print(f"{found.skipped} row(s) without a prediction (status other than ok) left out")
    if found.problems:
        print(f"{found.problems} row(s) could not be read: listed in problems.csv with their line and reason")
    if not any(name.endswith(".png") for name in written):
        print("(no chart: install matplotlib for the charts)")
    print(f"written: {out}/{', '.join(written)}")


def _answers(cfg: AnswersConfig) -> None:
    out = Path(cfg.out)
    rows = 0
    with pa_csv.CSVWriter(out, answer_schema()) as writer, tqdm(unit=" rows", desc="exporting") as bar:
        for batch in answer_batches(cfg.log, since=since_time(cfg.since), alcohol_event=cfg.alcohol_event):
            writer.write_batch(batch)
            rows += batch.num_rows
            bar.update(batch.num_rows)
    print(f"{rows} answer(s) of {shown(cfg.log)} written: {out}")


def _drift(cfg: DriftConfig) -> None:
    reference = ModelFile.read(Path(cfg.model)).shift_reference
    if reference is None:
        raise UserError(f"{cfg.model} has no shift reference: recalibrate and export the model again")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "problems.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason"])
        tills = replay(cfg.predictions, reference, cfg.by, cfg.delta, cfg.seed, on_problems=writer.writerows)
    written = write_drift(tills, cfg.delta, out) + ["problems.csv"]
    for till, drift in tills.items():
        said = f"ALARM at photo {drift.alarm_at}" if drift.state.alarm else "no alarm"
        print(f"{till}: {drift.state.photos} photos, {said}, evidence {drift.state.evidence:.3g}")
    print(f"written: {out}/{', '.join(written)}")


def read_photos(cfg: StoreLogConfig) -> Photos:
    folder = Path(cfg.folder).expanduser().resolve()  # the log names each photo by its full path
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise UserError(f"folder {folder}: no labels.csv")
    with open(labels, newline="") as f:
        ages = {row["file_name"]: float(row["real_age"]) for row in csv.DictReader(f) if row.get("real_age")}
    if cfg.answers:
        with open(cfg.answers, newline="") as f:
            answered = {Path(r["file"]).name: r for r in csv.DictReader(f) if r.get("status") == OK}
    else:
        files = np.array([str(folder / "final_files" / name) for name in ages])
        predicted, scale, statuses = photo_answerer(Path(cfg.model))(files)
        answered = {
            Path(f).name: {"predicted_age": p, "age_scale": s}
            for f, p, s, status in zip(files, predicted, scale if scale is not None else predicted, statuses)
            if status == OK
        }
    names = [name for name in ages if name in answered]
    if not names:
        raise UserError(f"folder {folder}: no photo with an answer (labels.csv lists {len(ages)})")
    uncertain = ModelFile.read(cfg.model).uncertain
    return Photos(
        np.array([str(folder / "final_files" / n) for n in names]),
        np.array([ages[n] for n in names]),
        np.array([float(answered[n]["predicted_age"]) for n in names]),
        np.array([float(answered[n]["age_scale"]) for n in names]) if uncertain else None,
    )


def _store_log(cfg: StoreLogConfig) -> None:
    chain = generate(read_photos(cfg), cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, file in (
        ("sales", "sales.csv"),
        ("truth", "truth.csv"),
        ("cashiers", "truth_cashiers.csv"),
        ("categories", "truth_categories.csv"),
    ):
        pa_csv.write_csv(chain[name], out / file)
    sales = chain["sales"]
    print(
        f"{sales.num_rows} sales ({sum(sales.column('alcohol').to_pylist())} alcohol) of "
        f"{cfg.stores * cfg.cashiers} cashiers in {cfg.stores} stores"
    )
    print(f"written: {out}/sales.csv (what a store has), truth.csv, truth_cashiers.csv, truth_categories.csv")


shares = command("age-shares (shares.py)", SharesConfig, _shares)
audit = command("age-audit (audit.py)", AuditConfig, _audit)
store_log = command("age-store-log (store_log.py)", StoreLogConfig, _store_log)
answers = command("age-answers (answers.py)", AnswersConfig, _answers)
drift = command("age-drift (drift.py)", DriftConfig, _drift)
