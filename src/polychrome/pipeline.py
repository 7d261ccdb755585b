"""``colorize()``: the pipeline of DESIGN.md, one step per function.

1. prepare:   decode and validate; full-resolution luminance and a working-resolution copy.
2. guidance:  every user constraint as typed hints (:mod:`polychrome.guidance.hints`).
3. priors:    the engine's chroma proposal at working resolution.
4. solve:     one edge-aware optimization fuses priors and hints.
5. upsample:  chroma to full resolution, guided by the full-resolution luminance.
6. output:    Lab -> RGB keeping L* exactly (gamut handled by reducing chroma), with metadata.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL.Image
import PIL.ImageOps

from polychrome import __version__
from polychrome.engines.base import EngineContext, engine_spec, load_engine
from polychrome.errors import (
    DecodeError,
    ImageTooLargeError,
    PolychromeError,
    ShapeError,
    ValueCheckError,
)
from polychrome.guidance.hints import Guidance, LabelMask, cell_of
from polychrome.io import ImageData, read_image, read_metadata, write_image
from polychrome.ops.color import lab_to_rgb, luminance_of, reduce_chroma
from polychrome.ops.filters import area_share, resize, working_shape
from polychrome.options import ColorizeOptions
from polychrome.solve.propagate import Prior, SolveSettings, solve_chroma
from polychrome.solve.upsample import compose_chroma

__all__ = [
    "ColorizeResult",
    "Prepared",
    "colorize",
    "earlier_results",
    "engine_context",
    "prepare",
    "sample_paths",
]

ImageInput = (
    str
    | os.PathLike[str]
    | bytes
    | bytearray
    | memoryview
    | ImageData
    | PIL.Image.Image
    | np.ndarray
)


@dataclass(frozen=True)
class Prepared:
    """The input, decoded and split into what the rest of the pipeline needs."""

    luminance: np.ndarray
    """``(H, W)`` float32 L* at full resolution: kept exactly in the output."""
    work_luminance: np.ndarray
    """``(h, w)`` float32 L* at working resolution."""
    alpha: np.ndarray | None
    """``(H, W)`` alpha of the input (carried to the output), or None."""
    bit_depth: int
    """8 or 16: the output's bit depth."""
    path: str | None = None
    exif: bytes | None = None
    """The input file's EXIF block, carried to the result."""
    pages: int = 1
    """How many images the input file holds (a multi-page TIFF); only the first is colorized."""
    dpi: tuple[float, float] | None = None
    """The input file's stated resolution, carried to the result."""


@dataclass(frozen=True)
class ColorizeResult:
    """A colorized image (or several samples) and how it was made."""

    images: tuple[np.ndarray, ...]
    """One ``(H, W, 3)`` RGB image per sample, uint8 or uint16 (the input's bit depth)."""
    alpha: np.ndarray | None
    """``(H, W)`` alpha copied from the input, or None."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """How it was made (JSON-able, embedded in PNGs by :meth:`save`): ``software`` (polychrome's
    version), ``input`` (file name, size, bit depth; ``pages`` when the file holds several images
    and only the first was colorized), ``engine``, ``engine_options``,
    ``options``, ``seed``, ``path`` (``"exact"`` or ``"fast"``), ``working_size``, ``guidance``,
    ``description`` (when one was bound) and ``timings`` (seconds per step)."""
    exif: bytes | None = None
    """The input file's EXIF block (camera, dates, ...; orientation upright), written into JPEG,
    PNG, WebP and TIFF results by :meth:`save`."""
    dpi: tuple[float, float] | None = None
    """The input file's resolution in dots per inch (a scan's 600 dpi), written into PNG, JPEG,
    TIFF and WebP (as EXIF tags) results by :meth:`save`."""

    @property
    def image(self) -> np.ndarray:
        """The (first) result, ``(H, W, 3)``."""
        return self.images[0]

    @property
    def bit_depth(self) -> int:
        """8 or 16: the input's bit depth, which the images have (uint8 or uint16)."""
        return 16 if self.image.dtype == np.uint16 else 8

    def save(self, path: str | os.PathLike[str], *, compress_level: int = 1) -> list[Path]:
        """Write atomically (temporary file, then rename), with the metadata embedded in PNGs.
        Several samples go to :func:`sample_paths`. Returns the paths written."""
        paths = sample_paths(path, len(self.images))
        for k, (target, image) in enumerate(zip(paths, self.images, strict=True)):
            meta = self.metadata if len(self.images) == 1 else {**self.metadata, "sample": k}
            write_image(
                target,
                image,
                alpha=self.alpha,
                metadata=meta,
                compress_level=compress_level,
                exif=self.exif,
                dpi=self.dpi,
            )
        return paths


def sample_paths(path: str | os.PathLike[str], count: int) -> list[Path]:
    """Where :meth:`ColorizeResult.save` writes ``count`` samples: ``path`` itself for one,
    ``name-1.png`` ... ``name-N.png`` beside it for several."""
    path = Path(path)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{k + 1}{path.suffix}") for k in range(count)]


def earlier_results(files: list[Path], output_format: str, samples: int = 1) -> set[Path]:
    """Which of ``files`` (images of one folder that is also the output folder) are results of
    an earlier run there rather than inputs: ``STEM.{output_format}`` (``STEM-1...`` for
    several ``samples``) beside the input ``STEM.EXT`` it was made from, and either a PNG with
    polychrome's metadata or, in another format, written in color (RGB) and not older than
    that input. Anything unsure counts as an input, so it is never written over (the two then
    share a stem, which the callers refuse, naming both)."""
    made_from: dict[str, list[Path]] = {}  # a result's stem -> the inputs it may come from
    for f in files:
        for r in sample_paths(f.with_suffix(f".{output_format}"), samples):
            made_from.setdefault(r.stem, []).append(f)
    return {
        f
        for f in files
        if f.suffix == f".{output_format}"
        and _earlier_result(f, [s for s in made_from.get(f.stem, []) if s != f])
    }


def _earlier_result(candidate: Path, sources: list[Path]) -> bool:
    if not sources:
        return False
    try:
        if candidate.suffix == ".png":
            return read_metadata(candidate) is not None
        with PIL.Image.open(candidate) as im:
            if im.mode not in ("RGB", "RGBA"):
                return False
        newest = max(p.stat().st_mtime for p in sources)
        return candidate.stat().st_mtime >= newest
    except (PolychromeError, OSError, PIL.UnidentifiedImageError):
        return False


EXACT_MAX_PIXELS = 2_000_000
"""The largest image ``method="exact"`` takes: its sparse factorization grows faster than the
pixel count (3 MP: about 5 GB and a minute on 2 cores)."""


def prepare(image: ImageInput, *, options: ColorizeOptions, exact: bool) -> Prepared:
    """Step 1: decode, validate, and compute the full- and working-resolution luminance.

    ``image`` may be a path, encoded bytes, an :class:`~polychrome.io.ImageData`, a PIL image
    (turned upright by its EXIF orientation, as a file is; palette, CMYK and other modes
    converted to RGB) or an array: uint8/uint16/float (``[0, 1]``) gray ``(H, W)`` or
    ``(H, W, 1)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``. Color inputs are recolored: only
    their luminance is used.
    """
    path, exif, pages, dpi = None, None, 1, None
    if isinstance(image, str | os.PathLike | bytes | bytearray | memoryview):
        path = None if isinstance(image, bytes | bytearray | memoryview) else os.fspath(image)
        image = read_image(image, max_pixels=options.max_pixels)
    elif isinstance(image, PIL.Image.Image):
        path = getattr(image, "filename", None) or None
        image = _from_pil(image, options.max_pixels)
    if isinstance(image, ImageData):
        pixels, alpha, bit_depth = image.pixels, image.alpha, image.bit_depth
        path, exif, pages, dpi = path or image.path, image.exif, image.pages, image.dpi
    else:
        pixels, alpha, bit_depth = _split_array(_as_array(image), options.max_pixels)
    shape = pixels.shape[:2]
    if exact and shape[0] * shape[1] > EXACT_MAX_PIXELS:
        raise ValueCheckError(
            f"method 'exact' solves every pixel at once and takes at most {EXACT_MAX_PIXELS:,} "
            f"pixels (about 3.5 GB of memory and half a minute there); this image has "
            f"{shape[0] * shape[1]:,}: use method 'auto' or 'fast'"
        )
    luminance = luminance_of(pixels)
    work = shape if exact else working_shape(shape, options.working_pixels)
    work_luminance = luminance if work == shape else resize(luminance, work, mode="area")
    return Prepared(luminance, work_luminance, alpha, bit_depth, path, exif, pages, dpi)


_PIL_AS_IS = frozenset({"L", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N"})


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    """An image given in memory (array or PIL image) over ``max_pixels``: ImageTooLargeError."""
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}; raise max_pixels= to colorize it"
        )


def _from_pil(image: PIL.Image.Image, max_pixels: int) -> np.ndarray:
    """A PIL image as an array :func:`_split_array` reads. ``np.asarray`` alone would read a
    palette image's indices as gray levels and a CMYK image's K as alpha."""
    _check_pixel_count(*image.size, max_pixels)
    try:
        image = PIL.ImageOps.exif_transpose(image)
        if image.mode == "F":
            raise ValueCheckError(
                "a PIL image of mode 'F' has no fixed range: pass np.asarray(image) scaled "
                "to [0, 1] instead"
            )
        if image.mode == "I":  # 16-bit gray as some decoders give it, in 32 bits
            array = np.asarray(image)
            if array.size and (array.min() < 0 or array.max() > 65535):
                raise ValueCheckError(
                    "a PIL image of mode 'I' must hold values in 0..65535 (16-bit gray)"
                )
            return array.astype(np.uint16)
        if image.mode not in _PIL_AS_IS:
            alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if alpha else "RGB")
        return np.asarray(image)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueCheckError):
            raise
        raise DecodeError(f"cannot read the PIL image (mode {image.mode!r}): {exc}") from exc


def _as_array(image: Any) -> np.ndarray:
    """``image`` as an array; anything that is not array-like (None, a number, a dict) is
    refused by its type, not by the shape numpy makes of it."""
    try:
        array = image if isinstance(image, np.ndarray) else np.asarray(image)
    except (TypeError, ValueError):  # a ragged list, an object numpy cannot read
        array = np.empty((), object)
    if array.ndim == 0 or array.dtype == object:
        raise ValueCheckError(
            "image must be a path, encoded bytes, a PIL image or a numpy array, got "
            f"{type(image).__name__}"
        )
    return array


def _check_float_range(array: np.ndarray) -> None:
    """A float image must hold finite values in [0, 1]; the refusal says what it holds."""
    if not np.isfinite(array).all():
        raise ValueCheckError("float images must hold finite values in [0, 1], got NaN or inf")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        hint = "; divide 8-bit values by 255" if low >= 0 and high <= 255 else ""
        raise ValueCheckError(
            f"float images must hold values in [0, 1], got values in [{low:g}, {high:g}]{hint}"
        )


def _split_array(array: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ShapeError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    height, width = array.shape[:2]
    if height < 1 or width < 1:
        raise ShapeError(f"image must have at least one pixel, got shape {array.shape}")
    _check_pixel_count(width, height, max_pixels)
    if not array.dtype.isnative:  # big-endian data (FITS, some TIFF readers): same values
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype not in (np.uint8, np.uint16) and not np.issubdtype(array.dtype, np.floating):
        raise ValueCheckError(f"image dtype must be uint8, uint16 or float, got {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        _check_float_range(array)
    alpha = None
    if array.ndim == 3 and array.shape[2] == 4:
        array, alpha = array[..., :3], array[..., 3].copy()
    elif array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    bit_depth = 16 if array.dtype == np.uint16 else 8
    if alpha is not None and np.issubdtype(alpha.dtype, np.floating):
        alpha = np.round(alpha * 255).astype(np.uint8)
    return array, alpha, bit_depth


def propose(
    prepared: Prepared,
    *,
    options: ColorizeOptions,
    engine_options: Mapping[str, Any] | None = None,
    sample: int | None = None,
    guidance: Guidance | None = None,
) -> list[Prior]:
    """Step 3: the engine's proposal at working resolution, as solver priors (chroma scaled by
    ``options.saturation``, then the tone presets of ``guidance``'s description applied). Engines
    that read guidance themselves (``wants_context``) also get the description and instances."""
    engine = load_engine(options.engine)
    opts = engine.Options.from_mapping(dict(engine_options or {}))
    extra: dict[str, Any] = {}
    if getattr(engine, "wants_context", False):
        extra["context"] = engine_context(
            guidance, prepared.work_luminance.shape, full_shape=prepared.luminance.shape
        )
    proposal = engine.propose(
        prepared.work_luminance, options=opts, seed=options.seed, sample=sample, **extra
    )
    if proposal is None:
        return []
    ab = proposal.ab * np.float32(options.saturation)
    if guidance is not None and guidance.tones:
        from polychrome.guidance.describe import apply_tone

        ab = apply_tone(ab, guidance.tones)
    return [Prior(ab, proposal.confidence, name=options.engine)]


def engine_context(
    guidance: Guidance | None,
    shape: tuple[int, int],
    *,
    full_shape: tuple[int, int] | None = None,
) -> EngineContext:
    """The description, the instances (masks at working ``shape``) and the point hints (moved
    from ``full_shape`` to working coordinates, :func:`~polychrome.guidance.hints.cell_of`)
    for an engine."""
    if guidance is None:
        return EngineContext()
    hints = None
    points = [p for p in guidance.points if len(p)]
    if points:
        # The working pixel that covers each hint, as the solver places it.
        yx = cell_of(np.concatenate([p.yx for p in points]), full_shape or shape, shape)
        yx = yx.astype(np.int32)
        ab = np.concatenate([p.ab for p in points]).astype(np.float32)
        weight = np.concatenate([p.weight for p in points]).astype(np.float32)
        hints = (yx, ab, weight)
    instances = []
    for inst in guidance.instances:
        mask = inst.mask
        if isinstance(mask, LabelMask):  # its box only, never the full-size mask
            y0, _, x0, _ = mask.box
            mask = area_share(mask.crop(), shape, full_shape=mask.shape, offset=(y0, x0)) >= 0.5
        elif mask.shape != shape:
            mask = area_share(mask, shape) >= 0.5  # reads the mask's bounding box only
        if mask.any():
            instances.append((mask, inst.label))
    text = str((guidance.report or {}).get("text") or "")
    return EngineContext(description=text, instances=tuple(instances), hints=hints)


_STRIP_PIXELS = 1 << 20
"""Pixels per strip of rows in :func:`render`."""


def render(prepared: Prepared, ab: np.ndarray) -> np.ndarray:
    """Step 6: Lab -> RGB at the output bit depth, L* kept, out-of-gamut chroma reduced.

    Works in strips of rows, so that its temporaries (chroma, hue, gamut limits, float RGB:
    about 40 bytes a pixel) are one strip's, not the image's (2 GB at 50 MP)."""
    lum = prepared.luminance
    h, w = lum.shape
    precise = prepared.bit_depth == 16 or max(h, w) >= 32767
    out = np.empty((h, w, 3), np.uint16 if prepared.bit_depth == 16 else np.uint8)
    rows = max(1, _STRIP_PIXELS // w)
    for y0 in range(0, h, rows):
        strip = slice(y0, y0 + rows)
        if precise:
            lab = np.concatenate([lum[strip, :, None], ab[strip]], axis=2)
            rgb = lab_to_rgb(lab, precise=True)
            scale = 65535.0 if prepared.bit_depth == 16 else 255.0
            out[strip] = np.round(rgb * np.float32(scale))
            continue
        a, b = reduce_chroma(lum[strip], ab[strip, :, 0], ab[strip, :, 1])
        rgb = cv2.cvtColor(cv2.merge([lum[strip], a, b]), cv2.COLOR_Lab2RGB)
        out[strip] = cv2.convertScaleAbs(rgb, alpha=255.0)
    return out


def _options(
    options: ColorizeOptions | Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> ColorizeOptions:
    """``colorize``'s options: a mapping is read as keyword overrides are (environment variables
    fill what it leaves out), and the overrides win."""
    if options is None or isinstance(options, Mapping):
        values = dict(options or {})
        values.update((k, v) for k, v in overrides.items() if v is not None or k not in values)
        return ColorizeOptions.from_mapping(values)
    if not isinstance(options, ColorizeOptions):
        raise ValueCheckError(
            f"options must be a ColorizeOptions or a mapping, got {type(options).__name__}"
        )
    return options.replace(overrides) if overrides else options


def _solver(solver: SolveSettings | Mapping[str, Any] | None) -> SolveSettings:
    """``colorize``'s solver settings: a mapping names fields of :class:`SolveSettings`."""
    if solver is None or isinstance(solver, SolveSettings):
        return solver or SolveSettings()
    if not isinstance(solver, Mapping):
        raise ValueCheckError(
            f"solver must be a SolveSettings or a mapping, got {type(solver).__name__}"
        )
    known = {f.name for f in dataclasses.fields(SolveSettings)}
    unknown = sorted(str(k) for k in set(solver) - known)
    if unknown:
        raise ValueCheckError(
            f"unknown solver setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return SolveSettings(**solver)


def colorize(
    image: ImageInput,
    *,
    guidance: Guidance | None = None,
    options: ColorizeOptions | Mapping[str, Any] | None = None,
    engine_options: Mapping[str, Any] | None = None,
    solver: SolveSettings | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ColorizeResult:
    """Colorize one image.

    Args:
        image: a path, encoded bytes, an :class:`~polychrome.io.ImageData`, a PIL image or
            an array (see :func:`prepare`).
        guidance: hints and instances (:class:`~polychrome.guidance.hints.Guidance`).
        options: :class:`~polychrome.options.ColorizeOptions`, or a mapping of its fields
            (``{"engine": "none"}``); keyword ``overrides`` may set its fields directly
            (``colorize(img, engine="none", seed=3)``) and win over ``options``. Unknown names
            and bad values raise :class:`~polychrome.errors.ValueCheckError`.
        engine_options: options of the chosen engine (its ``Options`` schema).
        solver: advanced solver parameters: a
            :class:`~polychrome.solve.propagate.SolveSettings`, or a mapping of its fields.

    Returns:
        A :class:`ColorizeResult` whose luminance equals the input's at full resolution. The
        same input, options and seed give the same result.

    Raises:
        InputError: a bad image (:class:`~polychrome.errors.DecodeError`,
            :class:`~polychrome.errors.ShapeError`,
            :class:`~polychrome.errors.ImageTooLargeError`), option, guidance or solver
            setting (:class:`~polychrome.errors.ValueCheckError`), or an unknown engine.
        EngineUnavailableError: the engine needs an extra or weights that are not installed.
    """
    options = _options(options, overrides)
    if engine_options is not None and not isinstance(engine_options, Mapping):
        raise ValueCheckError(
            f"engine_options must be a mapping, got {type(engine_options).__name__}"
        )
    # Unknown or unavailable engine, or bad engine options: fail before decoding anything.
    engine_settings = load_engine(options.engine).Options.from_mapping(dict(engine_options or {}))
    if options.samples > 1 and not engine_spec(options.engine).samples:
        raise ValueCheckError(
            f"samples={options.samples} gives different results only with an engine that "
            f"samples (cnn, diffusion); the {options.engine} engine would give identical copies"
        )
    if guidance is None:
        guidance = Guidance()
    elif not isinstance(guidance, Guidance):
        raise ValueCheckError(f"guidance must be a Guidance, got {type(guidance).__name__}")
    solver = _solver(solver)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(timings.get(step, 0.0) + now - clock, 4)
        clock = now

    # 1. Prepare
    prepared = prepare(image, options=options, exact=options.method == "exact")
    exact = options.method != "fast" and prepared.work_luminance is prepared.luminance
    lap("prepare")
    # 2. Guidance -> hints
    guidance.check(prepared.luminance.shape)
    lap("guidance")
    images = []
    for k in range(options.samples):
        sample = k if options.samples > 1 else None
        # 3. Priors
        priors = propose(
            prepared,
            options=options,
            engine_options=engine_options,
            sample=sample,
            guidance=guidance,
        )
        lap("priors")
        # 4. Solve
        solution = solve_chroma(
            prepared.work_luminance,
            guidance,
            full_shape=prepared.luminance.shape,
            priors=tuple(priors),
            settings=solver,
            method="direct" if exact else "multiscale",
        )
        lap("solve")
        # 5. Upsample
        ab = compose_chroma(
            solution, guidance, prepared.work_luminance, prepared.luminance, mode=options.upsample
        )
        lap("upsample")
        # 6. Output
        images.append(render(prepared, ab))
        lap("output")
    metadata = {
        "software": f"polychrome {__version__}",
        "input": {
            "path": Path(prepared.path).name if prepared.path else None,
            "size": [prepared.luminance.shape[1], prepared.luminance.shape[0]],
            "bit_depth": prepared.bit_depth,
            **({"pages": prepared.pages} if prepared.pages > 1 else {}),
        },
        "engine": options.engine,
        # As the engine read them ("2" -> 2.0, numpy -> Python numbers): JSON-able for save().
        "engine_options": {k: getattr(engine_settings, k) for k in engine_options or {}},
        "options": options.to_dict(),
        "seed": options.seed,
        "path": "exact" if exact else "fast",
        "working_size": [prepared.work_luminance.shape[1], prepared.work_luminance.shape[0]],
        "guidance": guidance.describe(),
        **({"description": dict(guidance.report)} if guidance.report else {}),
        "timings": timings,
    }
    return ColorizeResult(tuple(images), prepared.alpha, metadata, prepared.exif, prepared.dpi)
