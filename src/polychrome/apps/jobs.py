"""Running colorize jobs from files: building guidance from hint images, references and masks,
writing results atomically, skipping finished work, and going on past bad files."""

from __future__ import annotations

import errno
import functools
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polychrome.errors import (
    InputError,
    OutputNotWritableError,
    PolychromeError,
    ValueCheckError,
)
from polychrome.options import ColorizeOptions

__all__ = [
    "ColorizeJob",
    "JobSummary",
    "build_guidance",
    "colorize_job",
    "describe_failure",
    "disk_full",
    "open_pool",
    "run_job",
    "run_jobs",
    "stop_reason",
]


@dataclass(frozen=True)
class ColorizeJob:
    """One input file, where its result goes, and the guidance files that go with it.

    The input and the guidance files (hints, masks, references) are paths, or
    :class:`~polychrome.io.NamedBytes` for files held in memory (the HTTP service's uploads).
    """

    source: Path | bytes
    target: Path
    hints: Path | bytes | None = None
    regions: Sequence[tuple[str | bytes, str]] = ()
    """``(mask path, color phrase)`` pairs, bottom to top."""
    labels: Sequence[tuple[str, str | bytes]] = ()
    """``(label, mask path)`` pairs: named regions a description binds to."""
    label_map: tuple[str, str] | None = None
    """``(label-map image, JSON legend)``."""
    clicks: Sequence[tuple[float, float, str]] = ()
    """``(x, y, label)``: a region grown from a clicked pixel."""
    boxes: Sequence[tuple[float, float, float, float, str]] = ()
    """``(x0, y0, x1, y1, label)``: the object inside a box."""
    description: str = ""
    """What the colors should be, in words."""
    segmenter: str = ""
    """A referring-segmentation model (hub id or folder) to find described objects by text."""
    references: Sequence[str | bytes] = ()
    """Color reference images: matched places take their colors."""
    pool: str = ""
    """A reference pool (``.npz`` or a folder of color images) to retrieve references from."""


@dataclass
class JobSummary:
    done: int = 0
    skipped: int = 0
    failures: list[tuple[ColorizeJob, str]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    notes: list[tuple[ColorizeJob, str]] = field(default_factory=list)
    """Parts of an input or its guidance that colored nothing (see :func:`guidance_notes`)."""
    stopped: str = ""
    """Why the run stopped early (:func:`stop_reason`: ``"full"`` or ``"not writable"``): the
    jobs after the failing one were not tried. Empty when it did not."""


def guidance_notes(metadata: dict[str, Any]) -> list[str]:
    """What a result left unused: the other pages of a multi-page input, a gray result (the
    ``none`` engine and no guidance that colors), references with no confident match, typos
    and phrases with no region in its description and labels."""
    from polychrome.guidance.binding import report_notes

    pages = (metadata.get("input") or {}).get("pages", 1)
    others = (
        [
            f"the file holds {pages} images (pages or frames); only the first was colorized: "
            "save each as a file of its own to colorize the others"
        ]
        if pages > 1
        else []
    )
    rows = metadata.get("guidance", ())
    colored = any(
        row.get("kind") == "instance" or (row.get("kind") == "points" and row.get("count", 0) > 0)
        for row in rows
    )
    gray = (
        [
            "the result is gray: the none engine proposes no colors, and no hint, colored "
            "region or reference match gave any (use another --engine, or give guidance)"
        ]
        if metadata.get("engine") == "none" and not colored
        else []
    )

    empty = [row["source"] for row in rows if row.get("kind") == "points" and row.get("count") == 0]
    # References the user named are reported one by one; those a pool retrieved, in one line
    # (the pool's palette still colors the page).
    retrieved = [source for source in empty if ", retrieved from " in source]
    unmatched = [
        f"{source}: no confident match, so it colors nothing"
        for source in empty
        if source not in retrieved
    ]
    if retrieved:
        names = ", ".join(source.split(", retrieved from ")[0] for source in retrieved)
        unmatched.append(
            f"{len(retrieved)} of the pool's retrieved references matched nothing confidently "
            f"({names}); the pool's palette colors the page there"
        )
    size = (metadata.get("input") or {}).get("size") or (0, 0)
    slivers = [
        f"{row['source']} selected only {share:.0%} of the box ({row['pixels']} pixels): a box "
        "that cuts an object short gets a sliver of it; draw it around the whole object, or "
        "give a mask"
        for row in rows
        if row.get("kind") == "instance"
        and (share := _box_share(row.get("source", ""), row.get("pixels", 0), size)) < BOX_SLIVER
    ]
    return others + unmatched + slivers + report_notes(metadata.get("description") or {}) + gray


BOX_SLIVER = 0.1
"""A box whose selection covers less than this share of it is reported: the object it was
drawn around was probably cut short (the segments it cuts through are left out)."""


def _box_share(source: str, pixels: int, size: Sequence[int]) -> float:
    """Share of a ``box X0,Y0,X1,Y1`` region's box (within the image) that it selected; 1 for
    any other source."""
    found = re.fullmatch(r"box ([-\d.e+]+),([-\d.e+]+),([-\d.e+]+),([-\d.e+]+)", source)
    if not found:
        return 1.0
    x0, y0, x1, y1 = (float(v) for v in found.groups())
    w, h = size
    area = (min(x1, w) - max(x0, 0)) * (min(y1, h) - max(y0, 0))
    return pixels / area if area > 0 else 1.0


def build_guidance(job: ColorizeJob, image, *, max_pixels: int):
    """Read the job's hint image, references (and those its pool retrieves), region masks,
    labelled regions and description into a :class:`Guidance` for ``image`` (an
    :class:`~polychrome.io.ImageData`)."""
    import numpy as np

    from polychrome.guidance.hints import Guidance, Instance, PointHints
    from polychrome.guidance.palette import parse_color_phrase
    from polychrome.io import read_hints, read_mask, source_name

    shape = image.shape
    points = []
    if job.hints is not None:
        yx, rgb, weight = read_hints(job.hints, shape=shape, max_pixels=max_pixels)
        points.append(PointHints.from_rgb(yx, rgb, weight=weight, source=source_name(job.hints)))
    if job.references or job.pool:
        points += _reference_points(job, image, max_pixels=max_pixels)
    instances, tones, report = [], (), None
    if job.description or job.labels or job.label_map or job.clicks or job.boxes:
        bound = _bind(job, image, max_pixels=max_pixels)
        instances, tones, report = bound.instances, bound.tones, bound.report
    for mask_path, phrase in job.regions:
        color = parse_color_phrase(phrase).color
        mask = read_mask(mask_path, shape=shape, name="region mask", max_pixels=max_pixels)
        instances.append(
            Instance(
                mask=mask,
                ab=np.asarray(color.ab, dtype=np.float32),
                label=phrase,
                source=source_name(mask_path),
            )
        )
    return Guidance(
        points=tuple(points), instances=tuple(instances), tones=tuple(tones), report=report
    )


def _bind(job: ColorizeJob, image, *, max_pixels: int):
    """Labelled regions (label map, masks, clicks, boxes, in that order) bound to the
    description."""
    from polychrome.guidance.binding import bind
    from polychrome.guidance.regions import (
        LabelledRegion,
        read_label_map,
        region_from_box,
        region_from_click,
    )
    from polychrome.io import read_mask, source_name
    from polychrome.ops.color import luminance_of

    shape = image.shape
    regions = []
    if job.label_map:
        path, legend = job.label_map
        regions += read_label_map(path, legend, shape=shape, max_pixels=max_pixels)
    for label, mask_path in job.labels:
        mask = read_mask(mask_path, shape=shape, name=f"mask of {label!r}", max_pixels=max_pixels)
        regions.append(LabelledRegion(label, mask, source_name(mask_path)))
    if job.clicks or job.boxes:
        luminance = luminance_of(image.pixels)
        for x, y, label in job.clicks:
            mask = region_from_click(luminance, x, y)
            regions.append(LabelledRegion(label, mask, f"click {x:g},{y:g}"))
        for x0, y0, x1, y1, label in job.boxes:
            mask = region_from_box(luminance, (x0, y0, x1, y1))
            regions.append(LabelledRegion(label, mask, f"box {x0:g},{y0:g},{x1:g},{y1:g}"))
    find = None
    if job.segmenter:
        find = _text_finder(job.segmenter, image)
    return bind(job.description, regions, find=find)


def _reference_points(job: ColorizeJob, image, *, max_pixels: int):
    """Hints matched from the job's references and those retrieved from its pool, one
    :class:`PointHints` per reference (its source says how well it matched); with a pool, also
    the references' palette where matches are sparse (:mod:`polychrome.reference.chapter`)."""
    from polychrome.errors import ValueCheckError
    from polychrome.io import read_image, source_name
    from polychrome.ops.color import luminance_of
    from polychrome.reference.match import match_references

    luminance = luminance_of(image.pixels)
    chosen = [(p, source_name(p)) for p in job.references]
    if job.pool:
        seen = {Path(p).resolve() for p, _ in chosen if not isinstance(p, bytes)}
        for path, score in open_pool(job.pool).retrieve(luminance):
            if path.resolve() not in seen:
                how = f"retrieved from {Path(job.pool).name} with similarity {score:.2f}"
                chosen.append((path, f"{path.name}, {how}"))
    pixels = []
    for path, _ in chosen:
        try:
            reference = read_image(path, max_pixels=max_pixels)
        except InputError as exc:  # say that it is a reference, not the image being colorized
            raise type(exc)(f"reference {exc}") from None
        if reference.is_gray:
            raise ValueCheckError(
                f"reference {source_name(path)} is a gray image: a reference gives its colors to "
                "the target, so it must be a color image"
            )
        pixels.append(reference.pixels)
    hints = match_references(luminance, pixels, names=[name for _, name in chosen])
    points = hints.to_point_hints()  # a reference with no match stays listed (count 0)
    if job.pool:
        # As `polychrome sequence` does: the chapter's palette fills where matches are sparse.
        from polychrome.reference.chapter import with_palette

        points = with_palette(luminance, pixels, points)
    return points


def open_pool(source: str):
    """The pool at ``source`` (``.npz`` or folder), read once per process and modification."""
    try:
        stamp = Path(source).stat().st_mtime_ns
    except OSError:
        stamp = 0  # Pool.open reports the missing file
    return _open_pool_cached(str(Path(source).resolve()), stamp)


@functools.lru_cache(maxsize=4)
def _open_pool_cached(source: str, stamp: int):
    from polychrome.reference.pool import Pool

    return Pool.open(source)


def _text_finder(model: str, image):
    """A function finding an object's mask by text with the referring segmenter ``model``."""
    import numpy as np

    from polychrome.guidance.textseg import TextSegmenter

    pixels = image.pixels
    if image.bit_depth == 16:
        pixels = (pixels // 257).astype(np.uint8)
    return TextSegmenter.load(model).finder(pixels)


def run_job(
    job: ColorizeJob, *, options: ColorizeOptions, engine_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Colorize one file and write its result atomically; returns the result's metadata."""
    result = colorize_job(job, options=options, engine_options=engine_options)
    try:
        result.save(job.target)
    except PolychromeError as exc:
        if _errno(exc) in _REFUSED:  # the folder refuses writes, not this one result
            raise OutputNotWritableError(str(exc), folder=str(Path(job.target).parent)) from exc
        raise
    return result.metadata


def colorize_job(
    job: ColorizeJob, *, options: ColorizeOptions, engine_options: dict[str, Any] | None = None
):
    """Read the job's input and guidance and colorize it; nothing is written (``job.target`` is
    not used). Returns the :class:`~polychrome.pipeline.ColorizeResult`."""
    from polychrome.formats import IMAGE_FORMATS
    from polychrome.io import is_opaque, read_image
    from polychrome.pipeline import colorize

    image = read_image(job.source, max_pixels=options.max_pixels)
    target_format = IMAGE_FORMATS.get(Path(job.target).suffix.lower())
    if target_format == "JPEG" and image.alpha is not None and not is_opaque(image.alpha):
        # Refused now, not after the colorization, which the writer would then refuse.
        raise ValueCheckError(
            f"{job.source} has transparency, which a JPEG result ({Path(job.target).name}) "
            "cannot store; write .png (or .tif, .webp) instead"
        )
    guidance = build_guidance(job, image, max_pixels=options.max_pixels)
    return colorize(image, guidance=guidance, options=options, engine_options=engine_options)


def run_jobs(
    jobs: Sequence[ColorizeJob],
    *,
    options: ColorizeOptions,
    engine_options: dict[str, Any] | None = None,
    skip_existing: bool = False,
    progress: bool = False,
) -> JobSummary:
    """Run jobs in order; a failing job is recorded and the others go on."""
    from polychrome.pipeline import sample_paths

    summary = JobSummary()
    bar = _Bar(len(jobs)) if progress and sys.stderr.isatty() else None
    try:
        for job in jobs:
            if bar:
                bar.describe(job.source.name)
            done = sample_paths(job.target, options.samples)
            if skip_existing and all(p.is_file() and p.stat().st_size > 0 for p in done):
                summary.skipped += 1
            else:
                try:
                    metadata = run_job(job, options=options, engine_options=engine_options)
                    summary.done += 1
                    summary.notes += [(job, note) for note in guidance_notes(metadata)]
                except Exception as exc:  # a bug must not cost the rest of the batch
                    message, code = describe_failure(exc)
                    summary.failures.append((job, message))
                    summary.codes.append(code)
                    summary.stopped = stop_reason(exc)
                    if summary.stopped:  # every job after it would fail the same way
                        break
            if bar:
                bar.advance()
    finally:
        if bar:
            bar.stop()
    return summary


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}
"""Writing a result failed because its folder refuses writes (permission, read-only mount)."""


def _errno(exc: BaseException | None) -> int | None:
    """The ``errno`` of the first :class:`OSError` in ``exc``'s chain of causes, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a full disk or an exceeded quota (``ENOSPC``, ``EDQUOT``),
    which fails every later write too: a folder run stops there instead of colorizing the
    rest only to fail writing each."""
    return _errno(exc) in _FULL


def stop_reason(exc: BaseException) -> str:
    """Why every later job of a folder run would fail too, or ``""``: ``"full"`` (a full disk
    or quota, :func:`disk_full`) or ``"not writable"`` (writing a result was refused:
    :class:`~polychrome.errors.OutputNotWritableError`; an input that cannot be read is not
    a reason to stop)."""
    if disk_full(exc):
        return "full"
    if isinstance(exc, OutputNotWritableError):
        return "not writable"
    return ""


def describe_failure(exc: Exception) -> tuple[str, int]:
    """The message and exit code reported for a job that raised ``exc``: a library error's own
    (2 for bad input), 1 for running out of memory or for a bug."""
    if isinstance(exc, PolychromeError):
        return str(exc), exc.exit_code
    if isinstance(exc, MemoryError):
        what = f" ({exc})" if str(exc) else ""
        return f"out of memory{what}; try --method fast or a smaller --max-pixels", 1
    return f"internal error: {type(exc).__name__}: {exc}", 1


class _Bar:
    """A rich progress bar with images per second."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._start = time.perf_counter()
        self._done = 0
        self._progress = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "{task.fields[rate]}",
            TimeRemainingColumn(),
            console=Console(stderr=True),  # the bar is shown when stderr is a terminal
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("colorizing", total=total, rate="")

    def describe(self, name: str) -> None:
        self._progress.update(self._task, description=name[:30].ljust(30))

    def advance(self) -> None:
        self._done += 1
        rate = self._done / max(time.perf_counter() - self._start, 1e-9)
        self._progress.update(self._task, advance=1, rate=f"{rate:.2f} img/s")

    def stop(self) -> None:
        self._progress.stop()
