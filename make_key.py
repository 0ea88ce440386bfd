"""Make an API key for one till of the checkout service: `python make_key.py name=till-01`.

Prints the key once (give it to the till; it is not stored anywhere) and the line to add to the service's keys
file (`api_keys=...`), which holds only the key's SHA-256.
"""

import sys
from dataclasses import dataclass

from omegaconf import MISSING

from age_lightning.deploy.access import new_key
from age_lightning.deploy.options import parse_options
from age_lightning.errors import UserError


@dataclass
class KeyConfig:
    name: str = MISSING  # the till's name, as it will appear in the logs and metrics


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_options(KeyConfig, sys.argv[1:] if argv is None else argv)
        key, line = new_key(cfg.name)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"key for till {cfg.name} (shown once; the till sends it as 'Authorization: Bearer <key>'):\n{key}\n"
          f"line for the keys file:\n{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
