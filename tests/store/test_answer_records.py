"""The service's answer log read by the store's commands: the audit and the shares read it as they read a sales
log, and answers.py exports it to the columns the audit reads."""

import csv
import datetime as dt

import numpy as np
import pyarrow.csv as pa_csv
import pytest

from age_lightning.deploy import answer_db
from age_lightning.errors import UserError
from age_lightning.store.audit import AuditSettings, run_audit
from age_lightning.store.generator import StoreSettings, generate
from age_lightning.store.shares_log import read_groups
from helpers import run_command
from helpers.store import model_file, photos

MODEL = model_file()
INFO = {"file": "model.onnx", "sha256": "0" * 64, "version": "1.0", "id_rule": "interval"}


def face(age: float) -> dict:
    return {"predicted_age": age, "age_scale": None, "age_low": None, "age_high": None, "age_band": "x",
            "asks_for_id": age < 25, "p_minor": None}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A generated store's sales as a sales log (CSV) and as the answer log the service would have kept of them:
    each sale a photo, its outcome reported by its till, plus an abandoned alcohol sale and a photo with no face
    (neither an audited sale)."""
    folder = tmp_path_factory.mktemp("store")
    sales = generate(photos(), StoreSettings(stores=2, sales=40, seed=5))["sales"]
    pa_csv.write_csv(sales, folder / "sales.csv")
    rows = sales.to_pylist()
    answers = [
        answer_db.Answer(
            time=dt.datetime.fromisoformat(s["time"]),
            request_id=f"r-{s['sale_id']}",
            till=s["till"],
            store=s["store"],
            cashier=s["cashier"],
            sale_id=s["sale_id"],
            event="alcohol_scanned" if s["alcohol"] else "scan",
            model=INFO,
            status="ok",
            faces=[face(s["predicted_age"])],
        )
        for s in rows
    ]
    last = dt.datetime.fromisoformat(rows[-1]["time"])
    extra = [("abandoned", [face(16.0)]), ("no-face", [])]
    answers += [
        answer_db.Answer(
            last, f"r-{sale}", "S1-T1", "S1", "S1-C01", sale, "alcohol_scanned", INFO, "ok" if f else "no_face", f
        )
        for sale, f in extra
    ]
    log = str(folder / "answers.db")
    engine = answer_db.connect(log)
    answer_db.insert(engine, answers)
    for s in rows:
        answer_db.record_outcome(engine, s["till"], s["sale_id"], True, s["id_checked"])
    answer_db.record_outcome(engine, "S1-T1", "abandoned", False, False)
    answer_db.record_outcome(engine, "S1-T1", "no-face", True, True)
    engine.dispose()
    MODEL.write(folder / "model.json")
    return {"folder": folder, "sales": folder / "sales.csv", "log": log, "rows": len(answers)}


def test_the_audit_reads_the_answer_log_as_the_sales_log(store):
    settings = AuditSettings(bootstrap=0)
    from_log, from_sales = run_audit(store["log"], MODEL, settings), run_audit(store["sales"], MODEL, settings)
    assert from_log.cashiers == from_sales.cashiers and from_log.alcohol_sales == from_sales.alcohol_sales
    assert from_log.problem_reasons == {"no answer: status no_face": 1}  # the abandoned sale is no alcohol sale
    assert from_log.problems[0]["line"] == store["rows"] + 1  # the last row of the export


def test_answers_py_exports_what_the_audit_reads(store, tmp_path):
    shown = run_command("answers.py", f"log={store['log']}", "out=answers.csv", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"{store['rows']} answer(s)" in shown.stdout
    with open(tmp_path / "answers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == answer_db.EXPORT_COLUMNS and len(rows) == store["rows"]
    abandoned = next(r for r in rows if r["sale_id"] == "abandoned")
    assert (abandoned["alcohol"], abandoned["completed"], abandoned["predicted_age"]) == ("false", "false", "16")
    settings = AuditSettings(bootstrap=0)
    assert (
        run_audit(tmp_path / "answers.csv", MODEL, settings).cashiers
        == run_audit(store["log"], MODEL, settings).cashiers
    )
    later = run_command("answers.py", f"log={store['log']}", "out=later.csv", "since=2100-01-01", cwd=tmp_path)
    assert "0 answer(s)" in later.stdout and (tmp_path / "later.csv").read_text().count("\n") == 1


def test_the_shares_read_the_answer_log(store):
    from_log, from_sales = read_groups(store["log"], ["store"]), read_groups(store["sales"], ["store"])
    assert from_log.keys == from_sales.keys and from_log.skipped == 1  # the photo with no face
    counts = from_log.cells.counts.sum(axis=1) - np.array([1, 0])  # the abandoned sale's photo, in S1
    assert (counts == from_sales.cells.counts.sum(axis=1)).all()


def test_a_missing_or_unknown_log_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        run_audit(tmp_path / "nothing.db", MODEL, AuditSettings(bootstrap=0))
    assert not (tmp_path / "nothing.db").exists()  # not created by looking
    shown = run_command("answers.py", f"log={tmp_path / 'x.db'}", "since=yesterday", cwd=tmp_path)
    assert shown.returncode == 1 and "since=yesterday: give a date" in shown.stderr
