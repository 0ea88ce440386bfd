"""The checkout service: `python serve.py model=deploy/model.onnx [port=8000] [host=0.0.0.0]`.

Serves POST /v1/age, GET /health, GET /metrics and a demo page at GET / (see age_lightning/deploy/server.py).
Needs only the serve requirements (requirements-serve.txt), never torch. Options: ServeConfig.
"""

import logging
import sys

from age_lightning.deploy.options import parse_options
from age_lightning.deploy.server import ServeConfig, create_app
from age_lightning.errors import UserError


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse_options(ServeConfig, sys.argv[1:] if argv is None else argv)
        app = create_app(cfg)
        # no access log: the service logs one metadata line per request itself
        uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=False, timeout_keep_alive=5,
                    limit_concurrency=cfg.max_connections, log_level="warning")
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
