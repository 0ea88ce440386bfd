"""The torch-free commands of the service, one function each: the `age-predict-onnx`, `age-serve` and
`age-make-key` console scripts of an installed package, and predict_onnx.py, serve.py and make_key.py in a
checkout. Options are the typed dataclasses of deploy/configs.py, parsed from key=value arguments
(deploy/options.py)."""

import sys
from pathlib import Path
from typing import Any, Callable

from age_lightning.deploy.access import new_key
from age_lightning.deploy.configs import KeyConfig, PredictOnnxConfig, ServeConfig
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.options import HELP, parse_options, usage
from age_lightning.deploy.predict_files import input_files, predict_files, summary, write_csv
from age_lightning.errors import UserError
from age_lightning.input_spec import PhotoPreparer
from age_lightning.minor_probability import MinorProbability


def command(name: str, schema: type, run: Callable) -> Callable[[list[str] | None], int]:
    """A main(argv) that parses `schema` options and runs `run(cfg)`; a UserError is one line and exit status 1;
    --help (or -h) prints the options with their defaults."""

    def main(argv: list[str] | None = None) -> int:
        argv = sys.argv[1:] if argv is None else argv
        if any(arg in HELP for arg in argv):
            print(usage(name, schema))
            return 0
        try:
            cfg: Any = parse_options(schema, argv)
            return run(cfg) or 0
        except UserError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1

    return main


def _predict_onnx(cfg: PredictOnnxConfig) -> None:
    model = OnnxAgeModel(cfg.model, cfg.threads)
    prepare = PhotoPreparer(model.spec.override(cfg.faces, cfg.id_rule, cfg.id_check_age))
    minor = MinorProbability.for_answers(model.file.error_model)
    rows = predict_files(input_files(cfg.input), model, prepare, cfg.batch_size, minor=minor)
    write_csv(rows, Path(cfg.output))
    print(summary(rows))
    print(f"written: {cfg.output}")


def _serve(cfg: ServeConfig) -> None:
    import uvicorn

    from age_lightning.deploy.app import create_app
    from age_lightning.deploy.observability import configure_json_logging

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


def _make_key(cfg: KeyConfig) -> None:
    key, line = new_key(cfg.name, cfg.role, cfg.store)
    print(
        f"key for {cfg.role} {cfg.name} (shown once; it is sent as 'Authorization: Bearer <key>'):\n{key}\n"
        f"line for the keys file:\n{line}"
    )


predict_onnx = command("age-predict-onnx (predict_onnx.py)", PredictOnnxConfig, _predict_onnx)
serve = command("age-serve (serve.py)", ServeConfig, _serve)
make_key = command("age-make-key (make_key.py)", KeyConfig, _make_key)
