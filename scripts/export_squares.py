"""Write a training config's squares (faces detected and aligned once, here) as small labeled JPEG folders, one per
source folder, each with the split every row had, so that the same recipe can be trained elsewhere with no face step
and the same split:

    python scripts/export_squares.py --out DIR [--quality 85] experiment=two_sources_cpu [data.root=[A,B] ...]
    python train.py experiment=two_sources_cpu faces=none data.cache=true data.split.protocol=column \
        data.root=[DIR/utkface,DIR/aaf_train]

`DIR/<source>/labels.csv` holds file_name, real_age, split and the original file's name (`source_file`); rows that
the run would skip (no face found, unreadable) are left out. JPEG at quality 85 makes the two shared folders' 64 px
squares about 57 MB (41 MB gzipped): small enough to carry to a GPU machine for screening (scripts/screen_gpu.sh).
"""

import argparse
from pathlib import Path

import hydra
import pandas as pd
from hydra import compose, initialize_config_dir
from PIL import Image
from rich.progress import track

from age_lightning.tasks.config_store import register_configs
from age_lightning.tasks.resolvers import register_resolvers

CONF = Path(__file__).resolve().parents[1] / "age_lightning" / "conf"


def export(overrides: list[str], out: Path, quality: int) -> dict[str, dict[str, int]]:
    """The squares of the composed train config's data, per source folder under `out`; returns split sizes."""
    register_resolvers()
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"data.report_dir={out}"])
    out.mkdir(parents=True, exist_ok=True)
    datamodule = hydra.utils.instantiate(cfg.data, cache=True)
    datamodule.prepare_data()
    datamodule.setup()
    sizes = {}
    table = datamodule.folders.table("all")
    folder_names = [Path(source).name for source in datamodule.folders.sources]
    if len(set(folder_names)) < len(folder_names):  # two roots named alike (a/faces, b/faces): number them
        folder_names = [f"{index}_{name}" for index, name in enumerate(folder_names)]
    for source, folder_name in zip(datamodule.folders.sources, folder_names):
        rows = table[table["source"] == source]
        images = out / folder_name / "final_files"
        images.mkdir(parents=True, exist_ok=True)
        files = [f"{i:05d}.jpg" for i in range(len(rows))]
        for file, row in track(list(zip(files, rows["cache_row"])), description=f"Writing {source}"):
            Image.fromarray(datamodule.folders.squares[row]).save(images / file, quality=quality)
        labels = pd.DataFrame(
            {"file_name": files, "real_age": rows["age"], "split": rows["split"], "source_file": rows["file_name"]}
        )
        labels.to_csv(out / folder_name / "labels.csv", index=False)
        sizes[source] = labels["split"].value_counts().to_dict()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write one subfolder per source into")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    parser.add_argument("overrides", nargs="*", help="train config overrides, e.g. experiment=two_sources_cpu")
    args = parser.parse_args()
    for source, sizes in export(args.overrides, args.out, args.quality).items():
        print(f"{source}: {sizes}")


if __name__ == "__main__":
    main()
