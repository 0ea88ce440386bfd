"""Serving the service for the socket-level tests: serve.py on a free port, a client with a till's key, and the
photos (good and bad) the tests send."""

import contextlib
import io
import json
import socket
import subprocess
import tempfile
import time
import zlib

import httpx
from PIL import Image

from helpers import ASTRONAUT, started_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, process, port, workdir, log, key=None, scheme="http", verify=True):
        self.process, self.port, self.workdir, self.log = process, port, workdir, log
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.auth = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.url, timeout=30, verify=verify)

    def post(self, body: bytes, content_type: str | None = "image/jpeg", **kwargs) -> httpx.Response:
        headers = {**self.auth, **({"Content-Type": content_type} if content_type else {}), **kwargs.pop("headers", {})}
        return self.client.post("/v1/age", content=body, headers=headers, **kwargs)

    def log_lines(self) -> list[dict]:
        """The server's JSON log lines so far (any other line fails the test)."""
        self.log.seek(0)
        return [json.loads(line) for line in self.log.read().splitlines() if line.strip()]


@contextlib.contextmanager
def serving(model, cwd, *options: str, key=None, env=None, scheme="http", verify=True):
    """serve.py running on a free port until the block ends; yields a Server once /health/ready says ready."""
    port = free_port()
    with (
        tempfile.TemporaryFile("w+") as log,
        started_command(
            "serve.py",
            f"model={model}",
            f"port={port}",
            *options,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        ) as process,
    ):
        server = Server(process, port, cwd, log, key, scheme, verify)
        deadline = time.time() + 120
        while True:
            assert process.poll() is None, log.seek(0) or log.read()
            try:
                if server.client.get("/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "the server did not become ready"
            time.sleep(0.5)
        try:
            yield server
        finally:
            server.client.close()


def jpeg(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def bomb() -> bytes:
    """A 100-kilobyte-ish PNG that decodes to 64 megapixels."""
    return png(Image.new("1", (8000, 8000)))


def tiff() -> bytes:
    out = io.BytesIO()
    Image.open(ASTRONAUT).save(out, "TIFF")
    return out.getvalue()


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"


def with_size(png_bytes: bytes, width: int, height: int) -> bytes:
    """The PNG with its header claiming another size (and a valid checksum, so the claim is believed)."""
    header = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png_bytes[24:29]
    return png_bytes[:12] + header + zlib.crc32(header).to_bytes(4, "big") + png_bytes[33:]
