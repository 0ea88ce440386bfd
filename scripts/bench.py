"""Speed and parity measurements (benchmarks are scripts, not tests). Results go to docs/benchmarks.md.

    python scripts/bench.py throughput --data-root DIR [--image-size 224] [--batch-size 32] [--steps 20]
        [--precision 32-true[,bf16-mixed]] [--accelerator auto] [--num-workers 2] [--compile]
    python scripts/bench.py latency  --image-size 224 [--photos DIR] [--repeats 50] [--onnx] [--int8] [--faces]
    python scripts/bench.py parity   --ckpt CKPT --photos DIR [--limit 500] [--int8 --calibration-dir DIR]

throughput: training img/s (1) compute-bound, on synthetic tensors already in device memory, for each precision
given (and the ratio of the last to the first), (2) end to end through the real AgeDataModule on a labeled folder,
without and with the cache, in the first precision, (3) their ratio, and (4) inference img/s at batch 64 in each
precision.
latency: single-photo time (decode + face step with --faces + preprocess + forward), median over repeats, for
PyTorch on the CPU and, with --onnx, for the exported ONNX model under onnxruntime (--int8: also its static int8
copy, calibrated on --calibration-dir, default the --photos).
Without --ckpt the model is randomly initialized: speed does not depend on the weights.
parity: ONNX vs PyTorch predictions (years) on real photos, and with --int8 the quantized model's MAE cost.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from age_lightning.deploy.predict_files import input_files
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec, PhotoPreparer
from age_lightning.model.inference import load_checkpoint
from age_lightning.model.module import AgeRegressor
from age_lightning.preprocess import DEFAULT_IMAGE_SIZE


def model_and_size(ckpt: str | None, image_size: int):
    if ckpt:
        model, data = load_checkpoint(ckpt, device="cpu")
        return model, int(data.get("image_size", image_size))
    return AgeRegressor(weights=None).eval(), image_size


def onnx_models(model, image_size: int, folder: Path, int8_calibration: list[np.ndarray] | None = None) -> dict:
    """The exported model under onnxruntime, and its static int8 copy when calibration images are given."""
    from age_lightning.deploy.model_file import ModelFile
    from age_lightning.deploy.onnx_model import OnnxAgeModel
    from age_lightning.tasks.export import export_model, quantize_int8

    path = folder / "model.onnx"
    export_model(model, image_size, path)
    ModelFile(InputSpec(image_size), model_file=path.name).write(path.with_suffix(".json"))
    models = {"onnxruntime fp32": OnnxAgeModel(path)}
    if int8_calibration is not None:
        quantized = quantize_int8(path, int8_calibration, folder / "model_int8.onnx")
        models["onnxruntime int8 (static)"] = OnnxAgeModel(quantized)
    return models


def int8_calibration(args, size: int, scratch: Path) -> list[np.ndarray] | None:
    """Calibration images for --int8 (None without it): --calibration-dir, else --photos, else a generated photo."""
    from age_lightning.tasks.export import calibration_images

    if not args.int8:
        return None
    folder = args.calibration_dir or args.photos or _generated_photo(scratch).parent
    faces = FacePolicy(mode="align" if getattr(args, "faces", False) else "none")
    return calibration_images(folder, InputSpec(size, faces), args.calibration_photos)


class _StepTimer(L.Callback):
    """Time from the end of the warm-up batches to the end of training."""

    def __init__(self, warmup: int):
        self.warmup, self.started, self.images = warmup, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step  # not batch_idx, which restarts every epoch
        if step == self.warmup:
            _synchronize(pl_module.device)
            self.started = time.perf_counter()
        elif step > self.warmup:
            self.images += len(batch[1])

    def images_per_second(self, device) -> float:
        _synchronize(device)
        return self.images / (time.perf_counter() - self.started)


def _synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _trainer(args, callbacks) -> L.Trainer:
    return L.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision.split(",")[0],
        logger=False,
        max_steps=args.warmup + args.steps,
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


def compute_bound(args, precision: str) -> float:
    """Training img/s (forward, backward, Adam step) on one synthetic batch that never leaves the device."""
    device = _device(args)
    model = AgeRegressor(weights=None, compile=args.compile).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    ages = torch.rand(args.batch_size, device=device) * 80
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _synchronize(device)
            started = time.perf_counter()
        with _autocast(precision, device):
            loss = model._step((images, ages))[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _synchronize(device)
    return args.batch_size * args.steps / (time.perf_counter() - started)


def _device(args) -> torch.device:
    from age_lightning.model.inference import resolve_device

    return resolve_device({"gpu": "cuda", "auto": "auto"}.get(args.accelerator, args.accelerator))


def _autocast(precision: str, device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled="bf16" in precision)


def end_to_end(args, use_cache: bool) -> float:
    """Training img/s through the real data pipeline (decode or cache, augmentation, collation, transfer)."""
    import functools

    from age_lightning.data.datamodule import AgeDataModule

    datamodule = AgeDataModule(
        root=args.data_root,
        image_size=args.image_size,
        loader={
            "batch_size": args.batch_size,
            "num_workers": args.num_workers,
            "pin_memory": args.accelerator != "cpu",
        },
        check_images=False,
        augmentation={"crop_scale": (0.8, 1.0), "hflip": 0.5, "color_jitter": 0.1},
        cache=use_cache,
        cache_dir=args.cache_dir or tempfile.mkdtemp(prefix="bench_cache"),
    )
    datamodule.setup("fit")  # builds the cache (if asked) before the clock starts
    model = AgeRegressor(optimizer=functools.partial(torch.optim.Adam, lr=1e-4), weights=None)
    timer = _StepTimer(args.warmup)
    _trainer(args, [timer]).fit(model, datamodule=datamodule)
    return timer.images_per_second(model.device)


@torch.inference_mode()
def inference(args, precision: str) -> float:
    device = _device(args)
    model = AgeRegressor(weights=None).eval().to(device)
    images = torch.randn(64, 3, args.image_size, args.image_size, device=device)
    with _autocast(precision, device):
        for _ in range(2):
            model.predict_age(images)
        _synchronize(device)
        started = time.perf_counter()
        for _ in range(args.steps):
            model.predict_age(images)
        _synchronize(device)
    return 64 * args.steps / (time.perf_counter() - started)


def throughput(args) -> None:
    print(
        f"training throughput, {args.image_size}px, batch {args.batch_size}, {args.precision}, "
        f"accelerator {args.accelerator}, {args.steps} timed steps after {args.warmup} warm-up, "
        f"torch threads {torch.get_num_threads()}, data workers {args.num_workers}"
    )
    rates = {precision: compute_bound(args, precision) for precision in args.precision.split(",")}
    for precision, rate in rates.items():
        print(f"  (1) compute-bound (synthetic, on device)  {rate:8.1f} img/s   {precision}")
    if len(rates) > 1:
        first, last = list(rates)[0], list(rates)[-1]
        print(f"      ratio {last} / {first}: {rates[last] / rates[first]:.2f}")
    compute = rates[args.precision.split(",")[0]]
    for use_cache in (False, True):
        rate = end_to_end(args, use_cache)
        label = "with cache" if use_cache else "no cache"
        print(f"  (2) end to end, {label:10s}             {rate:8.1f} img/s   (3) ratio {rate / compute:.2f}")
    for precision in rates:
        print(f"  (4) inference, batch 64                   {inference(args, precision):8.1f} img/s   {precision}")


def latency(args) -> None:
    model, size = model_and_size(args.ckpt, args.image_size)
    photos = input_files(args.photos)[: args.repeats] if args.photos else None

    @torch.inference_mode()
    def pytorch(images):
        return model.predict_age(torch.from_numpy(images)).numpy()

    prepare = PhotoPreparer(InputSpec(size, FacePolicy(mode="align" if args.faces else "none")))
    backends = {"pytorch fp32": pytorch}
    with tempfile.TemporaryDirectory() as folder:
        if args.onnx:
            backends.update(onnx_models(model, size, Path(folder), int8_calibration(args, size, Path(folder))))
        print(
            f"single-photo latency, {size}px, face step {'align' if args.faces else 'none'}, "
            f"torch threads {torch.get_num_threads()}, "
            f"{'photos from ' + str(args.photos) if photos else 'a generated 200x200 JPEG'}"
        )
        for name, predict in backends.items():
            times = []
            for i in range(args.repeats + 5):
                photo = photos[i % len(photos)] if photos else _generated_photo(Path(folder))
                started = time.perf_counter()
                image = prepare(prepare.load(photo))[0]
                if image is not None:
                    predict(image[None])
                if i >= 5:  # warm-up excluded
                    times.append(time.perf_counter() - started)
            print(
                f"  {name:28s} median {1000 * statistics.median(times):6.1f} ms   "
                f"p90 {1000 * np.percentile(times, 90):6.1f} ms   ({args.repeats} photos)"
            )


def parity(args) -> None:
    model, size = model_and_size(args.ckpt, args.image_size)
    files = input_files(args.photos)[: args.limit]
    prepare = PhotoPreparer(InputSpec(size))
    images = np.stack([prepare(prepare.load(f))[0] for f in files])
    with torch.inference_mode():
        reference = np.concatenate(
            [model.predict_age(torch.from_numpy(b)).numpy() for b in np.array_split(images, max(1, len(images) // 64))]
        )
    with tempfile.TemporaryDirectory() as folder:
        for name, onnx in onnx_models(model, size, Path(folder), int8_calibration(args, size, Path(folder))).items():
            predicted = np.concatenate([onnx(b)[0] for b in np.array_split(images, max(1, len(images) // 64))])
            difference = np.abs(predicted - reference)
            print(
                f"{name}: {len(files)} photos, |onnx - pytorch| max {difference.max():.4f} "
                f"mean {difference.mean():.4f} years"
            )
            if args.labels:
                import pandas as pd

                ages = pd.read_csv(args.labels).set_index("file_name")["real_age"]
                real = ages.loc[[f.name for f in files]].to_numpy(float)
                print(
                    f"  MAE vs real age: onnx {np.abs(predicted - real).mean():.3f}, "
                    f"pytorch {np.abs(reference - real).mean():.3f}"
                )


def _generated_photo(folder: Path) -> Path:
    path = folder / "photo.jpg"
    if not path.exists():
        from PIL import Image

        Image.effect_noise((200, 200), 50).convert("RGB").save(path, quality=90)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("throughput")
    speed.add_argument("--data-root", required=True, help="a labeled-photo folder")
    speed.add_argument("--cache-dir", help="where the squares cache is built (default: a temporary folder)")
    speed.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    speed.add_argument("--batch-size", type=int, default=32)
    speed.add_argument("--steps", type=int, default=20)
    speed.add_argument("--warmup", type=int, default=3)
    speed.add_argument("--precision", default="32-true", help="one or several, comma-separated")
    speed.add_argument("--accelerator", default="auto")
    speed.add_argument("--num-workers", type=int, default=2)
    speed.add_argument("--compile", action="store_true", help="torch.compile the backbone (compute-bound only)")
    for name in ("latency", "parity"):
        command = commands.add_parser(name)
        command.add_argument("--ckpt", help="a checkpoint from train.py (default: random init)")
        command.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
        command.add_argument("--photos", help="an image folder (latency: optional; parity: required)")
        command.add_argument("--int8", action="store_true", help="also try static int8 quantization")
        command.add_argument("--calibration-dir", help="photos to calibrate int8 on (default: --photos)")
        command.add_argument("--calibration-photos", type=int, default=100)
    commands.choices["latency"].add_argument("--repeats", type=int, default=50)
    commands.choices["latency"].add_argument("--onnx", action="store_true")
    commands.choices["latency"].add_argument("--faces", action="store_true", help="detect and align each face first")
    commands.choices["parity"].add_argument("--limit", type=int, default=500)
    commands.choices["parity"].add_argument("--labels", help="labels.csv to report the MAE of each backend")
    args = parser.parse_args()
    {"throughput": throughput, "latency": latency, "parity": parity}[args.command](args)


if __name__ == "__main__":
    main()
