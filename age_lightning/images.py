"""Loading any photo a user may have (JPEG/PNG, gray, RGBA, CMYK, 16-bit, EXIF-rotated) as upright RGB."""

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

# Pillow warns above MAX_PIXELS and refuses images over twice that (512 M pixels, ~22,600 x 22,600) as
# possible decompression bombs; large JPEGs are decoded at reduced scale (see load_rgb's min_size).
MAX_PIXELS = 256_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def decode_threads() -> int:
    """Threads for decoding many photos at once (Pillow and onnxruntime release the GIL)."""
    return min(8, (os.cpu_count() or 1) * 2)


class ImageTooLarge(ValueError):
    """More pixels than the caller accepts (checked from the header, before decoding)."""


def load_rgb(path: str | Path | BinaryIO, min_size: int | None = None, max_pixels: int | None = None) -> Image.Image:
    """Open an image (a path or a binary file object) as an upright 8-bit RGB PIL image.

    `min_size` lets JPEG decoding skip detail that a later resize would throw away
    (DCT scaling keeps both sides >= min_size), which makes large photos cheap to load.
    `max_pixels` refuses larger images with ImageTooLarge before any decoding.
    """
    with Image.open(path) as img:
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise ImageTooLarge(f"{img.width} x {img.height} pixels is more than the {max_pixels:,} accepted")
        if min_size is not None and img.format == "JPEG":
            img.draft("RGB", (min_size, min_size))
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: PIL's convert("RGB") clips instead of scaling, so rescale to 8 bits ourselves.
        array = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or array.max() > 255 else 255.0
        img = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")
