"""Schemathesis hooks (SCHEMATHESIS_HOOKS=schemathesis_hooks): real JPEG and PNG photos for the service's image
bodies. A schema can say "binary" but not "a JPEG", so without them every schema-valid body would be random bytes,
which the service rightly refuses with 415, and the fuzzer would never reach the decoder or the model."""

import io
from pathlib import Path

import schemathesis
from hypothesis import strategies as st
from PIL import Image

ASTRONAUT = Image.open(Path(__file__).parents[1] / "assets" / "astronaut.jpg")


def encoded(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def photos(kind: str):
    return st.builds(
        lambda side, colour: encoded(ASTRONAUT.resize((side, side)).convert(colour), kind),
        st.integers(16, 320),
        st.sampled_from(["RGB", "L"]),
    )


schemathesis.openapi.media_type("image/jpeg", photos("JPEG"))
schemathesis.openapi.media_type("image/png", photos("PNG"))
