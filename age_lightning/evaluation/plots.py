"""Matplotlib figures for evaluation reports, EDA and TensorBoard (headless: Agg backend)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from age_lightning.ages import ADULTS, LEGAL_AGE  # noqa: E402
from age_lightning.evaluation import groups  # noqa: E402
from age_lightning.evaluation.outcomes import RuleOutcomes  # noqa: E402
from age_lightning.shares import BANDS  # noqa: E402


def save(figure: plt.Figure, path) -> None:
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def image_grid(images, titles, title_colors=None, suptitle: str = "", columns: int = 8) -> plt.Figure:
    """Images (H x W x 3 arrays in 0..1 or uint8) in a grid, each with a small title."""
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    colors = title_colors or ["black"] * len(images)
    for axis, image, title, color in zip(axes.flat, images, titles, colors):
        axis.imshow(image)
        axis.set_title(title, fontsize=9, color=color)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    figure.tight_layout()
    return figure


def predicted_vs_real(real, predicted) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5.5, 5.5))
    axis.scatter(real, predicted, s=6, alpha=0.35, edgecolors="none")
    top = max(float(np.max(real, initial=1)), float(np.max(predicted, initial=1))) + 5
    axis.plot([0, top], [0, top], color="black", linewidth=1, label="perfect (y = x)")
    axis.set(xlim=(0, top), ylim=(0, top), xlabel="real age", ylabel="predicted age", title="Predicted vs real age")
    axis.legend(loc="upper left")
    axis.grid(alpha=0.3)
    return figure


def band_errors(bands: dict) -> plt.Figure:
    """MAE and bias per age band (bands as in metrics.band_metrics)."""
    names = list(bands)
    mae = [bands[b]["mae"] if bands[b]["mae"] is not None else np.nan for b in names]
    bias = [bands[b]["bias"] if bands[b]["bias"] is not None else np.nan for b in names]
    x = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.bar(x - 0.2, mae, width=0.4, label="MAE")
    axis.bar(x + 0.2, bias, width=0.4, label="bias (predicted - real)")
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(x, [f"{b}\nn={bands[b]['n']}" for b in names])
    axis.set(ylabel="years", title="Error by age band")
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return figure


def age_histogram(ages, title: str = "Age distribution") -> plt.Figure:
    figure, axis = plt.subplots(figsize=(7, 3.5))
    ages = np.asarray(ages, float)
    axis.hist(ages, bins=np.arange(0, max(100, ages.max(initial=0)) + 5, 5), edgecolor="white")
    axis.axvline(LEGAL_AGE, color="red", linewidth=1, label=f"{LEGAL_AGE} (legal age)")
    axis.set(xlabel="real age", ylabel="photos", title=f"{title} (n={len(ages)})")
    axis.legend()
    return figure


def age_check_tradeoff(curve: dict, threshold: float, target: float) -> plt.Figure:
    """Minors' pass-through (with upper bound) and adult friction as functions of the ID-check threshold."""
    t = curve["threshold"]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(t, curve["minors_pass_through"], label="minors not asked for ID")
    axis.plot(t, curve["minors_upper"], linestyle="--", label="... 95% upper bound")
    axis.plot(t, curve["adult_friction"], label=f"{ADULTS} asked for ID")
    axis.axvline(threshold, color="grey", linewidth=1, label=f"policy threshold {threshold:g}")
    axis.axhline(target, color="red", linewidth=0.8, linestyle=":", label=f"target {target:.0%}")
    axis.set(
        xlabel="ask for ID when predicted age is under (years)",
        ylabel="share",
        ylim=(0, 1),
        title="Age check: minors passing vs adults asked",
    )
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure


def interval_coverage(bands: dict, nominal: float) -> plt.Figure:
    """Reliability of the calibrated intervals: per age band, how often the true age is inside, below, above."""
    names = [b for b in bands if bands[b]["n"]]
    x = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(7, 4))
    inside = [bands[b]["coverage"] for b in names]
    below = [bands[b]["below"] for b in names]
    axis.bar(x, inside, width=0.6, label="true age inside the interval")
    axis.bar(x, below, width=0.6, bottom=inside, color="tab:red", label="below it (looks older than is)")
    axis.axhline(nominal, color="black", linewidth=1, linestyle="--", label=f"nominal {nominal:.0%}")
    axis.set_xticks(x, [f"{b}\nn={bands[b]['n']}" for b in names])
    axis.set(ylabel="share of photos", ylim=(0, 1.05), title="Calibrated intervals by age band")
    axis.legend(fontsize=8, loc="lower left")
    axis.grid(axis="y", alpha=0.3)
    return figure


def id_rules_tradeoff(curves: dict, calibrated: dict, max_pass: float) -> plt.Figure:
    """Minors' pass-through against adult friction for each ID rule (one curve per rule over its setting),
    with each rule's calibrated setting marked."""
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for rule, curve in curves.items():
        (line,) = axis.plot(curve["minors_pass_through"], curve["adult_friction"], label=f"{rule} rule")
        chosen = RuleOutcomes.from_dict(calibrated[rule])
        axis.plot(
            chosen.minors_pass_through.share,
            chosen.adult_friction.share,
            "o",
            color=line.get_color(),
            label=f"{rule} rule, calibrated for {max_pass:.0%}",
        )
    axis.axvline(max_pass, color="red", linewidth=0.8, linestyle=":", label=f"{max_pass:.0%} of minors")
    axis.set(
        xlabel="minors not asked for ID",
        ylabel=f"{ADULTS} asked for ID",
        xlim=(0, 0.3),
        ylim=(0, 1),
        title="ID rules: minors passing vs adults asked",
    )
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure


def metric_curves(curves: dict[str, list[float]], ylabel: str, title: str) -> plt.Figure:
    """One line per run: the metric after each validation epoch."""
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for name, values in curves.items():
        axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    axis.set(xlabel="epoch", ylabel=ylabel, title=title)
    if curves:
        axis.legend(fontsize=7, loc="upper right")
    axis.grid(alpha=0.3)
    return figure


def band_shares(groups: dict[str, dict], truth: dict[str, float] | None = None, most: int = 12) -> plt.Figure:
    """Corrected age-band shares with their intervals, one colour per group (the first `most`), counted shares as
    open markers (and the true shares as black lines when known). groups: name -> BandShares.to_dict()."""
    shown = dict(list(groups.items())[:most])
    left_out = f" (the first {most} of {len(groups)} groups)" if len(groups) > most else ""
    groups = shown
    bands = list(next(iter(groups.values()))["corrected"])
    x = np.arange(len(bands))
    width = 0.8 / len(groups)
    figure, axis = plt.subplots(figsize=(max(7, 1.2 * len(bands) * max(1, len(groups) / 2)), 4))
    for i, (name, shares) in enumerate(groups.items()):
        at = x - 0.4 + width * (i + 0.5)
        corrected = shares["corrected"]
        share = np.array([corrected[b]["share"] for b in bands])
        errors = np.array(
            [[share[j] - corrected[b]["low"], corrected[b]["high"] - share[j]] for j, b in enumerate(bands)]
        ).T
        axis.bar(
            at, share, width=width * 0.9, yerr=np.maximum(errors, 0), capsize=3, label=f"{name} (n={shares['photos']})"
        )
        axis.scatter(
            at,
            [shares["naive"][b] for b in bands],
            marker="o",
            facecolors="none",
            edgecolors="black",
            zorder=3,
            label="counted" if i == 0 else None,
        )
    if truth:
        axis.hlines([truth[b] for b in bands], x - 0.4, x + 0.4, colors="black", linewidth=2, label="true")
    axis.set_xticks(x, bands)
    axis.set(
        xlabel="age band",
        ylabel="share of photos",
        title=f"Age-band shares, corrected for the model's errors{left_out}",
    )
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return figure


def lift_map(panels: dict[str, dict], most: int = 6) -> plt.Figure:
    """Lift of every age band (rows) in every category (columns), one panel per store (the first `most`): colour
    by lift on a log scale centred at 1 (blue below, red above), the value written in each cell; a cell whose
    interval holds 1 is hatched and its value bracketed (unsure), a category with too few buyers greyed out."""
    from matplotlib.colors import LogNorm

    shown = list(panels.items())[:most]
    widest = max(len(panel["categories"]) for _, panel in shown)
    figure, axes = plt.subplots(
        1, len(shown), figsize=(1.5 + 0.9 * widest * len(shown), 4.2), squeeze=False, constrained_layout=True
    )
    norm = LogNorm(vmin=0.33, vmax=3.0)
    for axis, (name, panel) in zip(axes[0], shown):
        lift = np.array(panel["lift"], dtype=float).T  # (bands, categories)
        sure, few = np.array(panel["sure"]).T, np.array(panel["too_few"])
        image = axis.imshow(np.clip(np.nan_to_num(lift, nan=1.0), 0.33, 3.0), cmap="RdBu_r", norm=norm, aspect="auto")
        for b in range(lift.shape[0]):
            for c in range(lift.shape[1]):
                if few[c]:
                    axis.add_patch(plt.Rectangle((c - 0.5, b - 0.5), 1, 1, color="0.85"))
                    continue
                if not sure[b, c]:
                    axis.add_patch(plt.Rectangle((c - 0.5, b - 0.5), 1, 1, fill=False, hatch="///", color="0.5", lw=0))
                text = "n/a" if np.isnan(lift[b, c]) else f"{lift[b, c]:.2f}"
                axis.text(c, b, text if sure[b, c] else f"({text})", ha="center", va="center", fontsize=8)
        names = [f"{n}\n(too few)" if f else n for n, f in zip(panel["categories"], few)]
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_yticks(range(len(BANDS)), BANDS)
        axis.set_title(name, fontsize=10)
    figure.colorbar(image, ax=axes[0].tolist(), label="lift (band's share among the category's buyers / among all)")
    left_out = f"; the first {most} of {len(panels)} panels" if len(panels) > most else ""
    figure.suptitle(f"What to offer each age group: lift by band and category (hatched: interval holds 1{left_out})")
    return figure


def group_audit(column: str, found: dict) -> plt.Figure:
    """Per group value: MAE, minors not asked and ADULTS asked for ID (with exact upper bounds)."""
    names = list(found["values"])
    rule = found["rule"]
    outcomes = [groups.outcomes(g, rule) for g in found["values"].values()]
    figure, axes = plt.subplots(1, 3, figsize=(4 + 1.2 * len(names), 3.6))
    x = np.arange(len(names))
    axes[0].bar(x, [g["mae"] for g in found["values"].values()], color="tab:gray")
    axes[0].set(title="MAE (years)")
    for axis, rates, title, colour in (
        (axes[1], [o.minors_pass_through for o in outcomes], "minors not asked", "tab:red"),
        (axes[2], [o.adult_friction for o in outcomes], f"{ADULTS} asked", "tab:blue"),
    ):
        share = np.array([np.nan if r.share is None else r.share for r in rates])
        upper = np.array([np.nan if r.upper is None else r.upper for r in rates])
        axis.bar(x, share, color=colour, yerr=[np.zeros(len(x)), np.nan_to_num(upper - share)], capsize=3)
        axis.set(title=f"{title} (bar: upper bound)", ylim=(0, max(0.05, np.nanmax(upper, initial=0) * 1.1)))
    for axis in axes:
        axis.set_xticks(x, names, rotation=30, ha="right")
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(f"By {column} ({'calibrated interval rule' if rule == 'interval' else 'Challenge 25'})")
    figure.tight_layout()
    return figure


def cashier_audit(cashiers: list[dict], fdr: float) -> plt.Figure:
    """Each judged cashier's expected minors served per 100 alcohol sales with its interval, store by store; the
    flagged ones in red."""
    judged = sorted((c for c in cashiers if c["judged"]), key=lambda c: (c["store"], c["cashier"]))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.22 * len(judged) + 2), 4.2))
    for x, cashier in enumerate(judged):
        per = 100 / cashier["alcohol_sales"]
        expected = cashier["expected_minors"]
        color = "tab:red" if cashier["flagged"] else "tab:blue"
        axis.errorbar(
            x,
            expected["value"] * per,
            yerr=[[(expected["value"] - expected["low"]) * per], [(expected["high"] - expected["value"]) * per]],
            fmt="o",
            color=color,
            markersize=4,
            capsize=2,
        )
    axis.set_xticks(range(len(judged)), [c["cashier"] for c in judged], rotation=90, fontsize=6)
    axis.set_ylabel("expected minors served per 100 alcohol sales")
    axis.set_title(f"Cashier audit: red = flagged at a {fdr:.0%} false discovery rate (a reason to review, not proof)")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def reliability_diagram(found: dict) -> plt.Figure:
    """Mean p_minor and p_under_25 per bin against the observed rate, for each set (all photos, each group)."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for axis, key, what in zip(axes, ("p_minor", "p_under_25"), ("under 18", "under 25")):
        axis.plot([0, 1], [0, 1], color="black", linewidth=1, label="perfect")
        for name, f in ((name, f) for name, f in found.items() if "note" not in f):
            bins = f[key]["bins"]
            axis.plot(
                [b["p"] for b in bins],
                [b["observed"] for b in bins],
                "o-",
                markersize=3,
                label=f"{name} (ECE {f[key]['ece']:.3f})",
            )
        axis.set_xlabel(f"{key} (mean per bin)")
        axis.set_ylabel(f"observed share {what}")
        axis.set_title(f"Reliability of {key}")
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def shift_evidence(curves: dict[str, list[tuple[int, float]]], delta: float, most: int = 12) -> plt.Figure:
    """Each till's shift evidence over its photos (log scale), with the alarm line at 1/delta: the tills that
    alarmed, then the highest, `most` at the most."""
    shown = sorted(curves.items(), key=lambda item: -max(value for _, value in item[1]))[:most]
    figure, axis = plt.subplots(figsize=(8, 4.2))
    for till, curve in shown:
        photos, evidence = zip(*curve)
        axis.plot(photos, evidence, label=till, linewidth=1)
    axis.axhline(1 / delta, color="tab:red", linestyle="--", label=f"alarm (1/delta = {1 / delta:g})")
    axis.set_yscale("log")
    axis.set_xlabel("photo (in the log's order)")
    axis.set_ylabel("evidence of a shift")
    axis.set_title("Do the tills' photos still look like the calibration photos?")
    axis.legend(fontsize=7, ncol=2)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
