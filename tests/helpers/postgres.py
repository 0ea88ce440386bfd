"""A throwaway PostgreSQL server for the answer log's tests: initdb into a fresh folder, started with pg_ctl on a
Unix socket there (no TCP port), as the `postgres` user when the tests run as root (the server refuses root), and
stopped at the end. Skipped with the reason where no server can be started; under CI=true that fails instead,
because CI must run it (.ci/run installs Debian's postgresql)."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import pytest


@dataclass
class Cluster:
    url: str
    pg_ctl: list[str]

    def restart(self) -> None:
        subprocess.run([*self.pg_ctl, "restart", "-m", "fast", "-w"], check=True, capture_output=True)

    @property
    def restart_command(self) -> str:
        return " ".join([*self.pg_ctl, "restart", "-m", "fast", "-w"])


def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed in CI: {reason}")
    pytest.skip(f"no PostgreSQL server to test against: {reason}")


@contextlib.contextmanager
def postgres_cluster():
    """Yields a Cluster with the URL of its `postgres` database."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1]:
        unavailable("initdb not found (Debian: apt-get install postgresql)")
    bin_dir = os.path.dirname(found[-1])
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            unavailable("running as root without runuser to start the server as postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = tempfile.mkdtemp(prefix="pg-")
    if as_user:
        shutil.chown(folder, "postgres")
    data = os.path.join(folder, "data")
    pg_ctl = [*as_user, os.path.join(bin_dir, "pg_ctl"), "-D", data, "-l", os.path.join(folder, "server.log")]
    try:
        subprocess.run(
            [*as_user, os.path.join(bin_dir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses='' -k {folder}"
        subprocess.run([*pg_ctl, "-o", options, "start", "-w"], check=True, capture_output=True)
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        unavailable(f"{error.cmd[len(as_user)]} failed: {error.stderr.decode()[-300:]}")
    try:
        yield Cluster(f"postgresql://postgres@/postgres?host={folder}", pg_ctl)
    finally:
        subprocess.run([*pg_ctl, "stop", "-m", "immediate"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
