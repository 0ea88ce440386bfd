"""Benchmark of corrected age-band shares and lift on real photos: counted against corrected (each method, with
and without shrinkage) over many generated mixes, "what to offer" on generated stores, and a chain's year.

    python scripts/shares_bench.py --predictions <evaluate.py's predictions.csv> --model <exported model.json> \
        [--mixes 100] [--draws 3] [--sizes 500 2000 10000] [--methods dm em] [--error-photos 150] [--csv mixes.csv]
    python scripts/shares_bench.py --predictions ... --model ... --stores 10      # what to offer, generated stores
    python scripts/shares_bench.py --model ... --scale 10000000                   # time and peak memory of a year

Mixes: the error model's own band mix (the calibration photos'), then half mild shifts of it (Dirichlet around
it) and half strong ones (Dirichlet(1)); each mix is drawn `--draws` times at a size from `--sizes`, photos drawn
per band from the test predictions. Each draw is one store of two categories, this mix and another random one:
the shares of the first and its lift over both are compared with the truth of the drawn photos (total variation
for shares, mean absolute error over the bands for lift), with the coverage of their intervals.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from child_timing import timed_child

from age_lightning.shares import BANDS, Cells, ErrorModel, band_index, estimate, interval, total_variation
from age_lightning.store.generator import Photos, StoreSettings, generate
from age_lightning.store.lift import lifts, outer_groups, ratio
from age_lightning.store.shares_files import read_error_model

LEVEL = 0.95


def mixes(count: int, own: np.ndarray, rng) -> list[np.ndarray]:
    mild = [rng.dirichlet(20 * len(BANDS) * np.maximum(own, 0.01)) for _ in range((count - 1) // 2)]
    strong = [rng.dirichlet(np.ones(len(BANDS))) for _ in range(count - 1 - len(mild))]
    return [own, *mild, *strong]


def draw(mix: np.ndarray, size: int, by_band: list[np.ndarray], rng) -> np.ndarray:
    """Rows of the test predictions: `size` photos whose bands follow `mix` (bands the set lacks are skipped)."""
    held = np.array([len(rows) > 0 for rows in by_band])
    mix = np.where(held, mix, 0) / np.where(held, mix, 0).sum()
    counts = rng.multinomial(size, mix)
    return np.concatenate([rng.choice(rows, n) for rows, n in zip(by_band, counts) if n])


def mix_run(table: pd.DataFrame, error_model, args) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    real, predicted = table["real_age"].to_numpy(), table["predicted_age"].to_numpy()
    by_band = [np.flatnonzero(band_index(real) == b) for b in range(len(BANDS))]
    rows = []
    started = time.time()
    for m, mix in enumerate(mixes(args.mixes, error_model.prior(), rng)):
        for d in range(args.draws):
            size = args.sizes[(m * args.draws + d) % len(args.sizes)]
            first, other = draw(mix, size, by_band, rng), draw(rng.dirichlet(np.ones(len(BANDS))), size, by_band, rng)
            true = [np.bincount(band_index(real[g]), minlength=len(BANDS)) / len(g) for g in (first, other)]
            everyone = (true[0] + true[1]) / 2
            true_lift = np.divide(true[0], everyone, out=np.full(len(BANDS), np.nan), where=everyone > 0)
            cells = Cells.of(predicted[first], predicted[other])
            for method in args.methods:
                for shrinkage in (False, True):
                    found = estimate(
                        error_model, cells, method, args.bootstrap, m * 100 + d, shrinkage, sums=np.array([[1, 1]])
                    )
                    low, high = interval(found.corrected_draws[:, 0], found.corrected[0], LEVEL)
                    lift = ratio(found.corrected[0], found.corrected[2])
                    draws = ratio(found.corrected_draws[:, 0], found.corrected_draws[:, 2])
                    lift_low, lift_high = interval(draws, lift, LEVEL)
                    counted_lift = ratio(found.counted[0], found.counted[2])
                    judged = everyone >= 0.02  # lift of a band almost nobody is in is not judged
                    rows.append(
                        {
                            "mix": m,
                            "kind": "own" if m == 0 else "mild" if m <= (args.mixes - 1) // 2 else "strong",
                            "draw": d,
                            "size": size,
                            "method": method,
                            "shrinkage": shrinkage,
                            "tv_counted": total_variation(found.counted[0], true[0]),
                            "tv_corrected": total_variation(found.corrected[0], true[0]),
                            "kept": found.weight[0],
                            "covered": np.mean((low <= true[0]) & (true[0] <= high)),
                            "lift_error_counted": np.mean(np.abs(counted_lift - true_lift)[judged]),
                            "lift_error_corrected": np.mean(np.abs(lift - true_lift)[judged]),
                            "lift_covered": np.mean(((lift_low <= true_lift) & (true_lift <= lift_high))[judged]),
                        }
                    )
        if m % 10 == 9:
            print(f"{m + 1} mixes in {time.time() - started:.0f} s", flush=True)
    return pd.DataFrame(rows)


def summarize(found: pd.DataFrame) -> None:
    per_mix = found.groupby(["method", "shrinkage", "mix"]).mean(numeric_only=True)
    per_mix["ratio"] = per_mix["tv_corrected"] / per_mix["tv_counted"]
    per_mix["lift_ratio"] = per_mix["lift_error_corrected"] / per_mix["lift_error_counted"]
    print(
        "| method | shrinkage | TV counted | TV corrected | ratio (mean of mixes) | worst mix | mixes > 1.1x "
        "| shares covered | lift error counted | lift error corrected | worst mix (lift) | lift mixes > 1.1x "
        "| lift covered | correction kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (method, shrinkage), mix in per_mix.groupby(level=[0, 1]):
        print(
            f"| {method} | {shrinkage} | {mix.tv_counted.mean():.3f} | {mix.tv_corrected.mean():.3f} | "
            f"{mix.ratio.mean():.2f} | {mix.ratio.max():.2f} | {(mix.ratio > 1.1).sum()} of {len(mix)} | "
            f"{mix.covered.mean():.1%} | {mix.lift_error_counted.mean():.3f} | {mix.lift_error_corrected.mean():.3f} | "
            f"{mix.lift_ratio.max():.2f} | {(mix.lift_ratio > 1.1).sum()} | {mix.lift_covered.mean():.1%} | "
            f"{mix.kept.mean():.2f} |"
        )
    own = per_mix.xs(0, level="mix")[["tv_counted", "tv_corrected", "ratio", "covered"]]
    print("the calibration photos' own mix:\n" + own.round(3).to_string())


def store_run(table: pd.DataFrame, error_model, stores: int) -> None:
    """What to offer on generated chains: the categories with a clear true lift (>= 1.5, and >= 1.25) listed, and
    any listed whose true lift is at most 1."""
    photos = Photos(
        table["file_name"].to_numpy(), table["real_age"].to_numpy(), table["predicted_age"].to_numpy(), None
    )
    tally = {"clear 1.5": [0, 0], "clear 1.25": [0, 0], "listed not over-indexed": [0, 0]}
    for seed in range(stores):
        chain = generate(photos, StoreSettings(stores=4, cashiers=10, sales=1000, seed=seed))
        category = chain["sales"].column("category").to_numpy(zero_copy_only=False)
        names = sorted(set(category))
        predicted = chain["sales"].column("predicted_age").to_numpy()
        keys = [(n,) for n in names]
        cells = Cells.of(*(predicted[category == n] for n in names))
        found = lifts(keys, estimate(error_model, cells, sums=outer_groups(keys)[1]), LEVEL, 100)
        true_band = band_index(chain["truth"].column("true_age").to_numpy())
        everyone = np.bincount(true_band, minlength=len(BANDS)) / len(true_band)
        for item in found:
            true_lift = np.bincount(true_band[category == item.category], minlength=len(BANDS)) / item.buyers / everyone
            listed = item.low > 1
            for name, which in (("clear 1.5", true_lift >= 1.5), ("clear 1.25", true_lift >= 1.25)):
                tally[name][0] += int((listed & which).sum())
                tally[name][1] += int(which.sum())
            tally["listed not over-indexed"][0] += int((listed & (true_lift <= 1)).sum())
            tally["listed not over-indexed"][1] += int(listed.sum())
        print(f"chain {seed + 1}: {len(category)} sales", flush=True)
    for name, (hit, of) in tally.items():
        print(f"{name}: {hit} of {of}")


def scale_run(rows: int, model_json: str) -> None:
    """A log of `rows` answered sales (40 stores, 7 categories) as CSV, read by shares.py by=store,category
    lift=true in a child process: wall time and peak resident memory."""
    rng = np.random.default_rng(0)
    categories = np.array(["baby", "beer", "groceries", "health", "snacks", "spirits", "wine"])
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "sales.csv"
        started = time.time()
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            ages = np.clip(rng.normal(42, 15, n), 14, 90)
            pd.DataFrame(
                {
                    "sale_id": np.arange(start, start + n),
                    "store": rng.integers(1, 41, n).astype(str),
                    "category": categories[rng.integers(0, len(categories), n)],
                    "status": "ok",
                    "predicted_age": (ages + rng.normal(0, 6, n)).round(1),
                }
            ).to_csv(log, mode="a", header=start == 0, index=False)
        print(f"{rows} rows written in {time.time() - started:.0f} s ({log.stat().st_size / 1e9:.2f} GB)")
        timed_child(
            [
                "shares.py",
                f"predictions={log}",
                f"model={model_json}",
                "by=store,category",
                "lift=true",
                f"output={folder}/out",
            ],
            f"shares + lift of {rows} rows",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, help="evaluate.py's predictions.csv (test split)")
    parser.add_argument("--model", required=True, help="the exported model.json (its error model)")
    parser.add_argument("--mixes", type=int, default=100)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--methods", nargs="+", default=["dm", "em"])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument(
        "--error-photos", type=int, help="an error model of only this many of its photos (a new user's)"
    )
    parser.add_argument("--csv", type=Path, help="write every draw's figures here")
    parser.add_argument("--stores", type=int, default=0, help="generated chains for 'what to offer' instead")
    parser.add_argument("--scale", type=int, default=0, help="rows of a big log to time instead")
    args = parser.parse_args()
    if args.scale:
        return scale_run(args.scale, args.model)
    error_model = read_error_model(args.model)
    if args.error_photos:
        rows = np.random.default_rng(1).choice(error_model.photos, args.error_photos, replace=False)
        error_model = ErrorModel(error_model.true_age[rows], error_model.predicted[rows], None, error_model.source)
    table = pd.read_csv(args.predictions)
    print(f"{args.predictions}: {len(table)} photos; error model: {error_model.photos} photos ({error_model.source})")
    if args.stores:
        return store_run(table, error_model, args.stores)
    found = mix_run(table, error_model, args)
    if args.csv:
        found.to_csv(args.csv, index=False)
    summarize(found)


if __name__ == "__main__":
    main()
