"""The checkout service: `python serve.py model=deploy/model.onnx [api_keys=keys.txt host=0.0.0.0] [port=8000]`.

Serves POST /v1/age, GET /metrics, GET /health/live and /health/ready (see age_lightning/deploy/app.py).
Needs only the serve requirements (requirements-serve.txt), never torch. Options: ServeConfig.
"""

import sys

from age_lightning.deploy.commands import serve

if __name__ == "__main__":
    sys.exit(serve())
