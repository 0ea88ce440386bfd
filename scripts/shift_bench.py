"""The shift alarm's benchmark (docs/benchmarks.md, "Shift alarm"): how often it alarms where nothing changed, how
soon where a till's camera goes dim, and what it does on changes that should not matter; and how each change moves
the 13-17 year olds passing the ID rule.

    python scripts/shift_bench.py --predictions <evaluate.py's predictions.csv> --model <model.onnx> \
        --data-root <utkface> <aaf_train> [--streams 200] [--stream-photos 5000] [--csv shift.csv] \
        [--sources aaf_train] [--conditions "as is" dim]

Each condition transforms the test split's photos (as they are; dim: 35% of the light and sensor noise; blur;
JPEG at quality 20; the face at half the size), runs them through the till's path (the face step, the model, the
statistics), then draws `--streams` random orders of `--stream-photos` photos (with replacement) and runs a till's
test on each. Two more streams change only who buys: the test split's children (under 13), and its over-60s.
"""

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from age_lightning.deploy.model_file import ModelFile  # noqa: E402
from age_lightning.deploy.onnx_model import OnnxAgeModel  # noqa: E402
from age_lightning.formatting import markdown_table, pct  # noqa: E402
from age_lightning.input_spec import PhotoPreparer  # noqa: E402
from age_lightning.shift import DELTA, EPSILONS, ShiftReference, jumper_step, photo_statistics  # noqa: E402


def dim(image: Image.Image, rng) -> Image.Image:
    pixels = np.asarray(image, np.float32) * 0.35 + rng.normal(0, 12, (image.height, image.width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def jpeg20(image: Image.Image, rng) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=20)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def half_size(image: Image.Image, rng) -> Image.Image:
    canvas = Image.new("RGB", image.size, tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0)))
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    canvas.paste(small, (image.width // 4, image.height // 4))
    return canvas


CONDITIONS = {
    "as is": lambda image, rng: image,
    "dim": dim,
    "blur": lambda image, rng: image.filter(ImageFilter.GaussianBlur(2)),
    "jpeg 20": jpeg20,
    "face at half size": half_size,
}


def till_path(files: list[Path], condition, model: OnnxAgeModel, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each photo: its statistics and predicted age (NaN without a face), and whether the ID rule asks (True
    without a face)."""
    prepare, rng = PhotoPreparer(model.spec), np.random.default_rng(seed)
    statistics, asks = np.full((len(files), 4), np.nan), np.ones(len(files), bool)
    inputs, where = [], []
    for n, file in enumerate(files):
        faces = prepare.every_face(condition(prepare.load(file), rng), 1)
        if faces:
            inputs.append(faces[0][0])
            where.append(n)
    for start in range(0, len(inputs), 64):
        batch = np.stack(inputs[start : start + 64])
        ages, scales = model(batch)
        rows = where[start : start + 64]
        statistics[rows] = np.column_stack([photo_statistics(batch), ages])
        asks[rows] = model.spec.id_check.asks_for_id(ages, scales)
    return statistics, asks


def streams(reference: ShiftReference, statistics: np.ndarray, count: int, photos: int, seed: int) -> np.ndarray:
    """The photo at which each of `count` random streams alarms (-1: never)."""
    rng = np.random.default_rng(seed)
    usable = statistics[~np.isnan(statistics).any(axis=1)]
    capital = np.full((count, len(EPSILONS)), 1 / len(EPSILONS))
    first = np.full(count, -1)
    for photo in range(photos):
        drawn = usable[rng.integers(len(usable), size=count)]
        p = reference.p_values(drawn[:, :3], drawn[:, 3], rng)
        capital = jumper_step(capital, p)
        first[(capital.sum(axis=1) >= 1 / DELTA) & (first < 0)] = photo
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True, help="evaluate.py's predictions.csv (test split)")
    parser.add_argument("--model", type=Path, required=True, help="model.onnx, its model.json beside it")
    parser.add_argument("--data-root", type=Path, nargs="+", required=True, help="the folders, one per source")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--stream-photos", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=0, help="only this many test photos, spread evenly (0: all)")
    parser.add_argument("--sources", nargs="+", help="only the test photos of these folders (names)")
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS))
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    model = OnnxAgeModel(args.model)
    reference = ModelFile.read(args.model.with_suffix(".json")).shift_reference
    folders = {root.name: root / "final_files" for root in args.data_root}
    with open(args.predictions, newline="") as f:
        rows = [row for row in csv.DictReader(f) if not args.sources or row["source"] in args.sources]
    if args.limit:  # spread over the file (its sources come one after the other)
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, min(args.limit, len(rows))).astype(int)]
    files = [folders[row["source"]] / row["file_name"] for row in rows]
    ages = np.array([float(row["real_age"]) for row in rows])
    teens, adults = (ages >= 13) & (ages < 18), ages >= 25
    found = {name: till_path(files, CONDITIONS[name], model, seed=7) for name in args.conditions}
    if "as is" in found:
        as_is = found["as is"][0]
        found["buyers under 13 only"] = (np.where((ages < 13)[:, None], as_is, np.nan), found["as is"][1])
        found["buyers over 60 only"] = (np.where((ages > 60)[:, None], as_is, np.nan), found["as is"][1])
    table = []
    for n, (name, (statistics, asks)) in enumerate(found.items()):
        first = streams(reference, statistics, args.streams, args.stream_photos, seed=n)
        alarmed = first[first >= 0]
        table.append(
            {
                "stream": name,
                "photos_with_a_face": int((~np.isnan(statistics).any(axis=1)).sum()),
                "teens_passing": round(float((~asks[teens]).mean()), 4),
                "adults_asked": round(float(asks[adults].mean()), 4),
                "streams_alarmed": round(float((first >= 0).mean()), 4),
                "median_alarm_photo": int(np.median(alarmed)) if len(alarmed) else None,
            }
        )
        print(table[-1], flush=True)
    print(f"\n{len(files)} test photos ({teens.sum()} aged 13-17); {args.streams} streams of {args.stream_photos}")
    header = ["stream", "photos with a face", "13-17 passing the rule", "adults 25+ asked", "streams alarmed"]
    cells = ["stream", "photos_with_a_face", "teens_passing", "adults_asked", "streams_alarmed", "median_alarm_photo"]
    shares = {"teens_passing", "adults_asked", "streams_alarmed"}
    rows = [[pct(row[key]) if key in shares else row[key] for key in cells] for row in table]
    print("\n".join(markdown_table([*header, "median photo of the alarm"], rows)))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)


if __name__ == "__main__":
    main()
