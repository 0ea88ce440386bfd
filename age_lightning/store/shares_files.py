"""The files of shares.py: shares.csv, shares.md, shares.json and shares.png (corrected age-band shares per
group), and with lift=true lift.csv, lift.md ("what to offer") and lift.png. Needs no torch and no pandas."""

import csv
import json
import math
from pathlib import Path

from age_lightning.deploy.model_file import ModelFile
from age_lightning.errors import UserError
from age_lightning.formatting import markdown_table, num, pct
from age_lightning.shares import BANDS, BandShares, ErrorModel
from age_lightning.store.lift import Lift, to_offer

LIFT_COLUMNS = ("band", "category", "buyers", "lift", "low", "high", "counted_lift", "note")


def read_error_model(model_json: str | Path) -> ErrorModel:
    """The error model in an exported model.json (a clear error when it is missing)."""
    path = Path(model_json)
    error_model = ModelFile.read(path).error_model
    if error_model is None:
        raise UserError(
            f"{path} has no error model (exported before shares existed, or never calibrated): run "
            f"python recalibrate.py ckpt_path=<its checkpoint> data.root=<labeled photos it never "
            f"trained on>, then python export.py again"
        )
    return error_model


def _rows(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _four(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def write_shares_csv(results: list[tuple[tuple, BandShares]], by: list[str], path: Path) -> None:
    _rows(
        path,
        [*by, "photos", "band", "counted", "share", "low", "high", "method", "correction_kept", "note"],
        (
            [
                *key,
                s.photos,
                band,
                *(_four(v[i]) for v in (s.naive, s.share, s.low, s.high)),
                s.method,
                f"{s.weight:.3f}",
                s.note,
            ]
            for key, s in results
            for i, band in enumerate(BANDS)
        ),
    )


def shares_markdown(results: list[tuple[tuple, BandShares]], by: list[str]) -> str:
    """One table row per group: corrected share [interval] of every band, and the photos it rests on."""
    first = results[0][1]
    rows = [
        [
            *(key or ("all",)),
            f"{s.photos}" + (" (too few)" if s.too_few else ""),
            *(
                f"{pct(s.share[i], 0)} [{pct(s.low[i], 0)[:-1]}-{pct(s.high[i], 0)}] ({pct(s.naive[i], 0)})"
                for i in range(len(BANDS))
            ),
        ]
        for key, s in results
    ]
    lines = [
        f"Corrected age-band shares ({first.method}; {first.level:.0%} intervals; counted shares in parentheses)",
        "",
        *markdown_table([*(by or ["group"]), "photos", *BANDS], rows),
    ]
    notes = [f"- {', '.join(key) or 'all'}: {s.note}" for key, s in results if s.note]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def write_shares(results: list[tuple[tuple, BandShares]], by: list[str], out: Path) -> list[str]:
    """shares.csv, shares.md, shares.json and (with matplotlib) shares.png in `out`; the names written."""
    write_shares_csv(results, by, out / "shares.csv")
    (out / "shares.md").write_text(shares_markdown(results, by))
    shares = {", ".join(key) or "all": s.to_dict() for key, s in results}
    (out / "shares.json").write_text(json.dumps(shares, indent=2))
    return [
        "shares.csv",
        "shares.md",
        "shares.json",
        *_chart(lambda plots: plots.band_shares(shares), out / "shares.png"),
    ]


def lift_markdown(found: list[Lift], outer_by: list[str], level: float) -> str:
    """Per outer group, the "what to offer" table: for each band, the categories whose lift interval lies above 1,
    highest first; then the categories with too few buyers to rank."""
    lines = [
        f"What to offer each age group: categories whose buyers include the band clearly more often than all buyers "
        f"do (lift, its {level:.0%} interval above 1; the counted lift in parentheses)",
    ]
    for outer, bands in to_offer(found).items():
        if outer:
            lines += ["", f"### {', '.join(f'{c} {v}' for c, v in zip(outer_by, outer))}"]
        rows = [
            [
                band,
                "; ".join(
                    f"{item.category} {num(item.lift[b])} [{num(item.low[b])}-{num(item.high[b])}] "
                    f"({num(item.counted[b])})"
                    for item in bands[band]
                )
                or "none clearly above 1",
            ]
            for b, band in enumerate(BANDS)
        ]
        lines += ["", *markdown_table(["age band", "categories to offer (lift [interval] (counted))"], rows)]
        few = [item for item in found if item.outer == outer and item.too_few]
        if few:
            lines += ["", *(f"- {item.category}: {item.note}" for item in few)]
    return "\n".join(lines) + "\n"


def write_lift(found: list[Lift], outer_by: list[str], level: float, out: Path) -> list[str]:
    """lift.csv, lift.md and (with matplotlib) lift.png in `out`; the names written."""
    _rows(
        out / "lift.csv",
        [*outer_by, *LIFT_COLUMNS],
        (
            [
                *item.outer,
                band,
                item.category,
                item.buyers,
                *(_four(v[b]) for v in (item.lift, item.low, item.high, item.counted)),
                item.note,
            ]
            for item in found
            for b, band in enumerate(BANDS)
        ),
    )
    (out / "lift.md").write_text(lift_markdown(found, outer_by, level))
    return [
        "lift.csv",
        "lift.md",
        *_chart(lambda plots: plots.lift_map(lift_panels(found, outer_by)), out / "lift.png"),
    ]


def lift_panels(found: list[Lift], outer_by: list[str]) -> dict[str, dict]:
    """The chart's panels, one per outer group: categories, lift (bands, categories), whether each interval
    excludes 1, and which categories have too few buyers."""
    panels: dict[str, dict] = {}
    for item in found:
        name = ", ".join(f"{c} {v}" for c, v in zip(outer_by, item.outer)) or "all buyers"
        panel = panels.setdefault(name, {"categories": [], "lift": [], "sure": [], "too_few": []})
        panel["categories"].append(item.category)
        panel["lift"].append(item.lift)
        panel["sure"].append((item.low > 1) | (item.high < 1))
        panel["too_few"].append(item.too_few)
    return panels


def _chart(draw, path: Path) -> list[str]:
    """[path's name] after drawing it, or [] where matplotlib is not installed (a till's install)."""
    try:
        from age_lightning.evaluation import plots
    except ImportError:
        return []
    plots.save(draw(plots), path)
    return [path.name]
