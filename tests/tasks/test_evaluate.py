"""evaluate.py, predict and EDA end to end on a tiny generated set and a tiny checkpoint."""

import json

import pandas as pd
import pytest
import torch
from PIL import Image

from age_lightning.deploy.predict_files import predict_files, summary
from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec, PhotoPreparer
from age_lightning.model.inference import load_checkpoint
from age_lightning.tasks.evaluate import evaluate
from age_lightning.tasks.resolvers import native_cpu_bf16
from helpers import ASTRONAUT, compose_config, run_command

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_evaluate_writes_report_metrics_predictions_and_plots(tiny_checkpoint, tmp_path):
    cfg = compose_config(
        "evaluate",
        [
            f"ckpt_path={tiny_checkpoint['best_checkpoint']}",
            f"data.root={tiny_checkpoint['data_root']}",
            f"paths.output_dir={tmp_path}",
        ],
    )
    metrics = evaluate(cfg)

    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert list(predictions.columns) == ["source", "file_name", "real_age", "predicted_age", "abs_error"]
    assert len(predictions) == metrics["n"] > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["mae"] == pytest.approx(predictions["abs_error"].mean(), abs=0.01)
    assert set(saved["bands"]) == {"0-12", "13-17", "18-24", "25-39", "40-59", "60+"}
    for name in ["predicted_vs_real.png", "error_by_band.png", "age_histogram.png"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
    report = (tmp_path / "report.md").read_text()
    assert "## Alcohol age check" in report and "Age-group analytics" in report


def test_evaluate_on_the_same_test_split_reproduces_train_test_mae(tiny_checkpoint, tmp_path):
    cfg = compose_config(
        "evaluate",
        [
            f"ckpt_path={tiny_checkpoint['best_checkpoint']}",
            f"data.root={tiny_checkpoint['data_root']}",
            f"paths.output_dir={tmp_path}",
        ],
    )
    # evaluate.py predicts in fp32; trainer=cpu tested in bf16-mixed where the CPU has native bf16 (3 digits)
    tolerance = 0.05 if native_cpu_bf16() else 1e-3
    assert evaluate(cfg)["mae"] == pytest.approx(tiny_checkpoint["metrics"]["test/mae"], abs=tolerance)


def test_incompatible_checkpoints_give_clear_errors(tmp_path, tiny_checkpoint):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="not a Lightning checkpoint written by train.py"):
        load_checkpoint(str(tmp_path / "other.ckpt"))
    checkpoint = torch.load(tiny_checkpoint["best_checkpoint"], weights_only=True)
    checkpoint["state_dict"] = {"backbone.fc.weight": torch.zeros(3)}
    torch.save(checkpoint, tmp_path / "mismatch.ckpt")
    with pytest.raises(UserError, match="does not match this project's model"):
        load_checkpoint(str(tmp_path / "mismatch.ckpt"))
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.ckpt"))


def test_predict_reports_non_images_and_photos_without_faces(tiny_checkpoint, tmp_path):
    model, data = load_checkpoint(tiny_checkpoint["best_checkpoint"])

    def predict_batch(images):
        return model.predict_age(torch.from_numpy(images)).numpy(), None

    faces = sorted((tiny_checkpoint["data_root"] / "final_files").glob("*.jpg"))[:3]
    (tmp_path / "notes.jpg").write_text("not a picture")
    Image.new("RGB", (120, 90), (90, 140, 200)).save(tmp_path / "sky.png")
    files = [*faces, tmp_path / "notes.jpg", tmp_path / "sky.png"]

    plain = pd.DataFrame(
        predict_files(files, predict_batch, PhotoPreparer(InputSpec(data["image_size"])), batch_size=2)
    )
    assert plain["status"].tolist() == ["ok", "ok", "ok", "not an image", "ok"]
    predicted = plain[plain["status"] == "ok"]
    assert predicted["predicted_age"].between(0, 120).all() and predicted["age_band"].notna().all()
    assert plain.loc[3, ["predicted_age", "age_band", "asks_for_id"]].isna().all()

    files.append(ASTRONAUT)
    align = PhotoPreparer(InputSpec(data["image_size"], FacePolicy("align")))
    aligned = pd.DataFrame(predict_files(files, predict_batch, align))
    assert aligned["status"].tolist()[3:] == ["not an image", "no face found", "ok"]
    astronaut = aligned.iloc[-1]
    assert astronaut["faces_found"] == 1 and astronaut["face_score"] > 0.9
    assert 60 < astronaut["face_x0"] < astronaut["face_x1"] < 160 and astronaut["face_y1"] < 128  # her face
    assert "1 x not an image" in summary(aligned.to_dict("records"))


def test_predict_and_eda_commands(tiny_checkpoint, tmp_path):
    out = tmp_path / "predictions.csv"
    result = run_command(
        "predict.py",
        f"ckpt_path={tiny_checkpoint['best_checkpoint']}",
        f"input={tiny_checkpoint['data_root'] / 'final_files'}",
        f"output={out}",
        f"paths.log_dir={tmp_path}/logs",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(pd.read_csv(out)) == 48 and "48 predicted" in result.stdout

    result = run_command(
        "eda.py", f"data.root={tiny_checkpoint['data_root']}", f"paths.log_dir={tmp_path}/logs", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = next((tmp_path / "logs" / "eda" / "runs").iterdir())
    assert (run / "samples.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (run / "age_histogram.png").read_bytes()[:8] == PNG_SIGNATURE


def test_evaluate_with_the_face_step_shrinks_faces_and_crosses_groups(tiny_checkpoint, make_folder, tmp_path):
    """Two folders, one without a race column: the audit crosses the groups (race unknown where a folder has no
    such column), and the face-size sweep finds the face at full size but not when shrunk to a few pixels."""
    import shutil

    ages = [13, 16, 19, 25, 33, 40, 52, 70]  # every folder is split on its own: 8 rows each
    rows = {
        "tight": (
            "file_name,real_age,gender,race",
            [(f"t{a}.jpg", a, "female", "" if a < 40 else "white") for a in ages],
        ),
        "loose": ("file_name,real_age,gender", [(f"l{a}.jpg", a, "male" if a < 30 else "female") for a in ages]),
    }
    roots = [
        make_folder(found, images=[], header=header, root=tmp_path / name) for name, (header, found) in rows.items()
    ]
    for root, (_, found) in zip(roots, rows.values()):
        for name, *_ in found:
            shutil.copy(ASTRONAUT, root / "final_files" / name)
    cfg = compose_config(
        "evaluate",
        [
            f"ckpt_path={tiny_checkpoint['best_checkpoint']}",
            f"data.root=[{roots[0]},{roots[1]}]",
            "split=all",
            "faces=align",
            "groups=[gender,race]",
            "face_sizes.scales=[1.0,0.5,0.03]",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
    )
    metrics = evaluate(cfg)
    assert set(metrics["groups"]) == {"gender", "race", "source", "gender+race", "gender+source", "race+source"}
    assert set(metrics["groups"]["race"]["values"]) == {"white", "unknown"}
    assert metrics["groups"]["gender+race"]["values"]["female+unknown"]["n"] == 4 + 5  # tight under 40, loose 30+
    full, half, tiny = metrics["face_sizes"]
    assert full["detected"]["count"] == half["detected"]["count"] == 16 and tiny["detected"]["count"] == 0
    assert half["eye_distance"] == pytest.approx(full["eye_distance"] / 2, rel=0.15) and tiny["accuracy"]["n"] == 0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert predictions["eye_distance"].between(0.9 * full["eye_distance"], 1.1 * full["eye_distance"]).all()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["accuracy"]["years"]["16"]["n"] == 2

    cfg.groups = ["gender", "religion"]
    with pytest.raises(UserError, match=r"no photo of .* has a value for \['religion'\]"):
        evaluate(cfg)
