"""A photo's bytes from an HTTP request, held in memory only, size-capped and deadline-bound.

A raw body (image/jpeg, image/png, application/octet-stream) or the first file of a multipart form. Nothing is
written to disk: the body is read into memory within `max_bytes`, and the multipart parser keeps its files in
memory because they can never be larger than that.
"""

import asyncio
import io

from fastapi import HTTPException, Request
from starlette.formparsers import MultiPartException, MultiPartParser

from age_lightning.images import ImageLimits, ImageTooLarge, load_rgb

RAW_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
MULTIPART = "multipart/form-data"
# The decoders a photo may reach, recognised by their first bytes before Pillow sees them.
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
NOT_AN_IMAGE = "the body is not a JPEG or PNG image"


async def read_photo(request: Request, max_bytes: int, timeout_s: float) -> tuple[bytes, dict[str, str]]:
    """The photo's bytes and a multipart form's text fields, once the whole body has arrived: 415 for another
    content type, 413 over `max_bytes`, 408 when the body takes longer than `timeout_s` to arrive, 400 for an empty
    body or a form without a file."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (*RAW_TYPES, MULTIPART):
        raise HTTPException(
            415, f"content type {content_type or 'missing'!r}: send image/jpeg, image/png or {MULTIPART}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"body of {int(declared):,} bytes is over the {max_bytes:,} accepted")
    try:
        body = await asyncio.wait_for(_read_body(request, max_bytes), timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(408, f"the body did not arrive within {timeout_s:g} s") from None
    fields: dict[str, str] = {}
    if content_type == MULTIPART:
        body, fields = await _first_file(request, body, max_bytes)
    if not body:
        raise HTTPException(400, "empty body: send a JPEG or PNG photo")
    return body, fields


async def _read_body(request: Request, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"body is over the {max_bytes:,} bytes accepted")
    return bytes(body)


async def _first_file(request: Request, body: bytes, max_bytes: int) -> tuple[bytes, dict[str, str]]:
    async def stream():
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=16)
    parser.spool_max_size = max_bytes + 1  # a file can never reach it, so it stays in memory
    try:
        form = await parser.parse()
    except MultiPartException:
        raise HTTPException(400, "malformed multipart body: send the photo as one file field") from None
    try:
        uploads = [value for _, value in form.multi_items() if not isinstance(value, str)]
        if not uploads:
            raise HTTPException(400, "the multipart form holds no file: send the photo as a file field")
        return await uploads[0].read(), {name: value for name, value in form.multi_items() if isinstance(value, str)}
    finally:
        await form.close()


def open_photo(body: bytes, limits: ImageLimits, draft_side: int):
    """The photo as upright RGB: 415 unless its first bytes say JPEG or PNG (and only those decoders run), 413
    beyond `limits` (checked before decoding), 400 when it cannot be decoded. JPEGs are decoded at reduced scale
    where both sides stay >= draft_side."""
    kind = next((name for magic, name in MAGIC.items() if body.startswith(magic)), None)
    if kind is None:
        raise HTTPException(415, NOT_AN_IMAGE)
    try:
        return load_rgb(io.BytesIO(body), min_size=draft_side, limits=limits, formats=(kind,))
    except ImageTooLarge as error:
        raise HTTPException(413, f"image too large: {error}") from None
    except Exception:  # noqa: BLE001 - any decoder failure is the body's fault; its text may echo the body
        raise HTTPException(400, "the image could not be decoded (truncated or corrupt)") from None
