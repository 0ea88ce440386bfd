"""Shared by the benchmarks of big logs: run a command in a child process, print its output's tail, its wall time
and its peak resident memory (the child's maximum resident set)."""

import resource
import subprocess
import sys
import time


def timed_child(arguments: list[str], what: str) -> None:
    started = time.time()
    child = subprocess.run([sys.executable, *arguments], capture_output=True, text=True)
    wall = time.time() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(child.stdout[-600:], child.stderr[-600:])
    print(f"{what}: {wall:.0f} s wall, peak memory {peak:.2f} GB (exit {child.returncode})")
