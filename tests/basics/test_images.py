import numpy as np
from PIL import Image

from age_lightning.images import load_rgb


def test_modes_load_as_8bit_rgb(tmp_path):
    cases = {
        "gray.png": Image.new("L", (10, 8), 128),
        "rgba.png": Image.new("RGBA", (10, 8), (255, 0, 0, 0)),  # fully transparent -> white background
        "cmyk.jpg": Image.new("CMYK", (10, 8), (0, 255, 255, 0)),
        "palette.png": Image.new("P", (10, 8), 3),
        "rgb.jpg": Image.new("RGB", (10, 8), (10, 200, 30)),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        loaded = load_rgb(tmp_path / name)
        assert loaded.mode == "RGB" and loaded.size == (10, 8), name
    assert np.asarray(load_rgb(tmp_path / "rgba.png"))[0, 0].tolist() == [255, 255, 255]
    assert np.asarray(load_rgb(tmp_path / "cmyk.jpg"))[0, 0, 0] > 200  # red, not inverted


def test_16bit_gray_is_rescaled_not_clipped(tmp_path):
    array = np.full((6, 6), 32768, dtype=np.uint16)  # half of the 16-bit range
    Image.fromarray(array).save(tmp_path / "deep.png")
    pixel = np.asarray(load_rgb(tmp_path / "deep.png"))[0, 0]
    assert 120 <= pixel[0] <= 135 and pixel[0] == pixel[1] == pixel[2]


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    upright = load_rgb(tmp_path / "rotated.jpg")
    assert upright.size == (20, 40)
    pixels = np.asarray(upright).mean(axis=(1, 2))
    assert pixels[:20].mean() > 200 and pixels[20:].mean() < 50  # the white half is now on top


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    Image.new("RGB", (2000, 1600), (50, 60, 70)).save(tmp_path / "big.jpg")
    small = load_rgb(tmp_path / "big.jpg", min_size=256)
    assert min(small.size) >= 256 and small.size[0] < 2000


def test_10000_pixel_square_jpeg_loads_small_and_fast(tmp_path):
    Image.new("RGB", (10_000, 10_000), (90, 60, 30)).save(tmp_path / "huge.jpg", quality=70)
    image = load_rgb(tmp_path / "huge.jpg", min_size=256)  # DCT scaling: decoded at 1/8 size, ~1250 px
    assert 256 <= min(image.size) <= 1250


def test_images_over_the_pixel_limit_are_refused_by_validation(tmp_path, monkeypatch):
    from age_lightning.data import labels

    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # errors above 2x the limit, as with the real limit
    assert labels._decode_problem(str(tmp_path / "big.png")).startswith("image too large")
