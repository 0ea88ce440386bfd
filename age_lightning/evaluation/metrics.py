"""Evaluation metrics a store can act on: errors in years, per age band, the alcohol age check and, for an
uncertain model, its calibrated intervals and the two ID rules side by side.

All functions take real and predicted ages (years) and return JSON-safe values: a share that cannot be
measured (no people in the group) is None, never NaN.
"""

import numpy as np

from age_lightning.ages import AGE_BANDS, ID_CHECK_AGE, LEGAL_AGE, age_band
from age_lightning.calibration import ALL_MINORS, Calibration, minors_aged
from age_lightning.errors import UserError
from age_lightning.evaluation.outcomes import (
    THRESHOLD_SEARCH,
    AgeCheck,
    RuleOutcomes,
    asked,
    not_asked,
)
from age_lightning.id_rules import asks_unless_above
from age_lightning.minor_probability import MinorProbability
from age_lightning.shares import BANDS, ErrorModel, band_index, estimate_shares, total_variation

COST_CAPS = (0.02, 0.05)  # the caps on minors passing whose price in adults asked the report shows


def regression_metrics(real, predicted) -> dict:
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)
    error = predicted - real
    if len(real) == 0:
        return {"n": 0, "mae": None, "rmse": None, "median_abs_error": None, "within_5": None, "bias": None}
    return {
        "n": int(len(real)),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "median_abs_error": float(np.median(np.abs(error))),
        "within_5": float((np.abs(error) <= 5).mean()),
        "bias": float(error.mean()),
    }


def band_metrics(real, predicted) -> dict:
    """{band: {n, mae, bias}} over AGE_BANDS; bias > 0 means the model guesses too old."""
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)
    bands = np.asarray(age_band(real))
    result = {}
    for band in AGE_BANDS:
        chosen = bands == band
        metrics = regression_metrics(real[chosen], predicted[chosen])
        result[band] = {"n": metrics["n"], "mae": metrics["mae"], "bias": metrics["bias"]}
    return result


def age_check_metrics(real, predicted, threshold: float = ID_CHECK_AGE, target: float = 0.01) -> dict:
    """`AgeCheck.of` as metrics.json holds it:

    - minors_pass_through: minors (real age < 18) predicted above threshold, i.e. not asked for ID;
    - teens_pass_through: the same for 13-17 year olds;
    - adult_friction: adults (ID_CHECK_AGE and older) who would be asked for ID;
    - young_adults_asked: 18-24 year olds asked for ID (expected and fine under Challenge 25);
    - threshold_for_target: the smallest threshold whose minors' pass-through upper bound is <= target.
    """
    return AgeCheck.of(real, predicted, threshold, target).to_dict()


def interval_metrics(real, low, high) -> dict:
    """How often true ages fall inside / below / above the intervals, overall and per age band."""
    real, low, high = (np.asarray(a, float) for a in (real, low, high))

    def summary(chosen):
        if not chosen.any():
            return {"n": 0, "coverage": None, "below": None, "above": None, "mean_width": None}
        r, lo, hi = real[chosen], low[chosen], high[chosen]
        return {
            "n": int(chosen.sum()),
            "coverage": float(((r >= lo) & (r <= hi)).mean()),
            "below": float((r < lo).mean()),
            "above": float((r > hi).mean()),
            "mean_width": float((hi - lo).mean()),
        }

    bands = np.asarray(age_band(real))
    return {**summary(np.ones(len(real), bool)), "bands": {band: summary(bands == band) for band in AGE_BANDS}}


def pass_scores(predicted, scale) -> dict[str, np.ndarray]:
    """What each ID rule ranks buyers by (a buyer passes when the score is above the rule's cut)."""
    predicted = np.asarray(predicted, float)
    return {"point": predicted, "interval": (predicted - LEGAL_AGE) / np.asarray(scale, float)}


def tradeoff_curve(real, score, points: int = 1001) -> dict:
    """Minors' pass-through and adults' friction of "pass when score > cut" over cuts spanning the scores
    (every score as a cut up to `points` of them, else evenly spaced quantiles)."""
    real, score = np.asarray(real, float), np.asarray(score, float)
    cuts = np.unique(score)
    if len(cuts) > points:
        cuts = np.unique(np.quantile(score, np.linspace(0, 1, points)))
    minors, adults = score[real < LEGAL_AGE], score[real >= ID_CHECK_AGE]
    return {
        "minors_pass_through": [float((~asks_unless_above(minors, c)).mean()) for c in cuts],
        "adult_friction": [float(asks_unless_above(adults, c).mean()) for c in cuts],
    }


def friction_at_pass_through(real, score, target: float, minor_ages=ALL_MINORS) -> dict:
    """The least adult friction of any cut that lets at most `target` of this set's minors aged minor_ages (first,
    last whole year) through (an oracle setting, chosen on the set itself: for comparing rules on equal terms, not
    for deployment)."""
    real, score = np.asarray(real, float), np.asarray(score, float)
    minors = np.sort(score[minors_aged(real, minor_ages)])[::-1]
    if len(minors) == 0:
        return {"target": target, "cut": None}
    cut = float(minors[min(int(np.floor(target * len(minors))), len(minors) - 1)])
    return {"target": target, "cut": cut, **RuleOutcomes.of(real, asks_unless_above(score, cut)).to_dict()}


def uncertainty_metrics(real, predicted, scale, calibration: Calibration) -> dict:
    """Calibrated intervals and both ID rules: as calibrated, and at equal minors' pass-through on this set."""
    low, high = calibration.bounds(predicted, scale)
    scores = pass_scores(predicted, scale)
    return {
        "calibration": calibration.to_dict(),
        "nominal_coverage": 1 - 2 * calibration.alpha,
        "intervals": interval_metrics(real, low, high),
        "calibrated_rules": {
            "interval": {
                "setting": calibration.margin,
                **RuleOutcomes.of(real, calibration.asks_for_id(predicted, scale)).to_dict(),
            },
            "point": {
                "setting": calibration.point_threshold,
                **RuleOutcomes.of(real, asks_unless_above(predicted, calibration.point_threshold)).to_dict(),
            },
        },
        "at_equal_pass_through": {
            rule: friction_at_pass_through(real, score, calibration.max_pass) for rule, score in scores.items()
        },
        "cost_at_caps": cost_at_caps(real, scores, calibration.minor_ages),
    }


def cost_at_caps(real, scores: dict[str, np.ndarray], minor_ages, caps=COST_CAPS) -> dict:
    """What an honest promise costs on this set: for each cap and rule, the cut letting at most that share of this
    set's minors aged minor_ages through, and the adults 25+ and 18-24 year olds it asks ({"2%": {rule: ...}});
    a cap the set's minors are too few to show (fewer than 1 / cap) is None."""
    minors = int(minors_aged(real, minor_ages).sum())
    return {
        f"{cap:.0%}": {
            rule: friction_at_pass_through(real, score, cap, minor_ages) if minors * cap >= 1 else None
            for rule, score in scores.items()
        }
        for cap in caps
    }


def evaluation_metrics(
    real,
    predicted,
    threshold: float = ID_CHECK_AGE,
    target: float = 0.01,
    scale=None,
    calibration: Calibration | None = None,
) -> dict:
    metrics = {
        **regression_metrics(real, predicted),
        "bands": band_metrics(real, predicted),
        "age_check": age_check_metrics(real, predicted, threshold, target),
    }
    if scale is not None and calibration is not None:
        metrics["uncertainty"] = uncertainty_metrics(real, predicted, scale, calibration)
    return metrics


def age_check_curve(real, predicted, thresholds=THRESHOLD_SEARCH) -> dict:
    """Minors' pass-through (share and upper bound) and adult friction at each threshold, for plotting."""
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)
    minors, adults = predicted[real < LEGAL_AGE], predicted[real >= ID_CHECK_AGE]
    passing = [not_asked(minors, t) for t in thresholds]
    return {
        "threshold": [float(t) for t in thresholds],
        "minors_pass_through": [p.share for p in passing],
        "minors_upper": [p.upper for p in passing],
        "adult_friction": [asked(adults, t).share for t in thresholds],
    }


def flat_scalars(metrics: dict, prefix: str) -> dict[str, float]:
    """The numeric leaves of `evaluation_metrics` as {"prefix/a/b": value}, e.g. for TensorBoard."""
    scalars = {}
    for key, value in metrics.items():
        name = f"{prefix}/{key}"
        if isinstance(value, dict):
            scalars.update(flat_scalars(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[name] = float(value)
    return scalars


def shares_metrics(real, predicted, error_model: ErrorModel) -> dict:
    """The set's true age-band shares, the counted ones and the corrected ones (with intervals): whether each
    interval covers the truth, and how far (total variation) counted and corrected shares are from it."""
    real = np.asarray(real, float)
    truth = np.bincount(band_index(real), minlength=len(BANDS)) / len(real)
    result = estimate_shares(error_model, predicted)
    found = result.to_dict()
    corrected = found["corrected"]
    return {
        **found,
        "error_model_photos": error_model.photos,
        "true": dict(zip(BANDS, truth.round(4).tolist())),
        "covered": {b: bool(corrected[b]["low"] <= t <= corrected[b]["high"]) for b, t in zip(BANDS, truth)},
        "tv_naive": round(total_variation(result.naive, truth), 4),
        "tv_corrected": round(total_variation(result.share, truth), 4),
    }


def reliability(probability, event, bins: int = 10) -> dict:
    """How well a probability reads as one: expected calibration error over `bins` equal-count bins, the Brier
    score, and each bin's mean probability against the observed rate (the reliability diagram)."""
    probability, event = np.asarray(probability, float), np.asarray(event, float)
    found = [
        {"p": float(probability[b].mean()), "observed": float(event[b].mean()), "n": len(b)}
        for b in np.array_split(np.argsort(probability, kind="stable"), min(bins, len(probability)))
        if len(b)
    ]
    return {
        "ece": round(sum(abs(b["p"] - b["observed"]) * b["n"] for b in found) / max(len(probability), 1), 4),
        "brier": round(float(np.mean(np.square(probability - event))), 4),
        "bins": [{k: round(v, 4) if k != "n" else v for k, v in b.items()} for b in found],
    }


def minor_probability_metrics(real, predicted, error_model: ErrorModel, subsets: dict | None = None) -> dict:
    """p_minor and p_under_25 on labeled photos, for all of them and each of `subsets` ({name: row mask}), each
    under that set's own age-band mix: what a store that states its buyers' mix correctly would get."""
    real, predicted = np.asarray(real, float), np.asarray(predicted, float)

    def of(rows: np.ndarray) -> dict:
        mix = np.bincount(band_index(real[rows]), minlength=len(BANDS)) / rows.sum()
        try:
            p_minor, p_under_25 = MinorProbability.fit(error_model, mix).of(predicted[rows])
        except UserError as error:  # the error model's photos miss an age band of this set
            return {"n": int(rows.sum()), "note": str(error)}
        return {
            "n": int(rows.sum()),
            "p_minor": reliability(p_minor, real[rows] < LEGAL_AGE),
            "p_under_25": reliability(p_under_25, real[rows] < ID_CHECK_AGE),
        }

    return {"all": of(np.ones(len(real), bool))} | {
        name: of(np.asarray(rows)) for name, rows in (subsets or {}).items()
    }
