"""The torch-free commands, one function each: the `age-predict-onnx`, `age-serve`, `age-make-key` and
`age-shares` console scripts of an installed package, and predict_onnx.py, serve.py, make_key.py and shares.py in a
checkout. Options are typed dataclasses parsed from key=value arguments (deploy/options.py)."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from omegaconf import MISSING

from age_lightning.deploy.access import new_key
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.options import parse_options
from age_lightning.deploy.predict_files import input_files, predict_files, summary, write_csv
from age_lightning.deploy.server import ServeConfig
from age_lightning.deploy.shares_files import (
    group_shares,
    read_error_model,
    read_predictions,
    shares_markdown,
    write_shares_csv,
)
from age_lightning.errors import UserError
from age_lightning.input_spec import PhotoPreparer
from age_lightning.shares import BOOTSTRAP, DEFAULT_METHOD, LEVEL, MIN_PHOTOS


def _command(schema: type, run: Callable) -> Callable[[list[str] | None], int]:
    """A main(argv) that parses `schema` options and runs `run(cfg)`; a UserError is one line and exit status 1."""

    def main(argv: list[str] | None = None) -> int:
        try:
            cfg: Any = parse_options(schema, sys.argv[1:] if argv is None else argv)
            return run(cfg) or 0
        except UserError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1

    return main


@dataclass
class PredictOnnxConfig:
    model: str = MISSING  # model.onnx (or model_int8.onnx), with its .json beside it
    input: str = MISSING  # an image file or a folder (searched recursively)
    output: str = "predictions.csv"
    batch_size: int = 32
    id_rule: str | None = None  # point | interval (calibrated uncertain models); None: model.json's
    id_check_age: float | None = None  # the point rule asks unless the age is above it; None: model.json's
    faces: str | None = None  # none | align; None: the face policy the model was trained with
    threads: int = 0  # onnxruntime threads; 0: all cores


def _predict_onnx(cfg: PredictOnnxConfig) -> None:
    model = OnnxAgeModel(cfg.model, cfg.threads)
    prepare = PhotoPreparer(model.spec.override(cfg.faces, cfg.id_rule, cfg.id_check_age))
    rows = predict_files(input_files(cfg.input), model, prepare, cfg.batch_size)
    write_csv(rows, Path(cfg.output))
    print(summary(rows))
    print(f"written: {cfg.output}")


def _serve(cfg: ServeConfig) -> None:
    import uvicorn

    from age_lightning.deploy.observability import configure_json_logging
    from age_lightning.deploy.server import create_app

    configure_json_logging()
    app = create_app(cfg)
    # log_config=None: uvicorn's own records go through the JSON lines too; no access log: the service logs one
    # line per request itself
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=5,
        limit_concurrency=cfg.max_connections,
        timeout_graceful_shutdown=cfg.shutdown_timeout_s,
        ssl_certfile=cfg.ssl_certfile,
        ssl_keyfile=cfg.ssl_keyfile,
    )


@dataclass
class KeyConfig:
    name: str = MISSING  # the till's name, as it will appear in the logs and metrics


def _make_key(cfg: KeyConfig) -> None:
    key, line = new_key(cfg.name)
    print(
        f"key for till {cfg.name} (shown once; the till sends it as 'Authorization: Bearer <key>'):\n{key}\n"
        f"line for the keys file:\n{line}"
    )


@dataclass
class SharesConfig:
    predictions: str = MISSING  # a predictions CSV (predicted_age, and age_scale for an uncertain model)
    model: str = MISSING  # the exported model.json (it carries the error model)
    by: str = ""  # grouping columns, comma-separated (e.g. category,store); none: one group
    output: str = "shares"  # folder for shares.csv, shares.md, shares.png
    method: str = DEFAULT_METHOD  # dm | acc | em
    bootstrap: int = BOOTSTRAP  # bootstrap replicates for the intervals
    level: float = LEVEL  # interval level
    min_photos: int = MIN_PHOTOS  # groups with fewer photos are flagged as too few for a useful interval
    seed: int = 0


def _shares(cfg: SharesConfig) -> None:
    by = [column.strip() for column in cfg.by.split(",") if column.strip()]
    error_model = read_error_model(cfg.model)
    groups, skipped = read_predictions(cfg.predictions, by)
    results = group_shares(
        groups,
        error_model,
        method=cfg.method,
        bootstrap=cfg.bootstrap,
        level=cfg.level,
        min_photos=cfg.min_photos,
        seed=cfg.seed,
    )
    output = Path(cfg.output)
    write_shares_csv(results, by, output / "shares.csv")
    table = shares_markdown(results, by)
    (output / "shares.md").write_text(table)
    shares = {", ".join(key) or "all": s.to_dict() for key, s in results}
    (output / "shares.json").write_text(json.dumps(shares, indent=2))
    print(table)
    if skipped:
        print(f"{skipped} row(s) without a prediction (status other than ok) left out")
    try:  # the chart needs matplotlib, which a till's install does not have
        from age_lightning.evaluation import plots
    except ImportError:
        print("(no chart: install matplotlib for shares.png)")
    else:
        plots.save(plots.band_shares(shares), output / "shares.png")
    print(
        f"written: {output}/shares.csv, shares.md, shares.json"
        + (", shares.png" if (output / "shares.png").exists() else "")
    )


predict_onnx = _command(PredictOnnxConfig, _predict_onnx)
serve = _command(ServeConfig, _serve)
make_key = _command(KeyConfig, _make_key)
shares = _command(SharesConfig, _shares)
