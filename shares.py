"""Age-band shares of buyers, corrected for the model's errors, with intervals:

    python shares.py predictions=ages.csv model=deploy/model.json [by=category,store] [output=shares/]

Reads the CSV that predict.py or predict_onnx.py writes (or any CSV with predicted_age, and age_scale for an
uncertain model), plus any grouping columns a store joins in from its tills. Writes shares.csv, shares.md,
shares.json and shares.png (with matplotlib installed) to `output`. Needs no torch. Options: SharesConfig in
age_lightning/deploy/commands.py.
"""

import sys

from age_lightning.store.commands import shares

if __name__ == "__main__":
    sys.exit(shares())
