"""The benchmark commands run end to end with tiny settings (smoke tests: no timing assertions)."""

import pytest

from age_lightning.data.synthetic import ensure_synthetic_dataset
from helpers import ASTRONAUT, run_command

pytestmark = pytest.mark.slow


def bench(*args, cwd):
    result = run_command("scripts/bench.py", *args, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_throughput_benchmark_smoke(tmp_path):
    root = ensure_synthetic_dataset(tmp_path / "faces", num_images=24, image_size=40)
    out = bench(
        "throughput",
        "--data-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--num-workers",
        "0",
        "--precision",
        "32-true,bf16-mixed",
        cwd=tmp_path,
    )
    for line in [
        "(1) compute-bound",
        "ratio bf16-mixed / 32-true",
        "(2) end to end, no cache",
        "(2) end to end, with cache",
        "(4) inference",
    ]:
        assert line in out


def test_latency_benchmark_smoke(tmp_path):
    out = bench("latency", "--image-size", "32", "--repeats", "2", "--onnx", "--int8", cwd=tmp_path)
    assert "pytorch fp32" in out and "onnxruntime fp32" in out and "onnxruntime int8 (static)" in out


def test_latency_with_the_face_step_and_face_benchmark_smoke(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "astronaut.jpg").write_bytes(ASTRONAUT.read_bytes())
    out = bench(
        "latency", "--image-size", "32", "--repeats", "2", "--faces", "--photos", str(tmp_path / "photos"), cwd=tmp_path
    )
    assert "face step align" in out and "pytorch fp32" in out
