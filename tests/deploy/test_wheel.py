"""The till's install as a store's IT does it: the wheel built from this checkout, installed with [serve] into a
fresh virtual environment in another folder, its console scripts run there; torch must not be installed. And
every console script of the wheel, the till's and the Hydra commands, answers --help."""

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from age_lightning.tasks.export import export_onnx
from helpers import ASTRONAUT, ROOT

pytestmark = pytest.mark.slow


def run(*command, cwd, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-3000:])
    return result


TILL_COMMANDS = ("age-predict-onnx", "age-serve", "age-make-key", "age-shares", "age-audit", "age-store-log")
HYDRA_COMMANDS = (
    "age-train",
    "age-evaluate",
    "age-recalibrate",
    "age-predict",
    "age-export",
    "age-eda",
    "age-sweep-summary",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", folder, ROOT, cwd=folder)
    [built] = folder.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def till(tmp_path_factory, wheel):
    """A fresh venv in a folder outside the checkout, with the wheel and its [serve] and [store] extras."""
    folder = tmp_path_factory.mktemp("till")
    run(sys.executable, "-m", "venv", folder / "venv", cwd=folder)
    run(folder / "venv" / "bin" / "pip", "install", "--quiet", f"{wheel}[serve,store]", cwd=folder, timeout=900)
    return folder


@pytest.mark.parametrize("command", TILL_COMMANDS)
def test_every_till_command_answers_help_from_the_wheel(till, command):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    shown = run(till / "venv" / "bin" / command, "--help", cwd=till, env=env).stdout
    assert shown.startswith(f"usage: {command}") and "options:" in shown
    assert "model " in shown or "name " in shown  # its options, one line each, with their defaults
    assert "(required)" in shown and "(default:" in shown or command == "age-make-key"


def test_every_hydra_command_answers_help_from_the_wheel(tmp_path, wheel):
    """The wheel's own files (no --deps: the training stack is this environment's) in a folder outside the
    checkout, found before the checkout's editable install: the configs the commands compose ship in the wheel."""
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        tmp_path / "site",
        wheel,
        cwd=tmp_path,
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = run(sys.executable, "-c", "import age_lightning; print(age_lightning.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(tmp_path / "site"))
    for command in HYDRA_COMMANDS:
        shown = run(tmp_path / "site" / "bin" / command, "--help", cwd=tmp_path, env=env, timeout=120).stdout
        assert shown.startswith(f"{command} (in a checkout: python "), shown[:300]
        assert "== Configuration groups ==" in shown and "== Config ==" in shown and "task_name:" in shown


def test_the_wheel_runs_the_till_commands_without_torch(till, tiny_uncertain_checkpoint):
    bin_dir = till / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    missing = run(
        bin_dir / "python",
        "-c",
        "import importlib.util as u; print([m for m in ('torch', 'lightning', 'hydra', 'pandas') if u.find_spec(m)])",
        cwd=till,
        env=env,
    )
    assert missing.stdout.strip() == "[]"
    model = export_onnx(tiny_uncertain_checkpoint["best_checkpoint"], till / "deploy")

    predicted = run(
        bin_dir / "age-predict-onnx", f"model={model}", f"input={ASTRONAUT}", "output=ages.csv", cwd=till, env=env
    )
    assert "1 predicted" in predicted.stdout and "age_scale" in (till / "ages.csv").read_text()
    shares = run(
        bin_dir / "age-shares",
        "predictions=ages.csv",
        f"model={model.with_suffix('.json')}",
        "bootstrap=10",
        cwd=till,
        env=env,
    )
    assert "too few photos" in shares.stdout and "no chart" in shares.stdout  # no matplotlib on a till
    key, line = run(bin_dir / "age-make-key", "name=till-01", cwd=till, env=env).stdout.splitlines()[1::2]
    (till / "keys").write_text(line + "\n")

    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [bin_dir / "age-serve", f"model={model}", f"api_keys={till / 'keys'}", f"port={port}"],
        cwd=till,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline
            time.sleep(0.5)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/age",
            content=ASTRONAUT.read_bytes(),
            timeout=30,
            headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200 and json.loads(answer.text)["model"]["head"] == "laplace"
    finally:
        server.terminate()
        server.wait(timeout=30)
