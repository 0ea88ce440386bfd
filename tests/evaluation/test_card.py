"""The model card's figures (accuracy with bootstrap intervals) and its words where figures are missing."""

import numpy as np
import pytest

from age_lightning.evaluation.accuracy import accuracy, accuracy_by_age, face_size_row
from age_lightning.evaluation.card import TOO_FEW, card_figures, render_card
from age_lightning.evaluation.groups import audit
from age_lightning.evaluation.metrics import evaluation_metrics

MODEL = {  # model.json's content, as far as the card reads it
    "model_version": "test",
    "training_config_hash": "0" * 16,
    "checkpoint": "best.ckpt",
    "output": {"head": "point", "scale": None, "mirror_averaged_in_graph": True},
    "input": {"size": 64},
    "faces": {"mode": "align"},
    "id_rule": "point",
    "id_check_age": 25.0,
    "calibration": None,
}


def test_bootstrap_interval_covers_the_true_mae_about_95_percent_of_the_time():
    rng, draws, covered = np.random.default_rng(0), 300, {"mae": 0, "within_5": 0}
    for seed in range(draws):
        errors = rng.exponential(4.0, 200)  # population: MAE 4, P(|error| <= 5) = 1 - exp(-5/4)
        found = accuracy(errors, seed)
        for key, truth in (("mae", 4.0), ("within_5", 1 - np.exp(-5 / 4))):
            covered[key] += found[key][1] <= truth <= found[key][2]
    for key, count in covered.items():
        assert 0.91 <= count / draws <= 0.98, (key, count)


def test_accuracy_by_year_counts_each_age_and_its_shares():
    real = np.array([13, 13, 13, 14, 30, 31, 70])
    predicted = np.array([13.5, 15.5, 20, 14, 29, 31, 70])
    found = accuracy_by_age(real, predicted)
    assert list(found["years"]) == [str(age) for age in range(13, 31)]
    thirteen = found["years"]["13"]
    assert thirteen["n"] == 3 and thirteen["mae"][0] == pytest.approx((0.5 + 2.5 + 7) / 3)
    assert thirteen["within_1"][0] == pytest.approx(1 / 3) and thirteen["within_5"][0] == pytest.approx(2 / 3)
    assert thirteen["mae"][1] <= thirteen["mae"][0] <= thirteen["mae"][2]
    assert found["years"]["20"] == {"n": 0, "mae": None, "within_1": None, "within_2": None, "within_5": None}
    assert found["bands"]["13-17"]["n"] == 4 and found["bands"]["60+"]["n"] == 1


def test_face_size_row_counts_the_faces_found_and_scores_only_those():
    row = face_size_row(0.5, [20, 30, 40, 50], [22, np.nan, 40, np.nan], [30.0, np.nan, 34.0, np.nan])
    assert row["detected"]["count"] == 2 and row["detected"]["n"] == 4 and row["eye_distance"] == 32.0
    assert row["accuracy"]["n"] == 2 and row["accuracy"]["mae"][0] == 1.0


def _evaluated(n: int = 1200, seed: int = 0) -> dict:
    """An evaluation's metrics on generated ages, with a group audit (one group too small to judge)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    real = rng.uniform(0, 80, n).round()
    predicted = real + rng.normal(0, 4, n)
    metrics = {"checkpoint": "best.ckpt", "data_root": "folder", "split": "test", "faces": "align"}
    metrics |= {"rows_with_face": n, "no_face_rows": 4, **evaluation_metrics(real, predicted, 25, 0.01)}
    metrics["accuracy"] = accuracy_by_age(real, predicted)
    table = pd.DataFrame({"real_age": real, "predicted_age": predicted, "group": ["big"] * (n - 5) + ["small"] * 5})
    metrics["groups"] = audit(table, ["group"])
    return metrics


def test_card_states_the_evaluation_and_what_is_missing():
    metrics = _evaluated()
    figures = card_figures(metrics)
    card = render_card(MODEL, {"initial_weights": None, "data_root": ["/data/utkface"]}, figures)
    assert f"Overall MAE: **{metrics['mae']:.2f} years**" in card
    assert "random weights" in card and "UTKFace: non-commercial research purposes only" in card
    assert "**Not calibrated**" in card and "Never evaluated" not in card
    small = next(line for line in card.splitlines() if line.startswith("| small |"))
    assert small.count(TOO_FEW) == 3  # its error, its minors and its adults: 5 photos say nothing
    big = next(line for line in card.splitlines() if line.startswith("| big |"))
    assert TOO_FEW not in big
    assert f"{100 * metrics['age_check']['minors_pass_through']['share']:.1f}%" in card
    assert "99.67%" in card  # the face step found 1,200 of 1,204 photos
    for section in ("Model details", "Intended use", "Factors", "Metrics", "Ethical considerations", "Caveats"):
        assert f"## {section}" in card


def test_a_model_never_evaluated_gets_a_card_without_figures():
    card = render_card(MODEL, {"initial_weights": "IMAGENET1K_V2", "data_root": "/data/mine"}, card_figures(None))
    assert "**Never evaluated**" in card and "python evaluate.py" in card
    assert "Quantitative analyses" not in card and "MAE: **" not in card
    assert "check each training folder's licence" in card
