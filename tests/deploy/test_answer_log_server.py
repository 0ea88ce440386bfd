"""The answer log with serve.py running the real (tiny) model: nothing a till was told is recorded is lost when
the service is killed, and a chain's PostgreSQL log works and survives a restart of its server under load."""

import json

import pytest

from age_lightning.deploy.access import new_key
from helpers import ASTRONAUT, ROOT, run_command
from helpers.postgres import postgres_cluster
from helpers.serving import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    with postgres_cluster() as cluster:
        yield cluster


def bench(*args: str, cwd) -> list[dict]:
    """scripts/answer_log_bench.py's rounds (its JSON lines)."""
    shown = run_command("scripts/answer_log_bench.py", *args, cwd=cwd, timeout=900)
    assert shown.returncode == 0, shown.stderr[-3000:]
    return [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]


def test_a_sigkilled_service_loses_no_answer_it_acknowledged(deployed, tmp_path):
    """10 kills at random moments under 4 tills' load: after each, the SQLite log opens cleanly (integrity check)
    and holds every answer a till received as recorded."""
    rounds = bench("kill", f"--model={deployed}", f"--photos={ROOT / 'tests' / 'assets'}", "--kills=10",
                   "--min-s=0.5", "--max-s=2.5", cwd=tmp_path)  # fmt: skip
    assert len(rounds) == 10
    assert all(r["found"] == r["acknowledged"] for r in rounds), rounds
    assert sum(r["acknowledged"] > 0 for r in rounds) >= 8, rounds  # kills landed under load, not before it


def test_the_log_in_postgresql_matches_the_answers(deployed, postgres, tmp_path):
    till, till_line = new_key("till-1", store="store-1")
    auditor, auditor_line = new_key("audit", role="auditor")
    (tmp_path / "keys.txt").write_text(f"{till_line}\n{auditor_line}\n")
    log = (f"answer_log={postgres.url}", "answer_log_timeout_s=30")  # a busy machine is not a failing log
    with serving(deployed, tmp_path, f"api_keys={tmp_path / 'keys.txt'}", *log, key=till) as s:
        headers = {"X-Sale-Id": "pg-1", "X-Cashier": "c-7", "X-Event": "alcohol_scanned"}
        answer = s.post(ASTRONAUT.read_bytes(), headers=headers).json()
        assert answer["log_unavailable"] is False and answer["faces"]
        outcome = s.client.post("/v1/sales/pg-1", json={"completed": True, "id_checked": True}, headers=s.auth)
        assert outcome.status_code == 200
        page = s.client.get("/v1/answers", params={"till": "till-1"}, headers={"Authorization": f"Bearer {auditor}"})
        row = next(r for r in page.json()["answers"] if r["sale_id"] == "pg-1")
        assert (row["store"], row["cashier"], row["completed"], row["id_checked"]) == ("store-1", "c-7", True, True)
        assert row["answers"][0]["predicted_age"] == answer["faces"][0]["predicted_age"]
        assert any("answers kept in postgresql+psycopg://postgres@" in line["message"] for line in s.log_lines())


def test_postgresql_restarted_under_load_loses_nothing_and_the_service_reconnects(deployed, postgres, tmp_path):
    (result,) = bench("restart", f"--model={deployed}", f"--photos={ROOT / 'tests' / 'assets'}",
                      f"--log={postgres.url}", f"--restart={postgres.restart_command}", "--min-s=2", "--max-s=3",
                      cwd=tmp_path)  # fmt: skip
    assert result["found"] == result["acknowledged"] and result["before_restart"] > 0
    assert result["after_restart"] > 0  # answers were recorded again once the server was back
