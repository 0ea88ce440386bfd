"""The input spec: one object says how a photo becomes the input and an answer a decision, with one override rule."""

import numpy as np
import pytest
from PIL import Image

from age_lightning.calibration import Calibration
from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec, PhotoPreparer

CALIBRATION = Calibration(
    alpha=0.05, lower=-2.0, upper=2.5, max_pass=0.02, margin=2.3, point_threshold=21.0, photos=500, minors=120
)


def test_overrides_replace_what_is_given_and_keep_the_rest():
    spec = InputSpec(64, FacePolicy(mode="align", min_face=40, choose="central"), calibration=CALIBRATION)
    assert spec.override().faces == spec.faces
    by_mode = spec.override(faces="none")
    assert by_mode.faces.mode == "none" and by_mode.faces.min_face == 40 and by_mode.faces.choose == "central"
    by_fields = spec.override(faces={"min_face": 25}, id_check_age=21)
    assert by_fields.faces.mode == "align" and by_fields.faces.min_face == 25 and by_fields.id_check_age == 21
    assert spec.override(id_rule="point").id_check.rule == "point"


def test_the_default_rule_follows_the_calibration():
    assert InputSpec(64).rule == "point"
    assert InputSpec(64, calibration=CALIBRATION).rule == "interval"
    with pytest.raises(UserError, match="calibrated"):
        _ = InputSpec(64).override(id_rule="interval").id_check


def test_checkpoints_from_before_the_face_step_mean_whole_photos():
    spec = InputSpec.from_checkpoint({"image_size": 96}, {}, None)
    assert spec.faces.mode == "none" and spec.image_size == 96 and spec.side == 110 and spec.rule == "point"


@pytest.mark.parametrize("view", [0, -0.5, 1.2])
def test_a_view_outside_the_square_is_refused_with_its_setting_named(view):
    with pytest.raises(UserError, match=r"data\.view"):
        InputSpec(64, view=view)


def test_the_input_is_the_square_normalized():
    prepare = PhotoPreparer(InputSpec(32))
    photo = Image.effect_noise((120, 80), 60).convert("RGB")
    square, record = prepare.square(photo)
    array, _ = prepare(photo)
    assert square.shape == (37, 37, 3) and square.dtype == np.uint8 and record == {}
    assert array.shape == (3, 32, 32) and array.dtype == np.float32
    np.testing.assert_allclose(array, prepare.spec.normalize(square))
    assert prepare.min_size == 37 and PhotoPreparer(InputSpec(32, FacePolicy(mode="align"))).min_size == 640
