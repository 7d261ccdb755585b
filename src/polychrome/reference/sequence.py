"""Comic chapters: pages colorized in order, each from the references a pool retrieves for it.

For every page (files sorted by name): the pool retrieves the references that look most like it
(:meth:`~polychrome.reference.pool.Pool.retrieve`, ColorFlow's RAP), they are matched against the
page (:func:`~polychrome.reference.match.match_references`) into hints, the references' palette
(their mean chroma per lightness, :mod:`polychrome.reference.chapter`) adds weak hints where
matches are sparse, and the page is colorized with those hints over the engine's proposal (``cnn``
by default). With ``grow_pool``, each
finished page joins the pool, so a character colored on page 3 keeps those colors on page 7
even when no original reference shows it (opt-in: a badly colored page would pass its mistakes
on).

Each result is written atomically as it is finished; a page that fails is recorded and the
others go on; ``skip_existing`` leaves finished pages alone (resume), and with ``grow_pool``
those finished pages still join the pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polychrome.errors import InputError, PolychromeError, ValueCheckError
from polychrome.formats import IMAGE_SUFFIXES, image_files
from polychrome.guidance.hints import Guidance, PointHints
from polychrome.options import ColorizeOptions
from polychrome.reference.pool import Pool, load_embedder, rap_patches

__all__ = ["SequenceReport", "colorize_sequence", "page_files", "pool_hints"]

Progress = Callable[[int, int, str], None]
Notify = Callable[[Path, str], None]

COLOR_PAGE_NOTE = (
    "the page is in color already; it was colorized again from its lightness, so its own colors "
    "are not in the result (to give them to the other pages, put it in the pool instead)"
)


def page_files(
    folder: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    output_format: str = "png",
    samples: int = 1,
) -> list[Path]:
    """The images of a folder (not its subfolders), sorted by name.

    When ``output`` is the folder itself, the results of an earlier run there are not pages
    (:func:`polychrome.pipeline.earlier_results`). A file that may be a page is kept, so it is
    never written over (:func:`colorize_sequence` then refuses, naming it).
    """
    from polychrome.pipeline import earlier_results

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of pages")
    files = image_files(folder)
    if output is not None and Path(output).resolve() == folder.resolve():
        left_out = earlier_results(files, output_format, samples)
        files = [f for f in files if f not in left_out]
    if not files:
        raise InputError(f"{folder} holds no pages ({', '.join(IMAGE_SUFFIXES)})")
    return files


def pool_hints(
    luminance: np.ndarray,
    pool: Pool,
    load: Callable[[Path], np.ndarray],
    *,
    k: int = 3,
    seed: int = 0,
    use_network: bool | None = False,
    palette: bool = True,
) -> list[PointHints]:
    """Hints for a page from the references the pool retrieves for it.

    Args:
        luminance: ``(H, W)`` L* of the page.
        pool: the references.
        load: reads a retrieved reference's pixels ``(h, w, 3)`` from its path.
        k: references retrieved per patch of the page.
        seed, use_network: as for :func:`~polychrome.reference.match.match_references`.
        palette: add the retrieved references' palette (their mean chroma per lightness) as
            weak hints where matches are sparse (:mod:`polychrome.reference.chapter`).

    Returns:
        One :class:`~polychrome.guidance.hints.PointHints` per reference that matched somewhere,
        then the palette's (when asked for and not empty).
    """
    from polychrome.reference.chapter import with_palette
    from polychrome.reference.match import match_references

    found = pool.retrieve(luminance, k)
    if not found:
        return []
    names = [f"{p.name} (similarity {score:.2f})" for p, score in found]
    references = [load(p) for p, _ in found]
    hints = match_references(
        luminance,
        references,
        names=names,
        seed=seed,
        use_network=use_network,
    )
    out = [h for h in hints.to_point_hints() if len(h)]
    return with_palette(luminance, references, out) if palette else out


@dataclass
class SequenceReport:
    """What :func:`colorize_sequence` did."""

    written: list[Path] = field(default_factory=list)
    """Per page written, its result (with several samples, the first: ``STEM-1.png``)."""
    skipped: list[Path] = field(default_factory=list)
    """Per page left alone (``skip_existing``: all its results were there), its result."""
    failures: list[tuple[Path, PolychromeError]] = field(default_factory=list)
    notes: list[tuple[Path, str]] = field(default_factory=list)
    """Per page, what the user should know about its result (a page that was in color)."""
    pool_size: int = 0
    """References in the pool at the end (grown with ``grow_pool``)."""


def _finished(target: Path, max_pixels: int) -> Any:
    """The result already at ``target`` (resuming), or None when there is none or it cannot be
    read (a damaged file is done again, not trusted)."""
    if not target.exists():
        return None
    from polychrome.io import read_image

    try:
        return read_image(target, max_pixels=max_pixels)
    except InputError:
        return None


def _grow(pool: Pool, path: Path, luminance: np.ndarray) -> Pool:
    from polychrome.ops.filters import resize, working_shape
    from polychrome.reference.pool import _EMBED_PIXELS

    lum = resize(luminance, working_shape(luminance.shape, _EMBED_PIXELS), mode="area")
    row = load_embedder(pool.embedder).embed(rap_patches(lum, whole=True))
    return Pool((*pool.paths, path), np.concatenate([pool.embeddings, row[None]]), pool.embedder)


def colorize_sequence(
    pages: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    pool: Pool,
    output: str | os.PathLike[str],
    *,
    grow_pool: bool = False,
    skip_existing: bool = False,
    options: ColorizeOptions | None = None,
    engine_options: Mapping[str, Any] | None = None,
    output_format: str = "png",
    use_network: bool | None = False,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> SequenceReport:
    """Colorize pages in order with references retrieved from ``pool`` (module docstring).

    Args:
        pages: a folder of pages (sorted by name) or a list of files, in order.
        pool: the reference pool (:meth:`Pool.open`).
        output: the folder results go to, as ``STEM.png`` (or ``output_format``).
        grow_pool: add each finished page to the pool for the pages after it (a result or an
            existing output without color is left out).
        skip_existing: leave pages whose result exists alone.
        options, engine_options: as for :func:`polychrome.pipeline.colorize`.
        output_format: ``png``, ``jpg``, ``tif`` or ``webp``.
        use_network: as for :func:`~polychrome.reference.match.match_references`.
        progress: called after each page with ``(done, total, page name)``.
        notify: called with ``(page, note)`` for each note of a page as soon as that page is
            finished (written or failed), before the next one starts: a run stopped later still
            said it. The notes are in the report too.

    Returns:
        A :class:`SequenceReport`; pages that failed are in ``failures`` (nothing is written for
        them), the others are written.

    Raises:
        InputError: no pages, an output that is not a folder, or results that would overwrite
            a page or a reference.
    """
    from polychrome.io import read_image
    from polychrome.ops.color import luminance_of
    from polychrome.pipeline import colorize, sample_paths
    from polychrome.reference.match import is_color

    options = options or ColorizeOptions()
    if isinstance(pages, (str, os.PathLike)):
        files = page_files(
            pages, output=output, output_format=output_format, samples=options.samples
        )
    else:
        files = [Path(p) for p in pages]
    if not files:
        raise InputError("no pages given")
    if output_format not in ("png", "jpg", "tif", "webp"):
        raise ValueCheckError(f"output format must be png, jpg, tif or webp, got {output_format!r}")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValueCheckError(f"-o {out} is a file; pages go to a folder")
    # Each page's result files (several samples: STEM-1, STEM-2, ... beside one another).
    targets = [sample_paths(out / f"{f.stem}.{output_format}", options.samples) for f in files]
    seen: dict[str, Path] = {}
    for page, results in zip(files, targets, strict=True):
        for t in results:
            other = seen.setdefault(t.name, page)
            if other != page:
                raise ValueCheckError(
                    f"pages {other.name} and {page.name} share a file stem; their results would "
                    f"both be {t.name}"
                )
    references = {p.resolve() for p in pool.paths}
    for t in (t for results in targets for t in results):
        if t.resolve() in references:
            raise ValueCheckError(
                f"refusing to overwrite the reference {t} (in the pool) with a result; write the "
                "results to a folder that holds no reference"
            )
    pages_given = {p.resolve() for p in files}
    for t in (t for results in targets for t in results):
        if t.resolve() in pages_given:
            raise ValueCheckError(f"refusing to overwrite the input {t} with a result")

    def load(path: Path) -> np.ndarray:
        image = read_image(path, max_pixels=options.max_pixels)
        if image.is_gray:
            raise ValueCheckError(f"reference {path.name} is a gray image")
        return image.pixels

    report = SequenceReport()
    for done, (page, results) in enumerate(zip(files, targets, strict=True), 1):
        target = results[0]  # the one that joins a growing pool
        notes: list[str] = []
        try:
            finished = [_finished(t, options.max_pixels) for t in results] if skip_existing else []
            if finished and all(f is not None for f in finished):
                report.skipped.append(target)
                first = finished[0]
                if grow_pool and not first.is_gray and is_color(first.pixels):
                    pool = _grow(pool, target, luminance_of(first.pixels))
            else:
                image = read_image(page, max_pixels=options.max_pixels)
                if not image.is_gray and is_color(image.pixels):
                    notes.append(COLOR_PAGE_NOTE)
                luminance = luminance_of(image.pixels)
                points = pool_hints(
                    luminance, pool, load, seed=options.seed, use_network=use_network
                )
                result = colorize(
                    image,
                    guidance=Guidance(points=tuple(points)),
                    options=options,
                    engine_options=engine_options,
                )
                result.metadata["references"] = [p.source for p in points]
                result.save(out / f"{page.stem}.{output_format}")  # to ``results``
                report.written.append(target)
                if grow_pool and is_color(result.image):  # a gray result has nothing to give
                    pool = _grow(pool, target, luminance)
        except PolychromeError as exc:
            report.failures.append((page, exc))
        for note in notes:
            report.notes.append((page, note))
            if notify is not None:
                notify(page, note)
        if progress is not None:
            progress(done, len(files), page.name)
    report.pool_size = len(pool)
    return report
