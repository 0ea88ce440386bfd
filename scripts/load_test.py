"""Load test of the checkout service on loopback: starts serve.py, sends real photos from N concurrent clients,
reports throughput, latency percentiles, errors, and the server's memory before and after a long run.

    python scripts/load_test.py --model deploy/model_int8.onnx --photos ../shared/data/aaf_train/final_files \
        [--clients 1,4,16] [--requests 500] [--memory-requests 10000]

Bounded in count (each level sends --requests photos) and in time (--timeout seconds per request).
"""

import argparse
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(model: Path, port: int, extra: list[str]) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), f"model={model}", f"port={port}", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve.py exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not become ready in 120 s")


def run_level(url: str, photos: list[bytes], clients: int, requests: int, timeout: float) -> dict:
    """`requests` photos sent by `clients` threads, each with its own keep-alive connection."""
    def client(index: int) -> list[tuple[float, int]]:
        results = []
        with httpx.Client(base_url=url, timeout=timeout) as http:
            for i in range(index, requests, clients):
                started = time.perf_counter()
                try:
                    status = http.post("/v1/age", content=photos[i % len(photos)],
                                       headers={"Content-Type": "image/jpeg"}).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((time.perf_counter() - started, status))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    wall = time.perf_counter() - started
    latencies = np.array([t for t, _ in results]) * 1000
    errors = sum(status != 200 for _, status in results)
    return {"clients": clients, "requests": len(results), "throughput": len(results) / wall,
            "p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
            "p99": float(np.percentile(latencies, 99)), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--photos", type=Path, default=ROOT / "tests" / "data")
    parser.add_argument("--count", type=int, default=200, help="photos taken from --photos (spread evenly)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=500, help="requests per concurrency level")
    parser.add_argument("--memory-requests", type=int, default=10_000, help="0 to skip the memory run")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--server-option", action="append", default=[], help="extra serve.py option, key=value")
    args = parser.parse_args()

    files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(args.count, len(files))).astype(int)]
    photos = [f.read_bytes() for f in files]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = start_server(args.model, port, args.server_option)
    try:
        print(f"{args.model.name}, {len(photos)} photos from {args.photos} (median "
              f"{statistics.median(len(p) for p in photos) / 1000:.0f} kB), loopback")
        run_level(url, photos, 1, 20, args.timeout)  # warm-up
        print("| clients | requests | photos/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for clients in (int(c) for c in args.clients.split(",")):
            r = run_level(url, photos, clients, args.requests, args.timeout)
            print(f"| {r['clients']} | {r['requests']} | {r['throughput']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                  f"{r['p99']:.1f} | {r['errors']} |", flush=True)
        if args.memory_requests:
            before = rss_mib(server.pid)
            r = run_level(url, photos, 4, args.memory_requests, args.timeout)
            after = rss_mib(server.pid)
            print(f"memory (RSS) before {args.memory_requests} requests at 4 clients: {before:.0f} MiB, after: "
                  f"{after:.0f} MiB; that run: {r['throughput']:.1f} photos/s, p95 {r['p95']:.1f} ms, "
                  f"{r['errors']} errors")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
