"""A small generated face-like dataset in the customer's layout (labels.csv + final_files/).

Used by `data=demo` (and so `experiment=demo`) and the tests: it needs no download, is deterministic for a
seed, and each picture's appearance depends on the age (hair greys, wrinkles appear, faces lengthen and widen
from childhood), so a model can learn it.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from age_lightning.data.datamodule import AgeDataModule

SPEC_FILE = "synthetic.json"


class DemoDataModule(AgeDataModule):
    """The labeled-folder DataModule over a generated dataset, written at `root` first (once per node)."""

    def __init__(self, root: str, demo: dict | None = None, **kwargs):
        """demo: keyword arguments of `ensure_synthetic_dataset` (num_images, image_size, seed)."""
        super().__init__(root, **kwargs)

    def prepare_data(self) -> None:
        ensure_synthetic_dataset(self.folders.specs[0].root, **(self.hparams.demo or {}))
        super().prepare_data()


def ensure_synthetic_dataset(root: str | Path, num_images: int = 600, image_size: int = 96, seed: int = 0) -> Path:
    """Write the dataset to `root` unless an identical one is already there; return `root`.

    The folder is built beside `root` and renamed into place, so concurrent runs never see half of it.
    """
    root = Path(root)
    spec = {"num_images": num_images, "image_size": image_size, "seed": seed, "version": 1}
    if _read_spec(root) == spec:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        write_synthetic_dataset(staging, num_images, image_size, seed)
        (staging / SPEC_FILE).write_text(json.dumps(spec))
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
        os.replace(staging, root)
    except OSError:
        if _read_spec(root) != spec:  # another process did not win the race either
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def write_synthetic_dataset(root: Path, num_images: int, image_size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    images = root / "final_files"
    images.mkdir(parents=True, exist_ok=True)
    # Roughly the shape of real face datasets: many young adults, fewer children and old people.
    ages = np.clip(
        np.round(
            np.concatenate([rng.normal(30, 12, num_images // 2), rng.uniform(1, 90, num_images - num_images // 2)])
        ),
        1,
        95,
    )
    rng.shuffle(ages)
    names = [f"{i:06d}.jpg" for i in range(num_images)]
    for name, age in zip(names, ages):
        draw_face(age, image_size, rng).save(images / name, quality=92)
    table = pd.DataFrame({"file_name": names, "real_age": ages.astype(int)})
    table.to_csv(root / "labels.csv", index=False)
    return table


def draw_face(age: float, size: int, rng: np.random.Generator) -> Image.Image:
    background = tuple(int(c) for c in rng.integers(40, 220, 3))
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    s = size / 100  # drawing units: 1/100 of the image
    growth = min(age, 18) / 18  # 0 for a newborn, 1 for an adult
    width = (34 + 8 * growth) * s
    height = width * (1.0 + 0.35 * growth)
    cx, cy = size / 2 + rng.normal(0, 2 * s), size / 2 + rng.normal(4 * s, 2 * s)
    skin = np.array([rng.uniform(150, 240), rng.uniform(110, 190), rng.uniform(80, 160)])
    draw.ellipse([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], fill=_rgb(skin))

    grey = np.clip((age - 30) / 45, 0, 1)
    hair = (1 - grey) * rng.uniform(20, 120, 3) + grey * rng.uniform(200, 245)
    draw.chord(
        [cx - width / 2 - 2 * s, cy - height / 2 - 6 * s, cx + width / 2 + 2 * s, cy - height / 6],
        180,
        360,
        fill=_rgb(hair),
    )

    eye_y, eye_dx, eye_r = cy - height * 0.05, width * 0.22, (3.5 - 1.2 * growth) * s
    for x in (cx - eye_dx, cx + eye_dx):
        draw.ellipse([x - eye_r, eye_y - eye_r, x + eye_r, eye_y + eye_r], fill=(30, 30, 30))
    for i in range(int(age // 12)):  # wrinkles on forehead and cheeks
        y = eye_y - (5 + 2.5 * (i % 4)) * s if i < 4 else eye_y + (8 + 2 * (i % 4)) * s
        draw.line([cx - width * 0.25, y, cx + width * 0.25, y], fill=_rgb(skin * 0.6), width=max(1, round(s)))
    draw.line(
        [cx - width * 0.15, cy + height * 0.28, cx + width * 0.15, cy + height * 0.28],
        fill=(120, 40, 40),
        width=max(1, round(1.5 * s)),
    )

    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _rgb(color) -> tuple[int, int, int]:
    return tuple(int(np.clip(c, 0, 255)) for c in color)


def _read_spec(root: Path) -> dict | None:
    try:
        return json.loads((root / SPEC_FILE).read_text())
    except (OSError, ValueError):
        return None
