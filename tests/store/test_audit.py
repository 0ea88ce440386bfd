"""The cashier audit on generated logs: who it flags, how often it flags a diligent cashier, and what it says
about the rows it cannot use."""

import json

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from age_lightning.errors import UserError
from age_lightning.store.audit import AuditSettings, run_audit
from age_lightning.store.generator import StoreSettings, generate
from age_lightning.store.sales_log import Columns, batches
from age_lightning.store.statistics import benjamini_hochberg, permutation_p_values
from helpers import run_command
from helpers.store import model_file, photos

MODEL = model_file()
PHOTOS = photos()


def chain_log(tmp_path, name="sales.csv", **settings):
    chain = generate(PHOTOS, StoreSettings(**settings))
    path = tmp_path / name
    (pq.write_table if name.endswith(".parquet") else pa_csv.write_csv)(chain["sales"], path)
    return path, chain["cashiers"].to_pylist()


def flagged_behaviours(result, cashiers) -> list[str]:
    behaviour = {(c["store"], c["cashier"]): c["behaviour"] for c in cashiers}
    return [behaviour[(c["store"], c["cashier"])] for c in result.cashiers if c["flagged"]]


def test_the_pos_checks_find_the_negligent_cashier_of_every_store(tmp_path):
    log, cashiers = chain_log(tmp_path, stores=3, sales=400, seed=3)
    result = run_audit(log, MODEL, AuditSettings(bootstrap=20))
    assert result.test == "checks" and len(result.cashiers) == 30
    assert sorted(flagged_behaviours(result, cashiers)).count("negligent") == 3
    assert "diligent" not in flagged_behaviours(result, cashiers)


def test_the_photos_alone_find_a_cashier_who_serves_minors_given_enough_sales(tmp_path):
    log, cashiers = chain_log(tmp_path, stores=2, sales=3000, minors=0.05, seed=4)
    result = run_audit(log, MODEL, AuditSettings(test="photos", bootstrap=20))
    assert flagged_behaviours(result, cashiers).count("negligent") == 2
    assert "diligent" not in flagged_behaviours(result, cashiers)


def test_a_cashier_with_few_sales_is_listed_not_judged(tmp_path):
    log, _ = chain_log(tmp_path, stores=1, cashiers=4, negligent=1, lax=0, sales=60, seed=5)
    result = run_audit(log, MODEL, AuditSettings(bootstrap=0, min_sales=100))
    assert not any(c["judged"] or c["flagged"] for c in result.cashiers)
    assert all("of the 100 needed" in c["note"] for c in result.cashiers)


def test_the_permutation_p_values_hold_their_level_over_many_stores():
    """Under the null (every cashier's sales a random draw from their store's), P(p <= a) <= a at every level, and
    Benjamini-Hochberg at 10% flags anyone in at most 10% of stores (plus three binomial standard errors):
    skewed scores on 60 cells (most sales near 0, a few minors near 1), 10 cashiers of 100 sales, two weeks."""
    rng = np.random.default_rng(11)
    draws, cashiers, sales = 1500, 10, 100
    p_values, any_flag = [], 0
    for _ in range(draws):
        scores = np.where(
            rng.random(cashiers * sales) < 0.02,
            rng.uniform(0.3, 1, cashiers * sales),
            rng.beta(0.3, 12, cashiers * sales),
        )
        scores = np.round(scores * 60) / 60
        cashier = rng.permutation(np.repeat(np.arange(cashiers), sales))
        week = rng.integers(0, 2, cashiers * sales)
        p = permutation_p_values(cashier, week, scores, np.ones(len(scores), int), cashiers, rng, permutations=(999,))
        p_values.append(p)
        any_flag += (benjamini_hochberg(p) <= 0.10).any()
    p_values = np.concatenate(p_values)
    for level in (0.01, 0.05, 0.1):
        assert (p_values <= level).mean() <= level + 3 * np.sqrt(level * (1 - level) / len(p_values)), level
    assert any_flag / draws <= 0.10 + 3 * np.sqrt(0.1 * 0.9 / draws)


@pytest.mark.slow
def test_an_all_diligent_chain_flags_at_most_its_rate_over_many_draws(tmp_path):
    """The whole audit, 150 generated stores of 10 diligent cashiers: the share of stores with any flag stays
    within the 10% false discovery rate (under the global null it is the family-wise rate)."""
    draws, flagged = 150, 0
    for seed in range(draws):
        log, _ = chain_log(tmp_path, stores=1, negligent=0, lax=0, sales=200, seed=100 + seed)
        for test in ("checks", "photos"):
            flagged += any(c["flagged"] for c in run_audit(log, MODEL, AuditSettings(test=test, bootstrap=0)).cashiers)
    assert flagged / (2 * draws) <= 0.10 + 3 * np.sqrt(0.1 * 0.9 / (2 * draws))


def test_the_interval_of_minors_served_covers_the_truth(tmp_path):
    log, cashiers = chain_log(tmp_path, stores=4, sales=400, seed=6)
    result = run_audit(log, MODEL, AuditSettings(bootstrap=100))
    served = {(c["store"], c["cashier"]): c["minors_served"] for c in cashiers}
    covered = [
        c["expected_minors"]["low"] <= served[(c["store"], c["cashier"])] <= c["expected_minors"]["high"]
        for c in result.cashiers
    ]
    assert np.mean(covered) >= 0.85


BAD_LOG = """sale_id,store,till,cashier,time,alcohol,id_checked,predicted_age,status
1,S1,T1,C1,2026-11-02T10:00:00,true,false,30.5,ok
2,S1,T1,,2026-11-02T10:01:00,true,false,30.5,ok
3,S1,T1,C1,2026-11-02T10:02:00,maybe,false,30.5,ok
4,S1,T1,C1,2026-11-02T10:03:00,true,false,abc,ok
5,S1,T1,C1,2026-11-02T10:04:00,true,false,,no face
6,S1,T1,C1,yesterday,true,false,22.0,ok
7,S1,T1,C1,2026-11-02T10:06:00,false,,,no face
8,S1,T1,C1,2026-11-02T10:07:00,1,0,19.0,ok
"""


def test_bad_rows_are_reported_with_their_line_and_reason(tmp_path):
    log = tmp_path / "sales.csv"
    log.write_text(BAD_LOG)
    problems = []
    result = run_audit(log, MODEL, AuditSettings(bootstrap=0), on_problems=problems.extend)
    assert problems == [
        (3, "no cashier"),
        (4, "alcohol is not true/false"),
        (5, "predicted_age is not a number"),
        (6, "no answer: status no face"),
        (7, "time does not start with a date (YYYY-MM-DD)"),
    ]
    assert result.problem_count == 5 and result.rows == 8
    assert result.alcohol_sales == 2  # lines 2 and 9; line 8 is not alcohol, so its missing answer is no problem


def test_renamed_columns_and_parquet_read_like_the_csv(tmp_path):
    csv_log, _ = chain_log(tmp_path, stores=1, sales=150, seed=9)
    parquet_log, _ = chain_log(tmp_path, name="sales.parquet", stores=1, sales=150, seed=9)
    settings = AuditSettings(bootstrap=0)
    from_csv, from_parquet = run_audit(csv_log, MODEL, settings), run_audit(parquet_log, MODEL, settings)
    assert from_csv.cashiers == from_parquet.cashiers
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(csv_log.read_text().replace("cashier", "operator", 1))
    assert run_audit(renamed, MODEL, settings, Columns(cashier="operator")).cashiers == from_csv.cashiers


@pytest.mark.parametrize("name", ["sales.parquet", "sales.csv"])
def test_batches_add_up_to_the_whole_log(tmp_path, monkeypatch, name):
    """Reading in many small batches (bounded memory) gives the same audit as reading at once, lines included."""
    log, _ = chain_log(tmp_path, name=name, stores=2, sales=150, seed=10)
    whole = run_audit(log, MODEL, AuditSettings(bootstrap=0))
    monkeypatch.setattr("age_lightning.store.sales_log.BATCH_ROWS", 97)
    monkeypatch.setattr("age_lightning.store.sales_log.BLOCK_BYTES", 5000)
    monkeypatch.setattr("age_lightning.store.tally.COMPACT_ROWS", 500)
    seen = []
    monkeypatch.setattr("age_lightning.store.audit.batches", lambda *a: (seen.append(b) or b for b in batches(*a)))
    parts = run_audit(log, MODEL, AuditSettings(bootstrap=0))
    assert len(seen) > 10 and parts.cashiers == whole.cashiers and parts.review == whole.review


@pytest.mark.parametrize(
    "content, message",
    [
        ("sale_id,store,alcohol,predicted_age\n1,S1,true,30\n", "no column cashier"),
        ("sale_id,store,cashier,alcohol\n1,S1,C1,true\n", r"no column predicted_age \(or photo\)"),
        ("sale_id,store,cashier,alcohol,predicted_age\n1,S1,C1,false,30\n", "no alcohol sale"),
    ],
)
def test_a_log_that_cannot_be_audited_is_a_one_line_error(tmp_path, content, message):
    log = tmp_path / "sales.csv"
    log.write_text(content)
    with pytest.raises(UserError, match=message):
        run_audit(log, MODEL, AuditSettings(bootstrap=0))


def test_the_audit_command_writes_its_files(tmp_path):
    log, cashiers = chain_log(tmp_path, stores=2, sales=400, seed=12)
    MODEL.write(tmp_path / "model.json")
    shown = run_command("audit.py", f"log={log}", f"model={tmp_path / 'model.json'}", "out=audit", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "flagged at a 10% false discovery rate" in shown.stdout
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert len(audit["cashiers"]) == 20 and audit["test"] == "checks"
    assert {"expected_minors", "p_value", "q_value", "flagged", "judged"} <= set(audit["cashiers"][0])
    flagged = {c["cashier"] for c in audit["cashiers"] if c["flagged"]}
    assert flagged and {r["cashier"] for r in audit["review"]} == flagged
    report = (tmp_path / "audit" / "audit.md").read_text()
    assert "not proof" in report
    for name in ("audit.csv", "review.csv", "problems.csv", "audit.png"):
        assert (tmp_path / "audit" / name).is_file()


def test_the_store_log_command_builds_a_store_the_audit_reads(tmp_path):
    """store_log.py from a labeled folder and its predictions CSV (as predict_onnx.py writes it), then audit.py."""
    folder = tmp_path / "folder"
    folder.mkdir()
    rows = ["file_name,real_age"] + [f"{name},{age:.0f}" for name, age in zip(PHOTOS.file, PHOTOS.true_age)]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    answers = ["file,status,predicted_age,age_scale"]
    answers += [f"/somewhere/{name},ok,{age:.1f}," for name, age in zip(PHOTOS.file, PHOTOS.predicted)]
    answers += ["/somewhere/photo0.jpg,no face,,"]  # a photo without an answer is never drawn
    (tmp_path / "answers.csv").write_text("\n".join(answers) + "\n")
    MODEL.write(tmp_path / "model.json")
    made = run_command(
        "store_log.py",
        "folder=folder",
        "model=model.json",
        "answers=answers.csv",
        "out=store",
        "stores=2",
        "sales=200",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    sales = pa_csv.read_csv(tmp_path / "store" / "sales.csv").to_pylist()
    truth = {row["sale_id"]: row for row in pa_csv.read_csv(tmp_path / "store" / "truth.csv").to_pylist()}
    assert len(truth) == len(sales) and {"category", "id_checked", "predicted_age"} <= set(sales[0])
    assert "true_age" not in sales[0]  # what a store has, and nothing more
    served = [truth[row["sale_id"]]["true_age"] < 18 for row in sales if row["alcohol"]]
    assert 0 < np.mean(served) < 0.03  # minors try at 3%, and most are refused
    cashiers = pa_csv.read_csv(tmp_path / "store" / "truth_cashiers.csv").to_pylist()
    assert [c["behaviour"] for c in cashiers].count("negligent") == 2 and len(cashiers) == 20
    audited = run_command("audit.py", "log=store/sales.csv", "model=model.json", "out=audit", cwd=tmp_path)
    assert audited.returncode == 0, audited.stderr
    assert len(json.loads((tmp_path / "audit" / "audit.json").read_text())["cashiers"]) == 20


def test_the_buyers_mix_can_be_estimated_from_the_log_and_the_report_says_which(tmp_path):
    log, _ = chain_log(tmp_path, stores=1, sales=300, seed=13)
    estimated = run_audit(log, MODEL, AuditSettings(buyers="estimated", bootstrap=0))
    described = estimated.probability.describe()
    assert described["buyers_source"].startswith("estimated from the log's") and estimated.probability.buyers[0] < 0.05
    assert abs(sum(described["buyers"].values()) - 1) < 1e-3
    assert run_audit(log, MODEL, AuditSettings(bootstrap=0)).probability.describe()["buyers_source"] == "stated"
