"""The answer log's benchmarks (docs/benchmarks.md, "Answer log"): what it costs, and that nothing acknowledged is
lost. Each prints one JSON line per round and a summary line.

    python scripts/answer_log_bench.py latency --model M --photos DIR [--rounds 6 --requests 200]
        serve.py twice on loopback, without and with answer_log=answers.db, 4 tills each; rounds alternate between
        the two, so both see the same machine; p95 of each and their ratio
    python scripts/answer_log_bench.py kill --model M --photos DIR [--kills 10] [--log URL]
        4 tills send photos; the service is SIGKILLed at a random moment, 10 times, restarted each time; after each
        kill the log must open cleanly and hold every answer a till received as recorded (counted both sides)
    python scripts/answer_log_bench.py restart --model M --photos DIR --log postgresql://... --restart "CMD"
        the same with the database restarted (CMD, e.g. pg_ctl restart) under load instead; the service reconnects
    python scripts/answer_log_bench.py year --model model.json [--rows 400000]
        a store's year of answers written to a SQLite log, exported by answers.py and read by audit.py: seconds and
        peak memory of each (the peak is the largest child's so far: the audit's is at least the export's)
"""

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from child_timing import timed_child  # noqa: E402
from load_test import free_port, run_level, start_server  # noqa: E402

from age_lightning.deploy import answer_db  # noqa: E402
from age_lightning.deploy.access import new_key  # noqa: E402

TILLS = 4


def read_photos(folder: Path, count: int = 100) -> list[bytes]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    return [files[i].read_bytes() for i in np.linspace(0, len(files) - 1, min(count, len(files))).astype(int)]


def keys_file(folder: Path) -> tuple[Path, list[str]]:
    tills = [new_key(f"till-{i:02d}", store="store-1") for i in range(TILLS)]
    path = folder / "keys.txt"
    path.write_text("\n".join(line for _, line in tills) + "\n")
    return path, [key for key, _ in tills]


class Tills:
    """TILLS threads sending photos until stopped, each request with its own X-Request-ID; `acknowledged` holds the
    ids of the answers a till received as recorded (200, log_unavailable false)."""

    def __init__(self, url: str, keys: list[str], photos: list[bytes]):
        self.acknowledged: list[str] = []
        self.unavailable = self.failed = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.till, args=(url, key, photos, n)) for n, key in enumerate(keys)]
        for thread in self.threads:
            thread.start()

    def till(self, url: str, key: str, photos: list[bytes], n: int) -> None:
        rng = random.Random(n)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg", "X-Event": "alcohol_scanned"}
        with httpx.Client(base_url=url, timeout=10) as http:
            while not self.stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    answer = http.post(
                        "/v1/age",
                        content=rng.choice(photos),
                        headers={**headers, "X-Request-ID": request_id, "X-Sale-Id": request_id[:12]},
                    )
                except httpx.HTTPError:
                    self.failed += 1
                    time.sleep(0.05)
                    continue
                if answer.status_code == 200 and not answer.json()["log_unavailable"]:
                    self.acknowledged.append(request_id)
                elif answer.status_code == 200:
                    self.unavailable += 1
                else:
                    self.failed += 1

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def found(log: str, request_ids: list[str]) -> int:
    """How many of `request_ids` the log holds (it must open cleanly: a SQLite file is integrity-checked too)."""
    engine = answer_db.connect(log, upgrade=False)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            held = 0
            for start in range(0, len(request_ids), 500):
                chunk = request_ids[start : start + 500]
                held += connection.execute(
                    sa.select(sa.func.count())
                    .select_from(answer_db.answers)
                    .where(answer_db.answers.c.request_id.in_(chunk))
                ).scalar_one()
    finally:
        engine.dispose()
    return held


def serve(model: Path, port: int, keys: Path, log: str | None) -> subprocess.Popen:
    options = [f"api_keys={keys}", *([f"answer_log={log}"] if log else [])]
    return start_server(model, port, options)


def kill(args, folder: Path) -> list[dict]:
    log = args.log or str(folder / "answers.db")
    keys, till_keys = keys_file(folder)
    photos, rng, rounds = read_photos(args.photos), random.Random(args.seed), []
    for n in range(args.kills):
        port = free_port()
        server = serve(args.model, port, keys, log)
        tills = Tills(f"http://127.0.0.1:{port}", till_keys, photos)
        time.sleep(rng.uniform(args.min_s, args.max_s))
        server.kill()  # SIGKILL: no shutdown, no flush
        server.wait()
        tills.join()
        rounds.append(
            {
                "kill": n + 1,
                "acknowledged": len(tills.acknowledged),
                "found": found(log, tills.acknowledged),
                "log_unavailable": tills.unavailable,
                "failed": tills.failed,
            }
        )
        print(json.dumps(rounds[-1]), flush=True)
    return rounds


def restart(args, folder: Path) -> list[dict]:
    keys, till_keys = keys_file(folder)
    port = free_port()
    server = serve(args.model, port, keys, args.log)
    try:
        tills = Tills(f"http://127.0.0.1:{port}", till_keys, read_photos(args.photos))
        time.sleep(args.min_s)
        before = len(tills.acknowledged)
        subprocess.run(args.restart, shell=True, check=True, capture_output=True)
        restarted = len(tills.acknowledged)
        time.sleep(args.max_s)
        tills.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "acknowledged": len(tills.acknowledged),
        "found": found(args.log, tills.acknowledged),
        "before_restart": before,
        "after_restart": len(tills.acknowledged) - restarted,
        "log_unavailable": tills.unavailable,
        "failed": tills.failed,
    }
    print(json.dumps(result), flush=True)
    return [result]


def latency(args, folder: Path) -> list[dict]:
    keys, till_keys = keys_file(folder)
    photos = read_photos(args.photos)
    ports = {"off": free_port(), "sqlite": free_port()}
    servers = {
        name: serve(args.model, port, keys, str(folder / "answers.db") if name == "sqlite" else None)
        for name, port in ports.items()
    }
    rounds = []
    try:
        for name, port in ports.items():  # warm-up
            run_level(f"http://127.0.0.1:{port}", photos, 1, 20, 30, till_keys)
        for n in range(args.rounds):
            for name in ("off", "sqlite") if n % 2 == 0 else ("sqlite", "off"):
                r = run_level(f"http://127.0.0.1:{ports[name]}", photos, TILLS, args.requests, 30, till_keys)
                rounds.append({"round": n + 1, "log": name, **{k: round(v, 2) for k, v in r.items()}})
                print(json.dumps(rounds[-1]), flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    return rounds


def year(args, folder: Path) -> list[dict]:
    """A store's year: 400,000 answers over 365 days from 4 tills and 12 cashiers, a tenth of them alcohol sales
    with an outcome reported."""
    log = str(folder / "answers.db")
    engine = answer_db.connect(log)
    rng = np.random.default_rng(args.seed)
    start = dt.datetime.now(answer_db.UTC) - dt.timedelta(days=365)
    model = {"file": "model.onnx", "sha256": "0" * 64, "version": None, "id_rule": "interval"}
    started = time.perf_counter()
    for first in range(0, args.rows, 20_000):
        count = min(20_000, args.rows - first)
        ages = np.clip(rng.normal(40, 15, count), 10, 90)
        rows = [
            answer_db.Answer(
                time=start + dt.timedelta(seconds=float(s)),
                request_id=f"r{first + i}",
                till=f"till-{i % TILLS}",
                store="store-1",
                cashier=f"cashier-{int(rng.integers(12))}",
                sale_id=f"s{first + i}",
                event="alcohol_scanned" if rng.random() < 0.1 else None,
                model=model,
                status="ok",
                faces=[
                    {
                        "predicted_age": float(a),
                        "age_scale": 3.0,
                        "age_low": a - 6,
                        "age_high": a + 6,
                        "age_band": "x",
                        "asks_for_id": bool(a < 25),
                        "p_minor": 0.01,
                    }
                ],
            )
            for i, (a, s) in enumerate(zip(ages, np.sort(rng.uniform(0, 365 * 86400, count))))
        ]
        answer_db.insert(engine, rows)
        outcomes = [
            {
                "till": a.till,
                "sale_id": a.sale_id,
                "completed": True,
                "id_checked": bool(rng.random() < 0.5),
                "time": a.time.replace(tzinfo=None),
            }
            for a in rows
            if a.event
        ]
        with engine.begin() as connection:
            connection.execute(answer_db.sale_outcomes.insert(), outcomes)
    engine.dispose()
    print(f"{args.rows} answers written in {time.perf_counter() - started:.0f} s", flush=True)
    timed_child([str(ROOT / "answers.py"), f"log={log}", f"out={folder / 'answers.csv'}"], "answers.py export")
    timed_child(
        [str(ROOT / "audit.py"), f"log={log}", f"model={args.model}", f"out={folder / 'audit'}"],
        "audit.py log=answers.db",
    )
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("latency", "kill", "restart", "year"))
    parser.add_argument("--model", type=Path, required=True, help="model.onnx (year: its model.json)")
    parser.add_argument("--photos", type=Path, default=ROOT / "tests" / "assets")
    parser.add_argument("--log", help="kill: the answer log (default: a SQLite file); restart: postgresql://...")
    parser.add_argument("--restart", help="restart: the command that restarts the database")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--min-s", type=float, default=1.0, help="kill: load before a kill, at least")
    parser.add_argument("--max-s", type=float, default=4.0, help="kill: at most; restart: load after the restart")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rounds = globals()[args.what](args, Path(folder))
    if args.what in ("kill", "restart"):
        lost = sum(r["acknowledged"] - r["found"] for r in rounds)
        print(f"summary: {sum(r['acknowledged'] for r in rounds)} acknowledged, {lost} missing from the log")
    elif args.what == "latency":
        p95 = {name: np.median([r["p95"] for r in rounds if r["log"] == name]) for name in ("off", "sqlite")}
        print(
            f"summary: median p95 {p95['off']:.1f} ms without the log, {p95['sqlite']:.1f} ms with SQLite "
            f"({p95['sqlite'] / p95['off'] - 1:+.1%})"
        )


if __name__ == "__main__":
    main()
