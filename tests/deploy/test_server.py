"""The checkout service, tested as a till (or an attacker) would use it: serve.py running, a real HTTP client
talking to it over a socket. Longer than most modules (about 500 lines) because its tests share one running server
(the module's `server` fixture: a model exported and loaded once); the fast in-process tests are in
test_service_in_process.py, the serving helpers in helpers/serving.py."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from age_lightning.deploy.api_schema import AgeAnswer
from helpers import ASTRONAUT, ROOT, run_command
from helpers.serving import EPS, bomb, free_port, jpeg, png, serving, tiff, with_size

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    """Two tills' keys and an auditor's made with make_key.py, and the keys file that admits them (with a comment
    line)."""
    folder = tmp_path_factory.mktemp("keys")
    made, lines = {}, ["# tills of store 12"]
    for name, *role in (("till-a",), ("till-b",), ("security", "role=auditor")):
        result = run_command("make_key.py", f"name={name}", *role, cwd=folder)
        assert result.returncode == 0, result.stderr
        output = result.stdout.splitlines()
        made[name], line = output[1], output[3]
        assert line.startswith(f"{name}:") and made[name] not in line  # the file holds the digest, not the key
        lines.append(line)
    (folder / "keys.txt").write_text("\n".join(lines) + "\n")
    return {"file": folder / "keys.txt", **made}


@pytest.fixture(scope="module")
def server(deployed, keys, tmp_path_factory):
    with serving(
        deployed,
        tmp_path_factory.mktemp("serve_cwd"),
        f"api_keys={keys['file']}",
        "max_bytes=5000000",
        "max_pixels=20000000",
        "demo=true",
        key=keys["till-a"],
    ) as s:
        yield s


def test_a_photo_gets_its_face_box_age_bounds_and_id_check(server):
    answer = server.post(ASTRONAUT.read_bytes())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [face] = body["faces"]
    x0, y0, x1, y1 = face["box"]
    assert 60 < x0 < x1 < 160 and y1 < 128 and face["score"] > 0.9  # her face, as in test_faces
    assert 0 <= face["age_low"] <= face["age_high"] <= 120
    assert isinstance(face["asks_for_id"], bool) and face["age_band"]
    assert body["model"]["head"] == "laplace" and body["model"]["id_rule"] == "interval"
    assert len(body["model"]["training_config_hash"]) == 16 and body["time_ms"] > 0
    multipart = server.client.post(
        "/v1/age", files={"photo": ("a.jpg", ASTRONAUT.read_bytes(), "image/jpeg")}, headers=server.auth
    )
    assert multipart.status_code == 200 and multipart.json()["faces"] == body["faces"]


def test_only_tills_with_a_key_are_served(server, keys):
    photo = ASTRONAUT.read_bytes()
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": f"Basic {keys['till-a']}"}):
        refused = server.client.post("/v1/age", content=photo, headers={"Content-Type": "image/jpeg", **headers})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert "API key" in refused.json()["error"] and "\n" not in refused.json()["error"]
        assert server.client.get("/metrics", headers=headers).status_code == 401
    assert server.post(photo, headers={"Authorization": f"Bearer {keys['till-b']}"}).status_code == 200
    metrics = server.client.get("/metrics", headers=server.auth)
    assert metrics.status_code == 200
    assert 'age_requests_total{status="200",till="till-b"}' in metrics.text
    assert 'age_requests_total{status="401",till="unauthenticated"}' in metrics.text
    assert keys["till-a"] not in json.dumps(server.log_lines())  # keys never reach the log
    # health is open, and says nothing but its status
    for path in ("/health", "/health/ready", "/health/live"):
        health = server.client.get(path)
        assert health.status_code == 200 and set(health.json()) == {"status"}


def test_off_loopback_it_refuses_to_start_without_keys(deployed, tmp_path):
    refused = run_command(
        "serve.py", f"model={deployed}", "host=0.0.0.0", f"port={free_port()}", cwd=tmp_path, timeout=120
    )
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "api_keys" in line and "make_key.py" in line and "allow_anonymous" in line
    with serving(deployed, tmp_path, "host=0.0.0.0", "allow_anonymous=true") as server:
        assert server.post(ASTRONAUT.read_bytes()).status_code == 200
        warnings = [line for line in server.log_lines() if line["level"] == "WARNING"]
        assert any("without API keys" in line["message"] for line in warnings)


def test_tls_with_a_certificate(deployed, keys, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with serving(
        deployed,
        tmp_path,
        f"api_keys={keys['file']}",
        f"ssl_certfile={cert}",
        f"ssl_keyfile={key}",
        key=keys["till-a"],
        scheme="https",
        verify=ssl.create_default_context(cafile=cert),
    ) as server:
        assert server.post(ASTRONAUT.read_bytes()).status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not spoken
            httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
    with pytest.raises(AssertionError, match="both ssl_certfile and ssl_keyfile"):
        with serving(deployed, tmp_path, f"ssl_certfile={cert}"):
            pass


@pytest.mark.parametrize(
    "name, body, content_type, status, message",
    [
        ("empty body", b"", "image/jpeg", 400, "empty body"),
        ("not an image", b"%PDF-1.4 not a photo" * 50, "image/jpeg", 415, "not a JPEG or PNG"),
        ("EPS (Ghostscript)", EPS, "image/jpeg", 415, "not a JPEG or PNG"),
        ("TIFF", tiff(), "application/octet-stream", 415, "not a JPEG or PNG"),
        ("truncated JPEG", ASTRONAUT.read_bytes()[:3000], "image/jpeg", 400, "truncated"),
        ("decompression bomb", bomb(), "image/png", 413, "too large"),
        ("a 10,000 x 2 strip", png(Image.new("L", (10_000, 2))), "image/png", 413, "unequal"),
        ("a 16-bit PNG too deep to decode", png(Image.new("I;16", (4400, 4400))), "image/png", 413, "MiB"),
        ("wrong content type", ASTRONAUT.read_bytes(), "text/plain", 415, "content type"),
        ("no content type", ASTRONAUT.read_bytes(), None, 415, "content type"),
        (
            "multipart without a file",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
            400,
            "no file",
        ),
        ("multipart without a boundary", b"--x\r\n\r\n", "multipart/form-data", 400, "malformed multipart"),
    ],
)
def test_bad_input_gets_a_one_line_4xx_and_the_server_keeps_serving(server, name, body, content_type, status, message):
    answer = server.post(body, content_type)
    assert answer.status_code == status, (name, answer.text)
    error = answer.json()["error"]
    assert message in error and "\n" not in error
    assert server.post(ASTRONAUT.read_bytes()).status_code == 200


SMALL_JPEG = jpeg(Image.open(ASTRONAUT).resize((96, 96)))
SMALL_PNG = png(Image.open(ASTRONAUT).resize((64, 64)))


@st.composite
def mutated_photos(draw) -> bytes:
    """Random bytes, or a real JPEG/PNG truncated, bit-flipped, or claiming huge dimensions."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "huge"]))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    photo = draw(st.sampled_from([SMALL_JPEG, SMALL_PNG]))
    if kind == "truncated":
        return photo[: draw(st.integers(0, len(photo) - 1))]
    if kind == "flipped":
        data = bytearray(photo)
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=16)):
            data[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    width, height = draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1))
    if photo is SMALL_PNG:
        return with_size(photo, width, height)
    sof = photo.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    return (
        photo[: sof + 5] + (height % 65536).to_bytes(2, "big") + (width % 65536).to_bytes(2, "big") + photo[sof + 9 :]
    )


FUZZ_CASES = []


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=mutated_photos(), content_type=st.sampled_from(["image/jpeg", "image/png", "application/octet-stream"]))
def test_fuzzed_photos_never_get_a_500(server, body, content_type):
    FUZZ_CASES.append(len(body))
    answer = server.post(body, content_type)
    assert answer.status_code in (200, 400, 413, 415), answer.text
    assert set(answer.json()) == (set(AgeAnswer.model_fields) if answer.status_code == 200 else {"error", "request_id"})


def test_the_server_survived_the_fuzzing(server):
    print(f"{len(FUZZ_CASES)} fuzz cases ran")
    assert server.process.poll() is None and server.client.get("/health/ready").status_code == 200
    assert server.post(ASTRONAUT.read_bytes()).status_code == 200


def test_a_50_megabyte_body_is_refused(server):
    answer = server.post(b"\xff" * 50_000_000)
    assert answer.status_code == 413 and "bytes" in answer.json()["error"]

    def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(50):
            yield b"\xff" * 1_000_000

    answer = server.client.post("/v1/age", content=chunks(), headers={"Content-Type": "image/jpeg", **server.auth})
    assert answer.status_code == 413
    assert server.post(ASTRONAUT.read_bytes()).status_code == 200


def test_a_photo_without_a_face_is_200_with_no_faces(server):
    answer = server.post(jpeg(Image.new("RGB", (320, 240), (90, 140, 200))))
    assert answer.status_code == 200 and answer.json()["faces"] == []


def test_faces_per_photo_are_capped_largest_first(deployed, keys, tmp_path):
    face = Image.open(ASTRONAUT).crop((40, 0, 220, 180))
    crowd = Image.new("RGB", (1000, 420), (200, 200, 200))
    for x, side in ((0, 400), (420, 300), (740, 220)):
        crowd.paste(face.resize((side, side)), (x, 0))
    with serving(deployed, tmp_path, f"api_keys={keys['file']}", "max_faces=2", key=keys["till-a"]) as server:
        answer = server.post(jpeg(crowd))
    assert answer.status_code == 200, answer.text
    lefts = sorted(f["box"][0] for f in answer.json()["faces"])
    assert len(lefts) == 2 and lefts[0] < 420 < lefts[1] < 740  # the faces of the two larger tiles, not the third


def test_health_metrics_and_demo_page(server, deployed, tmp_path):
    server.post(ASTRONAUT.read_bytes())
    metrics = server.client.get("/metrics", headers=server.auth)
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.text.splitlines()
        if line and not line.startswith("#")
    }
    assert lines['age_requests_total{status="200",till="till-a"}'] >= 1 and lines["age_request_seconds_count"] >= 1
    assert lines['age_faces_per_photo_bucket{le="1.0"}'] >= 1 and "age_photos_in_server" in lines
    page = server.client.get("/")
    assert page.status_code == 200 and 'id="photo"' in page.text and 'id="key"' in page.text
    with serving(deployed, tmp_path) as plain:  # demo page and API docs are off unless asked for
        for path in ("/", "/docs", "/openapi.json"):
            assert plain.client.get(path).status_code == 404


def test_requests_are_logged_as_json_metadata_only(server):
    marker = b"SECRET-FACE-BYTES"
    server.post(ASTRONAUT.read_bytes()[:3000] + marker, headers={"X-Request-ID": "till-a-0001"})
    server.post(b"%PDF " + marker, headers={"X-Request-ID": "till-a-0002"})
    lines = {line.get("request_id"): line for line in server.log_lines()}
    for request_id, status in (("till-a-0001", 400), ("till-a-0002", 415)):
        line = lines[request_id]
        assert line["status"] == status and line["till"] == "till-a" and line["path"] == "/v1/age"
        assert line["ms"] > 0 and "faces" in line and "body_bytes" in line
    assert "SECRET" not in json.dumps(server.log_lines())


AUDIT_HOOK = """
import os, sys
_fd = os.open(os.environ["AUDIT_OPEN_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE)
    else:
        path, writes = args[0] if args else "", event.startswith("tempfile.")
    if writes:
        os.write(_fd, f"{event} {path}\\n".encode())

sys.addaudithook(_hook)
"""


def test_no_file_is_written_while_a_3_megabyte_multipart_photo_is_served(deployed, keys, tmp_path):
    """Every file the server process opens for writing (or any temporary file it makes) is recorded by a
    Python audit hook installed at its start; serving a 3 MB multipart photo must record none."""
    hook_dir, record = tmp_path / "hook", tmp_path / "opened_for_writing.txt"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = {**os.environ, "PYTHONPATH": str(hook_dir), "AUDIT_OPEN_LOG": str(record), "PYTHONDONTWRITEBYTECODE": "1"}
    big = jpeg(Image.open(ASTRONAUT).resize((2000, 2000)), quality=100, subsampling=0)
    assert len(big) > 1_500_000
    photo = big + b"\0" * (3_000_000 - len(big))  # a JPEG decoder ignores what follows the image
    with serving(deployed, tmp_path, f"api_keys={keys['file']}", key=keys["till-a"], env=env) as server:
        before = record.read_text()
        answer = server.client.post("/v1/age", files={"photo": ("big.jpg", photo, "image/jpeg")}, headers=server.auth)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["faces"]) == 1
        assert server.post(EPS, "application/octet-stream").status_code == 415
        assert record.read_text() == before == ""
    assert list((tmp_path / "hook").iterdir()) == [hook_dir / "sitecustomize.py"]


def test_a_full_queue_answers_503_with_retry_after(deployed, keys, tmp_path):
    with serving(
        deployed, tmp_path, f"api_keys={keys['file']}", "max_queue=1", "prepare_threads=1", key=keys["till-a"]
    ) as server:
        big = jpeg(Image.open(ASTRONAUT).resize((1600, 1600)))  # slow enough to overlap

        def send(_):
            return httpx.post(
                f"{server.url}/v1/age", content=big, timeout=60, headers={"Content-Type": "image/jpeg", **server.auth}
            )

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(12)))
        statuses = sorted(a.status_code for a in answers)
        assert set(statuses) == {200, 503} and statuses.count(200) >= 1
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.headers["retry-after"] == "1" and "busy" in refused.json()["error"]
        assert server.post(big).status_code == 200


def start_upload(port: int, key: str, length: int) -> socket.socket:
    """A connection that has sent its headers, promising `length` bytes of body, and nothing more yet."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    connection.sendall(
        f"POST /v1/age HTTP/1.1\r\nHost: till\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    return connection


def status_of(connection: socket.socket) -> int:
    return int(connection.recv(65536).split(b" ", 2)[1])


def test_slow_uploads_do_not_starve_the_tills(deployed, keys, tmp_path):
    """20 connections trickle their bodies one byte a second (more than max_queue): a till sending a whole photo
    is still served at once; a body slower than body_timeout_s gets 408."""
    with serving(deployed, tmp_path, f"api_keys={keys['file']}", "body_timeout_s=8", key=keys["till-a"]) as server:
        slow = [start_upload(server.port, keys["till-b"], 100_000) for _ in range(20)]
        stop = threading.Event()

        def trickle():
            while not stop.wait(1):
                for connection in slow:
                    connection.sendall(b"\xff")

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            time.sleep(2)
            for _ in range(3):
                started = time.perf_counter()
                assert server.post(ASTRONAUT.read_bytes()).status_code == 200
                assert time.perf_counter() - started < 3
            assert [status_of(c) for c in slow] == [408] * 20  # then each trickler hits its deadline
        finally:
            stop.set()
            thread.join()
            for connection in slow:
                connection.close()
        assert server.post(ASTRONAUT.read_bytes()).status_code == 200


def test_sigterm_finishes_requests_in_flight_then_exits(deployed, keys, tmp_path):
    photo = ASTRONAUT.read_bytes()
    with serving(deployed, tmp_path, f"api_keys={keys['file']}", "shutdown_timeout_s=20", key=keys["till-a"]) as server:
        upload = start_upload(server.port, keys["till-a"], len(photo))
        upload.sendall(photo[:1000])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        with pytest.raises(OSError):  # no new work
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        upload.sendall(photo[1000:])
        assert status_of(upload) == 200  # the request in flight is finished
        upload.close()
        # uvicorn re-raises the signal once it has shut down, so the exit status says "ended by SIGTERM"
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_a_failure_inside_the_server_is_a_counted_json_500(deployed, keys, tmp_path):
    """A model.json whose input size disagrees with the network makes every model run fail inside the server."""
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(deployed, broken / "model.onnx")
    meta = json.loads(deployed.with_suffix(".json").read_text())
    meta["input"]["size"] += 8
    (broken / "model.json").write_text(json.dumps(meta))
    with serving(broken / "model.onnx", tmp_path, f"api_keys={keys['file']}", key=keys["till-a"]) as server:
        answer = server.post(ASTRONAUT.read_bytes(), headers={"X-Request-ID": "broken-1"})
        assert answer.status_code == 500 and answer.json()["request_id"] == "broken-1"
        assert "internal error" in answer.json()["error"]
        metrics = server.client.get("/metrics", headers=server.auth).text
        assert 'age_requests_total{status="500",till="till-a"} 1.0' in metrics
        assert "age_internal_errors_total{" in metrics
        [line] = [line for line in server.log_lines() if line.get("request_id") == "broken-1"]
        assert line["status"] == 500 and line["error"] and line["level"] == "ERROR"
        assert server.client.get("/health/ready").status_code == 200


@pytest.mark.parametrize(
    "hooks, caller",
    [(False, "till-a"), (True, "till-a"), (False, "security")],
    ids=["as-an-outside-client", "with-real-photos", "as-an-auditor"],
)
def test_schemathesis_finds_the_contract_kept(deployed, keys, tmp_path, hooks, caller):
    """The API fuzzer, driven by the service's own /openapi.json with every check on, finds no response outside the
    contract: as an outside client would run it (schemathesis' own sample files), with real photos of several sizes
    and modes (helpers/schemathesis_hooks.py) that reach the face step and the model, and with an auditor's key,
    which reads the answer log (a till's gets 403 there)."""
    log = "answer_log=answers.db"  # its routes too: a sale's outcome, and the log (403 to a till's key)
    with serving(deployed, tmp_path, f"api_keys={keys['file']}", "docs=true", log, key=keys["till-a"]) as server:
        schema = server.client.get("/openapi.json").json()
        assert set(schema["paths"]["/v1/age"]["post"]["requestBody"]["content"]) == {"image/jpeg", "image/png"}
        assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        hook = {"SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(ROOT / "tests" / "helpers")}
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/openapi.json",
                "--phases",
                "examples,coverage,fuzzing",
                "--checks",
                "all",
                "--max-examples",
                "30",
                "-H",
                f"Authorization: Bearer {keys[caller]}",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env={**os.environ, **(hook if hooks else {})},
        )
        assert result.returncode == 0, result.stdout[-6000:]
        generated = int(re.search(r"(\d+) generated", result.stdout).group(1))
        print(f"schemathesis: {generated} test cases, 0 failures")
        operations = sum(len(methods) for methods in schema["paths"].values())  # every route, the log's too
        assert operations == 7 and generated >= 60 and f"Tested: {operations}" in result.stdout
        assert server.client.get("/health/ready").status_code == 200


@pytest.mark.skipif(  # CI installs them (.ci/run): there the test runs or fails, never skips
    not (shutil.which("chromium") and shutil.which("chromedriver")) and not os.environ.get("CI"),
    reason="Chromium and ChromeDriver are not installed (Debian: chromium chromium-driver)",
)
def test_demo_page_in_headless_chromium(server, keys, tmp_path):
    result = run_command(
        "scripts/demo_page_check.py",
        "--url",
        server.url,
        "--photo",
        str(ASTRONAUT),
        "--out",
        str(tmp_path / "demo.png"),
        "--key",
        keys["till-a"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "likely range" in result.stdout and "detector score" in result.stdout  # the answer's table is shown
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_load_test_script_smoke(deployed, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "astronaut.jpg").write_bytes(ASTRONAUT.read_bytes())
    result = run_command(
        "scripts/load_test.py",
        "--model",
        str(deployed),
        "--photos",
        str(tmp_path / "photos"),
        "--clients",
        "1,2",
        "--requests",
        "8",
        "--memory-requests",
        "40",
        "--slow-uploads",
        "3",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        line.split("|") for line in result.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")
    ]
    assert len(rows) == 2 and all(row[7].strip() == "0" for row in rows)  # no errors, keys on, slow uploads beside
    assert "API keys on, 3 slow uploads" in result.stdout and ", 0 errors" in result.stdout


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_example_systemd_unit_verifies():
    unit = ROOT / "docs" / "age-serve.service"
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert all("is not executable: No such file or directory" in line for line in complaints), complaints
