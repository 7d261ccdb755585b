"""A chapter's palette: the references' mean chroma at each lightness, as fallback hints.

Matching (:mod:`polychrome.reference.match`) gives hints only where a target pixel looks like a
reference pixel, and on comic pages that is rare: another page shows the same characters in
other poses, at other sizes, in other panels. On Pepper&Carrot episode 02 (each page with the
other four as its pool) about 2% of the pixels match confidently, and matches below a confidence
of 0.8 are farther from the true colors, on average, than the palette below.

The palette is what a chapter's pages share even when nothing matches: its colors as a function
of lightness (a warm sepia chapter, a cold night chapter). For every L* bin (2 units wide) it is
the mean chroma of all the references' pixels in that bin (bins with fewer than 16 pixels are
interpolated from their neighbours); a target pixel's palette chroma is that of its own L*. The
mean is the guess with the least squared error when only lightness is known, so the palette is
muted where the chapter uses many colors at one lightness.

:func:`palette_hints` turns it into weak hints on a regular grid (about 20,000, weight 0.05
each, against 0.5 to 1 for a match), so matches decide where they are and the palette fills the
rest. Where matches are dense (a reference that shows the same scene) the palette steps aside:
the weight of a palette hint falls linearly to 0 as the share of match cells around it (a
Gaussian of 8 cells, cells as :func:`~polychrome.reference.match.match_references` lays them
out) goes from 0 to 20%, so the matches alone spread over their regions.

Measured with ``polychrome eval PAGES/ --protocol pool --max-side 1401`` (manga-dev, each page
with the other pages of its episode as the pool): episode 02 from 21.82 to 23.29 dB PSNR (SSIM
0.9558 to 0.9604), episode 01 from 22.89 to 23.72 dB (SSIM 0.9125 to 0.9284). The palette's
hints alone (no match) give episode 02 23.30 dB: its gain is the palette's, matching adds little
on those pages. The colors are the chapter's average tones, muted where it is most colorful.

What was tried beyond it (2026-12-03, episode 02, the palette's chroma composed with the true
L*, no solver; 23.19 dB mean this way): conditioning the palette on the lightness around a pixel
as well (2D bins of L* and L* blurred at 4, 16 or 48 px, backing off to the 1D palette) loses
0.05-0.5 dB on every page; choosing, with hindsight, the single other page whose palette suits
each page best gives 23.37, so retrieval-weighted palettes could gain at most about 0.2 dB.
Most of the remaining error is in colors that no other page has at that lightness (page 2's
rainbow, page 3's bubble of colors).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.guidance.hints import PointHints
from polychrome.ops.color import rgb_to_lab
from polychrome.ops.filters import resize, working_shape
from polychrome.reference.match import _MAX_HINTS, to_rgb_float

__all__ = ["chapter_palette", "palette_chroma", "palette_hints", "with_palette"]

BIN_WIDTH = 2.0
"""Width of a palette bin, in L* units."""
_BINS = int(100 / BIN_WIDTH) + 1
_MIN_COUNT = 16  # pixels a bin needs to stand on its own; emptier bins are interpolated
_WORK_PIXELS = 65_000  # each reference is reduced to this many pixels
_HINTS = 20_000  # about this many palette hints on a grid
_WEIGHT = 0.05  # a palette hint's weight (a match has its confidence, 0.5 to 1)
_MATCH_SIGMA = 8.0  # match cells: reach of the match density around a palette hint
_MATCH_SHARE = 0.2  # share of match cells around a palette hint at which it is dropped


def chapter_palette(references: Sequence[np.ndarray]) -> np.ndarray:
    """The references' mean chroma per L* bin (module docstring).

    Args:
        references: color images ``(h, w, 3)``, uint8, uint16 or float sRGB in ``[0, 1]``.

    Returns:
        ``(51, 2)`` float32: the mean ``ab`` of bin ``k``, L* in ``[2 k, 2 k + 2)`` (the last
        bin holds L* 100).

    Raises:
        ValueCheckError: no reference.
        ShapeError: a reference that is not an RGB image.

    >>> red = np.zeros((8, 8, 3), np.uint8); red[..., 0] = 255
    >>> bool(chapter_palette([red])[:, 0].min() > 70)  # every bin: red's a*, interpolated
    True
    """
    if len(references) == 0:
        raise ValueCheckError("a palette needs at least one reference")
    lums, abs_ = [], []
    for k, image in enumerate(references):
        rgb = to_rgb_float(image, name=f"reference {k + 1}")
        lab = rgb_to_lab(resize(rgb, working_shape(rgb.shape[:2], _WORK_PIXELS), mode="area"))
        lums.append(lab[..., 0].ravel())
        abs_.append(lab[..., 1:].reshape(-1, 2))
    bins = _bin(np.concatenate(lums))
    ab = np.concatenate(abs_).astype(np.float64)
    count = np.bincount(bins, minlength=_BINS)
    sums = np.stack([np.bincount(bins, ab[:, c], _BINS) for c in range(2)], axis=1)
    full = count >= _MIN_COUNT
    if not full.any():  # tiny references: trust whatever there is
        full = count > 0
    centres = np.arange(_BINS)
    table = np.zeros((_BINS, 2))
    for c in range(2):
        table[:, c] = np.interp(centres, centres[full], sums[full, c] / count[full])
    return table.astype(np.float32)


def palette_chroma(palette: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """``(..., 2)`` float32 chroma of each L* of ``luminance`` (any shape, ``[0, 100]``) in
    ``palette`` (:func:`chapter_palette`)."""
    palette = np.asarray(palette)
    if palette.shape != (_BINS, 2):
        raise ShapeError(f"a palette is ({_BINS}, 2), got {palette.shape}")
    return palette[_bin(np.asarray(luminance))].astype(np.float32)


def _bin(luminance: np.ndarray) -> np.ndarray:
    return np.clip((luminance / BIN_WIDTH).astype(np.int64), 0, _BINS - 1)


def palette_hints(
    luminance: np.ndarray,
    palette: np.ndarray,
    *,
    matches: Sequence[PointHints] = (),
    source: str = "palette",
) -> PointHints:
    """Weak hints of the palette's chroma on a grid, thinned where ``matches`` are dense.

    Args:
        luminance: ``(H, W)`` L* of the target, in ``[0, 100]``.
        palette: from :func:`chapter_palette`.
        matches: the target's match hints (full-resolution positions); around dense matches
            the palette hints weaken and vanish (module docstring).
        source: the hints' ``source``.

    Returns:
        :class:`~polychrome.guidance.hints.PointHints` (possibly empty where matches cover the
        whole target).
    """
    luminance = np.asarray(luminance)
    if luminance.ndim != 2 or min(luminance.shape) < 1:
        raise ShapeError(f"target luminance must be (H, W), got shape {luminance.shape}")
    h, w = luminance.shape
    step = max(1, round((h * w / _HINTS) ** 0.5))
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    yx = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.int32)
    weight = np.full(len(yx), _WEIGHT, np.float32)
    known = [m.yx for m in matches if len(m)]
    if known:
        # Share of match cells around each grid point, on the matcher's grid of cells.
        cell = max(1.0, (h * w / _MAX_HINTS) ** 0.5)
        grid = np.zeros((int(h / cell) + 1, int(w / cell) + 1), np.float32)
        at = (np.concatenate(known) / cell).astype(np.int64)
        grid[at[:, 0], at[:, 1]] = 1.0
        share = cv2.GaussianBlur(grid, (0, 0), _MATCH_SIGMA, borderType=cv2.BORDER_CONSTANT)
        cells = (yx / cell).astype(np.int64)
        weight *= np.clip(1 - share[cells[:, 0], cells[:, 1]] / _MATCH_SHARE, 0, 1)
        keep = weight > 0
        yx, weight = yx[keep], weight[keep]
    ab = palette_chroma(palette, luminance[yx[:, 0], yx[:, 1]])
    return PointHints(yx=yx, ab=ab, weight=weight, source=source)


def with_palette(
    luminance: np.ndarray, references: Sequence[np.ndarray], matches: list[PointHints]
) -> list[PointHints]:
    """``matches`` followed by the palette hints of ``references`` (when any are left), the
    way ``polychrome sequence`` and ``colorize --pool`` use a chapter's palette."""
    fill = palette_hints(
        luminance,
        chapter_palette(references),
        matches=matches,
        source=f"palette of {len(references)} references",
    )
    return matches + ([fill] if len(fill) else [])
