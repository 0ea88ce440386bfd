"""An optional on-disk cache of decoded images, so that later epochs and later runs skip JPEG decoding.

Each photo is decoded once (EXIF orientation applied), resized so its shorter side is `side` pixels, cut to
side x side and stored in a memory-mapped uint8 array. The crop is placed so that a center crop of
`image_size` from the cached square equals the evaluation transform's crop of the original photo exactly.
The file name is a hash of the file list, their modification times and sizes, and the sizes used, so a changed
dataset is never served stale. The file is written under a temporary name and renamed when complete, so runs
that start together never read a half-written cache.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.progress import track

from age_lightning.images import load_rgb
from age_lightning.preprocess import center_offsets, resize_shorter_side

CACHE_VERSION = 1


def cache_key(paths: list[str], side: int, image_size: int) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, side, image_size]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()[:24]


def decode_square(path: str, side: int, image_size: int) -> np.ndarray:
    """(side, side, 3) uint8: shorter side resized to `side` (as torchvision's Resize does), long side cut so
    that the centered image_size crop matches a direct center crop of the resized photo."""
    image = resize_shorter_side(load_rgb(path, min_size=side), side)
    inner = center_offsets((side, side), image_size)[0]
    left, top = (offset - inner for offset in center_offsets(image.size, image_size))
    return np.asarray(image.crop((left, top, left + side, top + side)))


def load_or_build(paths: list[str], cache_dir: str | Path, side: int, image_size: int) -> np.ndarray:
    """The read-only memory-mapped (N, side, side, 3) array for `paths`, built first if needed."""
    cache_dir = Path(cache_dir)
    final = cache_dir / f"decoded_{side}px_{cache_key(paths, side, image_size)}.npy"
    if not final.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(paths), side, side, 3))
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
            decoded = pool.map(lambda path: decode_square(path, side, image_size), paths)
            for i, square in enumerate(track(decoded, total=len(paths), description="Caching decoded images")):
                array[i] = square
        array.flush()
        del array
        os.replace(temporary, final)
    return np.load(final, mmap_mode="r")
