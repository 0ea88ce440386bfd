"""Compare calibrations of one model on photos it was not calibrated on: pooled, worst-group and shift-robust
margins (the calibrations of several recalibrated copies of the same checkpoint), applied to the predictions that
evaluate.py wrote for a labeled folder.

    python scripts/calibration_bench.py --predictions <evaluate.py's predictions.csv> \
        --calibrated pooled=<a.ckpt> worst-race=<b.ckpt> shift-0.005=<c.ckpt> [--by gender]

For each calibration: minors not asked for ID (with the exact 95% upper bound), adults 25+ asked, and the 90%
interval's coverage, overall and per value of each --by column of the predictions.
"""

import argparse
from pathlib import Path

import pandas as pd

from age_lightning.ages import ADULTS
from age_lightning.calibration import Calibration
from age_lightning.evaluation.metrics import interval_metrics
from age_lightning.evaluation.outcomes import RuleOutcomes
from age_lightning.model.inference import load_checkpoint


def outcomes(rows: pd.DataFrame, calibration: Calibration) -> str:
    real, predicted, scale = rows["real_age"], rows["predicted_age"], rows["scale"]
    found = RuleOutcomes.of(real, calibration.asks_for_id(predicted, scale))
    low, high = calibration.bounds(predicted, scale)
    passing, friction = found.minors_pass_through, found.adult_friction
    minors = (
        f"{passing.count} of {passing.n} = {passing.share:.1%} (≤ {passing.upper:.1%})" if passing.n else "no minors"
    )
    return f"{minors} | {friction.share:.1%} | {interval_metrics(real, low, high)['coverage']:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--calibrated", nargs="+", required=True, help="name=checkpoint, one per calibration")
    parser.add_argument("--by", nargs="*", default=[], help="group columns of the predictions")
    args = parser.parse_args()

    table = pd.read_csv(args.predictions, keep_default_na=False)
    print(f"{args.predictions}: {len(table)} photos")
    print(f"| calibration | margin | group | minors not asked (upper) | {ADULTS} asked | 90% interval coverage |")
    print("|---|---|---|---|---|---|")
    for item in args.calibrated:
        name, path = item.split("=", 1)
        calibration = load_checkpoint(path, device="cpu")[0].calibration
        print(f"| {name} | {calibration.margin:.2f} | all | {outcomes(table, calibration)} |")
        for column in args.by:
            for value, rows in table.groupby(column):
                print(f"| {name} | | {column}={value} | {outcomes(rows, calibration)} |")


if __name__ == "__main__":
    main()
