"""Make an API key for one till of the checkout service: `python make_key.py name=till-01`.

Prints the key once (give it to the till; it is not stored anywhere) and the line to add to the service's keys
file (`api_keys=...`), which holds only the key's SHA-256.
"""

import sys

from age_lightning.deploy.commands import make_key

if __name__ == "__main__":
    sys.exit(make_key())
