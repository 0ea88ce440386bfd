"""report.md from the evaluation's metrics (as metrics.json holds them): a pure function, no files, no figures
computed here. Longer than most modules (about 350 lines) because it is one page: a function per section, in the
order the page shows them, each mostly the words and the table a reader sees."""

from age_lightning.ages import ADULTS, LEGAL_AGE
from age_lightning.calibration import Calibration, promise_in_words
from age_lightning.evaluation.groups import outcomes
from age_lightning.evaluation.outcomes import AgeCheck, RuleOutcomes
from age_lightning.formatting import markdown_table, num, pct

PLOTS = {
    "scatter": "predicted_vs_real.png",
    "bands": "error_by_band.png",
    "histogram": "age_histogram.png",
    "age_check": "age_check_tradeoff.png",
    "coverage": "interval_coverage.png",
    "rules": "id_rules_tradeoff.png",
    "shares": "age_shares.png",
    "p_minor": "p_minor_reliability.png",
}  # the report's figures, written beside it by tasks/evaluate.py


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
                    num(m["mae"]),
                    num(m["rmse"]),
                    num(m["median_abs_error"]),
                    pct(m["within_5"]),
                    num(m["bias"], signed=True),
                ]
            ],
        ),
        "",
        *_sources_section(m.get("sources")),
        "## By age band",
        "",
        *markdown_table(
            ["band", "photos", "MAE", "bias"],
            [[band, b["n"], num(b["mae"]), num(b["bias"], signed=True)] for band, b in m["bands"].items()],
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
        *_age_check_section(AgeCheck.from_dict(m["age_check"])),
        "",
        *_uncertainty_section(m.get("uncertainty"), AgeCheck.from_dict(m["age_check"])),
        *_groups_section(m.get("groups")),
        *_shares_section(m.get("shares")),
        *_minor_probability_section(m.get("p_minor")),
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
            [[name, s["n"], num(s["mae"]), num(s["rmse"]), num(s["bias"], signed=True)] for name, s in sources.items()],
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
                f"{passing.count} of {passing.n} ({pct(passing.share)}, ≤ {pct(passing.upper)})"
                if g["enough_minors"]
                else f"too few minors ({g['minors']}; {found['minors_needed']} needed)"
            )
            rows.append(
                [
                    value,
                    g["n"],
                    num(g["mae"]),
                    num(g["bias"], signed=True),
                    pct(g["within_5"]),
                    minors,
                    f"{pct(friction.share)} (≤ {pct(friction.upper)})",
                    pct(g.get("coverage")),
                ]
            )
        header = ["group", "photos", "MAE", "bias", "within ±5", "minors not asked (upper)"]
        header += [f"{ADULTS} asked (upper)", "interval coverage"]
        lines += [f"### {column} ({named})", "", *markdown_table(header, rows), ""]
        by_age = [(value, outcomes(g, rule)) for value, g in found["values"].items()]
        lines += [f"13-17 year olds not asked, by year of age ({named}):", "", *_by_age_table(by_age)]
        costs = {value: g["cost_at_caps"] for value, g in found["values"].items() if g.get("cost_at_caps")}
        if costs:
            lines += ["", *_group_costs(costs)]
        lines += ["", *_disparity_reading(column, found), "", f"![groups by {column}](groups_{column}.png)", ""]
    return lines


def _group_costs(costs: dict) -> list[str]:
    """Per group: the adults 25+ / 18-24 asked when the interval rule's setting is chosen on the group's own 13-17
    year olds for each cap."""
    caps = list(next(iter(costs.values())))
    return [
        f"The cost of each cap within each group ({ADULTS} / 18-24 asked, interval rule, setting chosen on the "
        f"group's own 13-17 year olds):",
        "",
        *markdown_table(
            ["group", *caps],
            [[value, *(_cost_cell(cost[cap]["interval"]) for cap in caps)] for value, cost in costs.items()],
        ),
    ]


def _disparity_reading(column: str, found: dict) -> list[str]:
    d = found["disparity"]
    said = []
    if d["minors_pass_through"]:
        m = d["minors_pass_through"]
        said.append(
            f"- Minors not asked for ID: most often among **{m['worst']}** ({pct(m['worst_share'])}), least "
            f"among {m['best']} ({pct(m['best_share'])})."
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
            f"- {ADULTS.capitalize()} asked for ID: most often **{f['worst']}** ({pct(f['worst_share'])}), "
            f"least "
            f"{f['best']} ({pct(f['best_share'])}){ratio}. This friction falls on some customers more than "
            f"on others."
        )
    if d["mae_gap"] is not None:
        said.append(f"- MAE gap between groups: {num(d['mae_gap'])} years (worst: {d['mae_worst']}).")
    return said


def _shares_section(shares: dict | None) -> list[str]:
    """Corrected age-band shares against the truth: what analytics would report for a set like this one."""
    if not shares:
        return []
    rows = [
        [
            band,
            pct(t),
            pct(shares["naive"][band]),
            f"{pct(c['share'])} [{pct(c['low'])} - {pct(c['high'])}]",
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


def _minor_probability_section(found: dict | None) -> list[str]:
    """How well p_minor and p_under_25 read as probabilities, overall and per group."""
    if not found:
        return []
    rows = [
        [name, f["n"], f["p_minor"]["ece"], f["p_minor"]["brier"], f["p_under_25"]["ece"], f["p_under_25"]["brier"]]
        if "note" not in f
        else [name, f["n"], f"not measured: {f['note']}", "", "", ""]
        for name, f in found.items()
    ]
    return [
        "## The probability of a minor (p_minor)",
        "",
        "Each answer's P(true age < 18) and P(true age < 25), from the error model and a stated age mix of the "
        "buyers; here each set's own age-band mix, as a store that states its mix correctly would use. Expected "
        "calibration error (10 equal-count bins; 0 is perfect) and Brier score:",
        "",
        *markdown_table(["photos", "n", "p_minor ECE", "p_minor Brier", "p_under_25 ECE", "p_under_25 Brier"], rows),
        "",
        f"![p_minor reliability]({PLOTS['p_minor']})",
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
            f" Face detection rate: {pct(m['rows_with_face'] / readable if readable else None)} "
            f"({m['no_face_rows']} of {readable} readable photos without a face)."
        )
    return [line, ""]


def _age_check_section(check: AgeCheck) -> list[str]:
    if check.outcomes is None or check.search is None:
        return [f"Not measurable: this set has no minors (real age under {LEGAL_AGE})."]
    found_outcomes, search = check.outcomes, check.search
    rows = [
        ("minors (under 18) **not** asked for ID", found_outcomes.minors_pass_through),
        ("13-17 year olds not asked for ID", found_outcomes.teens_pass_through),
        (f"{ADULTS} asked for ID (friction)", found_outcomes.adult_friction),
        ("18-24 year olds asked for ID", found_outcomes.young_adults_asked),
    ]
    if search.threshold is None or search.adult_friction is None:
        found = f"No threshold reaches an upper bound of {pct(search.target)}: {search.reason}."
    else:
        found = (
            f"The smallest threshold whose minors' pass-through upper bound is at most {pct(search.target)} "
            f"is **{search.threshold:g}**; at it, {pct(search.adult_friction.share)} of {ADULTS} "
            f"would be asked for ID."
        )
    return [
        f"Policy: ask for ID unless the predicted age is above **{check.threshold:g}** (Challenge 25). Shares with "
        f"the exact (Clopper-Pearson) {check.confidence:.0%} interval's upper end:",
        "",
        *markdown_table(
            ["group", "count / n", "share", "upper bound"],
            [[name, f"{r.count} / {r.n}", pct(r.share), pct(r.upper)] for name, r in rows],
        ),
        "",
        *_by_age_table([("Challenge 25", found_outcomes)]),
        "",
        found,
        "",
        f"![age check trade-off]({PLOTS['age_check']})",
    ]


def _uncertainty_section(u: dict | None, check: AgeCheck) -> list[str]:
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
        f"must be photos the model was not trained on). The ID rule's promise: "
        f"{promise_in_words(Calibration.from_dict(c))}. Nominal coverage **{pct(u['nominal_coverage'])}**: "
        f"at most {pct(c['alpha'])} of true ages below the interval and at most {pct(c['alpha'])} above it, for "
        f"photos like the calibration photos (not per band: bands are shown to see where it holds).",
        "",
        *markdown_table(
            ["ages", "photos", "inside", "below", "above", "mean width (years)"],
            [
                [name, r["n"], pct(r["coverage"]), pct(r["below"]), pct(r["above"]), num(r["mean_width"])]
                for name, r in rows
            ],
        ),
        "",
        f"![interval coverage]({PLOTS['coverage']})",
        "",
    ]
    if check.outcomes is None:
        return lines
    rules = u["calibrated_rules"]
    table = [
        ("point, Challenge 25", f"at most {check.threshold:g}", check.outcomes.to_dict()),
        (f"point, calibrated for {pct(c['max_pass'])}", f"at most {rules['point']['setting']:.1f}", rules["point"]),
        (
            f"interval, calibrated for {pct(c['max_pass'])}",
            f"age - {rules['interval']['setting']:.2f} x scale <= {LEGAL_AGE}",
            rules["interval"],
        ),
    ]
    equal = u["at_equal_pass_through"]
    first, last = c.get("minor_ages", (0, LEGAL_AGE - 1))
    lines += [
        f"ID rules on this set. The calibrated settings were fitted on the calibration photos' minors aged "
        f"{first}-{last} so that one passes with probability at most {pct(c['max_pass'])}.",
        "",
        *markdown_table(
            ["rule", "asks for ID when", "minors not asked (upper bound)", "13-17 not asked", "18-24 asked"]
            + [f"{ADULTS} asked"],
            [
                [
                    name,
                    when,
                    f"{pct(o.minors_pass_through.share)} ({pct(o.minors_pass_through.upper)})",
                    pct(o.teens_pass_through.share),
                    pct(o.young_adults_asked.share),
                    pct(o.adult_friction.share),
                ]
                for name, when, o in ((n, w, RuleOutcomes.from_dict(r)) for n, w, r in table)
            ],
        ),
        "",
        f"At equal pass-through (settings chosen on this set so that at most "
        f"{pct(equal['point']['target'])} of its minors pass): {ADULTS} asked "
        f"{pct(RuleOutcomes.from_dict(equal['point']).adult_friction.share)} under the point rule, "
        f"{pct(RuleOutcomes.from_dict(equal['interval']).adult_friction.share)} under the interval rule.",
        "",
        "The minors who try to buy alcohol, by year of age: the share not asked for ID (count / photos, exact "
        "upper bound).",
        "",
        *_by_age_table([(name, RuleOutcomes.from_dict(r)) for name, _, r in table]),
        "",
        *_cost_section(u.get("cost_at_caps"), (first, last)),
        f"![ID rules]({PLOTS['rules']})",
        "",
    ]
    return lines


def _by_age_table(rules: list[tuple[str, RuleOutcomes]]) -> list[str]:
    """One row per rule: the pass-through of 13-17 year olds and of each year 13..17."""
    ages = list(rules[0][1].pass_through_by_age)
    return markdown_table(
        ["rule", *ages],
        [
            [name, *(f"{pct(r.share)} ({r.count}/{r.n}, ≤ {pct(r.upper)})" for r in o.pass_through_by_age.values())]
            for name, o in rules
        ],
    )


def _cost_cell(found: dict | None) -> str:
    """The adults 25+ / 18-24 asked at one cap (None: too few minors in the set to show that cap)."""
    if found is None:
        return "too few minors to show"
    o = RuleOutcomes.from_dict(found)
    return f"{pct(o.adult_friction.share)} / {pct(o.young_adults_asked.share)}"


def _cost_section(cost: dict | None, minor_ages) -> list[str]:
    """What each cap on minors passing costs in adults asked, rule by rule (settings chosen on this set)."""
    if not cost:
        return []
    first, last = minor_ages
    return [
        f"What a promise costs: the {ADULTS} / 18-24 year olds asked for ID when a rule's setting is chosen on this "
        f"set so that at most the cap of its minors aged {first}-{last} pass (an oracle setting, to compare rules "
        f"and caps on equal terms).",
        "",
        *markdown_table(
            ["cap", "point rule", "interval rule"],
            [[cap, _cost_cell(rules.get("point")), _cost_cell(rules.get("interval"))] for cap, rules in cost.items()],
        ),
        "",
    ]


def _rule_advice(u: dict) -> str:
    rules = u["calibrated_rules"]
    point, interval = (RuleOutcomes.from_dict(rules[r]).adult_friction.share for r in ("point", "interval"))
    better = "interval" if interval <= point else "point"
    cap = pct(u["calibration"]["max_pass"])
    return (
        f"- **Which ID rule**: both calibrated rules cap minors' pass-through at {cap}; the {better} rule asks "
        f"fewer {ADULTS} ({pct(min(point, interval))} against {pct(max(point, interval))}). Use "
        f"`id_rule={better}` with this calibration, and recalibrate (`recalibrate.py`) on a few hundred labeled "
        f"photos from the store's own camera, minors included, before relying on the cap there."
    )


def _reading(m: dict) -> list[str]:
    worst = max((b for b in m["bands"].items() if b[1]["mae"] is not None), key=lambda b: b[1]["mae"])
    analytics = (
        f"- **Age-group analytics**: a typical error of {num(m['mae'])} years (half the photos within "
        f"{num(m['median_abs_error'])} years, {pct(m['within_5'])} within ±5). Neighbouring age bands "
        f"will be mixed up; the worst band is {worst[0]} (MAE {num(worst[1]['mae'])}). Use it for "
        f"shares of broad groups, not for individuals."
    )
    check = AgeCheck.from_dict(m["age_check"])
    if check.outcomes is None:
        alcohol = "- **Alcohol check**: cannot be judged from this set, which has no minors."
    else:
        passing = check.outcomes.minors_pass_through
        alcohol = (
            f"- **Alcohol check**: at threshold {check.threshold:g}, {passing.count} of {passing.n} "
            f"minors would not have been asked for ID (up to {pct(passing.upper)} at "
            f"{check.confidence:.0%} confidence). Any minor passing means the camera cannot replace the "
            f"cashier's judgement; at most it can prompt an ID check."
        )
    uncertainty = m.get("uncertainty", {})
    advice = [_rule_advice(uncertainty)] if "calibrated_rules" in uncertainty and check.measurable else []
    return [analytics, alcohol, *advice]
