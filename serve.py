"""The checkout service: `python serve.py model=deploy/model.onnx [api_keys=keys.txt host=0.0.0.0] [port=8000]`.

Serves POST /v1/age, GET /metrics, GET /health/live and /health/ready (see age_lightning/deploy/server.py).
Needs only the serve requirements (requirements-serve.txt), never torch. Options: ServeConfig.
"""

import sys

from age_lightning.deploy.observability import configure_json_logging
from age_lightning.deploy.options import parse_options
from age_lightning.deploy.server import ServeConfig, create_app
from age_lightning.errors import UserError


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    configure_json_logging()
    try:
        cfg = parse_options(ServeConfig, sys.argv[1:] if argv is None else argv)
        app = create_app(cfg)
        # log_config=None: uvicorn's own records go through the JSON lines too; no access log: the service logs one
        # line per request itself
        uvicorn.run(app, host=cfg.host, port=cfg.port, log_config=None, access_log=False, timeout_keep_alive=5,
                    limit_concurrency=cfg.max_connections, timeout_graceful_shutdown=cfg.shutdown_timeout_s,
                    ssl_certfile=cfg.ssl_certfile, ssl_keyfile=cfg.ssl_keyfile)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
