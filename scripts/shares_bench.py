"""Benchmark of the age-group share estimators on real photos: counted vs corrected shares on a labeled set and
on subsets whose age mix is shifted on purpose, and the time for a million predictions.

    python scripts/shares_bench.py --predictions <evaluate.py's predictions.csv> --ckpt <calibrated checkpoint> \
        [--draws 50] [--size 500] [--methods dm,acc,em]

For each mix, `--draws` random subsets of `--size` photos are drawn (with replacement, weighted to the mix) from
the labeled set; each method's shares are compared with the subset's true shares: mean total variation from the
truth (counted and corrected) and the share of band intervals that cover the truth.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from age_lightning.model.inference import load_checkpoint
from age_lightning.shares import BANDS, band_index, estimate_shares, total_variation

# Target band mixes for the shifted subsets (0-12, 13-17, 18-24, 25-39, 40-59, 60+); None: the set as it is.
MIXES = {
    "as labeled": None,
    "under-30s only": "under30",
    "over-50s only": "over50",
    "children-heavy (families)": [0.48, 0.16, 0.15, 0.14, 0.06, 0.01],
}


def weights_for(mix, real: np.ndarray) -> np.ndarray:
    """Sampling weight of each photo so that draws follow `mix`."""
    if mix is None:
        return np.ones(len(real))
    if mix == "under30":
        return (real < 30).astype(float)
    if mix == "over50":
        return (real >= 50).astype(float)
    bands = band_index(real)
    counts = np.bincount(bands, minlength=len(BANDS))
    return np.asarray(mix)[bands] / np.maximum(counts[bands], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True, help="evaluate.py's predictions.csv")
    parser.add_argument("--ckpt", type=Path, required=True, help="the checkpoint whose error model to use")
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--methods", default="dm,acc,em")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--million", action="store_true", help="also time a million predictions per method")
    args = parser.parse_args()

    error_model = load_checkpoint(str(args.ckpt), device="cpu")[0].error_model
    if error_model is None:
        parser.error(f"{args.ckpt} has no error model: calibrate it first (recalibrate.py)")
    table = pd.read_csv(args.predictions)
    real, predicted = table["real_age"].to_numpy(), table["predicted_age"].to_numpy()
    scale = table["scale"].to_numpy() if "scale" in table else None
    rng = np.random.default_rng(0)
    print(
        f"{args.predictions}: {len(table)} photos; error model: {error_model.photos} photos "
        f"({error_model.source}); {args.draws} draws of {args.size} photos per mix"
    )
    print(
        "| mix | method | true shares (mean) | TV counted | TV corrected | corrected / counted | intervals covering |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, mix in MIXES.items():
        p = weights_for(mix, real)
        draws = [rng.choice(len(real), args.size, p=p / p.sum()) for _ in range(args.draws)]
        truth = [np.bincount(band_index(real[d]), minlength=len(BANDS)) / args.size for d in draws]
        shown = " / ".join(f"{100 * s:.0f}" for s in np.mean(truth, axis=0))
        for method in args.methods.split(","):
            results = [
                estimate_shares(
                    error_model,
                    predicted[d],
                    None if scale is None else scale[d],
                    method=method,
                    bootstrap=args.bootstrap,
                    seed=i,
                )
                for i, d in enumerate(draws)
            ]
            tv_naive = np.mean([total_variation(r.naive, t) for r, t in zip(results, truth)])
            tv = np.mean([total_variation(r.share, t) for r, t in zip(results, truth)])
            covered = np.mean([(r.low <= t) & (t <= r.high) for r, t in zip(results, truth)])
            print(
                f"| {name} | {method} | {shown} | {tv_naive:.3f} | {tv:.3f} | {tv / tv_naive:.2f} | {covered:.1%} |",
                flush=True,
            )
    if args.million:
        rows = rng.integers(0, len(real), 1_000_000)
        for method in args.methods.split(","):
            started = time.perf_counter()
            estimate_shares(
                error_model,
                predicted[rows],
                None if scale is None else scale[rows],
                method=method,
                bootstrap=args.bootstrap,
            )
            print(
                f"1,000,000 predictions, {method}, {args.bootstrap} bootstrap replicates: "
                f"{time.perf_counter() - started:.1f} s"
            )


if __name__ == "__main__":
    main()
