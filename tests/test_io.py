"""Tests for polychrome.io: reading, writing, masks, hints, metadata and failure modes."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import time
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

import polychrome.io as pio
from polychrome.errors import (
    DecodeError,
    EmptyMaskError,
    ImageTooLargeError,
    InputError,
    PolychromeError,
    ShapeError,
    ValueCheckError,
)
from polychrome.io import (
    DEFAULT_MAX_PIXELS,
    ImageData,
    read_hints,
    read_image,
    read_mask,
    read_metadata,
    write_image,
)

H, W = 12, 17  # odd width, non-square: catches transposed or flipped results


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _smooth_rgb(height: int = 32, width: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (height + width)], -1)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png_bytes(samples: np.ndarray, color_type: int) -> bytes:
    """A minimal PNG written by hand (filter 0 on every row), independent of polychrome's writer."""
    height, width = samples.shape[:2]
    bit_depth = 8 * samples.dtype.itemsize
    rows = samples.astype(samples.dtype.newbyteorder(">")).view(np.uint8).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


@contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Round trips


LOSSLESS_CASES = [
    (ext, dtype, mode)
    for ext in (".png", ".tif")
    for dtype in (np.uint8, np.uint16)
    for mode in ("gray", "gray+alpha", "rgb", "rgba")
]


@pytest.mark.parametrize(("ext", "dtype", "mode"), LOSSLESS_CASES)
def test_lossless_round_trip_is_exact(tmp_path, rng, ext, dtype, mode):
    shape = (H, W) if mode.startswith("gray") else (H, W, 3)
    pixels = _random(rng, shape, dtype)
    alpha = _random(rng, (H, W), dtype) if "a" in mode.replace("gray", "") else None
    path = tmp_path / f"out{ext}"

    write_image(path, pixels, alpha=alpha)
    image = read_image(path)

    assert image.format == {".png": "PNG", ".tif": "TIFF"}[ext]
    assert image.bit_depth == 8 * np.dtype(dtype).itemsize
    assert image.path == str(path)
    assert image.pixels.dtype == dtype
    if ext == ".tif" and mode == "gray+alpha" and dtype == np.uint16:
        # No 16-bit gray+alpha TIFF writer: written as RGBA with R = G = B.
        np.testing.assert_array_equal(image.pixels, np.repeat(pixels[..., None], 3, axis=-1))
    else:
        assert image.is_gray == mode.startswith("gray")
        np.testing.assert_array_equal(image.pixels, pixels)
    if alpha is None:
        assert image.alpha is None
    else:
        assert image.alpha is not None and image.alpha.dtype == dtype
        np.testing.assert_array_equal(image.alpha, alpha)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_keeps_values_that_differ_only_in_the_low_byte(tmp_path, ext):
    values = np.array([0, 1, 255, 256, 257, 32767, 32768, 65279, 65534, 65535], np.uint16)
    rgb = np.stack([values, values[::-1], values ^ 0x00FF], axis=-1)[None]
    write_image(tmp_path / f"a{ext}", rgb)
    write_image(tmp_path / f"b{ext}", values[None])
    np.testing.assert_array_equal(read_image(tmp_path / f"a{ext}").pixels, rgb)
    np.testing.assert_array_equal(read_image(tmp_path / f"b{ext}").pixels, values[None])


@pytest.mark.parametrize("ext", [".jpg", ".webp"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("gray", [True, False])
def test_lossy_round_trip_is_close(tmp_path, ext, dtype, gray):
    rgb8 = _smooth_rgb().astype(np.uint8)
    pixels8 = rgb8[..., 0] if gray else rgb8
    pixels = pixels8.astype(dtype) * (257 if dtype == np.uint16 else 1)
    path = tmp_path / f"out{ext}"

    write_image(path, pixels)
    image = read_image(path)

    assert image.bit_depth == 8 and image.pixels.dtype == np.uint8  # JPEG and WebP are 8 bit
    if ext == ".webp" and gray:  # WebP has no gray mode: it comes back as RGB with R = G = B
        assert image.pixels.shape == (*pixels.shape, 3)
        got = image.pixels.astype(int).mean(axis=-1)
    else:
        assert image.pixels.shape == pixels.shape
        got = image.pixels.astype(int)
    assert np.abs(got - pixels8).mean() < 2.0


def test_16_bit_to_jpeg_rounds_to_nearest(tmp_path):
    # 100.498 * 257 rounds down to 100, 100.502 * 257 rounds up to 101 (flat blocks are exact).
    low = np.full((16, 16), 100 * 257 + 128, np.uint16)
    high = np.full((16, 16), 100 * 257 + 129, np.uint16)
    write_image(tmp_path / "low.jpg", low)
    write_image(tmp_path / "high.jpg", high)
    assert set(np.unique(read_image(tmp_path / "low.jpg").pixels)) == {100}
    assert set(np.unique(read_image(tmp_path / "high.jpg").pixels)) == {101}


def test_webp_keeps_alpha(tmp_path, rng):
    alpha = _random(rng, (32, 48), np.uint8)
    write_image(tmp_path / "a.webp", _smooth_rgb().astype(np.uint8), alpha=alpha)
    image = read_image(tmp_path / "a.webp")
    assert image.alpha is not None
    np.testing.assert_array_equal(image.alpha, alpha)  # WebP stores alpha losslessly


def test_rgb_with_equal_channels_stays_rgb(tmp_path, rng):
    gray = _random(rng, (H, W), np.uint8)
    write_image(tmp_path / "a.png", np.repeat(gray[..., None], 3, axis=-1))
    image = read_image(tmp_path / "a.png")
    assert not image.is_gray and image.pixels.shape == (H, W, 3)


# ---------------------------------------------------------------------------------------------
# Files written by others: every mode, against Pillow's own decoding


PIL_MODES = ["1", "L", "LA", "P", "P+transparency", "L+transparency", "RGB", "RGBA", "I;16"]


def _pil_image(mode: str, rng: np.random.Generator) -> tuple[Image.Image, dict[str, object]]:
    rgba = Image.fromarray(_random(rng, (H, W, 4), np.uint8), "RGBA")
    if mode == "I;16":
        return Image.fromarray(_random(rng, (H, W), np.uint16)), {}
    if mode.startswith("P"):
        image = rgba.convert("RGB").quantize(16)
        return image, {"transparency": 3} if mode == "P+transparency" else {}
    if mode == "L+transparency":
        image = rgba.convert("L")
        return image, {"transparency": int(np.asarray(image)[0, 0])}
    return rgba.convert(mode), {}


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("mode", PIL_MODES)
def test_reads_every_mode_written_by_pillow(rng, fmt, mode):
    image, options = _pil_image(mode, rng)
    if fmt == "TIFF" and options:
        pytest.skip("transparency is a PNG feature")
    data = _pil_bytes(image, fmt, **options)

    got = read_image(data)
    reference = Image.open(io.BytesIO(data))

    assert got.path is None and got.format == fmt
    if mode == "I;16":
        assert got.bit_depth == 16 and got.is_gray
        np.testing.assert_array_equal(got.pixels, np.asarray(image))
        return
    has_alpha = "A" in reference.mode or "transparency" in reference.info
    expected = np.asarray(reference.convert("LA" if mode[0] in "1L" else "RGBA"))
    assert got.bit_depth == 8
    assert got.is_gray == (mode[0] in "1L")  # palette images are expanded to RGB
    np.testing.assert_array_equal(
        got.pixels, expected[..., 0] if got.is_gray else expected[..., :3]
    )
    if has_alpha:
        np.testing.assert_array_equal(got.alpha, expected[..., -1])
    else:
        assert got.alpha is None


@pytest.mark.parametrize("alpha", [False, True])
def test_reads_lossless_webp(rng, alpha):
    rgba = _random(rng, (H, W, 4), np.uint8)
    image = Image.fromarray(rgba, "RGBA") if alpha else Image.fromarray(rgba[..., :3])
    got = read_image(_pil_bytes(image, "WEBP", lossless=True, exact=True))
    assert got.format == "WEBP" and got.shape == (H, W)
    np.testing.assert_array_equal(got.pixels, rgba[..., :3])
    if alpha:
        np.testing.assert_array_equal(got.alpha, rgba[..., 3])
    else:
        assert got.alpha is None


def test_reads_16_bit_gray_alpha_png(rng):
    samples = _random(rng, (H, W, 2), np.uint16)
    got = read_image(_png_bytes(samples, color_type=4))
    assert got.is_gray and got.bit_depth == 16
    np.testing.assert_array_equal(got.pixels, samples[..., 0])
    np.testing.assert_array_equal(got.alpha, samples[..., 1])


def test_reads_16_bit_rgba_png(rng):
    samples = _random(rng, (H, W, 4), np.uint16)
    got = read_image(_png_bytes(samples, color_type=6))
    assert not got.is_gray and got.bit_depth == 16
    np.testing.assert_array_equal(got.pixels, samples[..., :3])
    np.testing.assert_array_equal(got.alpha, samples[..., 3])


def test_reads_cmyk_jpeg_as_rgb():
    data = _pil_bytes(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    got = read_image(data)
    assert got.pixels.shape == (8, 16, 3)
    np.testing.assert_allclose(got.pixels[4, 8], [255, 0, 0], atol=3)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_a_file_of_several_pages_or_frames_reads_the_first_and_counts_them(rng, fmt, options):
    """A multi-page TIFF scan (or an animated PNG or WebP) gives its first image, and says how
    many it holds, so that the others are not dropped without a word."""
    pages = [_random(rng, (H, W), np.uint8) for _ in range(3)]
    frames = [Image.fromarray(page) for page in pages]
    data = _pil_bytes(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
    got = read_image(data)
    assert got.pages == 3
    first = got.pixels if got.is_gray else got.pixels[..., 0]
    np.testing.assert_array_equal(first, pages[0])
    assert read_image(_pil_bytes(frames[0], fmt, **options)).pages == 1


@pytest.mark.parametrize("mode", ["F", "I"])
def test_float_and_32_bit_tiff_are_refused_by_mode(tmp_path, mode):
    path = tmp_path / "float.tif"
    Image.new(mode, (W, H)).save(path)
    expected = rf"{re.escape(str(path))}: unsupported pixel mode '{mode}'"
    with pytest.raises(DecodeError, match=expected):
        read_image(path)


# ---------------------------------------------------------------------------------------------
# EXIF orientation


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(rng, fmt, orientation):
    stored = _random(rng, (H, W, 3), np.uint8)
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = _pil_bytes(Image.fromarray(stored), fmt, exif=_exif(orientation), **options)

    got = read_image(data)

    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(got.pixels, np.asarray(reference))


@pytest.mark.parametrize(
    ("orientation", "display"),
    [
        (1, lambda a: a),
        (2, lambda a: a[:, ::-1]),
        (3, lambda a: a[::-1, ::-1]),
        (4, lambda a: a[::-1]),
        (5, lambda a: a.swapaxes(0, 1)),
        (6, lambda a: np.rot90(a, -1)),  # stored rotated left: turn 90 degrees clockwise
        (7, lambda a: a[::-1, ::-1].swapaxes(0, 1)),
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_exif_orientation_turns_pixels_and_alpha(rng, orientation, display):
    rgba = _random(rng, (H, W, 4), np.uint8)
    data = _pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG", exif=_exif(orientation))
    got = read_image(data)
    np.testing.assert_array_equal(got.pixels, display(rgba[..., :3]))
    np.testing.assert_array_equal(got.alpha, display(rgba[..., 3]))
    assert got.pixels.flags.c_contiguous and got.alpha.flags.c_contiguous


# ---------------------------------------------------------------------------------------------
# Pixel limit


def test_huge_png_header_is_refused_before_decoding():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as caught:
        read_image(data)
    assert time.perf_counter() - start < 1.0
    message = str(caught.value)
    assert "100000x100000" in message
    assert f"{DEFAULT_MAX_PIXELS:,}" in message
    assert "--max-pixels" in message


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_pixel_limit_applies_to_every_format(tmp_path, rng, ext):
    path = tmp_path / f"a{ext}"
    write_image(path, _random(rng, (H, W, 3), np.uint8))
    assert read_image(path, max_pixels=H * W).shape == (H, W)
    with pytest.raises(ImageTooLargeError, match=re.escape(str(path))):
        read_image(path, max_pixels=H * W - 1)


def test_pixel_limit_ignores_pillows_own_bomb_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    assert read_image(_png_bytes(np.zeros((H, W), np.uint8), color_type=0)).shape == (H, W)


# ---------------------------------------------------------------------------------------------
# Unreadable files


def _encoded(tmp_path: Path, ext: str, rng: np.random.Generator) -> bytes:
    path = tmp_path / f"source{ext}"
    write_image(path, _random(rng, (64, 96, 3), np.uint8))
    return path.read_bytes()


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))} is empty"):
        read_image(path)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow warns about a cut TIFF directory
@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file(tmp_path, rng, ext, keep):
    data = _encoded(tmp_path, ext, rng)
    path = tmp_path / f"truncated{ext}"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DecodeError, match=re.escape(str(path))):
        read_image(path)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")
@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_truncated_header(tmp_path, rng, ext):
    path = tmp_path / f"truncated{ext}"
    path.write_bytes(_encoded(tmp_path, ext, rng)[:14])
    with pytest.raises(DecodeError, match=re.escape(str(path))):
        read_image(path)


def test_garbage_bytes(tmp_path, rng):
    path = tmp_path / "garbage.png"
    path.write_bytes(rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))} is not a PNG, JPEG"):
        read_image(path)


def test_garbage_after_a_valid_signature(tmp_path, rng):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match=re.escape(str(path))):
        read_image(path)


def test_a_file_is_checked_before_it_is_read_whole(tmp_path, monkeypatch):
    """A huge file without an image header, one larger than any image within the pixel limit,
    and a device are refused without reading them (a 3 GB file took 3 GB of memory)."""
    reads = []
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def read(self, n=-1):
            data = self.f.read(n)
            reads.append(len(data))
            return data

    monkeypatch.setattr(
        pio, "open", lambda path, mode: Counting(real_open(path, mode)), raising=False
    )
    sparse = tmp_path / "sparse.png"
    with real_open(sparse, "wb") as f:
        f.truncate(1 << 30)  # 1 GB of zeros, no disk used
    with pytest.raises(DecodeError, match="unrecognized header"):
        read_image(sparse)
    assert sum(reads) <= 16
    big = tmp_path / "big.png"
    with real_open(big, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(200 << 20)
    reads.clear()
    with pytest.raises(ImageTooLargeError, match="raise the limit"):
        read_image(big, max_pixels=1000)
    assert sum(reads) <= 16
    if Path("/dev/zero").exists():
        with pytest.raises(InputError, match="not a regular file"):
            read_image("/dev/zero")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(InputError, match=rf"no such file: {re.escape(str(path))}"):
        read_image(path)


def test_directory(tmp_path):
    with pytest.raises(InputError, match=rf"{re.escape(str(tmp_path))} is a directory"):
        read_image(tmp_path)


def test_a_png_with_a_bad_checksum_is_refused_by_it(rng):
    """Bit rot in an archived PNG: refused here, naming the chunk (libpng printed its own
    'libpng error: ...' line before the refusal). A bad checksum in an ancillary chunk (text)
    after the pixels does not stop the image, as it does not stop libpng."""
    gray = _random(rng, (H, W), np.uint8)
    data = bytearray(_png_bytes(gray, color_type=0))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    with pytest.raises(DecodeError, match=r"PNG data is corrupt \(checksum mismatch in the IDAT"):
        read_image(bytes(data))
    good = _png_bytes(gray, color_type=0)
    text = bytearray(_png_chunk(b"tEXt", b"Title\0a scan"))
    text[-1] ^= 0xFF  # its checksum
    at = good.index(b"IEND") - 4
    np.testing.assert_array_equal(read_image(good[:at] + bytes(text) + good[at:]).pixels, gray)


def _photo_jpeg(**options: object) -> bytes:
    """scikit-image's astronaut photo as a JPEG written by Pillow (libjpeg-turbo)."""
    from skimage import data

    return _pil_bytes(Image.fromarray(data.astronaut()), "JPEG", quality=90, **options)


def _scan_middle(data: bytes) -> int:
    """A byte halfway through the compressed data of the (first) scan."""
    sos = data.index(b"\xff\xda")
    return (sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big") + len(data)) // 2


def _damaged_jpeg(kind: str) -> bytes:
    if kind == "garbage in the scan":  # 64 bytes dropped in (a stray disk block)
        data = _photo_jpeg()
        at = _scan_middle(data)
        return data[:at] + bytes(range(7, 7 + 3 * 64, 3)) + data[at:]
    if kind == "scan cut short":  # the end marker halfway through the scan
        data = _photo_jpeg()
        return data[: _scan_middle(data)] + b"\xff\xd9"
    data = _photo_jpeg(restart_marker_blocks=4)  # "restart marker out of order"
    at = data.index(b"\xff\xd3", _scan_middle(data) // 2)
    return data[: at + 1] + b"\xd6" + data[at + 2 :]


@pytest.mark.parametrize(
    "kind", ["garbage in the scan", "scan cut short", "restart marker out of order"]
)
def test_a_jpeg_with_damaged_data_is_refused(tmp_path, kind, capfd):
    """libjpeg decodes damaged JPEG data on, into gray or garbage blocks, and only prints a
    warning ('Corrupt JPEG data: ...'), which Pillow hid: such files were read without a word.
    They are refused, naming the file, and libjpeg's line does not reach stderr."""
    path = tmp_path / "damaged.jpg"
    path.write_bytes(_damaged_jpeg(kind))
    capfd.readouterr()
    with pytest.raises(DecodeError, match=rf"{re.escape(str(path))}: the JPEG data is corrupt"):
        read_image(path)
    assert capfd.readouterr().err == ""


def test_console_script_damaged_jpeg_is_one_error_line(tmp_path):
    """As a user runs it: exit 2, one 'error:' line that names the file (libjpeg printed its
    own 'Corrupt JPEG data' line first where OpenCV decodes), no result."""
    script = Path(sys.executable).parent / "polychrome"
    if not script.is_file():
        pytest.skip("the polychrome console script is not installed")
    path, out = tmp_path / "damaged.jpg", tmp_path / "out.png"
    path.write_bytes(_damaged_jpeg("garbage in the scan"))
    done = subprocess.run(
        [script, "colorize", path, "-o", out, "--engine", "none"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: cannot decode {path}: the JPEG data is corrupt")
    assert not out.exists()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"progressive": True},
        {"restart_marker_blocks": 4},
        {"restart_marker_rows": 1},
        {"optimize": True, "subsampling": 0},
        {"quality": 100},
        {"gray": True},
        {"cmyk": True},
        {"exif": True},
        {"after the end": True},
    ],
    ids=repr,
)
def test_valid_jpegs_are_read_as_pillow_reads_them(options):
    """Progressive, restart intervals, gray, CMYK, EXIF, bytes after the end marker (phones
    append data there): read without a warning, pixel for pixel as Pillow decodes them."""
    from skimage import data

    options = dict(options)
    image = Image.fromarray(data.astronaut())
    if options.pop("gray", False):
        image = image.convert("L")
    if options.pop("cmyk", False):
        image = image.convert("CMYK")
    if options.pop("exif", False):
        options["exif"] = _exif(1)
    after = b"MPF\0" * 100 if options.pop("after the end", False) else b""
    encoded = _pil_bytes(image, "JPEG", **{"quality": 90, **options}) + after
    with warnings_as_errors():
        got = read_image(encoded)
    reference = Image.open(io.BytesIO(encoded)).convert("L" if image.mode == "L" else "RGB")
    tolerance = 2 if image.mode == "CMYK" else 0  # CMYK to RGB rounds differently in OpenCV
    np.testing.assert_allclose(got.pixels, np.asarray(reference), atol=tolerance, rtol=0)


def test_a_12_megapixel_jpeg_is_read():
    """A camera-sized baseline JPEG (grain on a ramp) reads without a warning, as Pillow does."""
    rng = np.random.default_rng(5)
    ramp = (np.arange(3000)[:, None] + np.arange(4000)) // 28  # 0..249
    gray = (ramp + rng.integers(0, 6, (3000, 4000))).astype(np.uint8)
    encoded = _pil_bytes(Image.fromarray(gray), "JPEG", quality=92)
    with warnings_as_errors():
        got = read_image(encoded)
    np.testing.assert_array_equal(got.pixels, np.asarray(Image.open(io.BytesIO(encoded))))


def test_a_few_stray_bytes_before_the_end_marker_warn():
    """Some cameras and programs leave a few bytes before the end marker, which libjpeg reports
    as '1 extraneous bytes before marker 0xd9': all the image data is there, so the image is
    read with a warning; more (3 or more as libjpeg counts) is refused, as data that left the
    decoder out of step ends that way."""
    data = _photo_jpeg()
    end = data.rindex(b"\xff\xd9")
    clean = read_image(data).pixels
    for n in range(1, 16):  # libjpeg-turbo's read-ahead swallows the first few bytes unreported
        padded = data[:end] + bytes(n) + data[end:]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = read_image(padded)
        if caught:
            break
    assert len(caught) == 1
    assert "stray bytes before its end marker" in str(caught[0].message)
    np.testing.assert_array_equal(got.pixels, clean)
    with pytest.raises(DecodeError, match="the JPEG data is corrupt"):
        read_image(data[:end] + bytes(n + 8) + data[end:])


def test_libjpeg_lines_are_sorted_from_other_output(monkeypatch, capfd):
    """Descriptor 2 is the process's: while a JPEG decodes, what another thread writes there is
    caught with libjpeg's warnings and written out again afterwards; harmless libjpeg warnings
    are dropped."""
    real = cv2.imdecode

    def printing(buffer, flags):
        os.write(2, b"Warning: unknown JFIF revision number 3.00\nanother thread's line\n")
        return real(buffer, flags)

    monkeypatch.setattr(pio.cv2, "imdecode", printing)
    capfd.readouterr()
    assert read_image(_photo_jpeg()).shape == (512, 512)
    assert capfd.readouterr().err == "another thread's line\n"


@pytest.mark.parametrize(("fmt", "name"), [("BMP", "BMP"), ("GIF", "GIF"), ("PDF", "PDF")])
def test_unsupported_format(tmp_path, fmt, name):
    """A BMP or GIF scan is refused by its format's name, with what to do, not as an
    'unrecognized header' (which reads like a corrupt file); from a file and from bytes."""
    path = tmp_path / "a.img"
    Image.new("RGB", (4, 4)).save(path, fmt)
    for source in (path, path.read_bytes()):
        with pytest.raises(DecodeError, match=f"is a {name} file; polychrome reads PNG, JPEG"):
            read_image(source)
    with pytest.raises(DecodeError, match="not a PNG, JPEG, TIFF or WebP image"):
        read_image(b"neither of those")


# ---------------------------------------------------------------------------------------------
# Masks


def test_mask_from_gray(tmp_path):
    gray = np.zeros((H, W), np.uint8)
    gray[2:5, 3:9] = 200
    gray[0, 0] = 127  # just below half
    gray[0, 1] = 128  # just above half
    write_image(tmp_path / "m.png", gray)
    mask = read_mask(tmp_path / "m.png", shape=(H, W))
    assert mask.dtype == bool and mask.shape == (H, W)
    expected = gray > 127
    np.testing.assert_array_equal(mask, expected)


def test_mask_from_rgb_uses_the_brightest_channel(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[1, 1] = (255, 255, 255)
    rgb[1, 2] = (0, 0, 255)  # saturated blue: luma 29, but painted, so selected
    rgb[1, 3] = (255, 0, 0)  # pure red: luma 76, selected
    rgb[1, 4] = (100, 120, 127)  # dim gray-blue: not selected
    write_image(tmp_path / "m.png", rgb)
    mask = read_mask(tmp_path / "m.png", shape=(H, W))
    assert mask.sum() == 3 and mask[1, 1] and mask[1, 2] and mask[1, 3] and not mask[1, 4]


def test_mask_prefers_alpha_when_it_is_not_opaque(tmp_path):
    pixels = np.full((H, W), 255, np.uint16)  # bright everywhere: luminance would select all
    alpha = np.zeros((H, W), np.uint16)
    alpha[3:6, 4:10] = 65535
    write_image(tmp_path / "m.png", pixels, alpha=alpha)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", shape=(H, W)), alpha > 0)


def test_mask_with_opaque_alpha_uses_luminance(tmp_path):
    gray = np.zeros((H, W), np.uint8)
    gray[5, 5] = 255
    write_image(tmp_path / "m.png", gray, alpha=np.full((H, W), 255, np.uint8))
    mask = read_mask(tmp_path / "m.png", shape=(H, W))
    assert mask.sum() == 1 and mask[5, 5]


def test_mask_size_mismatch_names_both_sizes_and_file(tmp_path):
    path = tmp_path / "m.png"
    write_image(path, np.full((H, W), 255, np.uint8))
    with pytest.raises(ShapeError) as caught:
        read_mask(path, shape=(H + 1, W), name="protect mask")
    message = str(caught.value)
    assert str(path) in message and "protect mask" in message
    assert f"{W}x{H}" in message and f"{W}x{H + 1}" in message


def test_empty_mask(tmp_path):
    path = tmp_path / "m.png"
    write_image(path, np.full((H, W), 100, np.uint8))
    with pytest.raises(EmptyMaskError, match=re.escape(str(path))):
        read_mask(path, shape=(H, W))


# ---------------------------------------------------------------------------------------------
# Hints


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_hints(tmp_path, rng, dtype):
    top = np.iinfo(dtype).max
    rgb = _random(rng, (H, W, 3), dtype)
    alpha = np.zeros((H, W), dtype)
    alpha[2, 3] = top
    alpha[7, 11] = top // 2 + 1
    write_image(tmp_path / "h.png", rgb, alpha=alpha)

    yx, colors, weight = read_hints(tmp_path / "h.png", shape=(H, W))

    assert yx.tolist() == [[2, 3], [7, 11]]  # only hinted pixels: nothing under transparency
    assert colors.dtype == np.float32 and colors.shape == (2, 3)
    assert weight.dtype == np.float32 and weight.shape == (2,)
    np.testing.assert_allclose(weight, alpha[2:8:5, [3, 11]].diagonal() / top, atol=1e-6)
    np.testing.assert_allclose(colors, rgb[[2, 7], [3, 11]] / top, atol=1e-6)


def test_hints_without_alpha(tmp_path, rng):
    path = tmp_path / "h.png"
    write_image(path, _random(rng, (H, W, 3), np.uint8))
    with pytest.raises(ValueCheckError, match=r"no alpha channel.*transparent background"):
        read_hints(path, shape=(H, W))


def test_hints_size_mismatch(tmp_path, rng):
    path = tmp_path / "h.png"
    write_image(path, _random(rng, (H, W, 3), np.uint8), alpha=np.full((H, W), 255, np.uint8))
    with pytest.raises(ShapeError, match=re.escape(str(path))):
        read_hints(path, shape=(W, H))


def test_hints_fully_transparent(tmp_path, rng):
    path = tmp_path / "h.png"
    write_image(path, _random(rng, (H, W, 3), np.uint8), alpha=np.zeros((H, W), np.uint8))
    with pytest.raises(EmptyMaskError, match=re.escape(str(path))):
        read_hints(path, shape=(H, W))


# ---------------------------------------------------------------------------------------------
# Writing: validation, atomicity, metadata


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_opaque_alpha_channel_does_not_stop_a_jpeg(tmp_path, rng, dtype):
    """Scanning and editing programs often save RGBA with alpha opaque everywhere: a JPEG of it
    is written without the channel (it was refused: 'JPEG cannot store alpha'); one
    transparent pixel still refuses it."""
    rgb = _random(rng, (H, W, 3), dtype)
    opaque = np.full((H, W), np.iinfo(dtype).max, dtype)
    write_image(tmp_path / "a.jpg", rgb, alpha=opaque)
    got = read_image(tmp_path / "a.jpg")
    assert got.alpha is None and got.shape == (H, W)
    assert pio.is_opaque(opaque)
    opaque[3, 4] -= 1
    assert not pio.is_opaque(opaque)
    with pytest.raises(ValueCheckError, match="JPEG cannot store alpha"):
        write_image(tmp_path / "b.jpg", rgb, alpha=opaque)
    assert not (tmp_path / "b.jpg").exists()


def test_write_refuses_bad_arguments(tmp_path, rng):
    rgb = _random(rng, (H, W, 3), np.uint8)
    with pytest.raises(ValueCheckError, match="extension"):
        write_image(tmp_path / "a.gif", rgb)
    with pytest.raises(ValueCheckError, match=r"JPEG cannot store alpha.*\.png"):
        write_image(tmp_path / "a.jpg", rgb, alpha=np.full((H, W), 254, np.uint8))
    with pytest.raises(ValueCheckError, match="uint8 or uint16"):
        write_image(tmp_path / "a.png", rgb.astype(np.float32))
    with pytest.raises(ShapeError):
        write_image(tmp_path / "a.png", np.zeros((H, W, 4), np.uint8))
    with pytest.raises(ShapeError):
        write_image(tmp_path / "a.png", rgb, alpha=np.zeros((H, W + 1), np.uint8))
    with pytest.raises(ValueCheckError, match="dtype"):
        write_image(tmp_path / "a.png", rgb, alpha=np.zeros((H, W), np.uint16))
    with pytest.raises(ValueCheckError, match="compress_level"):
        write_image(tmp_path / "a.png", rgb, compress_level=10)
    with pytest.raises(ValueCheckError, match="JSON"):
        write_image(tmp_path / "a.png", rgb, metadata={"x": object()})
    # These reached the encoders: OpenCV's 'Bad argument', a TypeError, a bare 'encoder failed'.
    with pytest.raises(ValueCheckError, match="compress_level"):
        write_image(tmp_path / "a.png", rgb, compress_level=True)
    with pytest.raises(ValueCheckError, match="exif must be bytes"):
        write_image(tmp_path / "a.png", rgb, exif="Exif")
    with pytest.raises(ValueCheckError, match=r"WebP images are at most 16383 pixels a side.*png"):
        write_image(tmp_path / "a.webp", np.zeros((1, 16384), np.uint8))
    assert list(tmp_path.iterdir()) == []
    write_image(tmp_path / "b.jpg", rgb, quality=np.int64(90))  # numpy integers are integers
    write_image(tmp_path / "b.png", rgb, compress_level=np.uint8(3))


def test_write_creates_parent_directories_and_replaces(tmp_path, rng):
    path = tmp_path / "a" / "b" / "out.png"
    first, second = _random(rng, (H, W), np.uint8), _random(rng, (H, W), np.uint8)
    write_image(path, first)
    write_image(path, second)
    np.testing.assert_array_equal(read_image(path).pixels, second)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_write_does_not_modify_inputs(tmp_path, rng, ext, dtype):
    pixels = _random(rng, (H, W, 3), dtype)
    alpha = None if ext == ".jpg" else _random(rng, (H, W), dtype)
    before = (pixels.copy(), None if alpha is None else alpha.copy())
    pixels.flags.writeable = False  # any write into them would raise
    if alpha is not None:
        alpha.flags.writeable = False
    write_image(tmp_path / f"a{ext}", pixels, alpha=alpha)
    np.testing.assert_array_equal(pixels, before[0])
    if alpha is not None:
        np.testing.assert_array_equal(alpha, before[1])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_failed_encoding_leaves_nothing_and_keeps_the_old_file(tmp_path, rng, monkeypatch):
    path = tmp_path / "out.png"
    old = _random(rng, (H, W), np.uint8)
    write_image(path, old)

    def broken(*args, **kwargs):
        raise cv2.error("encoder exploded")

    monkeypatch.setattr(cv2, "imencode", broken)
    with pytest.raises(PolychromeError, match="encoder"):
        write_image(path, _random(rng, (H, W), np.uint8))
    assert _leftovers(tmp_path) == ["out.png"]
    np.testing.assert_array_equal(read_image(path).pixels, old)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_write_removes_the_temp_file(tmp_path, rng, monkeypatch, error):
    path = tmp_path / "out.png"
    old = _random(rng, (H, W), np.uint8)
    write_image(path, old)
    temps: list[str] = []

    def failing_replace(src, dst):
        temps.append(os.fspath(src))
        assert os.path.exists(src)
        raise error

    monkeypatch.setattr(pio.os, "replace", failing_replace)
    expected = InputError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_image(path, _random(rng, (H, W), np.uint8))

    [temp] = temps
    assert Path(temp).parent == tmp_path
    assert Path(temp).name.startswith(".") and temp.endswith(".tmp")
    assert _leftovers(tmp_path) == ["out.png"]
    np.testing.assert_array_equal(read_image(path).pixels, old)


def test_writing_over_a_directory_fails_cleanly(tmp_path, rng):
    target = tmp_path / "taken.png"
    target.mkdir()
    with pytest.raises(InputError, match=re.escape(str(target))):
        write_image(target, _random(rng, (H, W), np.uint8))
    assert _leftovers(tmp_path) == ["taken.png"] and target.is_dir()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unwritable_directory(tmp_path, rng):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            write_image(locked / "out.png", _random(rng, (H, W), np.uint8))
        assert _leftovers(locked) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("mode", ["gray", "gray+alpha", "rgb", "rgba"])
def test_metadata_round_trip(tmp_path, rng, mode):
    pixels = _random(rng, (H, W) if mode.startswith("gray") else (H, W, 3), np.uint16)
    alpha = _random(rng, (H, W), np.uint16) if mode.endswith("alpha") or mode == "rgba" else None
    metadata = {"engine": "classic", "seed": 7, "options": {"λ": [0.5, None, True]}, "text": "é"}
    path = tmp_path / "out.png"

    write_image(path, pixels, alpha=alpha, metadata=metadata)

    assert read_metadata(path) == metadata
    with Image.open(path) as image:  # Pillow checks chunk CRCs and sees the text chunk
        image.load()
        assert "polychrome" in image.text
    np.testing.assert_array_equal(read_image(path).pixels, pixels)
    decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.dtype == np.uint16


def test_metadata_absent(tmp_path, rng):
    write_image(tmp_path / "a.png", _random(rng, (H, W), np.uint8))
    write_image(tmp_path / "a.tif", _random(rng, (H, W), np.uint8), metadata={"ignored": 1})
    assert read_metadata(tmp_path / "a.png") is None
    assert read_metadata(tmp_path / "a.tif") is None
    with pytest.raises(InputError, match="no such file"):
        read_metadata(tmp_path / "missing.png")


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_compress_levels(tmp_path, level):
    pixels = _smooth_rgb().astype(np.uint8)
    write_image(tmp_path / "a.png", pixels, compress_level=level)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").pixels, pixels)


def test_tiff_alpha_is_tagged_for_other_readers(tmp_path, rng):
    rgb, alpha = _random(rng, (H, W, 3), np.uint8), _random(rng, (H, W), np.uint8)
    write_image(tmp_path / "a.tif", rgb, alpha=alpha)
    with Image.open(tmp_path / "a.tif") as image:
        assert image.tag_v2.get(338) == (2,)  # ExtraSamples: unassociated alpha
        np.testing.assert_array_equal(np.asarray(image), np.dstack([rgb, alpha]))


def test_image_data_properties(rng):
    pixels = _random(rng, (H, W, 3), np.uint16)
    image = ImageData(pixels=pixels, alpha=None, bit_depth=16, path=None, format="PNG")
    assert (image.height, image.width, image.shape) == (H, W, (H, W))
    assert not image.is_gray and image.max_value == 65535
    with pytest.raises(AttributeError):
        image.bit_depth = 8  # type: ignore[misc]


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_is_carried_to_the_result_with_the_orientation_upright(tmp_path, ext):
    """Archivists keep camera, dates and captions: they pass from the input to the result;
    the orientation becomes 1 because the pixels are already turned. (TIFF results had none:
    in a TIFF they are tags of its first IFD, with the EXIF sub-IFD.)"""
    from polychrome.pipeline import colorize

    tags = Image.Exif()
    tags[0x010F] = "Leica"  # Make
    tags[0x0112] = 6  # Orientation: turned 90 degrees
    tags.get_ifd(0x8769)[0x9003] = "1952:07:14 10:00:00"  # DateTimeOriginal
    source = tmp_path / "scan.jpg"
    gray = np.tile(np.linspace(0, 255, 60), (40, 1)).astype(np.uint8)
    Image.fromarray(gray).save(source, exif=tags.tobytes())
    image = read_image(source)
    assert image.shape == (60, 40) and image.exif is not None
    out = tmp_path / f"out{ext}"
    colorize(image, engine="none").save(out)
    with Image.open(out) as written:
        assert written.size == (40, 60)
        carried = written.getexif()
        assert carried[0x010F] == "Leica" and carried[0x0112] == 1
        assert carried.get_ifd(0x8769)[0x9003] == "1952:07:14 10:00:00"
    assert read_image(out).shape == (60, 40)  # not turned a second time
    plain = tmp_path / f"plain{ext}"
    write_image(plain, gray)
    assert read_image(plain).exif is None


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_a_tiff_scans_description_and_rights_are_carried_to_the_result(tmp_path, ext):
    """A TIFF master's artist, copyright, caption, date and scanner pass to JPEG, PNG and WebP
    results, as a JPEG's EXIF does (they were dropped: EXIF was read from JPEG, PNG and WebP
    only); the tags that describe the TIFF's storage (strip offsets, sizes) are not."""
    from PIL import TiffImagePlugin

    from polychrome.pipeline import colorize

    described = {
        270: "Wedding, 1952",
        271: "Epson",
        272: "Perfection V850",
        306: "2026:11:30 10:00:00",
        315: "Jane Restorer",
        33432: "(c) 1952 the family",
    }
    info = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in described.items():
        info[tag] = value
    gray = np.tile(np.linspace(0, 255, 60), (40, 1)).astype(np.uint8)
    source = tmp_path / "master.tif"
    Image.fromarray(gray).save(source, tiffinfo=info)
    out = tmp_path / f"out{ext}"
    colorize(read_image(source), engine="none").save(out)
    with Image.open(out) as written:
        carried = dict(written.getexif())
    assert {tag: carried.get(tag) for tag in described} == described
    if ext != ".tif":  # width, height, strips: the TIFF's own
        assert not {256, 257, 273, 279} & set(carried)
    plain = tmp_path / "plain.tif"
    Image.fromarray(gray).save(plain)
    assert read_image(plain).exif is None


@pytest.mark.parametrize("source_ext", [".png", ".jpg", ".tif"])
@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_a_scans_resolution_is_carried_to_the_result(tmp_path, source_ext, ext):
    """A 600 dpi scan gives a 600 dpi result (results stated no resolution, so they printed at
    72 dpi, 8 times too large); a quarter turn by the EXIF orientation swaps x and y. WebP has
    no resolution field: its EXIF states it (XResolution, YResolution, ResolutionUnit)."""
    from polychrome.pipeline import colorize

    gray = np.tile(np.linspace(0, 255, 60), (40, 1)).astype(np.uint8)
    source = tmp_path / f"scan{source_ext}"
    Image.fromarray(gray).save(source, dpi=(600, 300))
    image = read_image(source)
    assert image.dpi is not None and np.allclose(image.dpi, (600, 300), atol=0.01)
    out = tmp_path / f"out{ext}"
    colorize(image, engine="none").save(out)
    with Image.open(out) as written:
        if ext == ".webp":
            tags = written.getexif()
            assert tags[0x0128] == 2  # inches
            assert np.allclose([float(tags[0x011A]), float(tags[0x011B])], (600, 300), atol=0.01)
        else:
            assert np.allclose(written.info["dpi"], (600, 300), atol=0.01)
    assert np.allclose(read_image(out).dpi, (600, 300), atol=0.01)
    plain = tmp_path / f"plain{ext}"
    write_image(plain, gray)
    assert read_image(plain).dpi is None
    if source_ext == ".jpg":
        tags = Image.Exif()
        tags[0x0112] = 6  # turned 90 degrees: the stored x runs down the upright image
        Image.fromarray(gray).save(source, dpi=(600, 300), exif=tags.tobytes())
        turned = read_image(source)
        assert turned.shape == (60, 40) and turned.dpi == (300, 600)
    with pytest.raises(ValueCheckError, match="dpi must be two positive numbers"):
        write_image(plain, gray, dpi=(0, 300))


@pytest.mark.parametrize("quality", [90, 100])  # lossy (VP8) and lossless (VP8L)
def test_webp_exif_with_alpha_and_from_a_webp_input(tmp_path, rng, quality):
    tags = Image.Exif()
    tags[0x010F] = "Rolleiflex"
    tags[0x0112] = 3  # turned 180 degrees
    rgb = _random(rng, (H, W, 3), np.uint8)
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, : W // 2] = 0
    source = tmp_path / "in.webp"
    Image.fromarray(np.dstack([rgb, alpha])).save(source, exif=tags.tobytes(), lossless=True)
    image = read_image(source)
    assert image.exif is not None and image.alpha is not None
    out = tmp_path / "out.webp"
    write_image(out, image.pixels, alpha=image.alpha, quality=quality, exif=image.exif)
    with Image.open(out) as written:
        assert written.mode == "RGBA" and written.size == (W, H)
        assert written.getexif()[0x010F] == "Rolleiflex" and written.getexif()[0x0112] == 1
        np.testing.assert_array_equal(np.asarray(written)[..., 3] > 127, image.alpha > 127)
    again = read_image(out)
    assert again.exif is not None and again.shape == (H, W)


def test_tiff_exif_with_alpha_and_16_bit(tmp_path, rng):
    """The EXIF tags join the TIFF's own in one first IFD: the alpha stays tagged, the pixels
    and the stated resolution are the file's (not the EXIF's 72 dpi), and the tags that
    describe the EXIF's storage (YCbCrPositioning) stay out."""
    tags = Image.Exif()
    tags[0x013B] = "Jane Restorer"  # Artist
    tags[0x011A], tags[0x011B], tags[0x0128] = 72.0, 72.0, 2  # a camera's default
    tags[0x0213] = 1  # YCbCrPositioning, of a JPEG's samples
    tags.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    exif = tags.tobytes()
    cases = [
        (_random(rng, (H, W, 3), np.uint16), _random(rng, (H, W), np.uint16)),
        (_random(rng, (H, W), np.uint8), _random(rng, (H, W), np.uint8)),  # Pillow writes it
        (_random(rng, (H, W), np.uint16), None),
    ]
    for pixels, alpha in cases:
        path = tmp_path / "out.tif"
        write_image(path, pixels, alpha=alpha, exif=exif, dpi=(600, 600))
        with Image.open(path) as written:
            carried = written.getexif()
            assert carried[0x013B] == "Jane Restorer" and 0x0213 not in carried
            assert carried.get_ifd(0x8825) == {1: "N"}
            assert written.info["dpi"] == (600, 600)
            if alpha is not None:
                assert written.tag_v2.get(338) == (2,)  # ExtraSamples: unassociated alpha
        again = read_image(path)
        np.testing.assert_array_equal(again.pixels, pixels)
        if alpha is not None:
            np.testing.assert_array_equal(again.alpha, alpha)
        assert again.exif is not None and again.dpi == (600, 600)


def test_webp_resolution_is_read_from_its_exif(tmp_path, rng):
    """A WebP's EXIF states its resolution (in inches or centimetres); the dpi written replaces
    the EXIF's own (a camera's 72), and the other tags stay."""
    rgb = _random(rng, (H, W, 3), np.uint8)
    tags = Image.Exif()
    tags[0x010F] = "Rolleiflex"
    tags[0x011A], tags[0x011B], tags[0x0128] = 72.0, 72.0, 2
    path = tmp_path / "out.webp"
    write_image(path, rgb, exif=tags.tobytes(), dpi=(600, 300), quality=100)
    image = read_image(path)
    assert image.dpi == (600, 300)
    with Image.open(path) as written:
        assert written.getexif()[0x010F] == "Rolleiflex"
    tags[0x011A], tags[0x011B], tags[0x0128] = 100.0, 50.0, 3  # per centimetre
    Image.fromarray(rgb).save(path, exif=tags.tobytes(), lossless=True)
    assert np.allclose(read_image(path).dpi, (254, 127))
    write_image(path, rgb, exif=tags.tobytes())  # no dpi given: the EXIF's stays as it is
    assert np.allclose(read_image(path).dpi, (254, 127))


def test_read_refuses_what_is_no_source(tmp_path, rng):
    """An array, None or a number as the source was a bare TypeError from os.fspath; a
    max_pixels of None a TypeError from a comparison."""
    for source in (np.zeros((4, 4), np.uint8), None, 5):
        with pytest.raises(ValueCheckError, match="path or the encoded file as bytes"):
            read_image(source)
    with pytest.raises(ValueCheckError, match="colorize takes arrays"):
        read_image(np.zeros((4, 4), np.uint8))
    path = tmp_path / "a.png"
    write_image(path, _random(rng, (H, W), np.uint8))
    for limit in (None, 1.5, 0, True):
        with pytest.raises(ValueCheckError, match="max_pixels must be an integer"):
            read_image(path, max_pixels=limit)
    assert read_image(bytearray(path.read_bytes()), max_pixels=np.int64(H * W)).shape == (H, W)


def test_a_png_with_a_color_profile_that_does_not_fit_decodes_silently(tmp_path, capfd):
    # A gray PNG converted from a photo with Pillow keeps the photo's RGB profile; libpng
    # printed 'libpng warning: iCCP: ... RGB color space not permitted on grayscale PNG' for
    # each one (300 lines in a batch of 300 scans). The profile is never used: it is dropped.
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gray = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 251).astype(np.uint8)
    path = tmp_path / "scan.png"
    Image.fromarray(gray).save(path, icc_profile=profile)
    assert b"iCCP" in path.read_bytes()
    capfd.readouterr()
    image = read_image(path)
    assert capfd.readouterr().err == ""
    assert np.array_equal(image.pixels, gray)
