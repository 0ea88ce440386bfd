"""Compare training recipes on the decisions that matter at the till, per source folder, from evaluate.py outputs.

    python scripts/recipe_compare.py NAME=<evaluate output folder> [NAME=<folder> ...] [--csv results.csv]

Each folder is what `python evaluate.py ckpt_path=<best> data.root=[<utkface>,<aaf_train>]` wrote (its
predictions.csv and metrics.json). Per source: MAE and bias, the 13-17 band's MAE and bias, 90% interval coverage,
both calibrated ID rules' minors passing (exact upper bound) and adults asked, the interval rule's 13-17 year olds
passing (pooled, and at 16 and 17) and 18-24 year olds asked, Challenge 25's 13-17 year olds estimated over 25, and
the adults asked by the interval rule's score at a 2% cap on this set's own minors and on its 13-17 year olds (oracle
settings, for comparing recipes on equal terms).
Prints a markdown table; --csv also writes it as a CSV (docs/benchmarks/results/ keeps the measured ones).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from age_lightning.ages import ADULTS, ID_CHECK_AGE, LEGAL_AGE, TEEN_BAND, age_band
from age_lightning.calibration import MINOR_AGES, Calibration
from age_lightning.evaluation.metrics import friction_at_pass_through, pass_scores, regression_metrics
from age_lightning.evaluation.outcomes import Rate, RuleOutcomes
from age_lightning.id_rules import asks_unless_above

CAP = 0.02


def passing(p: Rate) -> str:
    return "-" if p.n == 0 else f"{p.count}/{p.n} ({p.share:.1%}, upper {p.upper:.1%})"


def share(p: Rate) -> str:
    return "-" if p.share is None else f"{p.share:.1%}"


def mae_and_bias(real, predicted) -> str:
    found = regression_metrics(real, predicted)
    return "-" if found["n"] == 0 else f"{found['mae']:.2f} ({found['bias']:+.2f})"


def source_rows(table: pd.DataFrame, calibration: Calibration | None) -> dict:
    real, predicted = table["real_age"].to_numpy(float), table["predicted_age"].to_numpy(float)
    teens = np.asarray(age_band(real)) == TEEN_BAND
    scores = pass_scores(predicted, table["scale"].to_numpy(float))
    oracle = friction_at_pass_through(real, scores["interval"], CAP)
    teen_oracle = friction_at_pass_through(real, scores["interval"], CAP, MINOR_AGES)
    row = {
        "photos": len(table),
        "MAE": mae_and_bias(real, predicted),
        "13-17 MAE": mae_and_bias(real[teens], predicted[teens]),
    }
    rules = {
        "coverage": "-",
        "interval rule: minors passing": "-",
        "interval rule: 13-17 passing": "-",
        "interval rule: 16 / 17 passing": "-",
        f"interval rule: {ADULTS} asked": "-",
        "interval rule: 18-24 asked": "-",
        "point rule: minors passing": "-",
        f"point rule: {ADULTS} asked": "-",
    }  # "-": not calibrated (too few calibration minors for the bound), so no intervals and no calibrated rules
    if calibration is not None:
        interval = RuleOutcomes.of(real, table["asks_for_id"].to_numpy(bool))
        point = RuleOutcomes.of(real, asks_unless_above(predicted, calibration.point_threshold))
        by_age = interval.pass_through_by_age
        rules = dict(
            zip(
                rules,
                [
                    f"{((real >= table['age_low']) & (real <= table['age_high'])).mean():.1%}",
                    passing(interval.minors_pass_through),
                    passing(by_age[TEEN_BAND]),
                    f"{share(by_age['16'])} / {share(by_age['17'])}",
                    f"{interval.adult_friction.share:.1%}",
                    f"{interval.young_adults_asked.share:.1%}",
                    passing(point.minors_pass_through),
                    f"{point.adult_friction.share:.1%}",
                ],
            )
        )
    row.update(rules)
    challenge25 = RuleOutcomes.of(real, asks_unless_above(predicted, ID_CHECK_AGE)).pass_through_by_age[TEEN_BAND]
    row[f"Challenge 25: 13-17 estimated over {ID_CHECK_AGE}"] = share(challenge25)
    for name, found in ((f"{CAP:.0%} cap on this set's minors", oracle), (f"{CAP:.0%} cap on its 13-17s", teen_oracle)):
        no_minors = found["cut"] is None
        row[f"{ADULTS} asked, {name}"] = (
            "-" if no_minors else f"{RuleOutcomes.from_dict(found).adult_friction.share:.1%}"
        )
    row["minors"] = int((real < LEGAL_AGE).sum())
    row["13-17"] = int(teens.sum())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", metavar="NAME=FOLDER", help="a recipe's name and its evaluate.py folder")
    parser.add_argument("--csv", type=Path, help="also write the table as a CSV")
    args = parser.parse_args()
    rows = []
    for argument in args.recipes:
        name, _, folder = argument.partition("=")
        if not folder:
            parser.error(f"{argument!r}: give NAME=FOLDER")
        table = pd.read_csv(Path(folder) / "predictions.csv")
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        found = metrics["uncertainty"].get("calibration")
        calibration = Calibration.from_dict(found) if found else None
        for source, part in table.groupby("source"):
            rows.append({"recipe": name, "source": source, **source_rows(part, calibration)})
    found = pd.DataFrame(rows)
    print(found.to_markdown(index=False))
    if args.csv:
        found.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
