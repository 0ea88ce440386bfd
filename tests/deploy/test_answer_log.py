"""The answer log (answer_log=answers.db) in process: what a till sends with a photo, the rows kept, who may read
them, the sale's outcome, retention, schema versions, and a database that fails. The kill test, PostgreSQL and
the real model are in test_answer_log_server.py."""

import dataclasses
import datetime as dt
import logging

import pytest
import sqlalchemy as sa
from PIL import Image

from age_lightning.deploy import answer_db
from age_lightning.deploy.access import ApiKeys, new_key
from age_lightning.errors import UserError
from helpers import ASTRONAUT
from helpers.in_process import JPEG, StandIn, client_for
from helpers.serving import jpeg

MODEL = {"file": "m.onnx", "sha256": "0" * 64, "version": None, "id_rule": "interval"}


@pytest.fixture
def callers(tmp_path):
    """A keys file with two tills (one with a store) and an auditor, and the headers each authenticates with."""
    made = {
        "till-1": new_key("till-1", store="store-9"),
        "till-2": new_key("till-2"),
        "auditor": new_key("security", role="auditor"),
    }
    (tmp_path / "keys.txt").write_text("".join(line + "\n" for _, line in made.values()))
    return {
        "file": str(tmp_path / "keys.txt"),
        **{name: {"Authorization": f"Bearer {k}"} for name, (k, _) in made.items()},
    }


@pytest.fixture
def logged(tmp_path, callers):
    """The service with keys and an answer log, as a TestClient; `.log` is the database file."""

    def start(**options):
        options = {"answer_log_timeout_s": 30.0, **options}  # a busy machine's slow disk is not a failing log
        client = client_for(
            StandIn(age=None), api_keys=callers["file"], answer_log=str(tmp_path / "answers.db"), **options
        )
        client.log = str(tmp_path / "answers.db")
        return client

    return start


def photo(shade: int) -> bytes:
    return jpeg(Image.new("RGB", (64, 64), (shade, shade, 255 - shade)))


def everything(client, headers, **query) -> list[dict]:
    """Every answer the log holds, page after page."""
    rows, after = [], 0
    while after is not None:
        page = client.get("/v1/answers", params={**query, "after": after, "limit": 7}, headers=headers)
        assert page.status_code == 200, page.text
        rows += page.json()["answers"]
        after = page.json()["next_after"]
    return rows


def test_rows_match_the_answers_given(logged, callers):
    given = {}
    with logged() as client:
        for n in range(20):
            till = "till-1" if n % 2 else "till-2"
            headers = {**callers[till], "Content-Type": "image/jpeg", "X-Request-ID": f"req-{n}"}
            if n % 3 == 0:
                headers |= {"X-Sale-Id": f"sale-{n}", "X-Cashier": f"cashier-{n % 4}", "X-Event": "alcohol_scanned"}
            answer = client.post("/v1/age", content=photo(10 * n), headers=headers)
            assert answer.status_code == 200 and answer.json()["log_unavailable"] is False
            given[f"req-{n}"] = (till, headers, answer.json())
        rows = everything(client, callers["auditor"])
        assert [r["till"] for r in everything(client, callers["auditor"], till="till-1")] == ["till-1"] * 10
    assert sorted(r["request_id"] for r in rows) == sorted(given) and len({r["id"] for r in rows}) == 20
    for row in rows:
        till, headers, answer = given[row["request_id"]]
        assert row["till"] == till and row["store"] == ("store-9" if till == "till-1" else None)
        assert (row["sale_id"], row["cashier"], row["event"]) == tuple(
            headers.get(h) for h in ("X-Sale-Id", "X-Cashier", "X-Event")
        )
        assert row["model_sha256"] == answer["model"]["sha256"] and row["id_rule"] == answer["model"]["id_rule"]
        assert row["faces"] == 1 and row["status"] == "ok" and row["shift"] == answer["shift"]
        face = answer["faces"][0]
        assert row["answers"] == [{name: face[name] for name in answer_db.FACE_FIELDS}]
    assert len({r["answers"][0]["predicted_age"] for r in rows}) > 10  # the photos' answers differ


def test_a_since_filter_and_a_store_from_the_options(logged, callers):
    with logged(store="store-3") as client:
        client.post("/v1/age", content=JPEG, headers={**callers["till-2"], "Content-Type": "image/jpeg"})
        future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
        assert everything(client, callers["auditor"], since=future) == []
        (row,) = everything(client, callers["auditor"], since="2020-01-01")
        assert row["store"] == "store-3"
        for bad in ("0.5", "2026-02-30", "yesterday"):
            refused = client.get("/v1/answers", params={"since": bad}, headers=callers["auditor"])
            assert refused.status_code == 400 and "since" in refused.json()["error"]


def test_only_an_auditor_reads_the_log_and_only_a_till_asks_for_ages(logged, callers):
    with logged() as client:
        refused = client.get("/v1/answers", headers=callers["till-1"])
        assert refused.status_code == 403 and "auditor" in refused.json()["error"]
        assert client.get("/v1/answers").status_code == 401
        asked = client.post("/v1/age", content=JPEG, headers={**callers["auditor"], "Content-Type": "image/jpeg"})
        assert asked.status_code == 403
        assert client.get("/v1/answers", headers=callers["auditor"]).json()["answers"] == []
        assert client.get("/metrics", headers=callers["auditor"]).status_code == 200


def test_without_an_answer_log_its_routes_do_not_exist(callers):
    with client_for(StandIn(), api_keys=callers["file"]) as client:
        assert client.get("/v1/answers", headers=callers["auditor"]).status_code == 404
        answer = client.post("/v1/age", content=JPEG, headers={**callers["till-1"], "Content-Type": "image/jpeg"})
        assert answer.json()["log_unavailable"] is False


@pytest.mark.parametrize(
    "headers, form, message",
    [
        ({"X-Cashier": "ann smith"}, {}, "X-Cashier (or form field cashier)"),
        ({"X-Sale-Id": "s" * 65}, {}, "X-Sale-Id (or form field sale_id)"),
        ({}, {"event": "alcohol;drop"}, "X-Event (or form field event)"),
        ({"X-Event": "a"}, {"event": "b"}, "X-Event and the form field event differ"),
    ],
)
def test_a_bad_field_is_a_400_that_names_it_and_keeps_no_row(logged, callers, headers, form, message):
    with logged() as client:
        answer = client.post(
            "/v1/age", headers={**callers["till-1"], **headers}, files={"photo": ("a.jpg", JPEG)}, data=form
        )
        assert answer.status_code == 400 and message in answer.json()["error"]
        assert everything(client, callers["auditor"]) == []


def test_form_fields_are_kept_like_headers(logged, callers):
    with logged() as client:
        form = {"sale_id": "s-1", "cashier": "c-1", "event": "alcohol_scanned"}
        answer = client.post("/v1/age", headers=callers["till-1"], files={"photo": ("a.jpg", JPEG)}, data=form)
        assert answer.status_code == 200
        (row,) = everything(client, callers["auditor"])
        assert (row["sale_id"], row["cashier"], row["event"]) == ("s-1", "c-1", "alcohol_scanned")


def test_a_sales_outcome_is_kept_beside_its_answer(logged, callers):
    outcome = {"completed": True, "id_checked": False}
    with logged() as client:
        client.post(
            "/v1/age", content=JPEG, headers={**callers["till-1"], "Content-Type": "image/jpeg", "X-Sale-Id": "s-1"}
        )
        other_till = client.post("/v1/sales/s-1", json=outcome, headers=callers["till-2"])
        assert other_till.status_code == 404 and "till-2" in other_till.json()["error"]
        assert client.post("/v1/sales/s-9", json=outcome, headers=callers["till-1"]).status_code == 404
        assert client.post("/v1/sales/s-1", json=outcome, headers=callers["auditor"]).status_code == 403
        huge = client.post("/v1/sales/s-1", json={**outcome, "note": "x" * 5000}, headers=callers["till-1"])
        assert huge.status_code == 413  # bounded before it is parsed
        for bad in ({"completed": True}, {"completed": True, "id_checked": 0}, {**outcome, "note": "x"}):
            refused = client.post("/v1/sales/s-1", json=bad, headers=callers["till-1"])
            assert refused.status_code == 400 and ("id_checked" in refused.text or "note" in refused.text)
        bad_id = client.post("/v1/sales/s%201", json=outcome, headers=callers["till-1"])
        assert bad_id.status_code == 400 and "sale_id" in bad_id.json()["error"]
        kept = client.post("/v1/sales/s-1", json=outcome, headers=callers["till-1"])
        assert kept.status_code == 200 and kept.json() == {"sale_id": "s-1", "status": "recorded"}
        again = client.post("/v1/sales/s-1", json=outcome, headers=callers["till-1"])
        assert again.json()["status"] == "unchanged"
        changed = client.post("/v1/sales/s-1", json={**outcome, "id_checked": True}, headers=callers["till-1"])
        assert changed.status_code == 409
        (row,) = everything(client, callers["auditor"])
        assert (row["completed"], row["id_checked"]) == (True, False)


def test_no_photo_byte_and_no_key_reach_the_database(logged, callers, tmp_path):
    """A real photo (the astronaut's portrait) sent as a raw body and as a form: the database files hold none of
    its bytes (every 32-byte window of its compressed data is looked for) and no key."""
    body = ASTRONAUT.read_bytes()
    with logged() as client:
        client.post("/v1/age", content=body, headers={**callers["till-1"], "Content-Type": "image/jpeg"})
        client.post("/v1/age", headers=callers["till-2"], files={"photo": ("p.jpg", body)}, data={"cashier": "c"})
        assert len(everything(client, callers["auditor"])) == 2
        stored = b"".join(path.read_bytes() for path in tmp_path.glob("answers.db*"))
    windows = {body[i : i + 32] for i in range(1000, len(body) - 32, 16)}
    assert not any(window in stored for window in windows)
    keys = [header["Authorization"].split()[1].encode() for name, header in callers.items() if name != "file"]
    assert not any(key in stored for key in keys)


def test_a_failing_database_is_answered_flagged_or_503_and_counted(logged, callers):
    headers = {**callers["till-1"], "Content-Type": "image/jpeg"}
    for required, status in ((False, 200), (True, 503)):
        with logged(answer_log_required=required) as client:
            engine = sa.create_engine(f"sqlite:///{client.log}")
            with engine.begin() as connection:  # the table gone under the running service
                connection.execute(sa.text("ALTER TABLE answers RENAME TO answers_away"))
            answer = client.post("/v1/age", content=JPEG, headers=headers)
            assert answer.status_code == status
            if status == 200:
                assert answer.json()["log_unavailable"] is True and answer.json()["faces"]
            else:
                assert answer.headers["Retry-After"] == "1" and "answer log" in answer.json()["error"]
            assert "age_answer_log_failures_total 1.0" in client.get("/metrics", headers=headers).text
            with engine.begin() as connection:
                connection.execute(sa.text("ALTER TABLE answers_away RENAME TO answers"))
            assert client.post("/v1/age", content=JPEG, headers=headers).json()["log_unavailable"] is False
            engine.dispose()


def answer(when: dt.datetime, request_id: str) -> answer_db.Answer:
    face = {"predicted_age": 30.0, "age_scale": None, "age_low": None, "age_high": None, "age_band": "25-34"}
    return answer_db.Answer(
        when, request_id, "till-1", None, None, "s-" + request_id, None, MODEL, "ok", [{**face, "asks_for_id": False}]
    )


def test_retention_deletes_what_is_old_at_start_up_and_logs_it(logged, callers, tmp_path, caplog):
    now = dt.datetime.now(dt.timezone.utc)
    engine = answer_db.connect(str(tmp_path / "answers.db"))
    answer_db.insert(engine, [answer(now - dt.timedelta(days=days), f"r{days}") for days in (1, 29, 31, 400)])
    answer_db.record_outcome(engine, "till-1", "s-r400", True, False)
    engine.dispose()
    with caplog.at_level(logging.INFO, "age_lightning.server"), logged(answer_log_keep_days=30) as client:
        kept = everything(client, callers["auditor"])
    assert sorted(r["request_id"] for r in kept) == ["r1", "r29"]
    assert any("deleted 2 answer(s)" in record.getMessage() for record in caplog.records)
    with sa.create_engine(f"sqlite:///{tmp_path / 'answers.db'}").connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM answer_faces")).scalar() == 2
        assert connection.execute(sa.text("SELECT count(*) FROM sale_outcomes")).scalar() == 0


def test_an_old_schema_is_upgraded_and_a_newer_one_refused(tmp_path):
    """A version-1 log (answers only, and no shift column, as version 1 made it) with a row in it: refused for
    reading until upgraded, then upgraded by the service's start, the row kept; a newer log refused."""
    log = str(tmp_path / "answers.db")
    old = sa.create_engine(f"sqlite:///{log}")
    with old.begin() as connection:
        answer_db.migrate(connection, 0, 1)
        connection.execute(sa.text("ALTER TABLE answers DROP COLUMN shift"))
        connection.execute(
            sa.text(
                "INSERT INTO answers (time, request_id, till, sale_id, model_file, model_sha256, id_rule, faces, "
                "status) VALUES ('2026-12-01 10:00:00', 'r1', 'till-1', 's-r1', 'm.onnx', 'x', 'interval', 0, "
                "'no_face')"
            )
        )
    assert "sale_outcomes" not in sa.inspect(old).get_table_names()
    old.dispose()
    with pytest.raises(UserError, match="schema version 1: start the service on it once"):
        answer_db.connect(log, upgrade=False)
    engine = answer_db.connect(log)
    assert answer_db.record_outcome(engine, "till-1", "s-r1", True, True) == "recorded"
    answer_db.insert(engine, [dataclasses.replace(answer(dt.datetime.now(dt.timezone.utc), "r2"), shift="alarm")])
    first, second = answer_db.page(engine, None, None, 0, 10)
    assert (first["request_id"], first["id_checked"], first["shift"]) == ("r1", True, None)
    assert second["shift"] == "alarm"
    with engine.begin() as connection:
        assert connection.execute(sa.select(answer_db.schema_version.c.version)).scalar() == answer_db.VERSION
        connection.execute(answer_db.schema_version.update().values(version=answer_db.VERSION + 1))
    engine.dispose()
    with pytest.raises(UserError, match="newer than this service's"):
        answer_db.connect(log)


def test_a_database_that_is_not_an_answer_log_is_refused(tmp_path):
    with sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}").begin() as connection:
        connection.execute(sa.text("CREATE TABLE customers (name TEXT)"))
    with pytest.raises(UserError, match="holds other tables \\(customers\\)"):
        answer_db.connect(str(tmp_path / "other.db"))
    with pytest.raises(UserError, match="not supported"):
        answer_db.connect("mysql://db/answers")


def test_the_keys_file_names_roles_and_stores(tmp_path):
    _, till = new_key("till-1", store="s-1")
    key, auditor = new_key("boss", role="auditor")
    (tmp_path / "keys.txt").write_text(f"{till}\n{auditor}  # security\n")
    keys = ApiKeys.load(tmp_path / "keys.txt")
    assert keys.caller(key).role == "auditor" and keys.digests[0][0].store == "s-1"
    for line, message in (
        (f"{auditor.split()[0]} role=boss", "line 1: role 'boss'"),
        (f"{till} colour=red", "unknown colour"),
    ):
        (tmp_path / "bad.txt").write_text(line + "\n")
        with pytest.raises(UserError, match=message):
            ApiKeys.load(tmp_path / "bad.txt")
