"""Image filters used by the solver and the upsampler: resizing, luminance-guided upsampling, and
edge-aware spreading of sparse values.

Arrays follow the vocabulary of :mod:`polychrome.ops.color`: ``luminance`` is ``(H, W)`` float32 in
``[0, 100]``; ``ab`` is ``(H, W, 2)`` float32; ``weight`` is ``(H, W)`` float32 ``>= 0``.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from polychrome.errors import ShapeError, ValueCheckError

__all__ = [
    "area_share",
    "bilateral_regression",
    "domain_transform_spread",
    "guided_upsample",
    "hint_cells",
    "hint_reach",
    "resize",
    "working_shape",
]

ResizeMode = Literal["area", "linear", "nearest"]
_CV2_MODES = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
_CV2_MAX_SIDE = 32766


def working_shape(shape: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """The largest ``(h, w)`` with the aspect ratio of ``shape`` and at most ``max_pixels`` pixels.

    Returns ``shape`` itself when it is already small enough.

    >>> working_shape((3000, 4000), 250_000)
    (433, 577)
    >>> working_shape((100, 50), 250_000)
    (100, 50)

    A side that the scale would take below one pixel stays one pixel, and the other side then
    takes the whole budget (the aspect ratio cannot be kept):

    >>> working_shape((2, 200_000), 4096)
    (1, 4096)
    """
    h, w = shape
    if h * w <= max_pixels:
        return (h, w)
    scale = (max_pixels / (h * w)) ** 0.5
    if int(h * scale) < 1:
        return (1, min(w, max_pixels))
    if int(w * scale) < 1:
        return (min(h, max_pixels), 1)
    return (int(h * scale), int(w * scale))


def resize(image: np.ndarray, shape: tuple[int, int], *, mode: ResizeMode = "area") -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` to ``shape = (h, w)``.

    ``"area"`` averages (for shrinking), ``"linear"`` interpolates bilinearly with pixel centers
    aligned (for enlarging), ``"nearest"`` picks. float32 in, float32 out.
    """
    if mode not in _CV2_MODES:
        raise ValueCheckError(f"mode must be one of {sorted(_CV2_MODES)}, got {mode!r}")
    h, w = shape
    if image.shape[:2] == (h, w):
        return image.astype(np.float32, copy=True)
    src = np.ascontiguousarray(image, dtype=np.float32)
    if max(h, w, *src.shape[:2]) > _CV2_MAX_SIDE or (src.ndim == 3 and src.shape[2] > 4):
        zoom = (h / src.shape[0], w / src.shape[1]) + ((1,) if src.ndim == 3 else ())
        order = {"area": 1, "linear": 1, "nearest": 0}[mode]
        return ndimage.zoom(src, zoom, order=order, grid_mode=True, mode="nearest")
    return cv2.resize(src, (w, h), interpolation=_CV2_MODES[mode])


def _area_weights(start: int, stop: int, full: int, size: int) -> tuple[int, int, sp.csr_matrix]:
    """The cells ``c0:c1`` of a ``size``-cell axis that full-resolution pixels ``start:stop``
    (of ``full``) fall in, and ``(c1 - c0, stop - start)`` weights: the share of each pixel
    lying in each cell, over the cell's length (``full / size`` pixels; a pixel straddles at
    most two cells)."""
    scale = full / size
    pixels = np.arange(start, stop)
    first = np.minimum((pixels / scale).astype(np.int64), size - 1)
    border = (first + 1) * scale  # where the pixel's first cell ends
    in_first = np.clip(border - pixels, 0.0, 1.0)
    c0, c1 = int(first[0]), int(min(size, first[-1] + 2))
    rows = np.concatenate([first, first + 1]) - c0
    cols = np.concatenate([pixels, pixels]) - start
    vals = np.concatenate([in_first, 1.0 - in_first]) / scale
    keep = (vals > 0) & (rows < c1 - c0)
    weights = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(c1 - c0, stop - start))
    return c0, c1, weights


def area_share(
    mask: np.ndarray,
    shape: tuple[int, int],
    *,
    full_shape: tuple[int, int] | None = None,
    offset: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """``(h, w)`` float32 in ``[0, 1]``: the share of each cell of a ``shape`` grid that the
    full-resolution bool ``mask`` ``(H, W)`` covers (an area resize, as ``resize(mask, shape,
    mode="area")``, with ``H >= h`` and ``W >= w``). With ``full_shape``, ``mask`` is a crop
    of a ``full_shape`` mask that is empty elsewhere, its first pixel at ``offset`` (y, x).

    Only the mask's bounding box is read and weighed, so a small region of a large image costs
    its own size: a hundred labelled regions of a 50 MP page are not a hundred resizes of it.

    >>> area_share(np.eye(4, dtype=bool), (2, 2)).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    h, w = shape
    full_h, full_w = full_shape or mask.shape
    if full_h < h or full_w < w:
        raise ShapeError(f"mask {(full_h, full_w)} must be at least as large as {shape}")
    out = np.zeros(shape, np.float32)
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return out
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    y0, y1, x0, x1 = y0 + offset[0], y1 + offset[0], x0 + offset[1], x1 + offset[1]
    i0, i1, wy = _area_weights(y0, y1, full_h, h)
    j0, j1, wx = _area_weights(x0, x1, full_w, w)
    out[i0:i1, j0:j1] = (wx @ (wy @ crop).T).T
    return out


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    k = 2 * radius + 1
    return cv2.blur(x, (k, k), borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    ab: np.ndarray,
    luminance_low: np.ndarray,
    luminance: np.ndarray,
    *,
    radius: int = 2,
    eps: float = 25.0,
    max_gain: float = 0.5,
) -> np.ndarray:
    """Upsample chroma to full resolution, guided by the full-resolution luminance.

    Fits, in every ``(2 radius + 1)^2`` window of the low-resolution images, the linear model
    ``ab = gain * L + offset`` (He et al.'s guided filter), upsamples the coefficients bilinearly
    and applies them to the full-resolution luminance. Chroma edges therefore snap to luminance
    edges at full resolution, while only coefficient maps are ever held at full size.

    Args:
        ab: ``(h, w, 2)`` chroma at working resolution.
        luminance_low: ``(h, w)`` luminance at working resolution.
        luminance: ``(H, W)`` full-resolution luminance (``H >= h``).
        radius: window radius at working resolution.
        eps: regularizer in ``L*`` units squared; larger means smoother (less edge snapping).
        max_gain: clamp of ``|gain|`` (ab units per ``L*`` unit), so that fine texture in the
            luminance cannot create chroma noise.

    Returns:
        ``(H, W, 2)`` float32 chroma.
    """
    if ab.ndim != 3 or ab.shape[2] != 2 or ab.shape[:2] != luminance_low.shape:
        raise ShapeError(
            f"ab must be (h, w, 2) matching luminance_low {luminance_low.shape}, got {ab.shape}"
        )
    guide = luminance_low.astype(np.float32)
    mean_l = _box(guide, radius)
    var_l = np.maximum(_box(guide * guide, radius) - mean_l * mean_l, 0.0)
    coef = np.empty((*ab.shape[:2], 4), np.float32)
    for c in range(2):
        p = np.ascontiguousarray(ab[..., c], dtype=np.float32)
        mean_p = _box(p, radius)
        cov = _box(guide * p, radius) - mean_l * mean_p
        gain = np.clip(cov / (var_l + eps), -max_gain, max_gain)
        coef[..., 2 * c] = gain
        coef[..., 2 * c + 1] = mean_p - gain * mean_l
    coef = cv2.blur(coef, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    # Channels are stored as planes, so that out[..., c] is contiguous for what follows.
    planes = np.empty((2, *luminance.shape), np.float32)
    lum = luminance.astype(np.float32, copy=False)
    for c in range(2):
        # One channel's (gain, offset) at full resolution at a time: 8 bytes a pixel, not 16.
        full = resize(
            np.ascontiguousarray(coef[..., 2 * c : 2 * c + 2]), luminance.shape, mode="linear"
        )
        np.multiply(full[..., 0], lum, out=planes[c])
        planes[c] += full[..., 1]
        del full
    return np.moveaxis(planes, 0, -1)


def domain_transform_spread(
    luminance: np.ndarray,
    values: np.ndarray,
    weight: np.ndarray,
    *,
    sigma_spatial: float,
    sigma_range: float,
    iterations: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware normalized convolution of sparse values (Gastal & Oliveira's domain transform).

    Spreads ``values`` from the pixels where ``weight > 0`` along paths of similar luminance.

    Args:
        luminance: ``(H, W)`` guide.
        values: ``(H, W, C)`` values, ``C <= 3``; only read where ``weight > 0``.
        weight: ``(H, W)`` weights of the values.
        sigma_spatial: reach in pixels.
        sigma_range: luminance difference (``L*`` units) that stops spreading.
        iterations: filter passes (3 is near-isotropic).

    Returns:
        ``(mean, density)``: ``(H, W, C)`` weighted mean of nearby values, and ``(H, W)`` the
        filtered weight (how much evidence each pixel received).
    """
    c = values.shape[2]
    if c > 3:
        raise ShapeError(f"values must have at most 3 channels, got {values.shape}")
    stack = np.zeros((*weight.shape, c + 1), np.float32)
    stack[..., :c] = values * weight[..., None]
    stack[..., c] = weight
    out = cv2.ximgproc.dtFilter(
        luminance.astype(np.float32),
        stack,
        float(sigma_spatial),
        float(sigma_range),
        mode=cv2.ximgproc.DTF_RF,
        numIters=iterations,
    )
    density = out[..., c]
    mean = out[..., :c] / np.maximum(density, 1e-12)[..., None]
    return mean, density


def bilateral_regression(
    luminance: np.ndarray,
    yx: np.ndarray,
    values: np.ndarray,
    weight: np.ndarray,
    *,
    sigma_spatial: float,
    sigma_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel regression of sparse values over (position, luminance), on a bilateral grid.

    Every pixel gets the weighted mean of the samples, with weights
    ``exp(-|p - q|^2 / 2 sigma_spatial^2 - (L_p - L_q)^2 / 2 sigma_range^2)``: pixels far apart
    but of similar luminance share values. Samples are splatted into a grid of cells of size
    ``sigma_spatial`` x ``sigma_spatial`` x ``sigma_range``, blurred, and sliced back trilinearly,
    so the cost is linear in the number of pixels.

    Args:
        luminance: ``(H, W)``.
        yx: ``(N, 2)`` integer sample positions.
        values: ``(N, C)`` sample values.
        weight: ``(N,)`` sample weights.
        sigma_spatial: spatial reach in pixels.
        sigma_range: luminance reach in ``L*`` units.

    Returns:
        ``(mean, density)``: ``(H, W, C)`` and ``(H, W)`` (the summed kernel weight).
    """
    h, w = luminance.shape
    cell = np.array([sigma_spatial, sigma_spatial, sigma_range], np.float64)
    dims = (np.array([h, w, 100.0]) / cell).astype(int) + 4
    lum = np.clip(luminance, 0.0, 100.0)

    def coords(y: np.ndarray, x: np.ndarray, lv: np.ndarray) -> np.ndarray:
        return np.stack([y / cell[0] + 1.5, x / cell[1] + 1.5, lv / cell[2] + 1.5])

    c = values.shape[1]
    grid = np.zeros((c + 1, *dims), np.float64)
    pts = coords(yx[:, 0], yx[:, 1], lum[yx[:, 0], yx[:, 1]])
    base = np.floor(pts).astype(int)
    frac = pts - base
    payload = np.concatenate([values * weight[:, None], weight[:, None]], axis=1).T
    for corner in range(8):
        offs = [(corner >> k) & 1 for k in range(3)]
        wgt = np.prod([frac[k] if offs[k] else 1 - frac[k] for k in range(3)], axis=0)
        idx = tuple(base[k] + offs[k] for k in range(3))
        for ch in range(c + 1):
            np.add.at(grid[ch], idx, payload[ch] * wgt)
    for ch in range(c + 1):
        grid[ch] = ndimage.gaussian_filter(grid[ch], sigma=1.0, mode="constant")
    yy, xx = np.mgrid[0:h, 0:w]
    where = coords(yy.ravel(), xx.ravel(), lum.ravel())
    sliced = np.stack(
        [ndimage.map_coordinates(grid[ch], where, order=1, mode="nearest") for ch in range(c + 1)],
        axis=-1,
    ).reshape(h, w, c + 1)
    density = sliced[..., c]
    mean = sliced[..., :c] / np.maximum(density, 1e-300)[..., None]
    return mean.astype(np.float32), density.astype(np.float32)


def hint_cells(
    yx: np.ndarray, shape: tuple[int, int], cells: int = 64
) -> tuple[tuple[int, int], np.ndarray]:
    """The coarse grid broad spreads of hints work on: its ``(gh, gw)``, ``cells`` on the longer
    side of ``shape`` (or ``shape`` itself if smaller), and the ``(N, 2)`` int64 cell of each
    hint at ``yx`` (in ``shape``'s coordinates)."""
    h, w = shape
    scale = min(1.0, cells / max(h, w))
    gh, gw = max(1, round(h * scale)), max(1, round(w * scale))
    at = np.minimum((np.asarray(yx).reshape(-1, 2) * scale).astype(np.int64), [gh - 1, gw - 1])
    return (gh, gw), at


def hint_reach(yx: np.ndarray, shape: tuple[int, int], reach: float) -> np.ndarray:
    """``(H, W)`` float32 in ``[0, 1]``: how near each pixel is to the hints at ``yx``
    ``(N, 2)`` (int, in ``shape``'s coordinates): 1 at and beside them, fading to 0 at about
    ``reach`` times the longer side from the nearest one; all ones when ``reach`` is 0, all
    zeros without hints.

    ``1 - exp(-3 E)``, where ``E`` counts the cells of a grid of 64 on the longer side that hold a
    hint, spread with a Gaussian of ``reach / 2`` and scaled to 1 at a lone cell: a stroke counts
    for the cells it crosses, not for its pixels, so a long stroke reaches as far as a dot.

    >>> near = hint_reach(np.array([[0, 0]]), (100, 200), 0.25)
    >>> bool(near[0, 0] > 0.9), bool(near[99, 199] < 0.01)
    (True, True)
    """
    h, w = shape
    if reach <= 0:
        return np.ones((h, w), np.float32)
    (gh, gw), at = hint_cells(yx, shape)
    cells = np.zeros((gh, gw), np.float32)
    cells[at[:, 0], at[:, 1]] = 1.0
    sigma = 0.5 * reach * max(gh, gw)
    spread = cv2.GaussianBlur(cells, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    near = 1.0 - np.exp(-3.0 * np.float32(2 * np.pi * sigma**2) * spread)
    return cv2.resize(near, (w, h), interpolation=cv2.INTER_LINEAR)
