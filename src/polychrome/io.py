"""Reading and writing images: PNG, JPEG, TIFF and WebP, 8 and 16 bit.

Conventions:

- ``pixels``: ``uint8`` or ``uint16`` array, ``(H, W)`` for gray, ``(H, W, 3)`` for color, channel
  order RGB. Bit depth is kept: a 16-bit PNG or TIFF is read as ``uint16``.
- ``alpha``: ``(H, W)`` array of the same dtype as ``pixels``, or ``None``.
- ``mask``: ``(H, W)`` bool. Hints: ``rgb`` ``(H, W, 3)`` float32 in ``[0, 1]`` and ``weight``
  ``(H, W)`` float32 in ``[0, 1]``.

Reading checks the pixel count from the file header before anything is decoded, applies the EXIF
orientation, and turns every failure of the decoders into a typed error from
:mod:`polychrome.errors` that names the file. Writing is atomic: the file appears complete or not at
all. Pixels are decoded and encoded with OpenCV (fast, keeps 16 bit); Pillow reads headers. A JPEG
whose data libjpeg finds damaged (truncated, or flipped bits in the compressed data) is refused
rather than read with garbage blocks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import stat
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from polychrome.errors import (
    DecodeError,
    EmptyMaskError,
    ImageTooLargeError,
    InputError,
    PolychromeError,
    ShapeError,
    ValueCheckError,
)
from polychrome.formats import IMAGE_FORMATS

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageData",
    "NamedBytes",
    "encode_image",
    "is_opaque",
    "read_hints",
    "read_image",
    "read_mask",
    "read_metadata",
    "source_name",
    "write_image",
]

DEFAULT_MAX_PIXELS = 100_000_000

Source = str | os.PathLike[str] | bytes


class NamedBytes(bytes):
    """An encoded file held in memory with the name it came under (e.g. an HTTP upload).

    Every reader accepts it where it accepts bytes; errors and metadata then name the file by
    ``name`` instead of ``<image bytes>``.
    """

    name: str

    def __new__(cls, data: bytes, name: str) -> NamedBytes:
        out = super().__new__(cls, data)
        out.name = name
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        return NamedBytes, (bytes(self), self.name)


def source_name(source: Source) -> str:
    """The file name of a source, as messages and metadata show it: the last part of a path,
    the name of :class:`NamedBytes`, or ``<image bytes>``."""
    if isinstance(source, NamedBytes):
        return source.name
    if isinstance(source, bytes | bytearray | memoryview):
        return "<image bytes>"
    return Path(os.fsdecode(os.fspath(source))).name


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_METADATA_KEY = "polychrome"
_EXTENSIONS = IMAGE_FORMATS
_SUPPORTED = "polychrome reads 8- and 16-bit gray, gray+alpha, RGB, RGBA and palette images"
# Pillow modes (from the header) that polychrome reads; anything else is refused by name.
_GRAY_MODES = frozenset({"1", "L", "LA", "I;16", "I;16L", "I;16B", "I;16N"})
_COLOR_MODES = frozenset({"P", "PA", "RGB", "RGBA"})
_ALPHA_MODES = frozenset({"LA", "PA", "RGBA"})
_PIL_OPENERS: dict[str, Callable[[io.BytesIO], Image.Image]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
}
# PNG settings for compress_level 1 to 3: the "Up" filter on every row and run-length matching.
# For a 12-megapixel photo this is twice as fast as libpng's defaults, and smaller (measured).
_PNG_FAST_PARAMS = (
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_UP,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
)
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: lambda a: cv2.transpose(a),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


@dataclass(frozen=True)
class ImageData:
    """A decoded image.

    Attributes:
        pixels: ``uint8`` or ``uint16``; ``(H, W)`` for a gray file, ``(H, W, 3)`` RGB otherwise
            (palette images are expanded to RGB; an RGB file with equal channels stays RGB).
        alpha: ``(H, W)``, same dtype as ``pixels``, or ``None`` when the file has no alpha.
        bit_depth: 8 or 16.
        path: the file read, the name of :class:`NamedBytes`, or ``None`` for other bytes.
        format: ``"PNG"``, ``"JPEG"``, ``"TIFF"`` or ``"WEBP"``.
        exif: the file's EXIF block (``b"Exif\0\0"`` and its TIFF-structured tags, camera,
            dates, ...) with the orientation set to 1, since ``pixels`` are already turned; or
            ``None``. Read from JPEG, PNG and WebP files; from a TIFF, its descriptive tags
            (artist, copyright, description, date, make, model) and EXIF and GPS sub-IFDs.
        pages: how many images the file holds (the pages of a multi-page TIFF, the frames of an
            animated PNG or WebP); ``pixels`` are the first.
        dpi: the resolution the file states, ``(x, y)`` dots per inch (a scan's 600 dpi), with
            x along ``pixels``' width; or ``None``. Read from PNG, JPEG and TIFF files, and from
            a WebP's EXIF (XResolution, YResolution, ResolutionUnit).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: str | None
    format: str
    exif: bytes | None = None
    pages: int = 1
    dpi: tuple[float, float] | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.height, self.width

    @property
    def is_gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def max_value(self) -> int:
        """The value of full intensity: 255 for 8 bit, 65535 for 16 bit."""
        return (1 << self.bit_depth) - 1


@dataclass
class _Header:
    format: str
    width: int
    height: int
    mode: str | None = None  # Pillow's mode; None for WebP, which is read without Pillow
    gray: bool = False
    has_alpha: bool = False
    transparency: Any = None  # a PNG's tRNS value (Pillow's info["transparency"])
    orientation: int = 1
    pil: Image.Image | None = None
    decode_with_pil: bool = False
    exif: bytes | None = None  # with the orientation set to 1 (JPEG, PNG and WebP)
    pages: int = 1  # TIFF pages, animated PNG or WebP frames: only the first is read
    dpi: tuple[float, float] | None = None  # as stored, before the EXIF orientation


# ---------------------------------------------------------------------------------------------
# Reading


def read_image(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read a PNG, JPEG, TIFF or WebP image from a path or from bytes.

    Args:
        source: a path, or the encoded file as bytes.
        max_pixels: refuse images with more pixels than this; checked from the header, before
            any pixel is decoded.

    Returns:
        :class:`ImageData` with the EXIF orientation applied to ``pixels`` and ``alpha``.

    Raises:
        ValueCheckError: ``source`` is neither a path nor bytes, or ``max_pixels`` is no
            integer of at least 1.
        InputError: missing file, a directory, or an unreadable file.
        DecodeError: empty, truncated or malformed data, an unknown format, or an unsupported
            pixel mode (e.g. float TIFF).
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    if not _is_integer(max_pixels) or max_pixels < 1:
        raise ValueCheckError(f"max_pixels must be an integer of at least 1, got {max_pixels!r}")
    data, path = _load_source(source, max_pixels)
    label = path if path is not None else "<image bytes>"
    if not data:
        raise DecodeError(f"{label} is empty (0 bytes)")
    fmt = _sniff_format(data)
    if fmt is None:
        raise DecodeError(_not_an_image(label, data[:16]))

    # 1. Header only: size (checked before any decoding), mode, EXIF orientation.
    early = _png_size(data) if fmt == "PNG" else None
    if early is not None:
        _check_pixel_limit(*early, max_pixels, label)
    header = _webp_header(data, label) if fmt == "WEBP" else _pil_header(data, fmt, label)
    _check_pixel_limit(header.width, header.height, max_pixels, label)
    supported = _GRAY_MODES | _COLOR_MODES | ({"CMYK"} if fmt == "JPEG" else set())
    if header.mode is not None and header.mode not in supported:
        raise DecodeError(
            f"{label}: unsupported pixel mode {header.mode!r} in this {fmt} file; {_SUPPORTED}"
        )

    # 2. Decode the pixels.
    array, bgr = _decode_pixels(data, header, label)
    if array.dtype not in (np.uint8, np.uint16):
        raise DecodeError(f"{label}: unsupported sample type {array.dtype} in this {fmt} file")
    if array.shape[:2] != (header.height, header.width):
        raise DecodeError(
            f"{label}: decoded size {array.shape[1]}x{array.shape[0]} differs from the header's "
            f"{header.width}x{header.height}; the file is corrupt"
        )

    # 3. Split channels into RGB (or gray) and alpha.
    pixels, alpha = _split_channels(array, bgr=bgr, gray=header.gray, keep_alpha=header.has_alpha)
    if alpha is None and header.gray and header.transparency is not None:
        alpha = _gray_transparency(pixels, header.transparency, data)

    # 4. EXIF orientation.
    turn = _ORIENT.get(header.orientation)
    dpi = header.dpi
    if turn is not None:
        pixels = turn(pixels)
        alpha = None if alpha is None else turn(alpha)
        if dpi is not None and header.orientation >= 5:  # turned a quarter: x and y swap
            dpi = (dpi[1], dpi[0])

    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return ImageData(
        pixels=pixels,
        alpha=alpha,
        bit_depth=bit_depth,
        path=path,
        format=fmt,
        exif=header.exif,
        pages=header.pages,
        dpi=dpi,
    )


def read_mask(
    source: Source,
    *,
    shape: tuple[int, int],
    name: str = "mask",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Read a mask image: gray, RGB or with alpha, of exactly ``shape``.

    If the image has an alpha channel that is not fully opaque, the mask is ``alpha > half``;
    otherwise it is ``value > half``; for a color image the value is the brightest channel, so a
    mask painted in pure red, green or blue on black selects what was painted (its luma would
    not: pure red is 76 of 255).

    Args:
        source: a path, or the encoded file as bytes.
        shape: ``(H, W)`` of the input image the mask applies to.
        name: what the mask is for, used in error messages (e.g. ``"protect mask"``).
        max_pixels: see :func:`read_image`.

    Returns:
        ``(H, W)`` bool.

    Raises:
        ShapeError: the size differs from ``shape``.
        EmptyMaskError: no pixel is selected.
    """
    image = read_image(source, max_pixels=max_pixels)
    label = _label(image)
    _check_shape(image, shape, f"{name} {label}")
    half = image.max_value // 2
    if image.alpha is not None and not is_opaque(image.alpha):
        mask = image.alpha > half
    elif image.is_gray:
        mask = image.pixels > half
    else:
        mask = image.pixels.max(axis=2) > half
    if not mask.any():
        how = "transparent" if image.alpha is not None else "dark"
        raise EmptyMaskError(f"{name} {label} selects no pixel: it is entirely {how}")
    return mask


def read_hints(
    source: Source,
    *,
    shape: tuple[int, int],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a color hint image: RGBA of the input's size, transparent where there is no hint.

    Every pixel with ``alpha > 0`` asks for its RGB color there, with weight ``alpha / max``.
    Only those pixels are returned (a hint image is mostly transparent).

    Args:
        source: a path, or the encoded file as bytes (8 or 16 bit).
        shape: ``(H, W)`` of the input image.
        max_pixels: see :func:`read_image`.

    Returns:
        ``(yx, rgb, weight)`` of the ``N`` hinted pixels: ``(N, 2)`` int32 row and column,
        ``(N, 3)`` float32 colors in ``[0, 1]``, ``(N,)`` float32 weights in ``(0, 1]``.

    Raises:
        ValueCheckError: the image has no alpha channel.
        ShapeError: the size differs from ``shape``.
        EmptyMaskError: every pixel is fully transparent.
    """
    image = read_image(source, max_pixels=max_pixels)
    label = _label(image)
    if image.alpha is None:
        raise ValueCheckError(
            f"hint image {label} has no alpha channel: hint images are RGBA (e.g. PNG) with a "
            "transparent background, where each non-transparent pixel asks for its color"
        )
    _check_shape(image, shape, f"hint image {label}")
    ys, xs = np.nonzero(image.alpha)
    if len(ys) == 0:
        raise EmptyMaskError(f"hint image {label} has no hint: every pixel is fully transparent")
    scale = np.float32(1.0 / image.max_value)
    weight = image.alpha[ys, xs].astype(np.float32) * scale
    rgb = image.pixels[ys, xs].astype(np.float32) * scale
    if image.is_gray:
        rgb = np.repeat(rgb[:, None], 3, axis=1)
    return np.stack([ys, xs], axis=1).astype(np.int32), rgb, weight


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metadata dict stored by :func:`write_image` in a PNG, or ``None`` if there is none.

    Only the chunks before the pixel data are read. Non-PNG files give ``None``.

    Raises:
        InputError: missing or unreadable file.
        DecodeError: a malformed PNG header, or metadata that is not a JSON object.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            if f.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
                return None
            f.seek(0)
            try:
                text = PngImagePlugin.PngImageFile(f).info.get(_METADATA_KEY)
            except Exception as exc:  # Pillow raises many types for malformed data
                raise DecodeError(f"cannot read the PNG header of {name}: {exc}") from exc
    except OSError as exc:
        raise _os_error(exc, name) from exc
    if text is None:
        return None
    try:
        value = json.loads(str(text))
    except ValueError as exc:
        raise DecodeError(f"the {_METADATA_KEY!r} metadata in {name} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise DecodeError(f"the {_METADATA_KEY!r} metadata in {name} is not a JSON object")
    return value


RAISE_THE_LIMIT = (
    "; if you trust this file, raise the limit with --max-pixels (max_pixels= in Python)"
)
"""How a pixel-limit error ends (the HTTP service, whose limit clients cannot raise, replaces
it)."""


# Formats polychrome does not read, named by their first bytes so that the refusal says what the
# file is instead of "unrecognized".
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x00\x0cjP  \r\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"%PDF", "PDF"),
)


def _not_an_image(label: str, head: bytes = b"") -> str:
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return (
                f"{label} is a {name} file; polychrome reads PNG, JPEG, TIFF and WebP images: "
                "convert it to one of those"
            )
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        return (
            f"{label} is a HEIF/AVIF file; polychrome reads PNG, JPEG, TIFF and WebP images: "
            "convert it to one of those"
        )
    return f"{label} is not a PNG, JPEG, TIFF or WebP image (unrecognized header)"


def _load_source(source: Source, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, str | None]:
    """The encoded bytes and the path. A file is checked before it is read whole: a regular
    file, an image header in its first bytes, and no larger than an image within ``max_pixels``
    could be (so a 3 GB file of anything, or /dev/zero, is refused at once)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), getattr(source, "name", None)
    if not isinstance(source, str | os.PathLike):
        hint = (
            " (colorize takes arrays and PIL images directly)" if hasattr(source, "shape") else ""
        )
        raise ValueCheckError(
            f"an image source must be a path or the encoded file as bytes, got "
            f"{type(source).__name__}{hint}"
        )
    path = os.fsdecode(os.fspath(source))
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"{path} is not a regular file (a device, pipe or socket)")
            head = f.read(16)
            if head and _sniff_format(head) is None:
                raise DecodeError(_not_an_image(path, head))
            most = max_pixels * 8 + (64 << 20)  # 16-bit RGBA stored raw, plus metadata
            if info.st_size > most:
                raise ImageTooLargeError(
                    f"{path} is {info.st_size:,} bytes, more than an image of at most "
                    f"{max_pixels:,} pixels can take{RAISE_THE_LIMIT}"
                )
            return head + f.read(), path
    except OSError as exc:
        raise _os_error(exc, path) from exc


def _os_error(exc: OSError, path: str) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"no such file: {path}")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{path} is a directory, not an image file")
    return InputError(f"cannot read {path}: {exc.strerror or exc}")


def _label(image: ImageData) -> str:
    return image.path if image.path is not None else "<image bytes>"


def _sniff_format(data: bytes) -> str | None:
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _check_pixel_limit(width: int, height: int, max_pixels: int, label: str) -> None:
    if width < 1 or height < 1:
        raise DecodeError(f"{label}: invalid image size {width}x{height} in the header")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{label} is {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}{RAISE_THE_LIMIT}"
        )


def _check_shape(image: ImageData, shape: tuple[int, int], what: str) -> None:
    height, width = (int(n) for n in shape)
    if image.shape != (height, width):
        raise ShapeError(
            f"{what} is {image.width}x{image.height} pixels but the input image is "
            f"{width}x{height} (width x height); they must be the same size"
        )


def _png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the IHDR chunk, or ``None`` if it is not there."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _pil_header(data: bytes, fmt: str, label: str) -> _Header:
    # The plugin classes are used directly instead of Image.open, which would apply Pillow's own
    # decompression-bomb limit; the size is checked against max_pixels by the caller instead.
    try:
        with warnings.catch_warnings():
            # Pillow warns ("Corrupt EXIF data") where a truncated TIFF lost its header at the
            # end, then raises: the error below says it once.
            warnings.simplefilter("ignore")
            im = _PIL_OPENERS[fmt](io.BytesIO(data))
        width, height = im.size
        mode = im.mode
    except Exception as exc:  # Pillow raises many types (SyntaxError, OSError, ...) for bad data
        raise DecodeError(
            f"cannot read {label}: truncated or malformed {fmt} header ({exc})"
        ) from exc
    orientation, exif = 1, None
    try:
        # TIFF: the decoders (libtiff in OpenCV and Pillow) apply the orientation themselves, and
        # Pillow's size is already oriented. Image.getexif, not PngImageFile.getexif, which would
        # decode the whole image.
        if fmt != "TIFF":
            tags = Image.Image.getexif(im)
            orientation, exif = int(tags.get(0x0112, 1)), _upright_exif(tags)
        else:
            exif = _tiff_exif(im)
    except Exception as exc:  # a corrupt EXIF block should not make the image unreadable
        warnings.warn(f"{label}: unreadable EXIF data ({exc}); orientation ignored", stacklevel=3)
    if fmt == "PNG":
        # From IHDR: Pillow reports 16-bit gray+alpha as "RGBA".
        color_type = data[25]
        gray, has_alpha = color_type in (0, 4), color_type in (4, 6)
        transparency = im.info.get("transparency")
        has_alpha = has_alpha or transparency is not None
    else:
        gray, has_alpha, transparency = mode in _GRAY_MODES, mode in _ALPHA_MODES, None
    # Pillow decodes 8-bit TIFF with alpha (OpenCV drops the alpha of gray+alpha and premultiplies
    # RGB by it); OpenCV decodes the rest, keeping 16 bit.
    decode_with_pil = fmt == "TIFF" and has_alpha and _tiff_bits(im) == 8
    try:
        # TIFF: walks the chain of page headers (not their pixels), then seeks back to the first.
        pages = max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # a broken chain after the first page: the first is still read
        pages = 1
    dpi = _dpi_of(im.info.get("dpi"))
    return _Header(
        fmt,
        width,
        height,
        mode,
        gray,
        has_alpha,
        transparency,
        orientation,
        im,
        decode_with_pil,
        exif,
        pages,
        dpi,
    )


def _upright_exif(tags: Image.Exif) -> bytes | None:
    """The EXIF block to keep, with the orientation set to 1 (the pixels are read upright), or
    ``None`` when there is no tag."""
    if not len(tags):
        return None
    if 0x0112 in tags:
        tags[0x0112] = 1
    return tags.tobytes()


def _dpi_of(value: Any) -> tuple[float, float] | None:
    """Pillow's ``info["dpi"]`` as two positive finite numbers, or ``None``. 1 x 1 is what
    writers without a resolution put (OpenCV's TIFFs): no resolution either."""
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if (x, y) == (1.0, 1.0):
        return None
    return (x, y) if 0 < x < 1e6 and 0 < y < 1e6 else None


_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)
"""The tags of a TIFF's first page that describe the picture rather than its storage:
ImageDescription, Make, Model, Software, DateTime, Artist, Copyright."""


def _tiff_exif(im: Image.Image) -> bytes | None:
    """A TIFF scan's descriptive tags, with its EXIF and GPS sub-IFDs, as an EXIF block to carry
    to the result (strip offsets, sizes and the like describe the TIFF's own storage and are
    left out); ``None`` when it has none."""
    tags = Image.Image.getexif(im)
    kept = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        if tag in tags:
            kept[tag] = tags[tag]
    for pointer in (0x8769, 0x8825):  # EXIF (exposure, dates, ...) and GPS
        if sub := tags.get_ifd(pointer):
            kept.get_ifd(pointer).update(sub)
    return kept.tobytes() if len(kept) or kept.get_ifd(0x8769) or kept.get_ifd(0x8825) else None


def _tiff_bits(im: Image.Image) -> int:
    bits = getattr(im, "tag_v2", {}).get(258, 1)  # BitsPerSample
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _webp_header(data: bytes, label: str) -> _Header:
    """Size and EXIF orientation from the RIFF chunks (Pillow would allocate the canvas)."""
    size: tuple[int, int] | None = None
    exif: bytes | None = None
    frames = 0
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        head = data[pos + 8 : pos + 8 + min(length, 10)]
        if kind == b"VP8X" and len(head) == 10:
            size = 1 + int.from_bytes(head[4:7], "little"), 1 + int.from_bytes(head[7:10], "little")
        elif kind == b"VP8 " and size is None and len(head) == 10 and head[3:6] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", head[6:10])
            size = width & 0x3FFF, height & 0x3FFF
        elif kind == b"VP8L" and size is None and len(head) >= 5 and head[0] == 0x2F:
            bits = int.from_bytes(head[1:5], "little")
            size = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif kind == b"EXIF":
            exif = data[pos + 8 : pos + 8 + length]
        elif kind == b"ANMF":
            frames += 1
        pos += 8 + length + (length & 1)
    if size is None:
        raise DecodeError(f"cannot read {label}: malformed WebP header (no image size found)")
    orientation, kept, dpi = 1, None, None
    if exif:
        try:
            loaded = Image.Exif()
            # The chunk holds the TIFF-structured tags; some writers put the JPEG header first.
            loaded.load(exif if exif.startswith(_EXIF_HEADER) else _EXIF_HEADER + exif)
            dpi = _exif_dpi(loaded)  # WebP has no resolution field: its EXIF states one
            orientation, kept = int(loaded.get(0x0112, 1)), _upright_exif(loaded)
        except Exception as exc:  # a corrupt EXIF block should not make the image unreadable
            warnings.warn(
                f"{label}: unreadable EXIF data ({exc}); orientation ignored", stacklevel=3
            )
    return _Header(
        "WEBP",
        size[0],
        size[1],
        has_alpha=True,
        orientation=orientation,
        exif=kept,
        pages=max(1, frames),
        dpi=dpi,
    )


def _decode_pixels(data: bytes, header: _Header, label: str) -> tuple[np.ndarray, bool]:
    """The decoded samples and whether their channel order is BGR(A) (OpenCV) or RGB(A)."""
    if header.pil is not None and header.decode_with_pil:
        try:
            im = header.pil
            im.load()
            if im.mode == "CMYK":
                im = im.convert("RGB")
            return np.asarray(im), False
        except Exception as exc:  # Pillow raises many types for truncated or corrupt data
            raise DecodeError(
                f"cannot decode {label}: the {header.format} data is truncated or corrupt ({exc})"
            ) from exc
    if header.format == "JPEG":
        return _decode_jpeg(data, label), True
    if header.format == "PNG" and data.rfind(b"IEND") < 0:
        raise DecodeError(f"cannot decode {label}: the PNG data is truncated (no end chunk)")
    if header.format == "PNG" and (bad := _png_bad_chunk(data)) is not None:
        # Found here, libpng would print 'libpng error: ...' on stderr before failing.
        raise DecodeError(f"cannot decode {label}: the PNG data is corrupt ({bad})")
    if header.format == "PNG":
        data = _png_without_profile(data)
    try:
        with _opencv_silent():
            array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise DecodeError(f"cannot decode {label}: {exc}") from exc
    if array is None:
        raise DecodeError(
            f"cannot decode {label}: the {header.format} data is truncated or corrupt, or of a "
            "kind OpenCV cannot decode"
        )
    return array, True


def _png_chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """``(start, kind, data_end)`` of each chunk of a PNG file in order: the chunk's bytes are
    ``data[start:data_end + 4]`` (length, kind, data, CRC); stops at the last whole header."""
    view = memoryview(data)
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(view[pos : pos + 4], "big")
        end = pos + 8 + length
        yield pos, bytes(view[pos + 4 : pos + 8]), end
        pos = end + 4


def _png_bad_chunk(data: bytes) -> str | None:
    """What is wrong with the critical chunks of a PNG file (a checksum that does not match, as
    bit rot leaves; a chunk running past the end), or ``None``. Ancillary chunks (lower-case
    first letter: text, EXIF, ...) are not checked: libpng drops a bad one and reads on. About
    1 ms per 2 megabytes."""
    view = memoryview(data)
    for pos, kind, end in _png_chunks(data):
        if end + 4 > len(data):
            return f"the {kind.decode('latin-1')} chunk runs past the end of the file"
        critical = kind[:1].isupper()
        if critical and zlib.crc32(view[pos + 4 : end]) != int.from_bytes(view[end : end + 4]):
            return f"checksum mismatch in the {kind.decode('latin-1')} chunk at byte {pos}"
        if kind == b"IEND":
            return None
    return None


def _png_without_profile(data: bytes) -> bytes:
    """``data`` without its iCCP chunk (the embedded color profile), if it has one. Samples are
    read as sRGB and the profile is never used, but libpng checks it and prints a line on stderr
    for each image whose profile it finds wrong ('libpng warning: iCCP: profile 'ICC Profile':
    'RGB ': RGB color space not permitted on grayscale PNG', as a gray PNG converted from a
    photo with Pillow keeps the photo's profile; 'known incorrect sRGB profile'): a batch of such
    scans printed one per image."""
    for pos, kind, end in _png_chunks(data):
        if kind == b"iCCP":
            return data[:pos] + data[end + 4 :]
        if kind in (b"IDAT", b"IEND"):  # a profile comes before the image data
            return data
    return data


# What libjpeg prints on stderr about the data it decodes (jerror.h), the only way it tells of
# damage: it decodes on, and the image gets gray or garbage blocks (Pillow discards these lines).
# It prints its first warning only, and damage that its Huffman decoding falls back in step after
# goes unseen: of garbled runs of bytes in the middle of a baseline JPEG without restart markers,
# about two in three were caught (measured); with restart markers, every one that showed.
_JPEG_HARMLESS = (
    "Corrupt JPEG data: bad ICC marker",  # the color profile, not the pixels
    "Warning: unknown JFIF revision number",
    "Unknown Adobe color transform code",
)
_JPEG_DAMAGED = (
    "Corrupt JPEG data",  # bad Huffman code, premature end of data segment, extraneous bytes, ...
    "Premature end of JPEG file",
    "Inconsistent progression sequence",
    "Invalid SOS parameters for sequential JPEG",
)
# Padding between the last scan and the end marker, which some cameras and programs write, all the
# image data decoded: libjpeg-turbo reads a few bytes ahead (1 to 7, measured) and reports only what
# lies beyond, as the common "1 extraneous bytes before marker 0xd9". Bits flipped in the data
# that left the decoder out of step reported 3 or more (all of 470 such cases among 6,000 flips).
_JPEG_STRAY_BYTES = re.compile(r"Corrupt JPEG data: [12] extraneous bytes before marker 0xd9$")
_STDERR_LOCK = threading.Lock()


def _decode_jpeg(data: bytes, label: str) -> np.ndarray:
    """Decode a JPEG with OpenCV (BGR or gray) and refuse it if libjpeg reports damaged data.

    libjpeg prints its warnings on the process's stderr (file descriptor 2); that descriptor is
    sent to a temporary file while decoding, one decode at a time. Lines that are no libjpeg
    warning (another thread's) are written out to stderr again afterwards.
    """
    encoded = np.frombuffer(data, np.uint8)
    try:
        with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
            with _stderr_to(sink), _opencv_silent():
                array = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
            sink.seek(0)
            printed = sink.read().decode("utf-8", "replace")
    except cv2.error as exc:
        raise DecodeError(f"cannot decode {label}: {exc}") from exc
    damage, stray, others = [], [], []
    for line in printed.splitlines(keepends=True):
        text = line.strip()
        if _JPEG_STRAY_BYTES.match(text):
            stray.append(text)
        elif text.startswith(_JPEG_DAMAGED) and not text.startswith(_JPEG_HARMLESS):
            damage.append(text)
        elif text and not text.startswith(_JPEG_HARMLESS):
            others.append(line)
    if others:
        with contextlib.suppress(OSError):  # stderr may be closed
            os.write(2, "".join(others).encode("utf-8", "replace"))
    if array is None:
        raise DecodeError(
            f"cannot decode {label}: the JPEG data is truncated or corrupt"
            + (f" (libjpeg: {damage[0]})" if damage else "")
        )
    if damage:
        what = "truncated" if damage[0].startswith("Premature end of JPEG file") else "corrupt"
        raise DecodeError(
            f"cannot decode {label}: the JPEG data is {what} (libjpeg: {damage[0]}); parts of "
            "the image would be gray or garbage"
        )
    if stray:
        warnings.warn(
            f"{label}: the JPEG data has stray bytes before its end marker (libjpeg: "
            f"{stray[0]}), as some cameras and programs write; they were skipped",
            stacklevel=4,
        )
    return array


@contextlib.contextmanager
def _stderr_to(sink: IO[bytes]) -> Iterator[None]:
    """Send file descriptor 2, where C libraries print, to ``sink`` for the while."""
    if sys.stderr is not None:
        sys.stderr.flush()  # what Python holds goes out first, not into the sink
    try:
        saved: int | None = os.dup(2)
    except OSError:  # stderr is closed: it is closed again afterwards
        saved = None
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        if saved is None:
            os.close(2)
        else:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _opencv_silent() -> Iterator[None]:
    """OpenCV's own log off while decoding: a truncated TIFF made libtiff print four WARN and
    ERROR lines before the one error that a failed decode raises here."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def _split_channels(
    array: np.ndarray, *, bgr: bool, gray: bool, keep_alpha: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.ascontiguousarray(array), None
    channels = array.shape[2]
    alpha = np.ascontiguousarray(array[..., channels - 1]) if channels in (2, 4) else None
    if channels == 2 or gray:
        pixels = np.ascontiguousarray(array[..., 0])  # gray stored as gray+alpha or as R = G = B
    elif channels == 3:
        pixels = cv2.cvtColor(array, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(array)
    else:
        pixels = cv2.cvtColor(array, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return pixels, alpha if keep_alpha else None


def _gray_transparency(pixels: np.ndarray, value: Any, data: bytes) -> np.ndarray | None:
    """Alpha for a gray PNG with a tRNS chunk (one transparent gray level), else ``None``."""
    if not isinstance(value, int):
        return None
    bit_depth = data[24]  # in IHDR; OpenCV scales 1, 2 and 4-bit gray to 8 bit
    if bit_depth < 8:
        value = value * 255 // ((1 << bit_depth) - 1)
    top = np.iinfo(pixels.dtype).max
    return np.where(pixels == value, 0, top).astype(pixels.dtype)


# ---------------------------------------------------------------------------------------------
# Writing


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
    compress_level: int = 1,
    quality: int = 95,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> None:
    """Write an image atomically; the format comes from the extension.

    The file is written to a hidden temporary file (``.NAME.XXXX.tmp``) in the same directory and
    renamed over ``path``, so ``path`` never holds a partial image; on failure nothing is left.
    Parent directories are created. The arrays passed in are never modified.

    Args:
        path: ``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff`` or ``.webp``.
        pixels: ``uint8`` or ``uint16``, ``(H, W)`` gray or ``(H, W, 3)`` RGB. JPEG and WebP are
            8 bit, so 16-bit pixels are rounded to 8 bit for them.
        alpha: ``(H, W)``, same dtype as ``pixels``. Not possible with JPEG (unless opaque
            everywhere: then it is left out). WebP has no gray
            mode, and 16-bit gray+alpha TIFF is written as RGBA: gray comes back as RGB there.
        metadata: a JSON-serializable dict, stored in PNG files as a text chunk with the key
            ``"polychrome"`` (see :func:`read_metadata`); ignored for other formats.
        compress_level: PNG zlib level, 0 (none, fastest) to 9 (smallest).
        quality: JPEG and WebP quality, 1 to 100.
        exif: an EXIF block (:attr:`ImageData.exif`) to carry over: stored in JPEG, PNG, WebP
            and TIFF files (in a TIFF, as tags of its first IFD with the EXIF and GPS sub-IFDs,
            less those that describe how pixels are stored: the file's own say that).
        dpi: ``(x, y)`` dots per inch (:attr:`ImageData.dpi`) to state: stored in PNG (pHYs),
            JPEG (JFIF density) and TIFF files, and in WebP files (no field of their own) as
            the EXIF's XResolution, YResolution and ResolutionUnit.

    Raises:
        ValueCheckError: unknown extension, bad dtype or setting, alpha with JPEG, a WebP side
            over 16383 pixels, metadata that is not JSON-serializable.
        ShapeError: ``pixels`` or ``alpha`` of the wrong shape.
        InputError: the file or its directory cannot be written.
    """
    target = Path(os.fspath(path))
    fmt = _EXTENSIONS.get(target.suffix.lower())
    if fmt is None:
        raise ValueCheckError(
            f"cannot tell the format of {target}: use one of the extensions "
            f"{', '.join(sorted(_EXTENSIONS))}"
        )
    pieces = _encode_checked(
        fmt,
        pixels,
        alpha,
        metadata,
        compress_level,
        quality,
        label=f"cannot write {target}",
        exif=exif,
        dpi=dpi,
    )
    _write_atomic(target, pieces)


def encode_image(
    pixels: np.ndarray,
    *,
    format: str = "PNG",
    alpha: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
    compress_level: int = 1,
    quality: int = 95,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    """Encode an image in memory, exactly as :func:`write_image` would write it.

    Args:
        pixels, alpha, metadata, compress_level, quality, exif, dpi: see :func:`write_image`.
        format: ``"PNG"``, ``"JPEG"``, ``"TIFF"`` or ``"WEBP"`` (any case).

    Returns:
        The encoded file.

    Raises:
        ValueCheckError, ShapeError: as :func:`write_image`, or an unknown ``format``.
    """
    fmt = str(format).upper()
    if fmt not in _EXTENSIONS.values():
        known = ", ".join(sorted(set(_EXTENSIONS.values())))
        raise ValueCheckError(f"unknown image format {format!r}; use one of {known}")
    pieces = _encode_checked(
        fmt,
        pixels,
        alpha,
        metadata,
        compress_level,
        quality,
        label=f"cannot encode {fmt}",
        exif=exif,
        dpi=dpi,
    )
    return b"".join(pieces)


def _encode_checked(
    fmt: str,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    metadata: dict[str, Any] | None,
    compress_level: int,
    quality: int,
    *,
    label: str,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> list[bytes | memoryview]:
    """Check the arguments of :func:`write_image` and encode; ``label`` starts error messages
    that name the target."""
    pixels = _check_pixels(pixels)
    alpha = None if alpha is None else _check_alpha(alpha, pixels)
    if not _is_integer(compress_level) or not 0 <= compress_level <= 9:
        raise ValueCheckError(f"compress_level must be an integer in 0..9, got {compress_level!r}")
    if not _is_integer(quality) or not 1 <= quality <= 100:
        raise ValueCheckError(f"quality must be an integer in 1..100, got {quality!r}")
    compress_level, quality = int(compress_level), int(quality)
    if exif is not None and not isinstance(exif, bytes):
        raise ValueCheckError(f"exif must be bytes (ImageData.exif), got {type(exif).__name__}")
    stated = _dpi_of(dpi)
    if dpi is not None and stated is None:
        raise ValueCheckError(f"dpi must be two positive numbers (x, y), got {dpi!r}")
    dpi = stated
    if fmt == "WEBP" and max(pixels.shape[:2]) > _WEBP_MAX_SIDE:
        raise ValueCheckError(
            f"{label}: WebP images are at most {_WEBP_MAX_SIDE} pixels a side, this one is "
            f"{pixels.shape[1]}x{pixels.shape[0]}; write .png or .tif instead"
        )
    if fmt == "JPEG" and alpha is not None:
        if not is_opaque(alpha):
            raise ValueCheckError(
                f"{label}: JPEG cannot store alpha (transparency); write .png (or .tif, .webp) "
                "instead"
            )
        alpha = None  # an alpha channel that is opaque everywhere loses nothing
    text = None if metadata is None else _metadata_text(metadata)  # checked for every format

    exif = exif if exif and exif.startswith(_EXIF_HEADER) else None
    pieces = _encode(fmt, pixels, alpha, compress_level=compress_level, quality=quality, dpi=dpi)
    if dpi is not None and fmt == "PNG":
        per_metre = [max(1, round(v / 0.0254)) for v in dpi]
        pieces = _after_ihdr(pieces, _png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    elif dpi is not None and fmt == "JPEG":
        pieces = _with_jpeg_density(pieces, dpi)
    if text is not None and fmt == "PNG":
        pieces = _with_png_text(pieces, _METADATA_KEY, text)
    if fmt == "PNG" and exif is not None:
        pieces = _after_ihdr(pieces, _png_chunk(b"eXIf", exif[len(_EXIF_HEADER) :]))
    elif fmt == "JPEG" and exif is not None and len(exif) + 2 <= 0xFFFF:
        pieces = _with_jpeg_exif(pieces, exif)
    elif fmt == "WEBP":
        if dpi is not None:  # WebP has no resolution field of its own: its EXIF states it
            exif = _exif_stating_dpi(exif, dpi, label)
        if exif is not None:
            pieces = _with_webp_exif(pieces, exif[len(_EXIF_HEADER) :], pixels.shape[:2])
    elif fmt == "TIFF":
        # OpenCV leaves out ExtraSamples (Pillow, which writes gray+alpha, does not).
        tags = _tiff_tags_of(exif, label) if exif is not None else Image.Exif()
        if alpha is not None:
            tags[338] = 2  # ExtraSamples: unassociated alpha
        if len(tags):  # the EXIF and GPS sub-IFDs count by their pointers
            pieces = _with_tiff_tags(pieces, tags)
    return pieces


_EXIF_HEADER = b"Exif\0\0"
_WEBP_MAX_SIDE = 16383
"""The WebP format's largest width and height."""


def is_opaque(alpha: np.ndarray) -> bool:
    """Whether an alpha channel (uint8 or uint16) is at full opacity everywhere: such a
    channel (many scanning and editing programs write one) can be left out without a loss."""
    return bool(alpha.min() == np.iinfo(alpha.dtype).max)


def _is_integer(value: Any) -> bool:
    """An ``int`` or a numpy integer, not a ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _with_jpeg_density(
    pieces: Sequence[bytes | memoryview], dpi: tuple[float, float]
) -> list[bytes | memoryview]:
    """Set the density of the JFIF APP0 segment (OpenCV writes 1:1, no unit) to ``dpi``."""
    data = memoryview(b"".join(pieces) if len(pieces) != 1 else pieces[0]).cast("B")
    if bytes(data[2:4]) != b"\xff\xe0" or bytes(data[6:11]) != b"JFIF\0":
        return [data]
    x, y = (min(0xFFFF, max(1, round(v))) for v in dpi)
    return [data[:13], struct.pack(">BHH", 1, x, y), data[18:]]


def _with_jpeg_exif(pieces: Sequence[bytes | memoryview], exif: bytes) -> list[bytes | memoryview]:
    """Insert an APP1 EXIF segment after the start of image (and the JFIF APP0 segment)."""
    data = memoryview(b"".join(pieces) if len(pieces) != 1 else pieces[0]).cast("B")
    at = 2
    if bytes(data[2:4]) == b"\xff\xe0":  # JFIF APP0 first, as OpenCV writes it
        at = 4 + int.from_bytes(data[4:6], "big")
    segment = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    return [data[:at], segment, data[at:]]


def _with_webp_exif(
    pieces: Sequence[bytes | memoryview], tiff: bytes, shape: tuple[int, int]
) -> list[bytes | memoryview]:
    """Add an ``EXIF`` chunk (the TIFF-structured tags) to a WebP file: the extended format,
    whose ``VP8X`` chunk flags it (a simple file gets a ``VP8X`` chunk first)."""
    data = bytes(b"".join(pieces))
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    kinds = [kind for kind, _ in chunks]
    if b"VP8X" in kinds:
        at = kinds.index(b"VP8X")
        head = bytearray(chunks[at][1])
        head[0] |= 0x08  # EXIF present
        chunks[at] = (b"VP8X", bytes(head))
    else:
        h, w = shape
        alpha = any(k == b"VP8L" and len(c) > 4 and c[4] & 0x10 for k, c in chunks)
        flags = 0x08 | (0x10 if alpha else 0)
        head = bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", head + (h - 1).to_bytes(3, "little")))
    chunks.append((b"EXIF", tiff))
    body = b"".join(
        kind + len(c).to_bytes(4, "little") + c + (b"\0" if len(c) & 1 else b"")
        for kind, c in chunks
    )
    return [b"RIFF", (len(body) + 4).to_bytes(4, "little"), b"WEBP", body]


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueCheckError(f"pixels must be uint8 or uint16, got {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ShapeError(f"pixels must have shape (H, W) or (H, W, 3), got {pixels.shape}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ShapeError(f"pixels must not be empty, got shape {pixels.shape}")
    return pixels


def _check_alpha(alpha: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    alpha = np.asarray(alpha)
    if alpha.shape != pixels.shape[:2]:
        raise ShapeError(f"alpha must have shape {pixels.shape[:2]}, got {alpha.shape}")
    if alpha.dtype != pixels.dtype:
        raise ValueCheckError(
            f"alpha must have the dtype of pixels, {pixels.dtype}; got {alpha.dtype}"
        )
    return alpha


def _metadata_text(metadata: dict[str, Any]) -> str:
    if not isinstance(metadata, dict):
        raise ValueCheckError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.dumps(metadata, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueCheckError(f"metadata must be JSON-serializable: {exc}") from exc


def _to_8bit(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    # round(x * 255 / 65535) = round(x / 257), exactly, in integers.
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to_cv2(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Gray, BGR or BGRA samples for cv2.imencode (a new array or ``pixels`` itself)."""
    if alpha is None:
        if pixels.ndim == 2:
            return np.ascontiguousarray(pixels)
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2BGR)
    conversion = cv2.COLOR_GRAY2BGRA if pixels.ndim == 2 else cv2.COLOR_RGB2BGRA
    out = cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    out[..., 3] = alpha
    return out


def _encode(
    fmt: str,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    *,
    compress_level: int,
    quality: int,
    dpi: tuple[float, float] | None = None,
) -> list[bytes | memoryview]:
    params: list[int]
    if fmt == "PNG":
        if alpha is not None and pixels.ndim == 2:
            return [_encode_png_gray_alpha(pixels, alpha, compress_level)]
        ext, params = ".png", [cv2.IMWRITE_PNG_COMPRESSION, compress_level]
        if compress_level == 0:
            params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
        elif compress_level <= 3:
            params += _PNG_FAST_PARAMS
    elif fmt == "TIFF":
        if alpha is not None and pixels.ndim == 2 and pixels.dtype == np.uint8:
            return [_encode_tiff_gray_alpha(pixels, alpha, dpi)]
        # Whole dots per inch (OpenCV takes integers); without one, no unit, so that OpenCV's
        # 1 x 1 does not read as 1 dpi.
        ext, params = ".tiff", [cv2.IMWRITE_TIFF_RESUNIT, 1]
        if dpi is not None:
            x, y = (max(1, round(v)) for v in dpi)
            params = [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, x]
            params += [cv2.IMWRITE_TIFF_YDPI, y]
    elif fmt == "JPEG":
        pixels = _to_8bit(pixels)
        ext = ".jpg"
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    else:
        pixels = _to_8bit(pixels)
        alpha = None if alpha is None else _to_8bit(alpha)
        ext, params = ".webp", [cv2.IMWRITE_WEBP_QUALITY, quality]
    return [_cv2_encode(ext, pixels, alpha, params, fmt)]


def _cv2_encode(
    ext: str, pixels: np.ndarray, alpha: np.ndarray | None, params: list[int], fmt: str
) -> memoryview:
    try:
        ok, buffer = cv2.imencode(ext, _to_cv2(pixels, alpha), params)
    except cv2.error as exc:
        raise PolychromeError(f"the {fmt} encoder failed: {exc}") from exc
    if not ok:
        raise PolychromeError(f"the {fmt} encoder failed")
    return memoryview(buffer).cast("B")


_TIFF_STORAGE_TAGS = frozenset(
    {
        *(254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266),  # kind, size, samples, coding
        *(273, 277, 278, 279, 280, 281, 284, 297),  # strips, sample range, planes, page number
        *(290, 291, 292, 293, 301, 317, 318, 319, 320, 321),  # responses, predictor, colorimetry
        *(322, 323, 324, 325, 330, 332, 334, 338, 339, 340, 341),  # tiles, inks, extra samples
        *(347, 512, 513, 514, 515, 517, 518, 519, 520, 521),  # JPEG tables and old-style JPEG
        *(529, 530, 531, 532),  # YCbCr
        *(282, 283, 296),  # resolution: the dpi written, not the EXIF's (often a default 72)
        34675,  # the ICC profile: the result's colors are not the input's
    }
)
"""First-IFD tags that describe how a TIFF stores its pixels (TIFF 6.0), not the picture: an EXIF
block's own are not carried into a TIFF result, whose file states its own."""


def _tiff_tags_of(exif: bytes, label: str) -> Image.Exif:
    """The tags of an EXIF block to write into a TIFF's first IFD: all but those of
    :data:`_TIFF_STORAGE_TAGS`, with the EXIF and GPS sub-IFDs. Unreadable EXIF gives none (and a
    warning)."""
    tags = Image.Exif()
    try:
        tags.load(exif)
        for tag in [tag for tag in tags if tag in _TIFF_STORAGE_TAGS]:
            del tags[tag]
    except Exception as exc:  # Pillow raises many types for malformed EXIF
        warnings.warn(f"{label}: unreadable EXIF data ({exc}); not written", stacklevel=4)
        return Image.Exif()
    return tags


def _with_tiff_tags(
    pieces: Sequence[bytes | memoryview], tags: Image.Exif
) -> list[bytes | memoryview]:
    """Add ``tags`` to the first IFD of a TIFF file, but those it has already.

    Pillow serializes ``tags`` (with their sub-IFDs) as an IFD placed after the file's data; a new
    first IFD, the file's entries and those new ones, follows it, and the header points to it.
    The old first IFD is left unused; the pixel data does not move.
    """
    data = memoryview(b"".join(pieces) if len(pieces) != 1 else pieces[0]).cast("B")
    order = "<" if bytes(data[:2]) == b"II" else ">"
    if struct.unpack(order + "H", data[2:4])[0] != 42:
        return [data]  # BigTIFF (over 4 GB): left as it is
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    start, end = offset + 2, offset + 2 + 12 * count
    entries = {
        struct.unpack(order + "H", data[i : i + 2])[0]: bytes(data[i : i + 12])
        for i in range(start, end, 12)
    }
    for tag in [tag for tag in tags if tag in entries]:
        del tags[tag]
    if not len(tags):
        return [data]
    pad = b"\0" * (len(data) % 2)  # an IFD starts on a word boundary
    at = len(data) + len(pad)
    tags.endian = order
    added = tags.tobytes(at)[len(_EXIF_HEADER) + 8 :]  # less Pillow's TIFF header
    (n,) = struct.unpack(order + "H", added[:2])
    for i in range(2, 2 + 12 * n, 12):
        entries.setdefault(struct.unpack(order + "H", added[i : i + 2])[0], added[i : i + 12])
    tail = b"\0" * (len(added) % 2)
    ifd = (
        struct.pack(order + "H", len(entries))
        + b"".join(entries[tag] for tag in sorted(entries))
        + bytes(data[end : end + 4])  # offset of the next IFD, unchanged
    )
    new_offset = struct.pack(order + "I", at + len(added) + len(tail))
    return [data[:4], new_offset, data[8:], pad, added, tail, ifd]


def _exif_stating_dpi(exif: bytes | None, dpi: tuple[float, float], label: str) -> bytes:
    """An EXIF block (``exif``'s tags, or none) whose first IFD states ``dpi``: XResolution,
    YResolution and ResolutionUnit (inches)."""
    tags = Image.Exif()
    if exif is not None:
        try:
            tags.load(exif)
        except Exception as exc:  # Pillow raises many types for malformed EXIF
            warnings.warn(f"{label}: unreadable EXIF data ({exc}); not written", stacklevel=4)
            tags = Image.Exif()
    tags[0x011A], tags[0x011B], tags[0x0128] = float(dpi[0]), float(dpi[1]), 2
    return tags.tobytes()


def _exif_dpi(tags: Image.Exif) -> tuple[float, float] | None:
    """The resolution an EXIF block's first IFD states, in dots per inch, or ``None``."""
    scale = {2: 1.0, 3: 2.54}.get(tags.get(0x0128, 2))  # ResolutionUnit: inch (default), cm
    if scale is None or 0x011A not in tags or 0x011B not in tags:
        return None
    return _dpi_of((float(tags[0x011A]) * scale, float(tags[0x011B]) * scale))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _encode_png_gray_alpha(gray: np.ndarray, alpha: np.ndarray, level: int) -> bytes:
    """A gray+alpha PNG (color type 4), which OpenCV cannot write: "Up" filter, then zlib."""
    height, width = gray.shape
    samples = np.stack([gray, alpha], axis=-1).astype(gray.dtype.newbyteorder(">"))
    rows = samples.view(np.uint8).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type "Up": each byte minus the byte above it
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    strategy = zlib.Z_RLE if 1 <= level <= 3 else zlib.Z_DEFAULT_STRATEGY
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    bit_depth = 8 * gray.dtype.itemsize
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 4, 0, 0, 0)
    return b"".join(
        [
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", compressor.compress(filtered) + compressor.flush()),
            _png_chunk(b"IEND", b""),
        ]
    )


def _encode_tiff_gray_alpha(
    gray: np.ndarray, alpha: np.ndarray, dpi: tuple[float, float] | None = None
) -> bytes:
    """An 8-bit gray+alpha TIFF, which OpenCV cannot write (Pillow can)."""
    buffer = io.BytesIO()
    extra = {} if dpi is None else {"dpi": dpi}
    try:
        Image.fromarray(np.stack([gray, alpha], axis=-1), "LA").save(
            buffer, "TIFF", compression="tiff_lzw", **extra
        )
    except Exception as exc:  # Pillow raises many types
        raise PolychromeError(f"the TIFF encoder failed: {exc}") from exc
    return buffer.getvalue()


def _with_png_text(
    pieces: Sequence[bytes | memoryview], key: str, text: str
) -> list[bytes | memoryview]:
    """Insert a tEXt chunk right after IHDR (so it precedes the pixel data), without copying."""
    return _after_ihdr(
        pieces, _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    )


def _after_ihdr(pieces: Sequence[bytes | memoryview], chunk: bytes) -> list[bytes | memoryview]:
    """Insert a PNG chunk right after IHDR, without copying the pixel data."""
    data = memoryview(b"".join(pieces) if len(pieces) != 1 else pieces[0]).cast("B")
    end_of_ihdr = len(_PNG_SIGNATURE) + 8 + 13 + 4
    if bytes(data[12:16]) != b"IHDR":
        raise PolychromeError("the PNG encoder wrote an unexpected first chunk")
    return [data[:end_of_ihdr], chunk, data[end_of_ihdr:]]


def _write_atomic(target: Path, pieces: Sequence[bytes | memoryview]) -> None:
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the directory {directory}: {exc.strerror or exc}") from exc
    temp = directory / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        # O_EXCL: never follow or reuse an existing file; 0o666 lets the umask apply as usual.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a UTF-8 text file atomically (temporary file in the same folder, then rename)."""
    _write_atomic(Path(path), [text.encode("utf-8")])


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file atomically (temporary file in the same folder, then rename)."""
    _write_atomic(Path(path), [data])


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
