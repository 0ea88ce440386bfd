"""Who the model fails: errors and the ID rules' outcomes for every value of the labels' own group columns
(e.g. gender, race) and, with several labeled folders, for every folder.

Audits of age estimation (NIST's, the UK's ACCS) report this breakdown; a group too small to show a pass-through
below the cap is said to be too small, with the number of minors it would need, instead of printing "0 of 3".
"""

import math

import numpy as np
import pandas as pd

from age_lightning.ages import ID_CHECK_AGE, LEGAL_AGE
from age_lightning.calibration import MAX_PASS, Calibration
from age_lightning.evaluation.accuracy import accuracy
from age_lightning.evaluation.metrics import (
    band_metrics,
    cost_at_caps,
    interval_metrics,
    pass_scores,
    regression_metrics,
)
from age_lightning.evaluation.outcomes import CONFIDENCE, RuleOutcomes
from age_lightning.id_rules import asks_unless_above

MIN_ADULTS = 30  # adults a group needs before its friction is compared with other groups'


def minors_needed(max_pass: float, confidence: float = CONFIDENCE) -> int:
    """Minors a group needs so that none passing would show its pass-through below max_pass (the exact two-sided
    interval's upper end of 0 of n is 1 - ((1 - confidence) / 2) ** (1 / n))."""
    return math.ceil(math.log((1 - confidence) / 2) / math.log(1 - max_pass))


def group_metrics(real, predicted, scale, threshold: float, calibration: Calibration | None) -> dict:
    """One group: errors, per-band MAE, Challenge 25 and (for a calibrated model) the intervals and both ID rules
    as calibrated."""
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)
    regression = regression_metrics(real, predicted)
    metrics = {key: regression[key] for key in ("n", "mae", "bias", "within_5")}
    metrics["accuracy"] = accuracy(np.abs(predicted - real))
    metrics["band_mae"] = {band: b["mae"] for band, b in band_metrics(real, predicted).items()}
    metrics["challenge25"] = RuleOutcomes.of(real, asks_unless_above(predicted, threshold)).to_dict()
    if calibration is not None and scale is not None:
        low, high = calibration.bounds(predicted, scale)
        metrics["coverage"] = interval_metrics(real, low, high)["coverage"]
        metrics["rules"] = {
            "interval": RuleOutcomes.of(real, calibration.asks_for_id(predicted, scale)).to_dict(),
            "point": RuleOutcomes.of(real, asks_unless_above(predicted, calibration.point_threshold)).to_dict(),
        }
        metrics["cost_at_caps"] = cost_at_caps(real, pass_scores(predicted, scale), calibration.minor_ages)
    return metrics


def audit(
    table: pd.DataFrame, columns: list[str], threshold: float = ID_CHECK_AGE, calibration: Calibration | None = None
) -> dict:
    """{column: {"values": {value: group_metrics}, "disparity": ...}} for every group column of `table`
    (real_age, predicted_age, scale when uncertain, and the columns)."""
    max_pass = calibration.max_pass if calibration else MAX_PASS
    needed = minors_needed(max_pass)
    rule = "interval" if calibration is not None and "scale" in table else "challenge25"
    result = {}
    for column in columns:
        values = {}
        for value, rows in table.groupby(column, sort=True):
            metrics = group_metrics(rows["real_age"], rows["predicted_age"], rows.get("scale"), threshold, calibration)
            minors = int((rows["real_age"] < LEGAL_AGE).sum())
            metrics["minors"] = minors
            metrics["enough_minors"] = minors >= needed
            values[str(value)] = metrics
        result[column] = {
            "values": values,
            "disparity": disparity(values, rule, needed),
            "rule": rule,
            "minors_needed": needed,
            "max_pass": max_pass,
        }
    return result


def outcomes(metrics: dict, rule: str) -> RuleOutcomes:
    """A group's minors passing and adults asked under the audited rule."""
    return RuleOutcomes.from_dict(metrics["challenge25"] if rule == "challenge25" else metrics["rules"][rule])


def disparity(values: dict, rule: str, needed: int) -> dict:
    """Worst and best group for minors' pass-through (groups with enough minors) and for adult friction (groups
    with at least MIN_ADULTS adults), their ratio, and the MAE gap; groups too small are listed."""

    def extremes(key: str, eligible: dict) -> dict | None:
        shares = {v: getattr(outcomes(m, rule), key).share for v, m in eligible.items()}
        if len(shares) < 2:
            return None
        worst, best = max(shares, key=shares.get), min(shares, key=shares.get)
        ratio = shares[worst] / shares[best] if shares[best] else None
        return {"worst": worst, "worst_share": shares[worst], "best": best, "best_share": shares[best], "ratio": ratio}

    with_minors = {v: m for v, m in values.items() if m["enough_minors"]}
    with_adults = {v: m for v, m in values.items() if outcomes(m, rule).adult_friction.n >= MIN_ADULTS}
    maes = {v: m["mae"] for v, m in values.items() if m["n"] >= MIN_ADULTS}
    return {
        "minors_pass_through": extremes("minors_pass_through", with_minors),
        "adult_friction": extremes("adult_friction", with_adults),
        "mae_gap": (max(maes.values()) - min(maes.values())) if len(maes) > 1 else None,
        "mae_worst": max(maes, key=maes.get) if maes else None,
        "too_few_minors": {v: m["minors"] for v, m in values.items() if not m["enough_minors"]},
    }


def flat_group_scalars(groups: dict, prefix: str) -> dict[str, float]:
    """TensorBoard scalars: prefix/groups/<column>/<value>/{mae, minors_pass_through, adult_friction}."""
    scalars = {}
    for column, audit_ in groups.items():
        for value, m in audit_["values"].items():
            found = outcomes(m, audit_["rule"])
            base = f"{prefix}/groups/{column}/{value}"
            for name, number in (
                ("mae", m["mae"]),
                ("minors_pass_through", found.minors_pass_through.share),
                ("adult_friction", found.adult_friction.share),
            ):
                if number is not None:
                    scalars[f"{base}/{name}"] = float(number)
    return scalars
