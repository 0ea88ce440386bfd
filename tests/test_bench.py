"""The benchmark commands run end to end with tiny settings (smoke tests: no timing assertions)."""

import os
import subprocess
import sys

from age_lightning.synthetic import ensure_synthetic_dataset
from conftest import ROOT


def bench(*args):
    result = subprocess.run([sys.executable, "-m", "age_lightning.bench", *args], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_throughput_benchmark_smoke(tmp_path):
    root = ensure_synthetic_dataset(tmp_path / "faces", num_images=24, image_size=40)
    out = bench("throughput", "--data-root", str(root), "--cache-dir", str(tmp_path / "cache"), "--image-size", "32",
                "--batch-size", "4", "--steps", "2", "--warmup", "1", "--num-workers", "0")
    for line in ["(1) compute-bound", "(2) end to end, no cache", "(2) end to end, with cache", "(4) inference"]:
        assert line in out


def test_latency_benchmark_smoke():
    out = bench("latency", "--image-size", "32", "--repeats", "2", "--onnx", "--int8")
    assert "pytorch fp32" in out and "onnxruntime fp32" in out and "onnxruntime int8 (static)" in out
