"""Compare training recipes on the decisions that matter at the till, per source folder, from evaluate.py outputs.

    python scripts/recipe_compare.py NAME=<evaluate output folder> [NAME=<folder> ...]

Each folder is what `python evaluate.py ckpt_path=<best> data.root=[<utkface>,<aaf_train>]` wrote (its
predictions.csv and metrics.json). Per source: MAE and bias, the 13-17 band's MAE and bias, 90% interval coverage,
both calibrated ID rules' minors passing (exact upper bound) and adults asked, and the adults asked by the interval
rule's score at a 2% cap on this set's own minors (an oracle setting, for comparing recipes on equal terms).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from age_lightning.ages import ADULTS, LEGAL_AGE, TEEN_BAND, age_band
from age_lightning.calibration import Calibration
from age_lightning.evaluation.metrics import friction_at_pass_through, pass_scores
from age_lightning.evaluation.outcomes import RuleOutcomes
from age_lightning.id_rules import asks_unless_above

CAP = 0.02


def passing(outcomes: RuleOutcomes) -> str:
    p = outcomes.minors_pass_through
    return f"{p.count}/{p.n} ({p.share:.1%}, upper {p.upper:.1%})"


def source_rows(table: pd.DataFrame, calibration: Calibration | None) -> dict:
    real, predicted = table["real_age"].to_numpy(float), table["predicted_age"].to_numpy(float)
    error = predicted - real
    teens = np.asarray(age_band(real)) == TEEN_BAND
    scores = pass_scores(predicted, table["scale"].to_numpy(float))
    oracle = friction_at_pass_through(real, scores["interval"], CAP)
    row = {
        "photos": len(table),
        "MAE": f"{np.abs(error).mean():.2f} ({error.mean():+.2f})",
        "13-17 MAE": f"{np.abs(error[teens]).mean():.2f} ({error[teens].mean():+.2f})" if teens.any() else "-",
    }
    rules = {
        "coverage": "-",
        "interval rule: minors passing": "-",
        f"interval rule: {ADULTS} asked": "-",
        "point rule: minors passing": "-",
        f"point rule: {ADULTS} asked": "-",
    }  # "-": not calibrated (too few calibration minors for the bound), so no intervals and no calibrated rules
    if calibration is not None:
        interval = RuleOutcomes.of(real, table["asks_for_id"].to_numpy(bool))
        point = RuleOutcomes.of(real, asks_unless_above(predicted, calibration.point_threshold))
        rules = dict(
            zip(
                rules,
                [
                    f"{((real >= table['age_low']) & (real <= table['age_high'])).mean():.1%}",
                    passing(interval),
                    f"{interval.adult_friction.share:.1%}",
                    passing(point),
                    f"{point.adult_friction.share:.1%}",
                ],
            )
        )
    row.update(rules)
    row[f"{ADULTS} asked, {CAP:.0%} cap on this set"] = (
        f"{RuleOutcomes.from_dict(oracle).adult_friction.share:.1%}" if oracle["cut"] is not None else "-"  # no minors
    )
    row["minors"] = int((real < LEGAL_AGE).sum())
    return row


def main(arguments: list[str]) -> None:
    rows = []
    for argument in arguments:
        name, _, folder = argument.partition("=")
        table = pd.read_csv(Path(folder) / "predictions.csv")
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        found = metrics["uncertainty"].get("calibration")
        calibration = Calibration.from_dict(found) if found else None
        for source, part in table.groupby("source"):
            rows.append({"recipe": name, "source": source, **source_rows(part, calibration)})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(sys.argv[1:])
