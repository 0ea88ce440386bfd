"""The cashier audit measured on generated chains (docs/benchmarks.md, "Cashier audit").

Chains come from labeled photos the model never trained on, answered by the model: evaluate.py's predictions.csv
of a test split (source, file_name, real_age, predicted_age, scale). For each count of alcohol sales per cashier,
`--chains` chains of 4 stores x 10 cashiers (per store 1 negligent, 1 lax, 8 diligent; 3% of attempts by minors)
are audited with the POS's id_checked (test=checks) and from the photos alone (test=photos, each statistic).
Prints, and writes with --csv, per setting: the share of negligent and lax cashiers flagged, the share of flags
that are diligent cashiers, and how often the interval of expected minors served covers the true count.

    python scripts/audit_bench.py --predictions logs/evaluate/runs/<run>/predictions.csv --model deploy/model.json
    python scripts/audit_bench.py ... --reliability             # p_minor's calibration on those photos, per source
    python scripts/audit_bench.py --scale 10000000 --model deploy/model.json   # time and peak memory of a big log
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from child_timing import timed_child

from age_lightning.deploy.model_file import ModelFile
from age_lightning.evaluation.metrics import minor_probability_metrics
from age_lightning.store.audit import AuditSettings, run_audit
from age_lightning.store.generator import Photos, StoreSettings, generate


def photos_of(predictions: Path) -> tuple[Photos, pd.DataFrame]:
    table = pd.read_csv(predictions)
    scale = table["scale"].to_numpy(float) if "scale" in table else None
    photos = Photos(
        table["file_name"].to_numpy(str),
        table["real_age"].to_numpy(float),
        table["predicted_age"].to_numpy(float),
        scale,
    )
    return photos, table


def reliability(table: pd.DataFrame, model: ModelFile) -> pd.DataFrame:
    """ECE and Brier of p_minor and p_under_25 on labeled photos, overall and per source, each under its photos'
    own band mix (the buyers' mix a store would state): evaluate.py's section, for a predictions CSV."""
    subsets = {source: (table["source"] == source).to_numpy() for source in table["source"].unique()}
    found = minor_probability_metrics(table["real_age"], table["predicted_age"], model.error_model, subsets)
    return pd.DataFrame(
        [
            {"photos": name, "n": f["n"]}
            | {f"{key} {what}": f[key][what] for key in ("p_minor", "p_under_25") for what in ("ece", "brier")}
            for name, f in found.items()
        ]
    )


def score(result, cashiers: pd.DataFrame) -> pd.DataFrame:
    found = pd.DataFrame(result.cashiers)
    merged = cashiers.merge(found, on=["store", "cashier"])
    merged["covered"] = [
        e["low"] <= served <= e["high"] for e, served in zip(merged["expected_minors"], merged["minors_served"])
    ]
    return merged[["behaviour", "flagged", "judged", "covered"]]


def bench(photos: Photos, model: ModelFile, sales: list[int], chains: int, statistics: list[str]) -> pd.DataFrame:
    runs = [("checks", "likelihood_ratio")] + [("photos", statistic) for statistic in statistics]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "sales.parquet"
        for count in sales:
            scored = {run: [] for run in runs}
            started = time.time()
            for seed in range(chains):
                chain = generate(photos, StoreSettings(sales=count, seed=seed))
                pq.write_table(chain["sales"], log)
                cashiers = chain["cashiers"].to_pandas()
                for test, statistic in runs:
                    result = run_audit(log, model, AuditSettings(test=test, statistic=statistic, seed=seed))
                    scored[(test, statistic)].append(score(result, cashiers))
            for (test, statistic), parts in scored.items():
                found = pd.concat(parts)
                flags = found[found["flagged"]]
                rows.append(
                    {
                        "alcohol attempts per cashier": count,
                        "test": test if test == "checks" else f"photos ({statistic})",
                        "negligent flagged": found.loc[found["behaviour"] == "negligent", "flagged"].mean(),
                        "lax flagged": found.loc[found["behaviour"] == "lax", "flagged"].mean(),
                        "diligent flagged": found.loc[found["behaviour"] == "diligent", "flagged"].mean(),
                        "diligent share of flags": (flags["behaviour"] == "diligent").mean() if len(flags) else 0.0,
                        "flags": len(flags),
                        "expected minors interval covers": found["covered"].mean(),
                        "cashiers": len(found),
                    }
                )
            print(f"{count} attempts per cashier: {chains} chains in {time.time() - started:.0f} s", flush=True)
    return pd.DataFrame(rows)


def scale_run(rows: int, model_json: str) -> None:
    """A log of `rows` answered sales as CSV, audited by audit.py in a child process: wall time and peak RSS."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "sales.csv"
        started = time.time()
        chunk = 1_000_000
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            store = rng.integers(1, 41, n)
            ages = np.clip(rng.normal(42, 15, n), 14, 90)
            table = pd.DataFrame(
                {
                    "sale_id": np.arange(start, start + n),
                    "store": store.astype(str),
                    "till": (store * 10 + rng.integers(0, 8, n)).astype(str),
                    "cashier": (store * 100 + rng.integers(0, 25, n)).astype(str),
                    "time": (np.datetime64("2026-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")).astype(
                        str
                    ),
                    "alcohol": rng.random(n) < 0.5,
                    "id_checked": rng.random(n) < 0.2,
                    "predicted_age": (ages + rng.normal(0, 6, n)).round(1),
                    "age_scale": rng.uniform(3, 9, n).round(2),
                }
            )
            table.to_csv(log, mode="a", header=start == 0, index=False)
        print(f"{rows} rows written in {time.time() - started:.0f} s ({log.stat().st_size / 1e9:.2f} GB)")
        timed_child(["audit.py", f"log={log}", f"model={model_json}", f"out={folder}/audit"], f"audit of {rows} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--chains", type=int, default=50)
    parser.add_argument("--sales", type=int, nargs="+", default=[100, 400, 1600, 6400])
    parser.add_argument("--statistics", nargs="+", default=["likelihood_ratio", "p_minor"])
    parser.add_argument("--reliability", action="store_true")
    parser.add_argument("--scale", type=int, default=0, help="rows of a big log to time instead")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if args.scale:
        return scale_run(args.scale, args.model)
    model = ModelFile.read(args.model)
    photos, table = photos_of(args.predictions)
    result = (
        reliability(table, model)
        if args.reliability
        else bench(photos, model, args.sales, args.chains, args.statistics)
    )
    print(result.to_markdown(index=False, floatfmt=".3f"))
    if args.csv:
        result.to_csv(args.csv, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()
