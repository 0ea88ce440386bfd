"""The shift alarm in the service (in process, a stand-in model whose model.json carries a shift reference): a
till whose photos turn dark and noisy alarms, asks every face for ID from then on, says so in its answers, its
metrics and its log, and only an operator's key clears it."""

import dataclasses
import logging

import numpy as np
import pytest
from PIL import Image

from age_lightning.deploy.access import new_key
from age_lightning.shift import ShiftReference, photo_statistics
from helpers.in_process import StandIn, client_for
from helpers.serving import jpeg

RNG = np.random.default_rng(0)


def textured(mean: float, spread: float, noise: float = 0.0) -> Image.Image:
    pixels = RNG.normal(mean, spread, (16, 16, 3)).repeat(4, axis=0).repeat(4, axis=1)  # blocks: a smooth texture
    return Image.fromarray(np.clip(pixels + RNG.normal(0, noise, pixels.shape), 0, 255).astype(np.uint8))


@pytest.fixture
def callers(tmp_path):
    made = {"till": new_key("till-1"), "operator": new_key("it-desk", role="operator")}
    (tmp_path / "keys.txt").write_text("".join(line + "\n" for _, line in made.values()))
    return {
        "file": str(tmp_path / "keys.txt"),
        **{name: {"Authorization": f"Bearer {k}"} for name, (k, _) in made.items()},
    }


@pytest.fixture
def watched():
    """A 60-year-old stand-in (never asked for ID) whose reference is 300 well-lit photos, as the till sees them."""
    model = StandIn(age=60.0)
    spec = model.spec
    inputs = np.stack(
        [spec.normalize(np.asarray(textured(RNG.uniform(110, 150), 40).resize((spec.side,) * 2))) for _ in range(300)]
    )
    reference = ShiftReference.fit(photo_statistics(inputs), np.full(len(inputs), 60.0))
    model.file = dataclasses.replace(model.file, shift_reference=reference)
    return model


def post(client, headers, image):
    answer = client.post("/v1/age", content=jpeg(image), headers={**headers, "Content-Type": "image/jpeg"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_till_gone_dark_alarms_asks_everyone_and_only_an_operator_clears_it(watched, callers, caplog):
    with (
        caplog.at_level(logging.WARNING, "age_lightning.server"),
        client_for(watched, api_keys=callers["file"]) as client,
    ):
        lit = [post(client, callers["till"], textured(RNG.uniform(110, 150), 40)) for _ in range(20)]
        assert {a["shift"] for a in lit} == {"none"} and not any(a["faces"][0]["asks_for_id"] for a in lit)
        dark = [post(client, callers["till"], textured(35, 8, noise=12)) for _ in range(30)]
        states = [a["shift"] for a in dark]
        assert "alarm" in states and states[states.index("alarm") :] == ["alarm"] * (30 - states.index("alarm"))
        assert all(a["faces"][0]["asks_for_id"] for a in dark if a["shift"] == "alarm")
        metrics = client.get("/metrics", headers=callers["till"]).text
        assert 'age_shift_alarms_total{till="till-1"} 1.0' in metrics
        assert sum("Shift alarm at till till-1" in r.getMessage() for r in caplog.records) == 1
        assert client.post("/v1/shift/till-1/clear").status_code == 401
        assert client.post("/v1/shift/till-1/clear", headers=callers["till"]).status_code == 403
        cleared = client.post("/v1/shift/till-1/clear", headers=callers["operator"])
        assert cleared.status_code == 200 and cleared.json() == {"till": "till-1", "shift": "none"}
        assert any("cleared by it-desk" in r.getMessage() for r in caplog.records)
        after = post(client, callers["till"], textured(RNG.uniform(110, 150), 40))
        assert after["shift"] == "none" and not after["faces"][0]["asks_for_id"]


def test_without_a_reference_there_is_no_shift_state(callers):
    with client_for(StandIn(), api_keys=callers["file"]) as client:
        assert post(client, callers["till"], textured(35, 8, noise=12))["shift"] is None
