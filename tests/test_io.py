"""Image reading / writing: round trips, conversions and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blackbox_saliency.errors import ImageReadError, InputError
from blackbox_saliency.io import load_image, load_images, save_image, to_image_tensor, to_pil_image


def _quantised(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255


def test_png_round_trip_is_exact(tmp_path):
    image = _quantised((3, 17, 23))
    path = save_image(image, tmp_path / "sub" / "x.png")
    loaded = load_image(path)
    assert loaded.dtype == torch.float32 and loaded.shape == (3, 17, 23)
    torch.testing.assert_close(loaded, image, atol=0, rtol=0)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary file left behind


def test_jpeg_and_batched_and_mask_saving(tmp_path):
    image = torch.full((1, 3, 8, 8), 0.5)
    save_image(image, tmp_path / "x.JPG")
    assert (load_image(tmp_path / "x.JPG") - 0.5).abs().max() < 0.02
    mask = _quantised((1, 5, 6))
    save_image(mask, tmp_path / "mask.png")
    with Image.open(tmp_path / "mask.png") as saved:
        assert saved.mode == "L"
    torch.testing.assert_close(load_image(tmp_path / "mask.png"), mask.expand(3, -1, -1), atol=0, rtol=0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(2, 3, 4, 4), "one image at a time"),
        (torch.rand(4, 4, 3), "shape"),
        (torch.rand(3, 4, 4) * 2, r"\[0, 1\]"),
        (torch.full((3, 4, 4), float("nan")), "NaN"),
        (torch.zeros(3, 4, 4, dtype=torch.uint8), "float"),
    ],
)
def test_save_rejects_bad_tensors(tmp_path, bad, message):
    with pytest.raises(InputError, match=message):
        save_image(bad, tmp_path / "bad.png")
    assert not any(tmp_path.iterdir())


def test_save_needs_a_known_suffix(tmp_path):
    with pytest.raises(InputError, match="suffix"):
        save_image(torch.rand(3, 4, 4), tmp_path / "image.unknown")


def test_real_photo(data_dir):
    image = load_image(data_dir / "imagenet" / "val_dev" / "ILSVRC2012_val_00000801.JPEG")
    assert image.shape == (3, 375, 500) and 0 <= float(image.min()) and float(image.max()) <= 1


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16"])
def test_any_mode_is_read_as_rgb(tmp_path, mode):
    path = tmp_path / f"img.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    Image.new(mode, (7, 5)).save(path)
    assert load_image(path).shape == (3, 5, 7)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (6, 4), color=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (3, 6, 4)


def test_unreadable_files_raise_image_read_error(tmp_path):
    with pytest.raises(ImageReadError, match="missing.png.*does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "notes.jpg").write_text("just text")
    with pytest.raises(ImageReadError, match="notes.jpg.*not an image"):
        load_image(tmp_path / "notes.jpg")
    Image.new("RGB", (64, 64), color=(1, 2, 3)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated.jpg"):
        load_image(tmp_path / "truncated.jpg")
    with pytest.raises(ImageReadError, match="it is a folder"):
        load_image(tmp_path)
    assert issubclass(ImageReadError, OSError)


def test_load_images_stacks_and_resizes(tmp_path):
    for i, size in enumerate([(10, 8), (10, 8), (20, 12)]):
        save_image(torch.full((3, size[1], size[0]), i / 4), tmp_path / f"{i}.png")
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    assert load_images(paths[:2]).shape == (2, 3, 8, 10)
    batch = load_images(paths, size=(6, 5))
    assert batch.shape == (3, 3, 6, 5)
    torch.testing.assert_close(batch[2], torch.full((3, 6, 5), round(0.5 * 255) / 255))
    assert load_images(paths, size=9).shape == (3, 3, 9, 9)
    with pytest.raises(InputError, match="size="):
        load_images(paths)
    with pytest.raises(InputError, match="empty"):
        load_images([])
    with pytest.raises(InputError, match="load_image"):
        load_images(str(paths[0]))
    with pytest.raises(ImageReadError, match="gone.png"):
        load_images([paths[0], tmp_path / "gone.png"])


def test_to_image_tensor_conversions():
    hwc = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    expected = torch.from_numpy(hwc).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(to_image_tensor(hwc), expected)
    torch.testing.assert_close(to_image_tensor(hwc.astype(np.float64) / 255), expected)
    torch.testing.assert_close(to_image_tensor(Image.fromarray(hwc)), expected)
    rgba = np.concatenate([hwc, np.zeros((4, 5, 1), np.uint8)], axis=2)
    torch.testing.assert_close(to_image_tensor(rgba), expected)
    grey = to_image_tensor(hwc[:, :, 0])
    assert grey.shape == (3, 4, 5) and torch.equal(grey[0], grey[2])
    torch.testing.assert_close(to_image_tensor(expected), expected)
    assert to_pil_image(expected).size == (5, 4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((4, 4, 3), 2.0), r"\[0, 1\]"),
        (np.full((4, 4, 3), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((4, 4, 3), dtype=np.int32), "dtype"),
        (np.zeros((3, 4, 4, 1), dtype=np.uint8), "channels last"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "channels last"),
        (torch.rand(1, 3, 4, 4), r"\(3, H, W\)"),
        ([[0.0]], "cannot convert"),
    ],
)
def test_to_image_tensor_rejects(bad, message):
    with pytest.raises(InputError, match=message):
        to_image_tensor(bad)


# ---------------------------------------------------------------- every image mode Pillow reads
def _png16(path, channels: np.ndarray) -> None:
    """Write a 16-bit PNG (grey for (H, W), RGB for (H, W, 3)) by hand: Pillow cannot write 48-bit RGB."""
    import struct
    import zlib

    height, width = channels.shape[:2]
    colour_type = 2 if channels.ndim == 3 else 0
    rows = b"".join(b"\x00" + channels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def _grey_gradient(dtype, top: float) -> np.ndarray:
    """A (6, 8) ramp from 0 to ``top``; its mean is top / 2."""
    return np.linspace(0, top, 48).reshape(6, 8).astype(dtype)


def _mode_cases():
    palette_image = Image.new("P", (8, 6))
    palette_image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette_image.paste(1, (0, 0, 4, 6))  # left half red
    return {
        # name: (writer(path) -> path, expected per-channel means (R, G, B) in [0, 1])
        "16-bit grey PNG": (lambda p: _png16(p, np.full((6, 8), 40000, np.uint16)), (40000 / 65535,) * 3),
        "16-bit grey ramp PNG": (lambda p: _png16(p, _grey_gradient(np.uint16, 65535)), (0.5,) * 3),
        "16-bit RGB PNG": (
            lambda p: _png16(p, np.stack([np.full((6, 8), v, np.uint16) for v in (65535, 30000, 0)], axis=-1)),
            (1.0, 30000 / 65535, 0.0),
        ),
        "float TIFF in [0, 1]": (
            lambda p: Image.fromarray(_grey_gradient(np.float32, 1.0)).save(p, format="TIFF"),
            (0.5,) * 3,
        ),
        "float TIFF in 0..255": (
            lambda p: Image.fromarray(np.full((6, 8), 51.0, np.float32)).save(p, format="TIFF"),
            (0.2,) * 3,
        ),
        "32-bit integer TIFF": (
            lambda p: Image.fromarray(np.full((6, 8), 13107, np.int32)).save(p, format="TIFF"),
            (0.2,) * 3,
        ),
        "palette PNG": (lambda p: palette_image.save(p, format="PNG"), (0.5, 0.0, 0.0)),
        "grey + alpha PNG": (lambda p: Image.new("LA", (8, 6), (153, 0)).save(p, format="PNG"), (0.6,) * 3),
        "RGBA PNG": (lambda p: Image.new("RGBA", (8, 6), (255, 51, 0, 10)).save(p, format="PNG"), (1.0, 0.2, 0.0)),
        "CMYK TIFF": (lambda p: Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(p, format="TIFF"), (1.0, 0.0, 0.0)),
        "bilevel PNG": (lambda p: Image.new("1", (8, 6), 1).save(p, format="PNG"), (1.0,) * 3),
        "8-bit grey PNG": (lambda p: Image.new("L", (8, 6), 102).save(p, format="PNG"), (0.4,) * 3),
    }


@pytest.mark.parametrize("case", sorted(_mode_cases()))
def test_every_image_mode_is_read_with_its_true_values(tmp_path, case):
    write, expected = _mode_cases()[case]
    path = tmp_path / "image.img"
    write(path)
    image = load_image(path)
    assert image.shape == (3, 6, 8)
    torch.testing.assert_close(image.mean(dim=(1, 2)), torch.tensor(expected), atol=1.5 / 255, rtol=0)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((4, 4), 70000, np.int32), "outside 0..65535"),
        (np.full((4, 4), 300.0, np.float32), r"values in \[300, 300\]"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
    ],
)
def test_images_whose_values_cannot_be_mapped_are_refused(tmp_path, array, message):
    path = tmp_path / "bad.tiff"
    Image.fromarray(array).save(path, format="TIFF")
    with pytest.raises(ImageReadError, match=message):
        load_image(path)


def test_an_unknown_mode_is_refused():
    from blackbox_saliency.io import as_rgb

    class OddMode:  # stands in for a Pillow image in a mode this library does not map
        mode = "BGR;24"

    with pytest.raises(ImageReadError, match="mode 'BGR;24' is not supported"):
        as_rgb(OddMode())


def test_save_image_to_a_folder_names_the_mistake(tmp_path):
    with pytest.raises(InputError, match="it is a folder; pass a file name"):
        save_image(torch.rand(3, 8, 8), tmp_path)


def test_a_fifo_is_refused_not_read_forever(tmp_path):
    import os

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match="not a regular file"):
        load_image(fifo)


def test_a_symbolic_link_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "photo.png"
    loop.symlink_to(loop)
    with pytest.raises(ImageReadError, match="symbolic link that loops"):
        load_image(loop)
