"""The audit's files: audit.json, audit.csv (one row per cashier), review.csv, audit.md and audit.png."""

import csv
import json
from pathlib import Path

from age_lightning.formatting import markdown_table, num, pct
from age_lightning.store.audit import AuditResult

POWER = {
    "checks": "the recorded ID checks find a cashier who asks nobody within a few hundred alcohol sales",
    "photos": "from the photos alone a cashier who serves minors is found only after thousands of alcohol sales, "
    "because many adults of 18-24 look as young as teenagers",
}
CSV_COLUMNS = (
    "store",
    "cashier",
    "alcohol_sales",
    "expected_minors",
    "expected_low",
    "expected_high",
    "rule_asked",
    "asked_without_check",
    "recorded_checks",
    "p_value",
    "q_value",
    "judged",
    "flagged",
    "note",
)


def flat(cashier: dict) -> dict:
    expected, unchecked = cashier["expected_minors"], cashier.get("asked_without_check") or {}
    return {
        "store": cashier["store"],
        "cashier": cashier["cashier"],
        "alcohol_sales": cashier["alcohol_sales"],
        "expected_minors": expected["value"],
        "expected_low": expected["low"],
        "expected_high": expected["high"],
        "rule_asked": cashier["rule_asked"],
        "asked_without_check": unchecked.get("count", ""),
        "recorded_checks": unchecked.get("of", ""),
        "p_value": cashier["p_value"],
        "q_value": "" if cashier["q_value"] is None else cashier["q_value"],
        "judged": cashier["judged"],
        "flagged": cashier["flagged"],
        "note": cashier["note"],
    }


def write_rows(path: Path, columns, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def markdown(result: AuditResult, model: str, log: str) -> str:
    settings = result.settings
    flagged = [c for c in result.cashiers if c["flagged"]]
    unjudged = [c for c in result.cashiers if not c["judged"]]
    how = (
        "of the sales the ID rule would have asked for ID, the share with no ID check recorded (id_checked)"
        if result.test == "checks"
        else f"how young their buyers look (per sale: {settings.statistic} of p_minor)"
    )
    lines = [
        "# Cashier audit",
        "",
        f"Log `{log}`: {result.rows} rows, {result.alcohol_sales} alcohol sales audited, {result.problem_count} bad "
        f"row(s) (problems.csv). Model `{model}`.",
        "",
        f"**A flag is a reason to review a cashier's sales (the footage, the receipt), not proof.** Each cashier is "
        f"compared with the other cashiers of their store{' in the same weeks' if settings.by_week else ''} on "
        f"{how}. Flags control the false discovery rate at {pct(settings.fdr)}: among flagged cashiers, at most "
        f"that share are expected to be diligent. A cashier needs {settings.min_sales} alcohol sales to be judged.",
        "",
        f"p_minor assumes the buyers' age mix {result.probability.describe()['buyers']} "
        f"({result.probability.buyers_source}). Expected minors served: the sum of p_minor re-weighted to each "
        f"cashier's own share of minors (estimated from their answers), with a {pct(settings.level)} interval over "
        f"that share, the count and the calibration photos.",
        "",
        f"**{len(flagged)} cashier(s) flagged**, {len(unjudged)} with too few sales to judge. Not being flagged is "
        f"not a clean bill: {POWER[result.test]} (measured on generated stores: docs/benchmarks.md, 'Cashier audit').",
        "",
    ]
    header = [
        "store",
        "cashier",
        "alcohol sales",
        "expected minors",
        "per 100",
        "rule asked",
        "asked, no check",
        "p",
        "q",
        "flagged",
    ]
    rows = []
    for c in sorted(result.cashiers, key=lambda c: (not c["flagged"], c["p_value"])):
        e, u = c["expected_minors"], c.get("asked_without_check")
        rows.append(
            [
                c["store"],
                c["cashier"],
                c["alcohol_sales"],
                f"{e['value']:.1f} ({e['low']:.1f}-{e['high']:.1f})",
                num(100 * e["value"] / c["alcohol_sales"]),
                c["rule_asked"],
                f"{u['count']}/{u['of']}" if u else "",
                f"{c['p_value']:.2g}",
                "" if c["q_value"] is None else f"{c['q_value']:.2g}",
                "**yes**" if c["flagged"] else (c["note"] or "no"),
            ]
        )
    lines += [*markdown_table(header, rows), ""]
    if result.review:
        lines += ["## Review queue (the sales to look at first)", ""]
        lines += [
            *markdown_table(
                ["store", "cashier", "till", "sale", "time", "predicted age", "p_minor"],
                [
                    [r["store"], r["cashier"], r["till"], r["sale_id"], r["time"], r["predicted_age"], r["p_minor"]]
                    for r in result.review
                ],
            ),
            "",
        ]
    if result.problem_reasons:
        lines += ["## Bad rows", "", *markdown_table(["reason", "rows"], list(result.problem_reasons.items())), ""]
    return "\n".join(lines)


def write_audit(result: AuditResult, out: Path, model: str, log: str) -> list[str]:
    """The audit's files in `out`; the names written."""
    (out / "audit.json").write_text(json.dumps(result.to_dict() | {"model": model, "log": log}, indent=2))
    write_rows(out / "audit.csv", CSV_COLUMNS, (flat(c) for c in result.cashiers))
    write_rows(
        out / "review.csv",
        ["store", "cashier", "till", "sale_id", "time", "line", "predicted_age", "p_minor"],
        result.review,
    )
    (out / "audit.md").write_text(markdown(result, model, log))
    written = ["audit.json", "audit.csv", "review.csv", "audit.md", "problems.csv"]
    try:  # the chart needs matplotlib, which a till's install does not have
        from age_lightning.evaluation import plots
    except ImportError:
        return written
    plots.save(plots.cashier_audit(result.cashiers, result.settings.fdr), out / "audit.png")
    return [*written, "audit.png"]
