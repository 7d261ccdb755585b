"""Color space conversions: sRGB <-> CIE Lab (D65, 2 degree observer), and gamut handling.

Conventions used throughout polychrome:

- ``rgb``: float array ``(..., 3)``, gamma-encoded sRGB in ``[0, 1]``.
- ``lab``: float array ``(..., 3)``; ``L*`` in ``[0, 100]``, ``a*`` and ``b*`` about
  ``[-128, 127]``.
- ``luminance``: the ``L*`` channel alone, ``(H, W)`` float32 in ``[0, 100]``.
- ``ab``: the chroma channels alone, ``(H, W, 2)`` float32.

The constants match scikit-image's ``rgb2lab``/``lab2rgb`` (D65 white ``(0.95047, 1, 1.08883)``), so
results agree with it to float32 rounding. All functions are pure: inputs are never modified.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from scipy import ndimage

from polychrome.errors import ShapeError, ValueCheckError

__all__ = [
    "WHITE_D65",
    "ab_in_gamut",
    "compute_max_chroma_table",
    "gamut_map",
    "gray_to_luminance",
    "lab_to_rgb",
    "lab_to_xyz",
    "linear_to_srgb",
    "luminance_of",
    "max_chroma_table",
    "reduce_chroma",
    "rgb_to_lab",
    "rgb_to_luminance",
    "srgb_to_linear",
    "xyz_to_lab",
]

WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

# sRGB (linear) -> XYZ, rows give X, Y, Z.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)

_EPS = 0.008856  # (6/29)^3 as scikit-image writes it
_KAPPA = 7.787  # 1 / (3 * (6/29)^2) as scikit-image writes it

GamutMode = Literal["reduce-chroma", "clip"]
GamutMethod = Literal["table", "exact"]

# Grid of the max-chroma table used by the fast gamut mapping: L* step and hue step (degrees).
_TABLE_L_STEP = 0.5
_TABLE_HUE_STEP = 1.0


def _check_last_axis(x: np.ndarray, n: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != n:
        raise ShapeError(f"{name} must have shape (..., {n}), got {x.shape}")


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve. Any shape; values in ``[0, 1]`` -> linear ``[0, 1]``.

    >>> round(float(srgb_to_linear(np.array(0.5))), 4)
    0.214
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    out = np.where(
        rgb > 0.04045, np.power((rgb + 0.055) / 1.055, 2.4, dtype=np.float32), rgb / 12.92
    )
    return out.astype(np.float32, copy=False)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve. Any shape; linear ``[0, 1]`` -> encoded ``[0, 1]``.

    >>> round(float(linear_to_srgb(np.array(0.214))), 3)
    0.5
    """
    linear = np.asarray(linear, dtype=np.float32)
    pos = np.maximum(linear, 0.0031308)
    out = np.where(linear > 0.0031308, 1.055 * np.power(pos, 1 / 2.4) - 0.055, linear * 12.92)
    return out.astype(np.float32, copy=False)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), _KAPPA * t + 16.0 / 116.0)


def _f_inv(t: np.ndarray) -> np.ndarray:
    t3 = t * t * t
    return np.where(t3 > _EPS, t3, (t - 16.0 / 116.0) / _KAPPA)


def xyz_to_lab(xyz: np.ndarray) -> np.ndarray:
    """CIE XYZ ``(..., 3)`` (Y of white = 1) -> Lab ``(..., 3)``, D65."""
    xyz = np.asarray(xyz, dtype=np.float32)
    _check_last_axis(xyz, 3, "xyz")
    f = _f(xyz / WHITE_D65.astype(np.float32))
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_xyz(lab: np.ndarray) -> np.ndarray:
    """Lab ``(..., 3)`` -> CIE XYZ ``(..., 3)``, D65."""
    lab = np.asarray(lab, dtype=np.float32)
    _check_last_axis(lab, 3, "lab")
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1)
    return (xyz * WHITE_D65.astype(np.float32)).astype(np.float32, copy=False)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` in ``[0, 1]`` -> Lab ``(..., 3)`` float32.

    >>> [round(float(v), 2) + 0.0 for v in rgb_to_lab(np.array([1.0, 1.0, 1.0]))]
    [100.0, 0.0, 0.0]
    """
    rgb = np.asarray(rgb)
    _check_last_axis(rgb, 3, "rgb")
    linear = srgb_to_linear(rgb)
    xyz = _apply_matrix(linear, _XYZ_FROM_RGB)
    return xyz_to_lab(xyz)


def rgb_to_luminance(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` -> ``L*`` ``(...)`` float32 in ``[0, 100]`` (cheaper than a full Lab).

    A gray image ``(H, W)`` may be passed as ``rgb[..., None].repeat(3, -1)``, or use
    :func:`gray_to_luminance`, which is exact for gray and faster.
    """
    rgb = np.asarray(rgb)
    _check_last_axis(rgb, 3, "rgb")
    y = srgb_to_linear(rgb) @ _XYZ_FROM_RGB[1].astype(np.float32)
    return (116.0 * _f(y) - 16.0).astype(np.float32, copy=False)


def gray_to_luminance(gray: np.ndarray) -> np.ndarray:
    """Gamma-encoded gray ``(...)`` in ``[0, 1]`` (R = G = B) -> ``L*`` float32 in ``[0, 100]``."""
    y = srgb_to_linear(gray) * np.float32(_XYZ_FROM_RGB[1].sum())
    return (116.0 * _f(y) - 16.0).astype(np.float32, copy=False)


def _apply_matrix(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``matrix`` (3, 3) applied to each color of ``x`` ``(..., 3)``, float32. OpenCV's
    per-pixel transform: numpy's ``x @ matrix.T`` is about 20x slower with so short an inner
    dimension."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size == 0:
        return x @ matrix.T.astype(np.float32)
    out = cv2.transform(x.reshape(-1, 1, 3), matrix.astype(np.float32))
    return out.reshape(x.shape)


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    return _apply_matrix(lab_to_xyz(lab), _RGB_FROM_XYZ)


def ab_in_gamut(lab: np.ndarray, *, tol: float = 1e-4) -> np.ndarray:
    """Whether each Lab color ``(..., 3)`` is inside sRGB. Returns a bool array ``(...)``."""
    lin = _lab_to_linear(np.asarray(lab, dtype=np.float32))
    return np.all((lin >= -tol) & (lin <= 1 + tol), axis=-1)


def _first_exit(inside: Callable[[np.ndarray], np.ndarray], n: int, hi: float) -> np.ndarray:
    """For ``n`` rays, the largest ``t`` in ``[0, hi]`` such that ``[0, t]`` lies inside.

    ``inside(t)`` maps ``(n,)`` ray parameters to ``(n,)`` bools. The sRGB gamut is not convex in
    Lab: near the yellow cusp a ray of constant L* and hue leaves the gamut and enters it again,
    so a plain bisection can land on either piece. A coarse scan finds the first exit, then a
    bisection refines it to ``hi / 2**20``.
    """
    steps = 16
    lo = np.zeros(n, np.float32)
    found = np.zeros(n, bool)
    step = hi / steps
    for k in range(1, steps + 1):
        t = np.full(n, k * step, np.float32)
        ok = inside(t)
        newly = ~ok & ~found
        found |= newly
        lo = np.where(~found, t, lo)
    hi_arr = np.where(found, lo + step, lo)
    for _ in range(14):
        mid = (lo + hi_arr) * 0.5
        ok = inside(mid)
        lo = np.where(ok, mid, lo)
        hi_arr = np.where(ok, hi_arr, mid)
    return lo


def _inside(lab: np.ndarray) -> np.ndarray:
    lin = _lab_to_linear(lab)
    return np.all((lin >= 0.0) & (lin <= 1.0), axis=-1)


_TABLE_FILE = Path(__file__).with_name("gamut_table.npy")


@functools.cache
def max_chroma_table() -> np.ndarray:
    """The largest chroma reachable from gray inside sRGB for each (L*, hue) on a grid,
    ``(201, 361)`` float32.

    Row ``i`` is ``L* = 0.5 i``, column ``j`` is hue ``j`` degrees (column 360 repeats column 0).
    Loaded from the package (``scripts/build_gamut_table.py`` writes it), or computed.
    """
    expected = (round(100 / _TABLE_L_STEP) + 1, round(360 / _TABLE_HUE_STEP) + 1)
    if _TABLE_FILE.is_file():
        table = np.load(_TABLE_FILE)
        if table.shape == expected and table.dtype == np.float32:
            return table
    return compute_max_chroma_table()


def compute_max_chroma_table() -> np.ndarray:
    """Compute :func:`max_chroma_table` (about 0.15 s)."""
    lum = np.arange(0, 100 + 1e-3, _TABLE_L_STEP, dtype=np.float32)
    hue = np.deg2rad(np.arange(0, 360 + 1e-3, _TABLE_HUE_STEP, dtype=np.float32))
    ll, hh = (g.ravel() for g in np.meshgrid(lum, hue, indexing="ij"))
    cos, sin = np.cos(hh), np.sin(hh)

    def inside(c: np.ndarray) -> np.ndarray:
        # numpy's product, not _apply_matrix: the shipped table is reproduced bit for bit
        # (tests/test_color.py), whatever OpenCV's SIMD rounding on this machine.
        xyz = lab_to_xyz(np.stack([ll, c * cos, c * sin], axis=-1))
        lin = xyz @ _RGB_FROM_XYZ.T.astype(np.float32)
        return np.all((lin >= 0.0) & (lin <= 1.0), axis=-1)

    return _first_exit(inside, len(ll), 200.0).reshape(len(lum), len(hue))


def _gamut_map_table(lab: np.ndarray) -> np.ndarray:
    flat = lab.reshape(1, -1, 3) if lab.ndim != 3 else lab
    # cv2 wants 2-D maps smaller than 32767 on a side: process in blocks.
    for r0 in range(0, flat.shape[0], 4096):
        for c0 in range(0, flat.shape[1], 16384):
            blk = flat[r0 : r0 + 4096, c0 : c0 + 16384]
            lum = np.clip(blk[..., 0], 0.0, 100.0)
            blk[..., 0] = lum
            a, b = reduce_chroma(lum, blk[..., 1], blk[..., 2])
            blk[..., 1] = a
            blk[..., 2] = b
    return lab


def reduce_chroma(
    luminance: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fast gamut mapping on separate planes: scale ``(a, b)`` ``(H, W)`` down to the largest
    in-gamut chroma at each pixel's ``L*`` and hue (interpolated from :func:`max_chroma_table`).

    ``luminance`` must lie in ``[0, 100]`` and sides must be below 32767. Returns new float32
    ``(a, b)``; see :func:`gamut_map` (``method="table"``) for the accuracy.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    chroma, hue = cv2.cartToPolar(a, b, angleInDegrees=True)
    hue *= np.float32(1 / _TABLE_HUE_STEP)
    # numpy, not cv2.multiply: OpenCV reads a (4, 1) array as a scalar and refuses the product.
    row = np.ascontiguousarray(luminance, dtype=np.float32) * np.float32(1 / _TABLE_L_STEP)
    cmax = cv2.remap(
        max_chroma_table(), hue, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    cv2.max(chroma, 1e-6, dst=chroma)
    scale = cv2.divide(cmax, chroma)
    cv2.min(scale, 1.0, dst=scale)
    return cv2.multiply(a, scale), cv2.multiply(b, scale)


def _gamut_map_exact(lab: np.ndarray) -> np.ndarray:
    flat = lab.reshape(-1, 3)
    np.clip(flat[:, 0], 0.0, 100.0, out=flat[:, 0])
    bad = np.flatnonzero(~_inside(flat))
    if bad.size:
        sub = flat[bad]
        sub[:, 1:] *= _exit_scale(sub)[:, None]
        flat[bad] = sub
    return lab


# Where a ray of constant L* and hue from gray leaves sRGB and enters it again (the yellow cusp;
# on a grid of 0.25 L* x 0.25 degrees x 0.05 chroma, 68 of 577,440 rays, all within L* 93-98
# and hue 99-106.3 degrees), with a margin: there the exit is found by a scan from gray.
_CUSP_L = 90.0
_CUSP_HUE = (90.0, 115.0)

_BRACKET = 1.0 / 64
"""Relative half-width of the bracket around the table's estimate of the exit."""


def _excess(fy: np.ndarray, da: np.ndarray, db: np.ndarray, y_terms, t: np.ndarray) -> np.ndarray:
    """How far outside ``[0, 1]`` the linear RGB of ``(L*, t a*, t b*)`` reaches, ``(n,)``
    (``<= 0``: inside), with ``fy = (L* + 16) / 116``, ``da = a* / 500``, ``db = b* / 200``
    and ``y_terms`` each channel's share of Y (L* fixes it)."""
    x = _f_inv(fy + t * da) * np.float32(WHITE_D65[0])
    z = _f_inv(fy - t * db) * np.float32(WHITE_D65[2])
    out = None
    for c in range(3):
        lin = x * np.float32(_RGB_FROM_XYZ[c, 0])
        lin += z * np.float32(_RGB_FROM_XYZ[c, 2])
        lin += y_terms[c]
        e = np.maximum(-lin, lin - np.float32(1.0))
        out = e if out is None else np.maximum(out, e, out=out)
    return out


def _exit_scale(lab: np.ndarray) -> np.ndarray:
    """For Lab colors ``(n, 3)`` outside sRGB (``L*`` in ``[0, 100]``), the largest chroma
    factor ``t`` in ``[0, 1]`` such that the path from gray to ``t`` times the color stays
    inside (to ``2**-20``), ``(n,)`` float32.

    The table's estimate (:func:`max_chroma_table`) brackets the exit within a few percent; the
    root of the gamut excess along the ray is then found by regula falsi (Illinois), about 8
    evaluations instead of the 30 of a scan from gray. Colors near the yellow cusp, where the
    path from gray leaves the gamut and enters it again, and the few whose bracket does not
    hold, take the scan (:func:`_first_exit`).
    """
    n = len(lab)
    lum, a, b = (np.ascontiguousarray(lab[:, k], dtype=np.float32) for k in range(3))
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % np.float32(360.0)
    cmax = ndimage.map_coordinates(
        max_chroma_table(), [lum / _TABLE_L_STEP, hue / _TABLE_HUE_STEP], order=1, mode="nearest"
    )
    estimate = np.minimum(cmax / np.maximum(chroma, 1e-6), 1.0).astype(np.float32)
    fy = (lum + np.float32(16.0)) / np.float32(116.0)
    da, db = a / np.float32(500.0), b / np.float32(200.0)
    y = _f_inv(fy)
    y_terms = [y * np.float32(_RGB_FROM_XYZ[c, 1]) for c in range(3)]

    lo = estimate * np.float32(1 - _BRACKET)
    hi = np.minimum(estimate * np.float32(1 + _BRACKET), np.float32(1.0))
    e_lo = _excess(fy, da, db, y_terms, lo)
    e_hi = _excess(fy, da, db, y_terms, hi)
    cusp = (lum >= _CUSP_L) & (hue >= _CUSP_HUE[0]) & (hue <= _CUSP_HUE[1])
    held = (e_lo <= 0) & (e_hi > 0) & ~cusp
    out = np.empty(n, np.float32)

    # Regula falsi on the bracket, with Illinois' halving of an end kept twice in a row.
    act = np.flatnonzero(held)
    lo, hi, e_lo, e_hi = lo[act], hi[act], e_lo[act], e_hi[act]
    fy_a, da_a, db_a = fy[act], da[act], db[act]
    y_a = [v[act] for v in y_terms]
    side = np.zeros(len(act), np.int8)  # which end moved last: -1 lo, +1 hi
    tol = np.float32(2.0**-20)
    for step in range(40):
        done = (hi - lo) <= tol
        if done.any():
            out[act[done]] = lo[done]
            keep = ~done
            act, lo, hi, e_lo, e_hi, side = (v[keep] for v in (act, lo, hi, e_lo, e_hi, side))
            fy_a, da_a, db_a = fy_a[keep], da_a[keep], db_a[keep]
            y_a = [v[keep] for v in y_a]
        if not len(act):
            break
        if step < 12:
            t = hi - e_hi * (hi - lo) / (e_hi - e_lo)
            # Inside the bracket, and at least a little away from its ends.
            t = np.clip(t, lo + (hi - lo) * np.float32(1e-3), hi - (hi - lo) * np.float32(1e-3))
        else:  # the few that regula falsi left: bisection
            t = (lo + hi) * np.float32(0.5)
        e = _excess(fy_a, da_a, db_a, y_a, t)
        inside = e <= 0
        lo = np.where(inside, t, lo)
        e_lo = np.where(inside, e, np.where(side == 1, e_lo * np.float32(0.5), e_lo))
        hi = np.where(inside, hi, t)
        e_hi = np.where(inside, np.where(side == -1, e_hi * np.float32(0.5), e_hi), e)
        side = np.where(inside, -1, 1).astype(np.int8)
    out[act] = lo

    rest = np.flatnonzero(~held)
    if rest.size:
        fy_r, da_r, db_r = fy[rest], da[rest], db[rest]
        y_r = [v[rest] for v in y_terms]
        out[rest] = _first_exit(lambda t: _excess(fy_r, da_r, db_r, y_r, t) <= 0, rest.size, 1.0)
    return out


def gamut_map(lab: np.ndarray, *, method: GamutMethod = "exact") -> np.ndarray:
    """Bring Lab colors inside sRGB by reducing chroma, keeping ``L*`` and hue.

    ``L*`` is clipped to ``[0, 100]``; gray (chroma 0) is always inside, so a solution exists.

    Args:
        lab: ``(..., 3)`` Lab colors.
        method: ``"exact"`` finds, for each color outside the gamut, the largest chroma factor
            in ``[0, 1]`` such that the path from gray to it stays inside (to ``1e-6``); colors
            inside are unchanged. ``"table"`` scales
            chroma to the largest in-gamut chroma interpolated from :func:`max_chroma_table`
            (about 20x faster; near the gamut's cusps the result can sit slightly outside, which
            a final RGB clip absorbs with an ``L*`` change below 0.15).

    Returns:
        ``(..., 3)`` float32 Lab colors, a new array.

    >>> [round(float(v), 1) for v in gamut_map(np.array([50.0, 100.0, -100.0]))]  # too vivid
    [50.0, 78.1, -78.1]
    """
    lab = np.array(lab, dtype=np.float32, copy=True)
    _check_last_axis(lab, 3, "lab")
    if method == "table":
        return _gamut_map_table(lab)
    if method == "exact":
        return _gamut_map_exact(lab)
    raise ValueCheckError(f"method must be 'table' or 'exact', got {method!r}")


def lab_to_rgb(
    lab: np.ndarray, *, gamut: GamutMode = "reduce-chroma", precise: bool = True
) -> np.ndarray:
    """Lab ``(..., 3)`` -> sRGB ``(..., 3)`` float32 in ``[0, 1]``.

    Args:
        lab: Lab colors.
        gamut: ``"reduce-chroma"`` (default) keeps ``L*`` and hue of out-of-gamut colors and lowers
            their chroma until they fit; ``"clip"`` clips each RGB channel (shifts hue and
            lightness, as scikit-image does).
        precise: ``True`` computes in numpy with exact gamut mapping (matches scikit-image to
            ``1e-5``; for 16-bit output). ``False`` uses the table gamut mapping and OpenCV's
            conversion, ~15x faster, accurate to ``4e-4`` (for 8-bit output, where a level is
            ``4e-3``).

    >>> lab_to_rgb(np.array([53.24, 80.09, 67.20])).round(2).tolist()
    [1.0, 0.0, 0.0]
    """
    lab = np.asarray(lab, dtype=np.float32)
    _check_last_axis(lab, 3, "lab")
    if gamut not in ("reduce-chroma", "clip"):
        raise ValueCheckError(f"gamut must be 'reduce-chroma' or 'clip', got {gamut!r}")
    if not precise and lab.ndim == 3 and max(lab.shape[:2]) < 32767:
        if gamut == "reduce-chroma":
            lab = gamut_map(lab, method="table")
        return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    # In blocks of pixels: the numpy path's temporaries then stay a few MB, not many copies
    # of the image (a 50 MP 16-bit result took 5 GB).
    flat = lab.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    for start in range(0, len(flat), _BLOCK):
        block = flat[start : start + _BLOCK]
        if gamut == "reduce-chroma":
            block = gamut_map(block, method="exact" if precise else "table")
        rgb = linear_to_srgb(np.clip(_lab_to_linear(block), 0.0, 1.0))
        np.clip(rgb, 0.0, 1.0, out=out[start : start + _BLOCK])
    return out.reshape(lab.shape)


_BLOCK = 1 << 18
"""Pixels per block of :func:`lab_to_rgb`'s numpy path."""


@functools.cache
def _gray_lut(max_value: int) -> np.ndarray:
    return gray_to_luminance(np.arange(max_value + 1, dtype=np.float64) / max_value)


@functools.cache
def _linear_lut(max_value: int) -> np.ndarray:
    return srgb_to_linear(np.arange(max_value + 1, dtype=np.float64) / max_value)


def luminance_of(pixels: np.ndarray) -> np.ndarray:
    """``L*`` ``(H, W)`` float32 of an image: uint8, uint16 or float (``[0, 1]``) pixels, gray
    ``(H, W)`` or RGB ``(H, W, 3)``. Integer inputs go through a lookup table (fast at any size).

    >>> luminance_of(np.array([[0, 255]], np.uint8)).round(2).tolist()
    [[0.0, 100.0]]
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ShapeError(f"pixels must be (H, W) or (H, W, 3), got {pixels.shape}")
    if pixels.dtype in (np.uint8, np.uint16):
        if pixels.ndim == 2:
            return _gray_lut(255 if pixels.dtype == np.uint8 else 65535)[pixels]
        lut = _linear_lut(255 if pixels.dtype == np.uint8 else 65535)
        wr, wg, wb = _XYZ_FROM_RGB[1].astype(np.float32)
        y = lut[pixels[..., 0]] * wr
        y += lut[pixels[..., 1]] * wg
        y += lut[pixels[..., 2]] * wb
        return (116.0 * _f(y) - 16.0).astype(np.float32, copy=False)
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ValueCheckError(f"pixels must be uint8, uint16 or float, got {pixels.dtype}")
    if pixels.ndim == 2:
        return gray_to_luminance(pixels)
    return rgb_to_luminance(pixels)
