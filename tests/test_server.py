"""The checkout service, tested as a till would use it: serve.py running, a real HTTP client talking to it."""

import contextlib
import io
import json
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from age_lightning.model.export import export_onnx
from conftest import ASTRONAUT, run_command, started_command

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def deployed(tiny_uncertain_checkpoint, tmp_path_factory):
    """The tiny calibrated model, exported, with model.json's face policy set to align (the demo data it was
    trained on has no real faces), so the service runs the face step as a store's model would."""
    model = export_onnx(tiny_uncertain_checkpoint["best_checkpoint"], tmp_path_factory.mktemp("deploy"))
    meta = json.loads(model.with_suffix(".json").read_text())
    meta["faces"]["mode"] = "align"
    model.with_suffix(".json").write_text(json.dumps(meta))
    return model


class Server:
    def __init__(self, process, port, workdir):
        self.process, self.url, self.workdir = process, f"http://127.0.0.1:{port}", workdir
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def post(self, body: bytes, content_type: str | None = "image/jpeg", **kwargs) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return self.client.post("/v1/age", content=body, headers=headers, **kwargs)


@contextlib.contextmanager
def serving(model, cwd, *options: str):
    """serve.py running on a free port until the block ends; yields a Server once /health says ready."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log, started_command(
            "serve.py", f"model={model}", f"port={port}", *options, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            text=True) as process:
        server = Server(process, port, cwd)
        deadline = time.time() + 120
        while True:
            assert process.poll() is None, log.seek(0) or log.read()
            try:
                if server.client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "the server did not become ready"
            time.sleep(0.5)
        try:
            yield server
        finally:
            server.client.close()


@pytest.fixture(scope="module")
def server(deployed, tmp_path_factory):
    with serving(deployed, tmp_path_factory.mktemp("serve_cwd"), "max_bytes=5000000", "max_pixels=20000000") as s:
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
    multipart = server.client.post("/v1/age", files={"photo": ("a.jpg", ASTRONAUT.read_bytes(), "image/jpeg")})
    assert multipart.status_code == 200 and multipart.json()["faces"] == body["faces"]


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def bomb() -> bytes:
    """A 100-kilobyte-ish PNG that decodes to 64 megapixels."""
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("name, body, content_type, status, message", [
    ("empty body", b"", "image/jpeg", 400, "empty body"),
    ("not an image", b"%PDF-1.4 not a photo" * 50, "image/jpeg", 400, "not a JPEG or PNG"),
    ("truncated JPEG", ASTRONAUT.read_bytes()[:3000], "image/jpeg", 400, "truncated"),
    ("decompression bomb", bomb(), "image/png", 413, "too large"),
    ("wrong content type", ASTRONAUT.read_bytes(), "text/plain", 415, "content type"),
    ("no content type", ASTRONAUT.read_bytes(), None, 415, "content type"),
    ("multipart without a file", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n",
     "multipart/form-data; boundary=x", 400, "no file"),
])
def test_bad_input_gets_a_one_line_4xx_and_the_server_keeps_serving(server, name, body, content_type, status,
                                                                   message):
    answer = server.post(body, content_type)
    assert answer.status_code == status, (name, answer.text)
    error = answer.json()["error"]
    assert message in error and "\n" not in error
    assert server.post(ASTRONAUT.read_bytes()).status_code == 200


def test_a_50_megabyte_body_is_refused(server):
    answer = server.post(b"\xff" * 50_000_000)
    assert answer.status_code == 413 and "bytes" in answer.json()["error"]

    def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(50):
            yield b"\xff" * 1_000_000

    answer = server.client.post("/v1/age", content=chunks(), headers={"Content-Type": "image/jpeg"})
    assert answer.status_code == 413
    assert server.post(ASTRONAUT.read_bytes()).status_code == 200


def test_a_photo_without_a_face_is_200_with_no_faces(server):
    answer = server.post(jpeg(Image.new("RGB", (320, 240), (90, 140, 200))))
    assert answer.status_code == 200 and answer.json()["faces"] == []


def test_health_metrics_and_demo_page(server):
    health = server.client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    server.post(ASTRONAUT.read_bytes())
    metrics = server.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.text.splitlines()
             if line and not line.startswith("#")}
    assert lines['age_requests_total{status="200"}'] >= 1 and lines["age_request_seconds_count"] >= 1
    assert lines['age_faces_per_photo_bucket{le="1.0"}'] >= 1 and "age_photos_in_server" in lines
    page = server.client.get("/")
    assert page.status_code == 200 and 'id="photo"' in page.text and "/v1/age" in page.text


def test_nothing_of_a_photo_is_written_to_disk_or_logs(server):
    server.post(ASTRONAUT.read_bytes())
    assert list(server.workdir.iterdir()) == []


def test_a_full_queue_answers_503_with_retry_after(deployed, tmp_path):
    with serving(deployed, tmp_path, "max_queue=1", "prepare_threads=1") as server:
        big = jpeg(Image.open(ASTRONAUT).resize((1600, 1600)))  # slow enough to overlap

        def send(_):
            return httpx.post(f"{server.url}/v1/age", content=big, headers={"Content-Type": "image/jpeg"}, timeout=60)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(12)))
        statuses = sorted(a.status_code for a in answers)
        assert set(statuses) == {200, 503} and statuses.count(200) >= 1
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.headers["retry-after"] == "1" and "busy" in refused.json()["error"]
        assert server.post(big).status_code == 200


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="Chromium and ChromeDriver are not installed (Debian: chromium chromium-driver)")
def test_demo_page_in_headless_chromium(server, tmp_path):
    result = run_command("scripts/demo_page_check.py", "--url", server.url, "--photo", str(ASTRONAUT), "--out",
                         str(tmp_path / "demo.png"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "likely range" in result.stdout and "detector score" in result.stdout  # the answer's table is shown
    assert (tmp_path / "demo.png").stat().st_size > 10_000
