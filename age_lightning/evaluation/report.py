"""The evaluation report: predictions.csv, metrics.json, plots and a readable report.md."""

import json
from pathlib import Path

import pandas as pd

from age_lightning.ages import ADULTS, AGE_BANDS, LEGAL_AGE
from age_lightning.calibration import Calibration
from age_lightning.evaluation import plots
from age_lightning.evaluation.groups import audit, outcomes
from age_lightning.evaluation.metrics import (
    RuleOutcomes,
    age_check_curve,
    evaluation_metrics,
    pass_scores,
    regression_metrics,
    shares_metrics,
    tradeoff_curve,
)
from age_lightning.shares import ErrorModel

PLOTS = {
    "scatter": "predicted_vs_real.png",
    "bands": "error_by_band.png",
    "histogram": "age_histogram.png",
    "age_check": "age_check_tradeoff.png",
    "coverage": "interval_coverage.png",
    "rules": "id_rules_tradeoff.png",
    "shares": "age_shares.png",
}


def write_evaluation(
    table: pd.DataFrame,
    out_dir: Path,
    context: dict,
    threshold: float,
    target: float,
    calibration: Calibration | None = None,
    error_model: ErrorModel | None = None,
    groups: list[str] = (),
) -> dict:
    """Write everything for `table` (source, file_name, real_age, predicted_age and, for an uncertain model,
    scale, plus the `groups` columns) into out_dir; return the metrics. With an error model also the corrected
    age-band shares; with groups, the per-group audit."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = table.assign(abs_error=(table["predicted_age"] - table["real_age"]).abs())
    real, predicted = table["real_age"].to_numpy(), table["predicted_age"].to_numpy()
    scale = table["scale"].to_numpy() if "scale" in table else None
    if scale is not None and calibration:
        low, high = calibration.bounds(predicted, scale)
        table = table.assign(age_low=low, age_high=high, asks_for_id=calibration.asks_for_id(predicted, scale))
    table.to_csv(out_dir / "predictions.csv", index=False, float_format="%.2f")
    metrics = {**context, **evaluation_metrics(real, predicted, threshold, target, scale, calibration)}
    if scale is not None and not calibration:
        metrics["uncertainty"] = {"calibrated": False}
    if error_model is not None:
        metrics["shares"] = shares_metrics(real, predicted, scale, error_model)
    if groups:
        metrics["groups"] = audit(table, list(groups), threshold, calibration if scale is not None else None)
    if table["source"].nunique() > 1:  # several labeled folders: each one's errors too
        metrics["sources"] = {
            source: regression_metrics(rows["real_age"], rows["predicted_age"])
            for source, rows in table.groupby("source")
        }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))

    plots.save(plots.predicted_vs_real(real, predicted), out_dir / PLOTS["scatter"])
    plots.save(plots.band_errors(metrics["bands"]), out_dir / PLOTS["bands"])
    plots.save(plots.age_histogram(real, "Ages in the evaluated set"), out_dir / PLOTS["histogram"])
    if metrics["age_check"]["measurable"]:
        curve = age_check_curve(real, predicted)
        plots.save(plots.age_check_tradeoff(curve, threshold, target), out_dir / PLOTS["age_check"])
    uncertainty = metrics.get("uncertainty", {})
    if "intervals" in uncertainty:
        plots.save(
            plots.interval_coverage(uncertainty["intervals"]["bands"], uncertainty["nominal_coverage"]),
            out_dir / PLOTS["coverage"],
        )
        if metrics["age_check"]["measurable"]:
            curves = {rule: tradeoff_curve(real, score) for rule, score in pass_scores(predicted, scale).items()}
            plots.save(
                plots.id_rules_tradeoff(curves, uncertainty["calibrated_rules"], calibration.max_pass),
                out_dir / PLOTS["rules"],
            )
    for column, found in metrics.get("groups", {}).items():
        plots.save(plots.group_audit(column, found), out_dir / f"groups_{column}.png")
    if "shares" in metrics:
        plots.save(
            plots.band_shares({"corrected": metrics["shares"]}, metrics["shares"]["true"]), out_dir / PLOTS["shares"]
        )
    (out_dir / "report.md").write_text(render_report(metrics))
    return metrics


def render_report(m: dict) -> str:
    lines = [
        "# Age estimation: evaluation report",
        "",
        f"Checkpoint `{m.get('checkpoint', '?')}` on `{m.get('data_root', '?')}` (split: {m.get('split', '?')}, "
        f"answers averaged with the mirror image: {'on' if m.get('flip_average') else 'off'}).",
        "",
        *_photos_section(m),
        "## Overall",
        "",
        *markdown_table(
            ["photos", "MAE", "RMSE", "median abs. error", "within ±5 years", "bias (predicted - real)"],
            [
                [
                    m["n"],
                    _num(m["mae"]),
                    _num(m["rmse"]),
                    _num(m["median_abs_error"]),
                    _pct(m["within_5"]),
                    _num(m["bias"], signed=True),
                ]
            ],
        ),
        "",
        *_sources_section(m.get("sources")),
        "## By age band",
        "",
        *markdown_table(
            ["band", "photos", "MAE", "bias"],
            [[band, b["n"], _num(b["mae"]), _num(b["bias"], signed=True)] for band, b in m["bands"].items()],
        ),
        "",
        f"![error by band]({PLOTS['bands']})",
        "",
        f"![predicted vs real]({PLOTS['scatter']})",
        "",
        f"![age histogram]({PLOTS['histogram']})",
        "",
        "## Alcohol age check",
        "",
        *_age_check_section(m["age_check"]),
        "",
        *_uncertainty_section(m.get("uncertainty"), m["age_check"]),
        *_groups_section(m.get("groups")),
        *_shares_section(m.get("shares")),
        "## What this means",
        "",
        *_reading(m),
        "",
    ]
    return "\n".join(lines)


def _sources_section(sources: dict | None) -> list[str]:
    if not sources:
        return []
    return [
        "## By labeled folder",
        "",
        *markdown_table(
            ["folder", "photos", "MAE", "RMSE", "bias"],
            [
                [name, s["n"], _num(s["mae"]), _num(s["rmse"]), _num(s["bias"], signed=True)]
                for name, s in sources.items()
            ],
        ),
        "",
    ]


def _groups_section(groups: dict | None) -> list[str]:
    """Per group: errors, the ID rule's outcomes with exact upper bounds, and a plain-language disparity."""
    if not groups:
        return []
    lines = ["## By group", ""]
    for column, found in groups.items():
        rule = found["rule"]
        named = "the calibrated interval rule" if rule == "interval" else "Challenge 25"
        rows = []
        for value, g in found["values"].items():
            found_outcomes = outcomes(g, rule)
            passing, friction = found_outcomes.minors_pass_through, found_outcomes.adult_friction
            minors = (
                f"{passing.count} of {passing.n} ({_pct(passing.share)}, ≤ {_pct(passing.upper)})"
                if g["enough_minors"]
                else f"too few minors ({g['minors']}; {found['minors_needed']} needed)"
            )
            rows.append(
                [
                    value,
                    g["n"],
                    _num(g["mae"]),
                    _num(g["bias"], signed=True),
                    _pct(g["within_5"]),
                    minors,
                    f"{_pct(friction.share)} (≤ {_pct(friction.upper)})",
                    _pct(g.get("coverage")),
                ]
            )
        header = ["group", "photos", "MAE", "bias", "within ±5", "minors not asked (upper)"]
        header += [f"{ADULTS} asked (upper)", "interval coverage"]
        lines += [f"### {column} ({named})", "", *markdown_table(header, rows)]
        lines += ["", *_disparity_reading(column, found), "", f"![groups by {column}](groups_{column}.png)", ""]
    return lines


def _disparity_reading(column: str, found: dict) -> list[str]:
    d = found["disparity"]
    said = []
    if d["minors_pass_through"]:
        m = d["minors_pass_through"]
        said.append(
            f"- Minors not asked for ID: most often among **{m['worst']}** ({_pct(m['worst_share'])}), least "
            f"among {m['best']} ({_pct(m['best_share'])})."
        )
    if d["too_few_minors"]:
        said.append(
            f"- Too few minors to measure their pass-through (each needs {found['minors_needed']} for a "
            f"bound at {found['max_pass']:.0%}): "
            + ", ".join(f"{v} ({n})" for v, n in d["too_few_minors"].items())
            + "."
        )
    if d["adult_friction"]:
        f = d["adult_friction"]
        ratio = f", {f['ratio']:.1f} times as often" if f["ratio"] else ""
        said.append(
            f"- {ADULTS.capitalize()} asked for ID: most often **{f['worst']}** ({_pct(f['worst_share'])}), "
            f"least "
            f"{f['best']} ({_pct(f['best_share'])}){ratio}. This friction falls on some customers more than "
            f"on others."
        )
    if d["mae_gap"] is not None:
        said.append(f"- MAE gap between groups: {_num(d['mae_gap'])} years (worst: {d['mae_worst']}).")
    return said


def _shares_section(shares: dict | None) -> list[str]:
    """Corrected age-band shares against the truth: what analytics would report for a set like this one."""
    if not shares:
        return []
    rows = [
        [
            band,
            _pct(t),
            _pct(shares["naive"][band]),
            f"{_pct(c['share'])} [{_pct(c['low'])} - {_pct(c['high'])}]",
            "yes" if shares["covered"][band] else "**no**",
        ]
        for (band, t), c in zip(shares["true"].items(), shares["corrected"].values())
    ]
    verdict = "closer to" if shares["tv_corrected"] < shares["tv_naive"] else "no closer to"
    return [
        "## Age-group shares",
        "",
        f"What share of these {shares['photos']} photos falls in each age band, as analytics would report it: "
        f"counted from the predicted ages, and corrected for the model's errors ({shares['method']}, error "
        f"model from {shares['error_model_photos']} labeled photos it never trained on, "
        f"{shares['level']:.0%} intervals).",
        "",
        *markdown_table(["band", "true", "counted", "corrected [interval]", "interval covers the truth"], rows),
        "",
        f"Distance from the true shares (total variation): counted {shares['tv_naive']:.3f}, corrected "
        f"{shares['tv_corrected']:.3f}: the corrected shares are {verdict} the truth. "
        f"{shares['note']}".rstrip(),
        "",
        f"![age shares]({PLOTS['shares']})",
        "",
    ]


def _photos_section(m: dict) -> list[str]:
    """Which photos could be used: the face step's detection rate and any skipped rows."""
    if "skipped_rows" not in m:
        return []
    line = (
        f"Face step: **{m['faces']}**. {m['n']} photos evaluated; {m['skipped_rows']} rows of the folder were "
        f"skipped (listed in invalid_rows.csv)."
    )
    if m["faces"] == "align":
        readable = m["rows_with_face"] + m["no_face_rows"]
        line += (
            f" Face detection rate: {_pct(m['rows_with_face'] / readable if readable else None)} "
            f"({m['no_face_rows']} of {readable} readable photos without a face)."
        )
    return [line, ""]


def _age_check_section(check: dict) -> list[str]:
    if not check["measurable"]:
        return [f"Not measurable: this set has no minors (real age under {LEGAL_AGE})."]
    t, found_outcomes = check["threshold"], RuleOutcomes.from_dict(check)
    rows = [
        ("minors (under 18) **not** asked for ID", found_outcomes.minors_pass_through),
        ("13-17 year olds not asked for ID", found_outcomes.teens_pass_through),
        (f"{ADULTS} asked for ID (friction)", found_outcomes.adult_friction),
        ("18-24 year olds asked for ID", found_outcomes.young_adults_asked),
    ]
    search = check["threshold_for_target"]
    if search["threshold"] is None:
        found = f"No threshold reaches an upper bound of {_pct(search['target'])}: {search['reason']}."
    else:
        found = (
            f"The smallest threshold whose minors' pass-through upper bound is at most {_pct(search['target'])} "
            f"is **{search['threshold']:g}**; at it, {_pct(search['adult_friction']['share'])} of {ADULTS} "
            f"would be asked for ID."
        )
    return [
        f"Policy: ask for ID unless the predicted age is above **{t:g}** (Challenge 25). Shares with the exact "
        f"(Clopper-Pearson) {check['confidence']:.0%} interval's upper end:",
        "",
        *markdown_table(
            ["group", "count / n", "share", "upper bound"],
            [[name, f"{r.count} / {r.n}", _pct(r.share), _pct(r.upper)] for name, r in rows],
        ),
        "",
        found,
        "",
        f"![age check trade-off]({PLOTS['age_check']})",
    ]


def _uncertainty_section(u: dict | None, check: dict) -> list[str]:
    if not u:
        return []
    title = "## Calibrated intervals and the interval ID rule"
    if "intervals" not in u:
        return [
            title,
            "",
            "This model has an uncertain head but no calibration: run `recalibrate.py` on labeled "
            "photos it was not trained on.",
            "",
        ]
    c, intervals = u["calibration"], u["intervals"]
    rows = [("all", intervals), *intervals["bands"].items()]
    lines = [
        title,
        "",
        f"Calibrated on {c['photos']} photos ({c['minors']} minors) of `{c['source']}` (they "
        f"must be photos the model was not trained on). Nominal coverage **{_pct(u['nominal_coverage'])}**: "
        f"at most {_pct(c['alpha'])} of true ages below the interval and at most {_pct(c['alpha'])} above it, for "
        f"photos like the calibration photos (not per band: bands are shown to see where it holds).",
        "",
        *markdown_table(
            ["ages", "photos", "inside", "below", "above", "mean width (years)"],
            [
                [name, r["n"], _pct(r["coverage"]), _pct(r["below"]), _pct(r["above"]), _num(r["mean_width"])]
                for name, r in rows
            ],
        ),
        "",
        f"![interval coverage]({PLOTS['coverage']})",
        "",
    ]
    if not check["measurable"]:
        return lines
    rules = u["calibrated_rules"]
    table = [
        ("point, Challenge 25", f"at most {check['threshold']:g}", check),
        (f"point, calibrated for {_pct(c['max_pass'])}", f"at most {rules['point']['setting']:.1f}", rules["point"]),
        (
            f"interval, calibrated for {_pct(c['max_pass'])}",
            f"age - {rules['interval']['setting']:.2f} x scale <= {LEGAL_AGE}",
            rules["interval"],
        ),
    ]
    equal = u["at_equal_pass_through"]
    lines += [
        f"ID rules on this set. The calibrated settings were fitted on the calibration photos' minors so that "
        f"a minor passes with probability at most {_pct(c['max_pass'])}.",
        "",
        *markdown_table(
            ["rule", "asks for ID when", "minors not asked (upper bound)", "13-17 not asked", "18-24 asked"]
            + [f"{ADULTS} asked"],
            [
                [
                    name,
                    when,
                    f"{_pct(o.minors_pass_through.share)} ({_pct(o.minors_pass_through.upper)})",
                    _pct(o.teens_pass_through.share),
                    _pct(o.young_adults_asked.share),
                    _pct(o.adult_friction.share),
                ]
                for name, when, o in ((n, w, RuleOutcomes.from_dict(r)) for n, w, r in table)
            ],
        ),
        "",
        f"At equal pass-through (settings chosen on this set so that at most "
        f"{_pct(equal['point']['target'])} of its minors pass): {ADULTS} asked "
        f"{_pct(RuleOutcomes.from_dict(equal['point']).adult_friction.share)} under the point rule, "
        f"{_pct(RuleOutcomes.from_dict(equal['interval']).adult_friction.share)} under the interval rule.",
        "",
        f"![ID rules]({PLOTS['rules']})",
        "",
    ]
    return lines


def _rule_advice(u: dict) -> str:
    rules = u["calibrated_rules"]
    point, interval = (RuleOutcomes.from_dict(rules[r]).adult_friction.share for r in ("point", "interval"))
    better = "interval" if interval <= point else "point"
    cap = _pct(u["calibration"]["max_pass"])
    return (
        f"- **Which ID rule**: both calibrated rules cap minors' pass-through at {cap}; the {better} rule asks "
        f"fewer {ADULTS} ({_pct(min(point, interval))} against {_pct(max(point, interval))}). Use "
        f"`id_rule={better}` with this calibration, and recalibrate (`recalibrate.py`) on a few hundred labeled "
        f"photos from the store's own camera, minors included, before relying on the cap there."
    )


def _reading(m: dict) -> list[str]:
    worst = max((b for b in m["bands"].items() if b[1]["mae"] is not None), key=lambda b: b[1]["mae"])
    analytics = (
        f"- **Age-group analytics**: a typical error of {_num(m['mae'])} years (half the photos within "
        f"{_num(m['median_abs_error'])} years, {_pct(m['within_5'])} within ±5). Neighbouring age bands "
        f"will be mixed up; the worst band is {worst[0]} (MAE {_num(worst[1]['mae'])}). Use it for "
        f"shares of broad groups, not for individuals."
    )
    check = m["age_check"]
    if not check["measurable"]:
        alcohol = "- **Alcohol check**: cannot be judged from this set, which has no minors."
    else:
        passing = RuleOutcomes.from_dict(check).minors_pass_through
        alcohol = (
            f"- **Alcohol check**: at threshold {check['threshold']:g}, {passing.count} of {passing.n} "
            f"minors would not have been asked for ID (up to {_pct(passing.upper)} at "
            f"{check['confidence']:.0%} confidence). Any minor passing means the camera cannot replace the "
            f"cashier's judgement; at most it can prompt an ID check."
        )
    uncertainty = m.get("uncertainty", {})
    advice = [_rule_advice(uncertainty)] if "calibrated_rules" in uncertainty and check["measurable"] else []
    return [analytics, alcohol, *advice]


def console_summary(scalars: dict, split: str = "test") -> str:
    """The headline numbers of flat `split/...` metrics (as train.py logs them) in a few readable lines."""

    def get(key):
        return scalars.get(f"{split}/{key}")

    bands = "  ".join(f"{band} {_num(get(f'bands/{band}/mae'))}" for band in AGE_BANDS if get(f"bands/{band}/mae"))
    lines = [
        f"{split}: MAE {_num(get('mae'))}  RMSE {_num(get('rmse'))}  within ±5 years {_pct(get('within_5'))}  "
        f"bias {_num(get('bias'), signed=True)}",
        f"  MAE by age band: {bands}",
    ]
    if get("age_check/threshold") is not None and get("age_check/minors_pass_through/share") is not None:
        lines.append(
            f"  ID check at {get('age_check/threshold'):g}: minors not asked "
            f"{_pct(get('age_check/minors_pass_through/share'))} (upper bound "
            f"{_pct(get('age_check/minors_pass_through/upper'))}), {ADULTS} asked "
            f"{_pct(get('age_check/adult_friction/share'))}"
        )
    return "\n".join(lines)


def markdown_table(header: list[str], rows) -> list[str]:
    """Every table of the reports: the header, its rule, and one line per row (cells as given, | escaped)."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


def _num(value, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
