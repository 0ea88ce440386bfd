"""Loading any photo a user may have (JPEG/PNG, gray, RGBA, CMYK, 16-bit, EXIF-rotated) as upright RGB."""

import os
from dataclasses import dataclass
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
    """More than the caller accepts (checked before the pixels are decoded)."""


# Bytes per pixel of the modes a decoder may hand over (others: one byte per band).
_MODE_BYTES = {"1": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def conversion_bytes(img: Image.Image) -> int:
    """Peak memory that decoding `img` and making it RGB takes: the decoded pixels, the working copies of
    `_to_rgb` (a float64 array for deep grayscale, RGBA copies for alpha) and the RGB result."""
    stored = _MODE_BYTES.get(img.mode, len(img.getbands()))
    if img.mode.startswith("I") or img.mode == "F":
        working = 9  # a float64 array and an 8-bit gray image
    elif img.mode in ("P", "RGBA", "LA", "PA"):
        working = 8  # two RGBA copies
    else:
        working = 0
    return img.width * img.height * (stored + working + 3)


@dataclass(frozen=True)
class ImageLimits:
    """What a caller accepts of an untrusted image; checked from its header, before the pixels are decoded."""

    max_pixels: int = 40_000_000
    max_side: int = 10_000  # pixels, either side
    max_aspect: float = 4.0  # longer side / shorter side
    max_decoded_bytes: int = 256 * 2**20

    def check_shape(self, img: Image.Image) -> None:
        width, height = img.size
        if min(width, height) < 1:
            raise ImageTooLarge("the image has no pixels")
        if width * height > self.max_pixels:
            raise ImageTooLarge(f"{width} x {height} pixels is more than the {self.max_pixels:,} accepted")
        if max(width, height) > self.max_side:
            raise ImageTooLarge(f"{width} x {height}: a side over the {self.max_side:,} pixels accepted")
        if max(width, height) / min(width, height) > self.max_aspect:
            raise ImageTooLarge(f"{width} x {height}: sides more unequal than the {self.max_aspect:g}:1 accepted")

    def check_memory(self, img: Image.Image) -> None:
        if conversion_bytes(img) > self.max_decoded_bytes:
            raise ImageTooLarge(
                f"{img.width} x {img.height} {img.mode}: decoding it would take more than the "
                f"{self.max_decoded_bytes // 2**20} MiB accepted"
            )


def load_rgb(
    path: str | Path | BinaryIO,
    min_size: int | None = None,
    limits: ImageLimits | None = None,
    formats: tuple[str, ...] | None = None,
) -> Image.Image:
    """Open an image (a path or a binary file object) as an upright 8-bit RGB PIL image.

    `min_size` lets JPEG decoding skip detail that a later resize would throw away
    (DCT scaling keeps both sides >= min_size), which makes large photos cheap to load.
    `limits` refuses larger images with ImageTooLarge before any decoding (after the JPEG size reduction, which
    costs nothing). `formats` limits the decoders Pillow may try (e.g. ("JPEG", "PNG") for untrusted bytes).
    """
    with Image.open(path, formats=formats) as img:
        if limits is not None:
            limits.check_shape(img)
        if min_size is not None and img.format == "JPEG":
            img.draft("RGB", (min_size, min_size))
        if limits is not None:
            limits.check_memory(img)  # of the size that will really be decoded
        return _to_rgb(ImageOps.exif_transpose(img))


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
