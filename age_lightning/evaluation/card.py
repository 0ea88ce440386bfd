"""MODEL_CARD.md for an exported model, from its model.json and the evaluation of its test split (metrics.json, as
evaluate.py writes it): the sections of Mitchell et al. (2019, "Model Cards for Model Reporting") with the figures
age-assurance reviews ask for (NIST FATE Age Estimation, the ACCS). A pure function of its inputs: no files, no
figures computed here. A model that is not calibrated, or was never evaluated, gets a card that says what is
missing, and how to supply it, where the numbers would be."""

from age_lightning.ages import ADULTS, ID_CHECK_AGE, LEGAL_AGE
from age_lightning.calibration import Calibration, promise_in_words
from age_lightning.evaluation.groups import MIN_ADULTS
from age_lightning.evaluation.outcomes import Rate
from age_lightning.formatting import markdown_table, num, pct

MIN_PHOTOS = 30  # a group (or year of age) needs this many photos before its error is stated; fewer: "too few"
TOO_FEW = "too few to say"
DATA_TERMS = {  # a training folder whose path names one of these: its terms
    "utkface": "UTKFace: non-commercial research purposes only",
    "aaf": "All-Age-Faces: research purposes only",
    "all-age-faces": "All-Age-Faces: research purposes only",
}


def card_figures(metrics: dict | None) -> dict | None:
    """What model.json keeps of the evaluation (the card's numbers, for machines): the overall error, accuracy by
    year and band, Challenge 25 and the calibrated interval rule, the group audit, and the face-size sweep."""
    if metrics is None:
        return None
    rules = metrics.get("uncertainty", {}).get("calibrated_rules", {})
    groups = {
        column: {value: _group_figures(found) for value, found in audit["values"].items()}
        for column, audit in metrics.get("groups", {}).items()
    }
    readable = max(1, metrics.get("rows_with_face", 0) + metrics.get("no_face_rows", 0))
    return {
        "evaluated": {key: metrics.get(key) for key in ("checkpoint", "data_root", "split", "n")},
        "mae": metrics["mae"],
        "accuracy": metrics.get("accuracy"),
        "challenge25": _outcomes(metrics["age_check"]),
        "interval_rule": _outcomes(rules["interval"]) if "interval" in rules else None,
        "groups": groups,
        "detection_rate": metrics["rows_with_face"] / readable
        if metrics.get("faces") == "align" and readable
        else None,
        "face_sizes": metrics.get("face_sizes"),
    }


def _outcomes(rule: dict) -> dict:
    keys = ("minors_pass_through", "teens_pass_through", "pass_through_by_age", "adult_friction", "young_adults_asked")
    return {key: rule[key] for key in keys if key in rule}


def _group_figures(found: dict) -> dict:
    return {
        "n": found["n"],
        "minors": found["minors"],
        "enough_minors": found["enough_minors"],
        "accuracy": found.get("accuracy"),
        "challenge25": _outcomes(found["challenge25"]),
        "interval_rule": _outcomes(found["rules"]["interval"]) if "rules" in found else None,
    }


def render_card(model: dict, details: dict, figures: dict | None) -> str:
    """The card's markdown. model: model.json's content; details: what the checkpoint says of its training
    (backbone, initial_weights, data_root, epochs); figures: `card_figures`, or None when never evaluated."""
    calibration = Calibration.from_dict(model.get("calibration"))
    lines = [
        "# Model card: age estimation from a face photo",
        "",
        "Written by `export.py` beside the model it describes (the figures are also in model.json, `card`). "
        "Sections after Mitchell et al. (2019); figures as NIST FATE Age Estimation and the ACCS report them.",
        "",
        *_details(model, details),
        *_intended_use(),
        *_factors(),
        *_metrics_section(),
        *_data_section(details, figures),
        *_missing(calibration, figures),
        *(_quantitative(figures) if figures else []),
        *_promise(calibration),
        *_ethics(),
        *_caveats(figures),
    ]
    return "\n".join(lines) + "\n"


def _details(model: dict, details: dict) -> list[str]:
    weights = details.get("initial_weights")
    return [
        "## Model details",
        "",
        f"- A {details.get('backbone', 'ResNet50')} regressor of age in years ({model['output']['head']} head"
        + (", with a scale: calibrated intervals" if model["output"]["scale"] else "")
        + f"), {model['input']['size']} px input, face step `{model['faces']['mode']}`, answers averaged with the "
        f"mirror image: {'yes' if model['output']['mirror_averaged_in_graph'] else 'no'}.",
        f"- Initialised from {weights + ' (ImageNet)' if weights else 'random weights (no pretrained weights)'}"
        + (f", trained for {details['epochs']} epochs" if details.get("epochs") else "")
        + ".",
        f"- age-lightning {model.get('model_version')}, training configuration hash "
        f"`{model.get('training_config_hash')}`, checkpoint `{model.get('checkpoint')}`.",
        f"- The ID rule: `{model['id_rule']}` (asks for ID at the till unless the buyer is judged over "
        f"{model['id_check_age']:g} or, calibrated, surely over {LEGAL_AGE}).",
        "",
    ]


def _intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "- **A prompt to ask for ID** at a supermarket till on alcohol sales: the cashier still checks the ID; the "
        "model only decides whom to prompt for.",
        "- **Age-group shares** of a store's buyers for purchase analytics (corrected for the model's errors, never "
        "read photo by photo).",
        "",
        "**Not for**: identifying or recognising a person; any decision about a person without a person (refusing a "
        "sale, an age verification that replaces the ID); photos of people who did not agree to it or were not told "
        "of the camera; children's services; populations, cameras or lighting unlike the evaluation photos "
        "(the till's shift alarm watches for that).",
        "",
    ]


def _factors() -> list[str]:
    return [
        "## Factors",
        "",
        "Errors depend on the buyer's age (worst for the oldest and the youngest), on sex and ethnicity as the "
        "training labels record them, on the photo collection (tight studio-like crops against loose head shots), "
        "and on the camera: the face's size in pixels, light and blur. Each is broken down below where the labels "
        "allow.",
        "",
    ]


def _metrics_section() -> list[str]:
    return [
        "## Metrics",
        "",
        "Mean absolute error (years) and the share of estimates within 1, 2 and 5 years, with 95% bootstrap "
        "intervals (1,000 resamples). For the ID rules: the share of minors not asked for ID (the harm) and of "
        f"{ADULTS} asked (the friction), each with the exact (Clopper-Pearson) 95% upper bound. Challenge 25 "
        f"means asking everyone estimated under {ID_CHECK_AGE}.",
        "",
    ]


def _data_section(details: dict, figures: dict | None) -> list[str]:
    roots = _folders(details.get("data_root"))
    terms = sorted({term for root in roots for key, term in DATA_TERMS.items() if key in str(root).lower()})
    lines = ["## Training and evaluation data", ""]
    lines.append(f"- Trained on: {', '.join(f'`{r}`' for r in roots) or 'not recorded'}.")
    lines.append(
        "- Terms: "
        + (
            "; ".join(terms) + ". None allows commercial use: a store needs a model trained on data it may use."
            if terms
            else "check each training folder's licence before any commercial use."
        )
    )
    if figures:
        found = figures["evaluated"]
        folders = ", ".join(f"`{r}`" for r in _folders(found["data_root"]))
        lines.append(
            f"- Evaluated on: the `{found['split']}` split of {folders}, {found['n']} photos with a face, none seen in "
            "training or calibration."
        )
    return [*lines, ""]


def _folders(roots) -> list[str]:
    """data.root as recorded: one folder or a list of them."""
    return [roots] if isinstance(roots, str) else [str(root) for root in roots or []]


def _missing(calibration: Calibration | None, figures: dict | None) -> list[str]:
    missing = []
    if figures is None:
        missing.append(
            "**Never evaluated**: this card has no figures. Run `python evaluate.py ckpt_path=<checkpoint> "
            "split=test`, then `python export.py ckpt_path=<checkpoint> evaluation=<its output folder>`."
        )
    if calibration is None:
        missing.append(
            "**Not calibrated**: the model makes no promise on minors, and has no intervals; only Challenge 25 "
            "applies. Calibrate it with `python recalibrate.py ckpt_path=<checkpoint> split=calibration` (a Laplace "
            "or Gaussian head is needed)."
        )
    return ["## What is missing", "", *(f"- {m}" for m in missing), ""] if missing else []


def _quantitative(figures: dict) -> list[str]:
    lines = ["## Quantitative analyses", "", f"Overall MAE: **{num(figures['mae'])} years**.", ""]
    accuracy = figures.get("accuracy")
    if accuracy:
        lines += [
            "### By year of age, where the decision is made (13-30)",
            "",
            *_accuracy_table("age", accuracy["years"]),
            "",
        ]
        lines += ["### By age band", "", *_accuracy_table("band", accuracy["bands"]), ""]
    lines += _rules_section(figures)
    lines += _groups_section(figures["groups"], figures["interval_rule"] is not None)
    lines += _face_size_section(figures)
    return lines


def _accuracy_table(label: str, entries: dict) -> list[str]:
    header = [label, "photos", "MAE (years)", "within 1 year", "within 2 years", "within 5 years"]
    return markdown_table(header, [[name, *_accuracy_cells(found)] for name, found in entries.items()])


def _accuracy_cells(found: dict | None) -> list[str]:
    if not found or found["n"] < MIN_PHOTOS:
        return [found["n"] if found else 0, TOO_FEW, "", "", ""]
    mae = found["mae"]
    cells = [f"{num(mae[0])} ({num(mae[1])}-{num(mae[2])})"]
    cells += [f"{pct(v[0])} ({pct(v[1])}-{pct(v[2])})" for v in (found[f"within_{k}"] for k in (1, 2, 5))]
    return [found["n"], *cells]


def _rate(rate: dict | None) -> str:
    found = Rate(**rate) if rate else None
    if found is None or not found.n:
        return "n/a (none in the set)"
    return f"{pct(found.share)} (≤ {pct(found.upper)}; {found.count} of {found.n})"


def _rules_section(figures: dict) -> list[str]:
    rules = {"Challenge 25 (estimated under 25: asked)": figures["challenge25"]}
    if figures.get("interval_rule"):
        rules["the calibrated interval rule"] = figures["interval_rule"]
    rows = [
        [
            name,
            _rate(found["minors_pass_through"]),
            _rate(found.get("teens_pass_through")),
            _rate(found["adult_friction"]),
            _rate(found.get("young_adults_asked")),
        ]
        for name, found in rules.items()
    ]
    years = [
        [name, *(_rate(found.get("pass_through_by_age", {}).get(str(age))) for age in range(13, LEGAL_AGE))]
        for name, found in rules.items()
    ]
    return [
        "### Whom the ID rules let through and whom they ask",
        "",
        "Not asked for ID means passing the till unchecked (minors: the harm); share (95% upper bound; count).",
        "",
        *markdown_table(["rule", "minors (0-17) not asked", "13-17 not asked", f"{ADULTS} asked", "18-24 asked"], rows),
        "",
        "Each year of age, not asked:",
        "",
        *markdown_table(["rule", *(str(age) for age in range(13, LEGAL_AGE))], years),
        "",
    ]


def _groups_section(groups: dict, calibrated: bool) -> list[str]:
    if not groups:
        return [
            "### By group",
            "",
            "Not audited: evaluate with `groups=[gender,race]` (the labels' own columns) to break the figures down "
            "by sex, ethnicity and, with several folders, by folder.",
            "",
        ]
    rule = "interval_rule" if calibrated else "challenge25"
    name = "interval rule" if calibrated else "Challenge 25"
    lines = [
        "### By group",
        "",
        "Groups as the labels record them (and the photo folder; `unknown`: the labels do not say); intersections "
        f'as `a+b`. "{TOO_FEW}": fewer than '
        f"{MIN_PHOTOS} photos (for the error) or {MIN_ADULTS} adults, or too few minors for a rate below the cap "
        "to show.",
        "",
    ]
    for column, values in groups.items():
        rows = []
        for value, found in values.items():
            rates = found[rule] or {}
            minors = _rate(rates["minors_pass_through"]) if found["enough_minors"] and rates else TOO_FEW
            minors += "" if found["enough_minors"] else f" ({found['minors']} minors)"
            adults = rates["adult_friction"] if rates else {"n": 0}
            asked = _rate(adults) if adults["n"] >= MIN_ADULTS else TOO_FEW
            rows.append([value, found["n"], _accuracy_cells(found["accuracy"])[1], minors, asked])
        lines += [
            f"**{column}**",
            "",
            *markdown_table(
                [
                    column,
                    "photos",
                    "MAE (years, 95% interval)",
                    f"minors (0-17) not asked ({name})",
                    f"{ADULTS} asked ({name})",
                ],
                rows,
            ),
            "",
        ]
    return lines


def _face_size_section(figures: dict) -> list[str]:
    lines = ["### By face size: how far the camera may be", ""]
    if figures.get("detection_rate") is None:
        return [*lines, "The model takes the whole photo (no face step): no face size was measured.", ""]
    lines += [
        f"The face step found a face in {pct(figures['detection_rate'], 2)} of the evaluated folders' photos.",
        "",
    ]
    sweep = figures.get("face_sizes")
    if not sweep:
        return [*lines, "Not measured: evaluate with `face_sizes.photos=300` to shrink photos and see.", ""]
    rows = [
        [
            f"{row['scale']:g}",
            num(row["eye_distance"]) if row["eye_distance"] is not None else "n/a",
            _rate(row["detected"]),
            *_accuracy_cells(row["accuracy"])[1:3],
        ]
        for row in sweep
    ]
    return [
        *lines,
        f"{sweep[0]['detected']['n']} test photos (their face found at full size) shrunk by each factor and run "
        "through the till's path. Keep the camera close enough for the faces to be at least as large as the last row "
        "whose error is still acceptable.",
        "",
        *markdown_table(
            ["shrunk by", "pixels between the eyes (median)", "face found", "MAE (years)", "within 1 year"], rows
        ),
        "",
    ]


def _promise(calibration: Calibration | None) -> list[str]:
    if calibration is None:
        return []
    return [
        "## The promise, in plain words",
        "",
        f"With the interval rule as calibrated, {promise_in_words(calibration)}. It rests on conditions: the till's "
        "photos must be like the calibration photos (same kind of camera, light, framing and population); the "
        "cashier must ask when prompted; and the bound is over buyers, not for any one buyer. While a till's shift "
        "alarm is on, the service asks every buyer for ID.",
        "",
    ]


def _ethics() -> list[str]:
    return [
        "## Ethical considerations",
        "",
        "- A face photo is biometric data: the service keeps no photo, writes none to disk or logs, and answers "
        "only with an age and whether to ask.",
        "- Errors are not shared equally: the group tables show who is asked more often and whose minors pass "
        "more often. A store should tell buyers that a camera estimates their age, and why.",
        "- The model must never refuse a sale on its own: it prompts a person to check an ID.",
        "",
    ]


def _caveats(figures: dict | None) -> list[str]:
    lines = [
        "## Caveats and recommendations",
        "",
        "- The figures are of this model file (fp32); an int8 copy answers within a fraction of a year of it "
        "(docs/benchmarks.md).",
        "- Photos unlike the evaluation photos (other populations, dim light, small faces) can be much worse: "
        "watch the till's shift alarm, and re-evaluate on the store's own labeled photos before relying on it.",
    ]
    if figures and figures["evaluated"]["split"] != "test":
        lines.append(f"- Evaluated on the `{figures['evaluated']['split']}` split, not the test split.")
    return [*lines, ""]
