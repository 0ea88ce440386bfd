"""Age-band shares of buyers, corrected for the model's errors, with intervals:

    python shares.py predictions=ages.csv model=deploy/model.json [by=category,store] [output=shares/]

Reads the CSV that predict.py or predict_onnx.py writes (or any CSV with predicted_age, and age_scale for an
uncertain model), plus any grouping columns a store joins in from its tills. Writes shares.csv, shares.md and
shares.png (with matplotlib installed) to `output`. Needs no torch. Options: SharesConfig.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from age_lightning.deploy.options import parse_options
from age_lightning.deploy.shares_files import (
    group_shares,
    read_error_model,
    read_predictions,
    shares_markdown,
    write_shares_csv,
)
from age_lightning.errors import UserError
from age_lightning.shares import BOOTSTRAP, DEFAULT_METHOD, LEVEL, MIN_PHOTOS


@dataclass
class SharesConfig:
    predictions: str = MISSING        # a predictions CSV (predicted_age, and age_scale for an uncertain model)
    model: str = MISSING              # the exported model.json (it carries the error model)
    by: str = ""                      # grouping columns, comma-separated (e.g. category,store); none: one group
    output: str = "shares"            # folder for shares.csv, shares.md, shares.png
    method: str = DEFAULT_METHOD      # dm | acc | em
    bootstrap: int = BOOTSTRAP        # bootstrap replicates for the intervals
    level: float = LEVEL              # interval level
    min_photos: int = MIN_PHOTOS      # groups with fewer photos are flagged as too few for a useful interval
    seed: int = 0


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_options(SharesConfig, sys.argv[1:] if argv is None else argv)
        by = [column.strip() for column in cfg.by.split(",") if column.strip()]
        error_model = read_error_model(cfg.model)
        groups, skipped = read_predictions(cfg.predictions, by)
        results = group_shares(groups, error_model, method=cfg.method, bootstrap=cfg.bootstrap, level=cfg.level,
                               min_photos=cfg.min_photos, seed=cfg.seed)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    output = Path(cfg.output)
    write_shares_csv(results, by, output / "shares.csv")
    table = shares_markdown(results, by)
    (output / "shares.md").write_text(table)
    print(table)
    if skipped:
        print(f"{skipped} row(s) without a prediction (status other than ok) left out")
    try:
        from age_lightning.evaluation import plots
    except ImportError:
        print("(no chart: install matplotlib for shares.png)")
    else:
        shares = {", ".join(key) or "all": s.to_dict() for key, s in results}
        plots.save(plots.band_shares(shares), output / "shares.png")
        (output / "shares.json").write_text(json.dumps(shares, indent=2))
    print(f"written: {output}/shares.csv, shares.md" + (", shares.png" if (output / "shares.png").exists() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
