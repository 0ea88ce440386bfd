"""The service in process (FastAPI's TestClient, a stand-in model, `dependency_overrides`): keys, uploads, errors,
metrics and the optional pages, fast enough for the quick loop. What only a socket shows (TLS, slow uploads,
SIGTERM, the real model, schemathesis) is in test_server.py."""

import pytest
from fastapi.testclient import TestClient

from age_lightning.deploy.access import new_key
from age_lightning.deploy.app import create_app
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.dependencies import ready_service
from age_lightning.minor_probability import MinorProbability
from helpers.in_process import ERROR_MODEL, JPEG, StandIn, client_for


@pytest.fixture
def keyed(tmp_path):
    """A keys file with one till, and that till's key."""
    key, line = new_key("till-7")
    (tmp_path / "keys.txt").write_text(line + "\n")
    return {"file": str(tmp_path / "keys.txt"), "key": key}


def test_a_keyed_till_gets_its_answer_and_others_get_401(keyed):
    with client_for(StandIn(age=16.0), api_keys=keyed["file"]) as client:
        photo = {"content": JPEG, "headers": {"Content-Type": "image/jpeg"}}
        assert client.post("/v1/age", **photo).status_code == 401
        wrong = client.post(
            "/v1/age", content=JPEG, headers={"Content-Type": "image/jpeg", "Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
        auth = {"Authorization": f"Bearer {keyed['key']}"}
        answer = client.post("/v1/age", content=JPEG, headers={"Content-Type": "image/jpeg", **auth})
        assert answer.status_code == 200, answer.text
        face = answer.json()["faces"][0]
        # 16 years, scale 2: interval 12-20; the ID lower bound 16 - 2 x 2 = 12 is not above 18, so asked
        assert face["predicted_age"] == 16.0 and face["age_low"] == 12.0 and face["age_high"] == 20.0
        assert face["asks_for_id"] is True and face["age_band"] == "13-17" and face["box"] == [0, 0, 64, 64]
        assert answer.json()["model"]["id_rule"] == "interval"
        p_minor, p_under_25 = MinorProbability.fit(ERROR_MODEL).of([16.0])
        assert face["p_minor"] == round(float(p_minor[0]), 4) and 0.05 < face["p_minor"] < face["p_under_25"] <= 1
        metrics = client.get("/metrics", headers=auth).text
        assert 'age_requests_total{status="200",till="till-7"} 1.0' in metrics
        assert 'status="401",till="unauthenticated"' in metrics
        assert client.get("/metrics").status_code == 401


@pytest.mark.parametrize(
    "content_type, body, status, message",
    [
        ("text/plain", b"hello", 415, "content type 'text/plain'"),
        ("image/jpeg", b"GIF89a not a photo", 415, "not a JPEG or PNG"),
        ("image/jpeg", b"", 400, "empty body"),
        ("image/jpeg", JPEG[:200], 400, "could not be decoded"),
        ("image/png", b"x" * 2_000, 413, "is over the 1,000"),
    ],
)
def test_bad_uploads_get_one_line_errors(content_type, body, status, message):
    with client_for(StandIn(), max_bytes=1_000_000 if status != 413 else 1_000) as client:
        answer = client.post("/v1/age", content=body, headers={"Content-Type": content_type, "X-Request-ID": "r-1"})
        assert answer.status_code == status and message in answer.json()["error"]
        assert answer.json()["request_id"] == "r-1" and answer.headers["X-Request-ID"] == "r-1"


def test_a_multipart_form_needs_its_file():
    with client_for(StandIn()) as client:
        assert client.post("/v1/age", files={"photo": ("a.jpg", JPEG, "image/jpeg")}).status_code == 200
        empty = client.post("/v1/age", data={"note": "no file"}, files={"other": ("", b"", "text/plain")})
        assert empty.status_code == 400


def test_an_image_over_the_pixel_limit_is_413_before_decoding():
    with client_for(StandIn(), max_pixels=64 * 64 - 1) as client:
        answer = client.post("/v1/age", content=JPEG, headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 413 and "image too large" in answer.json()["error"]


def test_a_failure_inside_is_a_counted_json_500_without_its_message():
    with client_for(StandIn(fails=RuntimeError("secret detail"))) as client:
        answer = client.post("/v1/age", content=JPEG, headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 500 and "secret" not in answer.text
        assert 'age_internal_errors_total{error="RuntimeError"} 1.0' in client.get("/metrics").text


def test_a_service_not_ready_answers_503_with_retry_after():
    app = create_app(ServeConfig(model="stand-in.onnx"), load_model=lambda cfg: StandIn())

    def not_ready():
        from fastapi import HTTPException

        raise HTTPException(503, "not ready; retry shortly", {"Retry-After": "1"})

    app.dependency_overrides[ready_service] = not_ready
    with TestClient(app) as client:
        for answer in (client.get("/health/ready"), client.post("/v1/age", content=JPEG)):
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert client.get("/health/live").json() == {"status": "live"}


def test_docs_and_demo_page_only_when_asked():
    with client_for(StandIn()) as client:
        assert client.get("/openapi.json").status_code == 404 and client.get("/").status_code == 404
    with client_for(StandIn(), docs=True, demo=True) as client:
        assert "/v1/age" in client.get("/openapi.json").json()["paths"]
        assert "<html" in client.get("/").text.lower()
