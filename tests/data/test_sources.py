"""Several labeled folders in one run: each validated and split on its own, reported per folder."""

import json

import pandas as pd
import pytest

from age_lightning.data.datamodule import AgeDataModule
from age_lightning.data.synthetic import ensure_synthetic_dataset
from age_lightning.errors import DatasetError


@pytest.fixture
def two_folders(tmp_path):
    return [
        ensure_synthetic_dataset(tmp_path / name, num_images=40, image_size=40, seed=seed)
        for name, seed in (("store_a", 1), ("store_b", 2))
    ]


def test_each_folder_is_split_on_its_own_and_keeps_its_name(two_folders):
    datamodule = AgeDataModule(root=[str(f) for f in two_folders], image_size=32)
    datamodule.setup("fit")
    for split, share in (("train", 28), ("val", 3), ("calibration", 3), ("test", 6)):  # 70/7.5/7.5/15 of 40 each
        counts = datamodule.folders.table(split)["source"].value_counts().to_dict()
        assert counts == {"store_a": share, "store_b": share}, split
    alone = AgeDataModule(root=str(two_folders[1]), image_size=32)
    alone.setup("fit")  # a folder's split does not depend on the folders beside it
    together = datamodule.folders.table("test")
    assert sorted(together[together["source"] == "store_b"]["file_name"]) == sorted(
        alone.folders.table("test")["file_name"]
    )


def test_a_weighted_folder_is_drawn_more_often_in_training(two_folders):
    """data.balance.source_weights, without balancing by group: store_b's photos come twice as often as store_a's."""
    roots = [str(f) for f in two_folders]
    datamodule = AgeDataModule(root=roots, image_size=32, balance={"by": [], "source_weights": {"store_b": 2}})
    datamodule.setup("fit")
    sources = datamodule.folders.table("train")["source"].to_numpy()
    sampler = datamodule.train_dataloader().sampler
    drawn = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        drawn += [sources[index] for index, _ in sampler]
    share_b = sum(source == "store_b" for source in drawn) / len(drawn)
    assert 0.6 < share_b < 0.73  # 2/3 expected, against 1/2 for equal folders


def test_a_bad_row_names_its_own_folder(two_folders, tmp_path):
    labels = two_folders[1] / "labels.csv"
    labels.write_text(labels.read_text() + "missing.jpg,30\n")
    datamodule = AgeDataModule(root=[str(f) for f in two_folders], image_size=32)
    with pytest.raises(DatasetError, match=f"1 problem\\(s\\) in {labels}:\n  line 42: missing.jpg: file not found"):
        datamodule.setup("fit")
    lenient = AgeDataModule(
        root=[str(f) for f in two_folders], image_size=32, on_invalid="skip", report_dir=str(tmp_path / "report")
    )
    lenient.setup("fit")
    skipped = pd.read_csv(tmp_path / "report" / "invalid_rows.csv")
    assert skipped[["labels_file", "line", "file_name"]].values.tolist() == [[str(labels), 42, "missing.jpg"]]


@pytest.mark.slow
def test_evaluation_reports_each_folder(two_folders, tmp_path, tiny_checkpoint):
    from age_lightning.tasks.evaluate import evaluate
    from helpers import compose_config

    roots = ",".join(str(f) for f in two_folders)
    metrics = evaluate(
        compose_config(
            "evaluate",
            [
                f"ckpt_path={tiny_checkpoint['best_checkpoint']}",
                f"data.root=[{roots}]",
                f"paths.output_dir={tmp_path / 'out'}",
            ],
        )
    )
    assert set(metrics["sources"]) == {"store_a", "store_b"}
    assert sum(s["n"] for s in metrics["sources"].values()) == metrics["n"] == 12
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["sources"]["store_a"]["n"] == 6
    assert "## By labeled folder" in (tmp_path / "out" / "report.md").read_text()
