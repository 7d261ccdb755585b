"""Evaluation protocols on a folder of color originals.

Every original is resized so its longer side is at most ``max_side`` (area filter), its grayscale
input is its CIE L* channel (rendered as neutral sRGB gray, so the pipeline sees exactly that L*),
and results are compared with the original.

- ``points``: N pixels sampled uniformly without replacement (a fixed seed per image and N) give
  their true colors as hints; reported for each engine and N, beside the gray baseline (ab = 0).
- ``auto``: no hints at all; each engine colorizes alone. With ``samples > 1`` every sample is
  scored, and the diversity (mean pairwise ab distance between samples, per pixel) is reported.

- ``reference`` (video): on a folder of frames, or a folder of such folders (one per clip), the
  first frame's original is the reference; beside the gray baseline, every frame is colorized by
  the video path (:class:`~polychrome.video.temporal.VideoColorizer`) and, in the same run,
  frame by frame on its own (each frame an anchor). PSNR/SSIM are per frame, their means over
  the frames after the reference frame (all clips' frames together; with several clips, each
  clip's rows follow); flicker is the mean |ab change| between consecutive results after flow
  compensation (flow and its consistency from the originals' luminance).
- ``pool`` (comics): on a folder of pages, each page is colorized with the other pages as its
  reference pool (retrieval, matching and the references' palette, over ``cnn``), beside ``cnn``
  alone.

Metrics: PSNR (RGB, 8 bit), SSIM (RGB), colorfulness (Hasler & Suesstrunk) and its absolute gap to
the original's, and mean CIEDE2000.

Every report records the polychrome version, the protocol's settings (engines, counts, engine
options, video settings) and timings: seconds spent colorizing per method (all images) and in all.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from polychrome import __version__
from polychrome.engines.base import engine_spec, load_engine
from polychrome.errors import InputError, ValueCheckError
from polychrome.formats import IMAGE_SUFFIXES, image_files
from polychrome.guidance.hints import Guidance, PointHints
from polychrome.io import is_opaque, read_image
from polychrome.ops.color import lab_to_rgb, luminance_of
from polychrome.ops.metrics import SSIM_WIN_SIZE, colorfulness, deltae_image, psnr, ssim
from polychrome.options import ColorizeOptions
from polychrome.pipeline import colorize

__all__ = [
    "EvalReport",
    "EvalRow",
    "auto_protocol",
    "load_originals",
    "points_protocol",
    "pool_protocol",
    "reference_protocol",
    "score",
]


@dataclass(frozen=True)
class Original:
    name: str
    rgb: np.ndarray  # (H, W, 3) uint8
    gray: np.ndarray  # (H, W) float32 sRGB gray whose L* is the original's


@dataclass
class EvalRow:
    """Mean metrics of one method over the images."""

    method: str
    points: int | None
    psnr: float
    ssim: float
    colorfulness: float
    colorfulness_gap: float
    ciede2000: float
    images: int
    diversity: float | None = None
    """Mean pairwise ab distance between samples (``auto`` with several samples)."""
    worst_psnr: float | None = None
    """With several samples: the mean over images of the lowest sample PSNR."""
    color_error: float | None = None
    """``regions``: mean CIEDE2000 between each region's mean color and the requested one."""
    leakage: float | None = None
    """``regions``: mean CIEDE2000 change outside all masks against the run without regions."""
    instance_leakage: float | None = None
    """``regions``: largest CIEDE2000 change inside the other masks when one region is
    removed (0: instances are isolated)."""
    flicker: float | None = None
    """``reference``: mean |ab change| between consecutive frames after flow compensation."""


@dataclass
class EvalReport:
    protocol: str
    dataset: str
    max_side: int
    seed: int
    reference_colorfulness: float
    reference_flicker: float | None = None
    """``reference``: the originals' own flicker, what the methods' flicker compares with."""
    version: str = __version__
    settings: dict[str, Any] = field(default_factory=dict)
    """What the protocol ran with beyond ``max_side`` and ``seed``: engines, counts, options."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent colorizing, per method (all images together), and ``total`` for the whole
    protocol (reading the originals and scoring too)."""
    rows: list[EvalRow] = field(default_factory=list)
    per_image: list[dict] = field(default_factory=list)
    gallery: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict, repr=False)
    """Per image name: ``(caption, RGB uint8)`` tiles, for contact sheets (not serialized)."""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("gallery")
        return _finite(out)

    @contextmanager
    def timed(self, method: str) -> Iterator[None]:
        """Add the time spent in the block to ``timings[method]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.timings[method] = self.timings.get(method, 0.0) + spent

    def keep(self, name: str, caption: str, image: np.ndarray, limit: int) -> None:
        if name in self.gallery or len(self.gallery) < limit:
            self.gallery.setdefault(name, []).append((caption, image))


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (PSNR of identical images) as ``None``, so the
    report is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_originals(folder: str | Path, *, max_side: int) -> list[Original]:
    """Read every image of ``folder`` (sorted by name), resized to at most ``max_side``."""
    folder = Path(folder)
    if folder.is_file():
        raise InputError(f"{folder} is a file; eval reads a folder of color originals")
    if not folder.is_dir():
        raise InputError(f"no such folder: {folder}")
    files = image_files(folder)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    out = []
    for path in files:
        data = read_image(path)
        if data.alpha is not None and not is_opaque(data.alpha):
            # The colors under transparent pixels were scored, though no one sees them.
            raise InputError(
                f"{path.name} in {folder} has transparent pixels; eval scores every pixel "
                "against the original: flatten it onto a background, or leave it out"
            )
        rgb = data.pixels
        if data.bit_depth == 16:
            rgb = np.round(rgb / 257.0).astype(np.uint8)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        h, w = rgb.shape[:2]
        if max(h, w) > max_side:
            s = max_side / max(h, w)
            size = (max(1, round(w * s)), max(1, round(h * s)))  # a thin side stays a pixel
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if min(rgb.shape[:2]) < SSIM_WIN_SIZE:  # found now, not after the other images' work
            h2, w2 = rgb.shape[:2]
            resized = f" at --max-side {max_side}" if (h2, w2) != (h, w) else ""
            raise InputError(
                f"{path.name} in {folder} is {w2} x {h2} pixels{resized}; eval needs at least "
                f"{SSIM_WIN_SIZE} x {SSIM_WIN_SIZE} (the SSIM window): leave it out"
            )
        lum = luminance_of(rgb)
        gray = lab_to_rgb(np.dstack([lum, np.zeros_like(lum), np.zeros_like(lum)]))[..., 0]
        out.append(Original(path.name, rgb, gray))
    gray = [o.name for o in out if int(np.ptp(o.rgb.astype(np.int16), axis=2).max()) <= 2]
    if gray:
        which = "the images" if len(gray) == len(out) else ", ".join(gray[:5])
        more = f" and {len(gray) - 5} more" if len(gray) > 5 else ""
        verb = "is" if len(gray) == 1 and len(out) > 1 else "are"
        raise InputError(
            f"{which}{more} in {folder} {verb} grayscale; eval compares results with color "
            "originals (a gray original scores infinite PSNR): leave them out"
        )
    return out


def score(result: np.ndarray, original: np.ndarray) -> dict[str, float]:
    """Metrics of an 8-bit RGB ``result`` against the 8-bit RGB ``original``."""
    cf = colorfulness(result / 255.0)
    return {
        "psnr": psnr(result, original, data_range=255),
        "ssim": ssim(result, original, data_range=255),
        "colorfulness": cf,
        "colorfulness_gap": abs(cf - colorfulness(original / 255.0)),
        "ciede2000": deltae_image(result / 255.0, original / 255.0),
    }


def sample_points(original: Original, n: int, seed: int) -> Guidance:
    """``n`` hint points drawn uniformly without replacement, with the original's colors."""
    h, w = original.gray.shape
    if n > h * w:
        raise ValueCheckError(f"{n} points asked but {original.name} has only {h * w} pixels")
    rng = np.random.default_rng([seed, n, zlib.crc32(original.name.encode())])
    flat = rng.choice(h * w, size=n, replace=False)
    yx = np.stack([flat // w, flat % w], axis=1)
    rgb = original.rgb[yx[:, 0], yx[:, 1]] / 255.0
    return Guidance(points=(PointHints.from_rgb(yx, rgb, source=f"{n} points"),))


def _mean_row(method: str, points: int | None, scores: list[dict[str, float]]) -> EvalRow:
    keys = ("psnr", "ssim", "colorfulness", "colorfulness_gap", "ciede2000")
    means = {k: float(np.mean([s[k] for s in scores])) for k in keys}
    return EvalRow(method=method, points=points, images=len(scores), **means)


def _gray_rgb(original: Original) -> np.ndarray:
    """The gray input as 8-bit RGB: the gray baseline's result."""
    return np.repeat(np.round(original.gray * 255).astype(np.uint8)[..., None], 3, axis=2)


def _gray_rows(
    originals: list[Original], report: EvalReport, tick: Callable[[], None], gallery: int
) -> None:
    scores = []
    for o in originals:
        gray = _gray_rgb(o)
        report.keep(o.name, f"{o.name[:18]} gray", gray, gallery)
        s = score(gray, o.rgb)
        scores.append(s)
        report.per_image.append({"image": o.name, "method": "gray", "points": None, **s})
        tick()
    report.rows.append(_mean_row("gray baseline", None, scores))


def _counter(total: int, progress: Callable[[int, int], None] | None) -> Callable[[], None]:
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    return tick


def auto_protocol(
    folder: str | Path,
    *,
    engines: Sequence[str] = ("cnn",),
    max_side: int = 256,
    seed: int = 0,
    samples: int = 1,
    progress: Callable[[int, int], None] | None = None,
    gallery: int = 0,
    engine_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalReport:
    """Automatic colorization without hints; see the module docstring. ``engine_options``:
    per engine name, its options (e.g. ``{"cnn": {"vividness": 1.0}}``)."""
    start = time.perf_counter()
    originals = load_originals(folder, max_side=max_side)
    ref_cf = float(np.mean([colorfulness(o.rgb / 255.0) for o in originals]))
    report = EvalReport("auto", str(folder), max_side, seed, ref_cf)
    report.settings = _settings(engines, engine_options, samples=samples)
    tick = _counter(len(originals) * (1 + len(engines)), progress)
    _gray_rows(originals, report, tick, gallery)
    for engine in engines:
        firsts, every, worst, spread = [], [], [], []
        opts = (engine_options or {}).get(engine)
        for o in originals:
            # The plain result (no sampling noise), then the samples, if any.
            with report.timed(engine):
                plain = colorize(o.gray, engine=engine, seed=seed, engine_options=opts).image
            first = score(plain, o.rgb)
            report.keep(o.name, f"{engine} {first['psnr']:.1f} dB", plain, gallery)
            report.per_image.append(
                {"image": o.name, "method": engine, "sample": None, "points": None, **first}
            )
            firsts.append(first)
            if samples > 1 and engine_spec(engine).samples:
                with report.timed(f"{engine} x{samples}"):
                    result = colorize(
                        o.gray, engine=engine, seed=seed, samples=samples, engine_options=opts
                    )
                scores = [score(img, o.rgb) for img in result.images]
                for k, (img, s) in enumerate(zip(result.images, scores, strict=True)):
                    report.keep(o.name, f"{engine} {k + 1} {s['psnr']:.1f} dB", img, gallery)
                    report.per_image.append(
                        {"image": o.name, "method": f"{engine} x{samples}", "sample": k,
                         "points": None, **s}
                    )  # fmt: skip
                every.extend(scores)
                worst.append(min(s["psnr"] for s in scores))
                spread.append(_pairwise_ab(result.images))
            tick()
        report.rows.append(_mean_row(engine, None, firsts))
        if samples > 1 and engine_spec(engine).samples:
            row = _mean_row(f"{engine} x{samples}", None, every)
            row.images = len(worst)  # not the number of samples scored (images x samples)
            row.diversity = float(np.mean(spread))
            row.worst_psnr = float(np.mean(worst))
            report.rows.append(row)
    _keep_originals(originals, report, gallery)
    return _finish(report, start)


def _settings(
    engines: Sequence[str],
    engine_options: Mapping[str, Mapping[str, Any]] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A report's ``settings``: the engines, each one's options as the engine reads them
    (``hints=false`` is ``False``; ``{}``: its defaults), and the protocol's own settings."""
    options = {}
    for e in engines:
        given = dict((engine_options or {}).get(e) or {})
        read = load_engine(e).Options.from_mapping(given) if given else None
        options[e] = {k: _plain(getattr(read, k)) for k in given}
    return {"engines": list(engines), "engine_options": options, **more}


def _plain(value: Any) -> Any:
    """``value`` as JSON has it (a path as text)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _finish(report: EvalReport, start: float) -> EvalReport:
    report.timings["total"] = time.perf_counter() - start
    return report


def _keep_originals(originals: list[Original], report: EvalReport, gallery: int) -> None:
    for o in originals:
        report.keep(o.name, "original", o.rgb, gallery)


def _pairwise_ab(images: Sequence[np.ndarray]) -> float:
    """Mean over pairs of samples of the mean per-pixel ab distance."""
    from polychrome.ops.color import rgb_to_lab

    abs_ = [rgb_to_lab(img / 255.0)[..., 1:] for img in images]
    dists = [
        float(np.linalg.norm(abs_[i] - abs_[j], axis=-1).mean())
        for i in range(len(abs_))
        for j in range(i + 1, len(abs_))
    ]
    return float(np.mean(dists))


def points_protocol(
    folder: str | Path,
    *,
    points: Sequence[int] = (10, 100, 1000),
    engines: Sequence[str] = ("none",),
    max_side: int = 256,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    gallery: int = 0,
    engine_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalReport:
    """Run the random ground-truth points protocol; see the module docstring.
    ``engine_options`` as in :func:`auto_protocol`."""
    start = time.perf_counter()
    originals = load_originals(folder, max_side=max_side)
    smallest = min(originals, key=lambda o: o.gray.size)
    if points and max(points) > smallest.gray.size:  # found now, not after the smaller counts' work
        h, w = smallest.gray.shape
        raise ValueCheckError(
            f"{max(points)} points asked but {smallest.name} has only {h * w} pixels "
            f"({w} x {h} at max side {max_side})"
        )
    ref_cf = float(np.mean([colorfulness(o.rgb / 255.0) for o in originals]))
    report = EvalReport("points", str(folder), max_side, seed, ref_cf)
    report.settings = _settings(engines, engine_options, points=list(points))
    tick = _counter(len(originals) * (1 + len(points) * len(engines)), progress)
    _gray_rows(originals, report, tick, gallery)
    for engine in engines:
        for n in points:
            scores = []
            for o in originals:
                guidance = sample_points(o, n, seed)
                with report.timed(f"{engine} {n} points"):
                    result = colorize(
                        o.gray,
                        guidance=guidance,
                        engine=engine,
                        seed=seed,
                        engine_options=(engine_options or {}).get(engine),
                    )
                s = score(result.image, o.rgb)
                scores.append(s)
                report.per_image.append({"image": o.name, "method": engine, "points": n, **s})
                report.keep(o.name, f"{engine} {n} pts {s['psnr']:.1f} dB", result.image, gallery)
                tick()
            report.rows.append(_mean_row(engine, n, scores))
    _keep_originals(originals, report, gallery)
    return _finish(report, start)


# --------------------------------------------------------------------------- regions


def region_masks(original: Original, count: int) -> list[np.ndarray]:
    """The ``count`` largest SLIC superpixels of the color original (disjoint bool masks)."""
    from skimage.segmentation import slic

    labels = slic(original.rgb, n_segments=24, compactness=10, start_label=0, channel_axis=-1)
    sizes = np.bincount(labels.ravel())
    return [labels == k for k in np.argsort(sizes)[::-1][:count]]


def _requested_name(mean_lab: np.ndarray, mode: str) -> str:
    """The nearest vocabulary name of a region's true color (``true``), or a deliberately
    different basic color (``different``: the basic color farthest in hue)."""
    from polychrome.guidance.palette import BASIC_COLOR_NAMES, nearest_color_name, parse_color

    if mode == "true":
        return nearest_color_name(mean_lab)
    hue = np.arctan2(mean_lab[2], mean_lab[1])
    best, best_d = "", -1.0
    for name in BASIC_COLOR_NAMES:
        a, b = parse_color(name).ab
        if np.hypot(a, b) < 20:  # grays cannot be told apart from "no color"
            continue
        d = abs(np.angle(np.exp(1j * (np.arctan2(b, a) - hue))))
        if d > best_d:
            best, best_d = name, d
    return best


def regions_protocol(
    folder: str | Path,
    *,
    engines: Sequence[str] = ("cnn",),
    regions: int = 3,
    modes: Sequence[str] = ("true", "different"),
    max_side: int = 256,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    gallery: int = 0,
) -> EvalReport:
    """Color phrases on ground-truth superpixels: requested color reached, and no leakage.

    For each image the ``regions`` largest SLIC superpixels of the original get a phrase: the
    nearest vocabulary name of their true mean color (``true``) or the basic color farthest in
    hue (``different``). Each row reports the usual metrics of the result, the color error
    (CIEDE2000 between the region's mean result color and the requested color at the region's
    own mean L*, gamut-mapped), the leakage outside all masks (mean CIEDE2000 against the run
    without regions) and the instance leakage (largest change inside the other masks when one
    region is removed).
    """
    from polychrome.guidance.hints import Instance
    from polychrome.guidance.palette import parse_color_phrase
    from polychrome.ops.color import gamut_map, rgb_to_lab
    from polychrome.ops.metrics import ciede2000

    start = time.perf_counter()
    originals = load_originals(folder, max_side=max_side)
    ref_cf = float(np.mean([colorfulness(o.rgb / 255.0) for o in originals]))
    report = EvalReport("regions", str(folder), max_side, seed, ref_cf)
    report.settings = _settings(engines, regions=regions, modes=list(modes))
    tick = _counter(len(originals) * (1 + len(engines) * len(modes)), progress)
    _gray_rows(originals, report, tick, gallery)
    masks = {o.name: region_masks(o, regions) for o in originals}
    for engine in engines:
        with report.timed(engine):  # without regions, what leakage is measured against
            base = {o.name: colorize(o.gray, engine=engine, seed=seed).image for o in originals}
        for mode in modes:
            scores, errors, leaks, isolation = [], [], [], []
            for o in originals:
                true_lab = rgb_to_lab(o.rgb / 255.0)
                instances = []
                for k, m in enumerate(masks[o.name]):
                    name = _requested_name(true_lab[m].mean(axis=0), mode)
                    ab = np.asarray(parse_color_phrase(name).color.ab, np.float32)
                    instances.append(Instance(mask=m, ab=ab, label=name, source=f"superpixel {k}"))
                guidance = Guidance(instances=tuple(instances))
                with report.timed(f"{engine} {mode}"):
                    result = colorize(o.gray, guidance=guidance, engine=engine, seed=seed).image
                lab = rgb_to_lab(result / 255.0)
                own = []  # this image's color errors, one per region
                for inst in instances:
                    got = lab[inst.mask].mean(axis=0)
                    want = gamut_map(np.array([got[0], *inst.ab], np.float32))
                    own.append(float(ciede2000(got[None], want[None])[0]))
                errors += own
                outside = ~np.any([i.mask for i in instances], axis=0)
                leak = None
                if outside.any():
                    base_lab = rgb_to_lab(base[o.name] / 255.0)
                    leak = float(ciede2000(lab[outside], base_lab[outside]).mean())
                    leaks.append(leak)
                worst = 0.0
                for k in range(len(instances)):
                    rest = tuple(i for j, i in enumerate(instances) if j != k)
                    without = colorize(
                        o.gray, guidance=Guidance(instances=rest), engine=engine, seed=seed
                    ).image
                    others = np.any([i.mask for i in rest], axis=0)
                    if others.any():
                        w_lab = rgb_to_lab(without / 255.0)
                        worst = max(worst, float(ciede2000(lab[others], w_lab[others]).max()))
                isolation.append(worst)
                s = score(result, o.rgb)
                scores.append(s)
                report.per_image.append(
                    {"image": o.name, "method": f"{engine} {mode}", "points": None, **s,
                     "requested": [i.label for i in instances], "color_error": float(np.mean(own)),
                     "leakage": leak, "instance_leakage": worst}
                )  # fmt: skip
                report.keep(o.name, f"{engine} {mode} {s['psnr']:.1f} dB", result, gallery)
                tick()
            row = _mean_row(f"{engine} {mode}", None, scores)
            row.color_error = float(np.mean(errors))
            row.leakage = float(np.mean(leaks)) if leaks else 0.0
            row.instance_leakage = float(np.max(isolation))
            report.rows.append(row)
    _keep_originals(originals, report, gallery)
    return _finish(report, start)


# --------------------------------------------------------------------------- reference (video)


def _clips(folder: Path) -> list[Path]:
    """A folder of frames is one clip; a folder of folders, one clip per subfolder."""
    if folder.is_file():
        raise InputError(f"{folder} is a file; eval reads a folder of color originals")
    if not folder.is_dir():
        raise InputError(f"no such folder: {folder}")
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file()):
        return [folder]
    clips = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not clips:
        raise InputError(f"{folder} holds neither frames nor folders of frames")
    return clips


def reference_protocol(
    folder: str | Path,
    *,
    max_side: int = 256,
    seed: int = 0,
    settings=None,
    progress: Callable[[int, int], None] | None = None,
    gallery: int = 0,
) -> EvalReport:
    """First frame as the reference, the video path against per-frame colorization; see the
    module docstring. ``settings`` are the video path's
    (:class:`~polychrome.video.temporal.VideoSettings`)."""
    import dataclasses

    from polychrome.ops.color import rgb_to_lab
    from polychrome.video.flow import flicker, track
    from polychrome.video.temporal import VideoColorizer, VideoSettings

    start = time.perf_counter()
    settings = settings or VideoSettings()
    methods = {
        "video": settings,
        "per-frame": dataclasses.replace(settings, temporal=False),
    }
    clips = [(c, load_originals(c, max_side=max_side)) for c in _clips(Path(folder))]
    for clip, frames in clips:
        if len(frames) < 2:
            raise InputError(f"{clip} has {len(frames)} frame; the protocol needs at least 2")
        odd = [o.name for o in frames if o.rgb.shape != frames[0].rgb.shape]
        if odd:
            raise InputError(
                f"{clip}: frame {odd[0]} is not the size of {frames[0].name}; the reference "
                "protocol reads clips (folders of frames of one size)"
            )
    originals = [o for _, frames in clips for o in frames]
    ref_cf = float(np.mean([colorfulness(o.rgb / 255.0) for o in originals]))
    report = EvalReport("reference", str(folder), max_side, seed, ref_cf)
    report.settings = {
        "clips": [clip.name for clip, _ in clips],
        "video": dataclasses.asdict(settings),
    }
    tick = _counter(sum(len(f) for _, f in clips) * len(methods), progress)
    scores: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    flickers: dict[str, list[float]] = {m: [] for m in (*methods, "original")}
    per_clip: list[EvalRow] = []
    gray_scores: list[dict[str, float]] = []
    for clip, frames in clips:
        first = {m: (len(scores[m]), len(flickers[m])) for m in methods}
        lums = [luminance_of(o.rgb) for o in frames]
        pairs = [track(lums[t - 1], lums[t], preset="medium") for t in range(1, len(frames))]
        truth = [rgb_to_lab(o.rgb / 255.0)[..., 1:] for o in frames]
        flickers["original"] += [
            flicker(truth[t - 1], truth[t], pairs[t - 1]) for t in range(1, len(frames))
        ]
        for t, o in enumerate(frames):  # the gray baseline (a sheet's row starts with it)
            gray = _gray_rgb(o)
            report.keep(f"{clip.name}/{o.name}", f"{o.name[:18]} gray", gray, gallery)
            if t > 0:
                gray_scores.append(score(gray, o.rgb))
                report.per_image.append(
                    {"image": f"{clip.name}/{o.name}", "method": "gray", "frame": t,
                     **gray_scores[-1]}
                )  # fmt: skip
        for method, video in methods.items():
            colorizer = VideoColorizer(
                [frames[0].rgb],
                names=[f"{clip.name}/{frames[0].name}"],
                options=ColorizeOptions(seed=seed),
                settings=video,
            )
            previous = None
            for t, o in enumerate(frames):
                with report.timed(method):
                    image = colorizer.step(o.gray).image
                ab = rgb_to_lab(image / 255.0)[..., 1:]
                change = None  # against the previous frame
                if previous is not None:
                    change = flicker(previous, ab, pairs[t - 1])
                    flickers[method].append(change)
                previous = ab
                s = score(image, o.rgb)
                if t > 0:
                    scores[method].append(s)
                report.per_image.append(
                    {"image": f"{clip.name}/{o.name}", "method": method, "frame": t, **s,
                     "flicker": change}
                )  # fmt: skip
                caption = f"{method} {s['psnr']:.1f} dB" if t > 0 else f"{method} (reference)"
                report.keep(f"{clip.name}/{o.name}", caption, image, gallery)
                tick()
        for method, (k, f) in first.items():
            row = _mean_row(f"{method} {clip.name}", None, scores[method][k:])
            row.flicker = float(np.nanmean(flickers[method][f:]))
            per_clip.append(row)
    row = _mean_row("gray baseline", None, gray_scores)
    row.flicker = 0.0  # no chroma, no change of it
    report.rows.append(row)
    for method in methods:
        row = _mean_row(method, None, scores[method])
        row.flicker = float(np.nanmean(flickers[method]))
        report.rows.append(row)
    if len(clips) > 1:  # then each clip's own rows
        report.rows += per_clip
    report.reference_flicker = float(np.nanmean(flickers["original"]))
    report.per_image.append(
        {"image": "all", "method": "original", "flicker": report.reference_flicker}
    )
    for clip, frames in clips:
        for o in frames:
            report.keep(f"{clip.name}/{o.name}", "original", o.rgb, gallery)
    return _finish(report, start)


# --------------------------------------------------------------------------- pool (comics)


def pool_protocol(
    folder: str | Path,
    *,
    engines: Sequence[str] = ("cnn",),
    max_side: int = 256,
    seed: int = 0,
    use_network: bool | None = False,
    progress: Callable[[int, int], None] | None = None,
    gallery: int = 0,
) -> EvalReport:
    """Each page with the other pages as its reference pool; see the module docstring.

    The pool is embedded with the built-in embedder from the (resized) originals; each page's
    retrieval searches all pages but itself. ``use_network`` is passed to the matcher.
    """
    from polychrome.reference.pool import BuiltinEmbedder, Pool, rap_patches
    from polychrome.reference.sequence import pool_hints

    start = time.perf_counter()
    originals = load_originals(folder, max_side=max_side)
    if len(originals) < 2:
        raise InputError(f"{folder} has {len(originals)} page; the pool protocol needs 2 or more")
    ref_cf = float(np.mean([colorfulness(o.rgb / 255.0) for o in originals]))
    report = EvalReport("pool", str(folder), max_side, seed, ref_cf)
    report.settings = _settings(engines, use_network=use_network)
    tick = _counter(len(originals) * (1 + 2 * len(engines)), progress)
    _gray_rows(originals, report, tick, gallery)
    embedder = BuiltinEmbedder()
    lums = [luminance_of(o.rgb) for o in originals]
    rows = np.stack([embedder.embed(rap_patches(lum, whole=True)) for lum in lums])
    names = [Path(o.name) for o in originals]
    by_name = {o.name: o.rgb for o in originals}
    hints: dict[int, Guidance] = {}  # per page, from the others; the same for every engine

    def pooled_guidance(k: int) -> Guidance:
        if k not in hints:
            others = [j for j in range(len(originals)) if j != k]
            pool = Pool(tuple(names[j] for j in others), rows[others], embedder.name)
            with report.timed("pool retrieval and matching"):  # once per page, for all engines
                points = pool_hints(
                    lums[k], pool, lambda p: by_name[p.name], seed=seed, use_network=use_network
                )
            hints[k] = Guidance(points=tuple(points))
        return hints[k]

    for engine in engines:
        alone, pooled = [], []
        for k, o in enumerate(originals):
            for label, guidance, bucket in (
                (engine, Guidance(), alone),
                (f"{engine} + pool", pooled_guidance(k), pooled),
            ):
                with report.timed(label):
                    image = colorize(o.gray, guidance=guidance, engine=engine, seed=seed).image
                s = score(image, o.rgb)
                bucket.append(s)
                report.per_image.append({"image": o.name, "method": label, "points": None, **s})
                report.keep(o.name, f"{label} {s['psnr']:.1f} dB", image, gallery)
                tick()
        report.rows.append(_mean_row(engine, None, alone))
        report.rows.append(_mean_row(f"{engine} + pool", None, pooled))
    _keep_originals(originals, report, gallery)
    return _finish(report, start)
