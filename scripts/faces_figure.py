"""The README's picture of the face step: `python scripts/faces_figure.py [--photo P] [--output docs/faces.png]`.

A whole photo with the detected box and 5 landmarks, the aligned crop (faces=align, UTKFace framing), a looser
crop (faces.face_scale=0.8) and what the 64 px network sees (the answer's centred view of the aligned square).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from age_lightning.faces import FaceAligner, FacePolicy  # noqa: E402
from age_lightning.images import load_rgb  # noqa: E402
from age_lightning.preprocess import DEFAULT_VIEW, square_side, take_view, view_taps  # noqa: E402

ASTRONAUT = Path(__file__).resolve().parents[1] / "tests" / "assets" / "astronaut.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default=str(ASTRONAUT), help="default: NASA's public-domain astronaut portrait")
    parser.add_argument("--output", default="docs/faces.png")
    args = parser.parse_args()

    photo = load_rgb(args.photo)
    aligned = FaceAligner(FacePolicy(mode="align"))(photo, 200)
    looser = FaceAligner(FacePolicy(mode="align", face_scale=0.8))(photo, 200)
    square = FaceAligner(FacePolicy(mode="align"))(photo, square_side(64)).image
    channels = np.asarray(square, np.float32).transpose(2, 0, 1) / 255  # take_view samples the last two axes
    network = take_view(channels, *view_taps(square.size[0], 64, DEFAULT_VIEW)).transpose(1, 2, 0)

    figure, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    axes[0].imshow(photo)
    x0, y0, x1, y1 = aligned.face.box
    axes[0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", linewidth=1.5))
    axes[0].scatter(*aligned.face.landmarks.T, s=12, color="red")
    axes[0].set_title(f"whole photo: face found (score {aligned.face.score:.2f})", fontsize=9)
    for axis, image, title in [
        (axes[1], aligned.image, "faces=align (UTKFace framing)"),
        (axes[2], looser.image, "faces.face_scale=0.8 (more context)"),
        (axes[3], network, "what a 64 px model sees"),
    ]:
        axis.imshow(image)
        axis.set_title(title, fontsize=9)
    for axis in axes:
        axis.axis("off")
    figure.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=90, bbox_inches="tight")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
