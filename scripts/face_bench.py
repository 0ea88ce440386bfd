"""Face step measurements (a benchmark, not a test). Results go to docs/benchmarks.md.

    python scripts/face_bench.py --data-root DIR [--limit 1000] [--threads 1] [--key-points key_points.csv]

Reports the detection rate and ms per photo (decode + detect + align, one photo at a time, `--threads`
onnxruntime threads). With --key-points (aaf_train's 49 hand-checked landmarks; eyes are points 20-25 and
26-31), also how far the eye centres land from the template's after alignment, in template eye distances.
"""

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from age_lightning.faces import FaceAligner, FacePolicy
from age_lightning.faces.align import similarity_transform, template_points
from age_lightning.images import load_rgb

SIDE = 200


def eye_centres(row: pd.Series) -> np.ndarray:
    """(2, 2): the centre of each eye (image left first) from aaf_train's key points 20-25 and 26-31."""
    points = row.to_numpy(float).reshape(49, 2)
    return np.stack([points[19:25].mean(0), points[25:31].mean(0)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--limit", type=int, default=1000, help="photos spread evenly over the folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--key-points", help="a key_points.csv with 49 landmarks per photo")
    args = parser.parse_args()

    labels = pd.read_csv(f"{args.data_root}/labels.csv")
    chosen = labels.iloc[np.linspace(0, len(labels) - 1, min(args.limit, len(labels))).astype(int)]
    policy = FacePolicy(mode="align")
    aligner = FaceAligner(policy, threads=args.threads)
    key_points = pd.read_csv(args.key_points).set_index("file_name") if args.key_points else None
    template_eyes = template_points(SIDE, policy.face_scale, policy.template)[:2]
    eye_distance = np.linalg.norm(template_eyes[1] - template_eyes[0])
    times, found, several, errors = [], 0, 0, []
    for name in chosen["file_name"]:
        started = time.perf_counter()
        aligned = aligner(load_rgb(f"{args.data_root}/final_files/{name}", min_size=policy.max_side), SIDE)
        times.append(time.perf_counter() - started)
        if aligned is None:
            continue
        found += 1
        several += aligned.faces_found > 1
        if key_points is not None and name in key_points.index:
            matrix = similarity_transform(
                aligned.face.landmarks, template_points(SIDE, policy.face_scale, policy.template)
            )
            eyes = eye_centres(key_points.loc[name]) @ matrix[:, :2].T + matrix[:, 2]
            errors.append(np.linalg.norm(eyes - template_eyes, axis=1).mean() / eye_distance)
    n = len(chosen)
    print(f"{args.data_root}: {n} photos, {args.threads} thread(s)")
    print(f"  face found in {found}/{n} ({100 * found / n:.2f}%), several faces in {several}")
    print(
        f"  ms per photo (decode + detect + align): median {1000 * statistics.median(times):.1f}, "
        f"mean {1000 * statistics.mean(times):.1f}, p90 {1000 * np.percentile(times, 90):.1f}"
    )
    if errors:
        errors = np.array(errors)
        print(
            f"  eye-centre error after alignment vs key points, in eye distances: median {np.median(errors):.3f}, "
            f"mean {errors.mean():.3f}, p95 {np.percentile(errors, 95):.3f}, over 0.25: {(errors > 0.25).sum()}"
        )


if __name__ == "__main__":
    main()
