"""Photos as uint8 squares, and an on-disk cache of them so that later epochs and runs skip decoding.

Each photo becomes a side x side square (side = `preprocess.square_side(image_size)`):
- face policy `none`: shorter side resized to `side` (as torchvision's Resize does) and the long side cut so
  that the centred image_size crop equals the evaluation crop of the whole photo;
- face policy `align`: the chosen face detected and aligned onto the template at that size (faces/).

The cache is a memory-mapped (N, side, side, 3) uint8 array, plus a csv of what the face step found per photo.
Its file name is a hash of the file list, their modification times and sizes, the sizes and the face policy, so
a changed dataset or policy is never served stale. Files are written under a temporary name and renamed when
complete, so runs that start together never read a half-written cache.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from rich.progress import track

from age_lightning.faces import RECORD_COLUMNS, FaceAligner, FacePolicy
from age_lightning.images import decode_threads, load_rgb
from age_lightning.preprocess import center_offsets, resize_shorter_side

CACHE_VERSION = 2


def cache_key(paths: list[str], side: int, image_size: int, policy: FacePolicy) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, side, image_size, policy.to_dict()]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()[:24]


def photo_square(image: Image.Image, side: int, image_size: int) -> np.ndarray:
    """(side, side, 3) uint8 of a whole photo: shorter side resized to `side`, long side cut so that the centred
    image_size crop matches a direct center crop of the resized photo."""
    image = resize_shorter_side(image, side)
    inner = center_offsets((side, side), image_size)[0]
    left, top = (offset - inner for offset in center_offsets(image.size, image_size))
    return np.asarray(image.crop((left, top, left + side, top + side)))


class SquareMaker:
    """path -> (square, face record) under a face policy; the record is None for policy `none`, and the
    square is None when no face is found."""

    def __init__(self, side: int, image_size: int, policy: FacePolicy, threads: int = 1):
        self.side, self.image_size, self.policy = side, image_size, policy
        self.aligner = FaceAligner(policy, threads=threads) if policy.aligns else None

    def __call__(self, path: str) -> tuple[np.ndarray | None, dict | None]:
        if self.aligner is None:
            return photo_square(load_rgb(path, min_size=self.side), self.side, self.image_size), None
        aligned = self.aligner(load_rgb(path, min_size=self.policy.max_side), self.side)
        if aligned is None:
            return None, {"faces_found": 0}
        return np.asarray(aligned.image), aligned.record()


def load_or_build(paths: list[str], cache_dir: str | Path, side: int, image_size: int,
                  policy: FacePolicy) -> tuple[np.ndarray, pd.DataFrame | None]:
    """The read-only memory-mapped (N, side, side, 3) array for `paths` (built first if needed) and, under a
    face policy, one row of RECORD_COLUMNS per path (faces_found 0: no face, its square is black)."""
    cache_dir = Path(cache_dir)
    final = cache_dir / f"squares_{side}px_{cache_key(paths, side, image_size, policy)}.npy"
    faces_file = final.with_suffix(".faces.csv")
    if not final.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(paths), side, side, 3))
        make = SquareMaker(side, image_size, policy)
        records = []
        what = "Detecting and aligning faces" if policy.aligns else "Caching decoded images"
        with ThreadPoolExecutor(max_workers=decode_threads()) as pool:
            for i, (square, record) in enumerate(track(pool.map(make, paths), total=len(paths), description=what)):
                array[i] = 0 if square is None else square
                records.append(record)
        array.flush()
        del array
        if policy.aligns:
            table = pd.DataFrame(records, columns=RECORD_COLUMNS)
            table.to_csv(faces_file.with_name(f"{faces_file.name}.{os.getpid()}.tmp"), index=False)
            os.replace(faces_file.with_name(f"{faces_file.name}.{os.getpid()}.tmp"), faces_file)
        os.replace(temporary, final)
    return np.load(final, mmap_mode="r"), (pd.read_csv(faces_file) if policy.aligns else None)
