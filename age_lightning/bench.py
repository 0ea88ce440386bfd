"""Speed and parity measurements (benchmarks are scripts, not tests). Results go to docs/benchmarks.md.

    python -m age_lightning.bench latency  --image-size 224 [--photos DIR] [--repeats 50] [--onnx] [--int8]
    python -m age_lightning.bench parity   --ckpt CKPT --photos DIR [--limit 500]

latency: single-photo time (decode + preprocess + forward), median over repeats, for PyTorch on the CPU and,
with --onnx, for the exported ONNX model under onnxruntime (--int8: also its dynamically quantized copy).
Without --ckpt the model is randomly initialized: speed does not depend on the weights.
parity: ONNX vs PyTorch predictions (years) on real photos, and with --int8 the quantized model's MAE cost.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from age_lightning.batch_predict import input_files
from age_lightning.images import load_rgb
from age_lightning.inference import load_checkpoint
from age_lightning.module import AgeRegressor
from age_lightning.preprocess import preprocess


def model_and_size(ckpt: str | None, image_size: int):
    if ckpt:
        model, data = load_checkpoint(ckpt, device="cpu")
        return model, int(data.get("image_size", image_size))
    return AgeRegressor(weights=None).eval(), image_size


def onnx_models(model, image_size: int, folder: Path, int8: bool) -> dict:
    from age_lightning.export import export_model
    from age_lightning.serve import OnnxAgeModel

    path = folder / "model.onnx"
    export_model(model, image_size, path)
    path.with_suffix(".json").write_text(f'{{"input": {{"size": {image_size}}}, "id_check_age": 25}}')
    models = {"onnxruntime fp32": OnnxAgeModel(path)}
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = folder / "model_int8.onnx"
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
        quantized.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
        models["onnxruntime int8 (dynamic)"] = OnnxAgeModel(quantized)
    return models


def latency(args) -> None:
    model, size = model_and_size(args.ckpt, args.image_size)
    photos = input_files(args.photos)[: args.repeats] if args.photos else None

    @torch.inference_mode()
    def pytorch(images):
        return model.predict_age(torch.from_numpy(images)).numpy()

    backends = {"pytorch fp32": pytorch}
    with tempfile.TemporaryDirectory() as folder:
        if args.onnx:
            backends.update(onnx_models(model, size, Path(folder), args.int8))
        print(f"single-photo latency, {size}px, torch threads {torch.get_num_threads()}, "
              f"{'photos from ' + str(args.photos) if photos else 'a generated 200x200 JPEG'}")
        for name, predict in backends.items():
            times = []
            for i in range(args.repeats + 5):
                photo = photos[i % len(photos)] if photos else _generated_photo(Path(folder))
                started = time.perf_counter()
                predict(preprocess(load_rgb(photo, min_size=size), size)[None])
                if i >= 5:  # warm-up excluded
                    times.append(time.perf_counter() - started)
            print(f"  {name:28s} median {1000 * statistics.median(times):6.1f} ms   "
                  f"p90 {1000 * np.percentile(times, 90):6.1f} ms   ({args.repeats} photos)")


def parity(args) -> None:
    model, size = model_and_size(args.ckpt, args.image_size)
    files = input_files(args.photos)[: args.limit]
    images = np.stack([preprocess(load_rgb(f, min_size=size), size) for f in files])
    with torch.inference_mode():
        reference = np.concatenate([model.predict_age(torch.from_numpy(b)).numpy()
                                    for b in np.array_split(images, max(1, len(images) // 64))])
    with tempfile.TemporaryDirectory() as folder:
        for name, onnx in onnx_models(model, size, Path(folder), args.int8).items():
            predicted = np.concatenate([onnx(b) for b in np.array_split(images, max(1, len(images) // 64))])
            difference = np.abs(predicted - reference)
            print(f"{name}: {len(files)} photos, |onnx - pytorch| max {difference.max():.4f} "
                  f"mean {difference.mean():.4f} years")
            if args.labels:
                import pandas as pd

                ages = pd.read_csv(args.labels).set_index("file_name")["real_age"]
                real = ages.loc[[f.name for f in files]].to_numpy(float)
                print(f"  MAE vs real age: onnx {np.abs(predicted - real).mean():.3f}, "
                      f"pytorch {np.abs(reference - real).mean():.3f}")


def _generated_photo(folder: Path) -> Path:
    path = folder / "photo.jpg"
    if not path.exists():
        from PIL import Image

        Image.effect_noise((200, 200), 50).convert("RGB").save(path, quality=90)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("latency", "parity"):
        command = commands.add_parser(name)
        command.add_argument("--ckpt", help="a checkpoint from train.py (default: random init)")
        command.add_argument("--image-size", type=int, default=224)
        command.add_argument("--photos", help="an image folder (latency: optional; parity: required)")
        command.add_argument("--int8", action="store_true", help="also try dynamic int8 quantization")
    commands.choices["latency"].add_argument("--repeats", type=int, default=50)
    commands.choices["latency"].add_argument("--onnx", action="store_true")
    commands.choices["parity"].add_argument("--limit", type=int, default=500)
    commands.choices["parity"].add_argument("--labels", help="labels.csv to report the MAE of each backend")
    args = parser.parse_args()
    {"latency": latency, "parity": parity}[args.command](args)


if __name__ == "__main__":
    main()
