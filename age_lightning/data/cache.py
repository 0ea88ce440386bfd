"""Photos as uint8 squares, and an on-disk cache of them so that later epochs and runs skip decoding.

Each photo becomes the side x side square of its input spec (`input_spec.PhotoPreparer.square`, the same squares
the predictors and the service normalize): the whole photo under face policy `none`, the aligned face under
`align`.

The cache is a memory-mapped (N, side, side, 3) uint8 array, plus a csv of what the face step found per photo.
Its file name is a hash of the file list (resolved, so that a folder named by a relative or an absolute path shares
one entry), their modification times and sizes, the sizes and the face policy, so a changed dataset or policy is
never served stale. Files are written under a temporary name and renamed when complete, so runs that start
together never read a half-written cache.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import track

from age_lightning.faces import RECORD_COLUMNS
from age_lightning.images import decode_threads
from age_lightning.input_spec import InputSpec, PhotoPreparer

CACHE_VERSION = 4  # 4: the face record holds the eye distance


def cache_key(paths: list[str], spec: InputSpec) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, spec.side, spec.image_size, spec.faces.to_dict()]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{os.path.realpath(path)}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()[:24]


class SquareMaker:
    """path -> (uint8 square, face record) under an input spec (`input_spec.PhotoPreparer.square`); the square is
    None when no face is found."""

    def __init__(self, spec: InputSpec, threads: int = 1):
        self.preparer = PhotoPreparer(spec, threads=threads)

    def __call__(self, path: str) -> tuple[np.ndarray | None, dict]:
        return self.preparer.square(self.preparer.load(path))


def load_or_build(paths: list[str], cache_dir: str | Path, spec: InputSpec) -> tuple[np.ndarray, pd.DataFrame | None]:
    """The read-only memory-mapped (N, side, side, 3) array for `paths` (built first if needed) and, under a
    face policy, one row of RECORD_COLUMNS per path (faces_found 0: no face, its square is black)."""
    cache_dir = Path(cache_dir)
    side, policy = spec.side, spec.faces
    final = cache_dir / f"squares_{side}px_{cache_key(paths, spec)}.npy"
    faces_file = final.with_suffix(".faces.csv")
    if not final.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(paths), side, side, 3))
        make = SquareMaker(spec)
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
