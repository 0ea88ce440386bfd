"""Load test of the checkout service on loopback: starts serve.py with a keys file (each client a till with its
key), sends real photos from N concurrent clients, reports throughput, latency percentiles, errors, and the
server's memory before and after a long run in which a share of the requests are broken photos.

    python scripts/load_test.py --model deploy/model_int8.onnx --photos ../shared/data/aaf_train/final_files \
        [--clients 1,4,16] [--requests 500] [--memory-requests 10000] [--slow-uploads 20]

--slow-uploads N keeps N more connections trickling their bodies one byte a second beside the clients.
Bounded in count (each level sends --requests photos) and in time (--timeout seconds per request).
"""

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from age_lightning.deploy.access import new_key  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, extra: list[str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "serve.py"), f"model={model}", f"port={port}", "max_connections=256", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve.py exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not become ready in 120 s")


def broken(photo: bytes, rng: random.Random) -> bytes:
    """A fuzz case: the photo truncated, bit-flipped, or random bytes."""
    kind = rng.randrange(3)
    if kind == 0:
        return photo[: rng.randrange(len(photo))]
    if kind == 1:
        data = bytearray(photo)
        for _ in range(8):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    return rng.randbytes(rng.randrange(1, 4096))


class SlowUploads:
    """Connections that trickle a body one byte a second, re-opened when the server ends them (408)."""

    def __init__(self, port: int, key: str, count: int):
        self.port, self.key, self.stop = port, key, threading.Event()
        self.connections = [self.open() for _ in range(count)]
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def open(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self.port))
        connection.sendall(
            f"POST /v1/age HTTP/1.1\r\nHost: till\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n".encode()
        )
        return connection

    def trickle(self) -> None:
        while not self.stop.wait(1):
            for i, connection in enumerate(self.connections):
                try:
                    connection.sendall(b"\xff")
                except OSError:
                    connection.close()
                    self.connections[i] = self.open()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for connection in self.connections:
            connection.close()


def run_level(
    url: str,
    photos: list[bytes],
    clients: int,
    requests: int,
    timeout: float,
    keys: list[str],
    broken_share: float = 0.0,
) -> dict:
    """`requests` photos sent by `clients` threads (tills), each with its own key and keep-alive connection;
    `broken_share` of them are fuzz cases, which count as errors only when answered 5xx."""

    def client(index: int) -> list[tuple[float, int]]:
        results, rng = [], random.Random(index)
        headers = {"Content-Type": "image/jpeg", "Authorization": f"Bearer {keys[index % len(keys)]}"}
        with httpx.Client(base_url=url, timeout=timeout, headers=headers) as http:
            for i in range(index, requests, clients):
                photo, fuzz = photos[i % len(photos)], rng.random() < broken_share
                started = time.perf_counter()
                try:
                    status = http.post("/v1/age", content=broken(photo, rng) if fuzz else photo).status_code
                except httpx.HTTPError:
                    status = 0
                ok = status < 500 if fuzz else status == 200
                results.append((time.perf_counter() - started, ok))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    wall = time.perf_counter() - started
    latencies = np.array([t for t, _ in results]) * 1000
    errors = sum(not ok for _, ok in results)
    return {
        "clients": clients,
        "requests": len(results),
        "throughput": len(results) / wall,
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "p99": float(np.percentile(latencies, 99)),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--photos", type=Path, default=ROOT / "tests" / "data")
    parser.add_argument("--count", type=int, default=200, help="photos taken from --photos (spread evenly)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=500, help="requests per concurrency level")
    parser.add_argument("--memory-requests", type=int, default=10_000, help="0 to skip the memory run")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--slow-uploads", type=int, default=0, help="connections trickling a body beside the clients")
    parser.add_argument("--broken-share", type=float, default=0.1, help="fuzz cases among the memory run's requests")
    parser.add_argument("--server-option", action="append", default=[], help="extra serve.py option, key=value")
    args = parser.parse_args()

    files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(args.count, len(files))).astype(int)]
    photos = [f.read_bytes() for f in files]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tills = [new_key(f"till-{i:02d}") for i in range(16)]
    keys_file = tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False)
    keys_file.write("\n".join(line for _, line in tills) + "\n")
    keys_file.close()
    keys = [key for key, _ in tills]
    server = start_server(args.model, port, [f"api_keys={keys_file.name}", *args.server_option])
    slow = SlowUploads(port, keys[0], args.slow_uploads) if args.slow_uploads else None
    try:
        print(
            f"{args.model.name}, {len(photos)} photos from {args.photos} (median "
            f"{statistics.median(len(p) for p in photos) / 1000:.0f} kB), loopback, API keys on, "
            f"{args.slow_uploads} slow uploads beside"
        )
        run_level(url, photos, 1, 20, args.timeout, keys)  # warm-up
        print("| clients | requests | photos/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for clients in (int(c) for c in args.clients.split(",")):
            r = run_level(url, photos, clients, args.requests, args.timeout, keys)
            print(
                f"| {r['clients']} | {r['requests']} | {r['throughput']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                f"{r['p99']:.1f} | {r['errors']} |",
                flush=True,
            )
        if args.memory_requests:
            before = rss_mib(server.pid)
            r = run_level(url, photos, 4, args.memory_requests, args.timeout, keys, args.broken_share)
            after = rss_mib(server.pid)
            print(
                f"memory (RSS) before {args.memory_requests} requests at 4 clients ({args.broken_share:.0%} fuzz "
                f"cases): {before:.0f} MiB, after: {after:.0f} MiB; that run: {r['throughput']:.1f} photos/s, "
                f"p95 {r['p95']:.1f} ms, {r['errors']} errors"
            )
    finally:
        if slow:
            slow.close()
        Path(keys_file.name).unlink()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
