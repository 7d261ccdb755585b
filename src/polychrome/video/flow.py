"""Optical flow between frames and what is built on it: warping, forward-backward consistency, the
temporal prior, scene-cut detection and the flicker metric.

Flow is OpenCV's DIS (dense inverse search) on luminance: ``L*`` scaled to 8 bits. A flow field
``flow`` ``(h, w, 2)`` float32 (x, y displacements in pixels) *from* frame ``b`` *to* frame ``a``
says where each pixel of ``b`` was in ``a``: ``b[y, x] ~ a[y + flow[y, x, 1], x + flow[y, x, 0]]``,
so :func:`warp` of ``a`` by it is ``a`` seen from ``b`` (backward warping, no holes).

Consistency (Sundaram et al., 2010): follow a pixel of ``b`` to ``a`` and back again; where the
two flows do not cancel (occlusion, a wrong match), or where the luminance found in ``a`` is not
the one of ``b``, the warped value is not trusted. The confidence is

    exp(-|f_ba + f_ab(warped)|^2 / (0.5 + 0.01 (|f_ba|^2 + |f_ab(warped)|^2)))
    * exp(-(dL / luminance_tolerance)^2)

in ``[0, 1]``; pixels that come from outside the frame get 0.

Where the flow is ambiguous (a periodic pattern: stripes, a fence, a grille, where many
displacements fit equally well), the two flows rarely cancel and almost nothing is consistent,
though the frame is the previous one moved. :func:`track_shift` tries the simplest motion there:
the whole frame moved by one shift, the one that correlates the two frames best (any period's
shift of a pattern fits, and then the luminance agrees, which is all that carrying colors needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.solve.propagate import Prior

__all__ = [
    "FlowPair",
    "flicker",
    "histogram_distance",
    "optical_flow",
    "temporal_prior",
    "track",
    "track_shift",
    "warp",
]

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_HIST_BINS = 32


@cache
def _dis(preset: str) -> cv2.DISOpticalFlow:
    """One DIS instance per preset, reused (made once per process)."""
    return cv2.DISOpticalFlow_create(_PRESETS[preset])


def _to_u8(luminance: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(np.asarray(luminance, np.float32), alpha=2.55)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ShapeError(f"frames must be two (h, w) luminance arrays, got {a.shape} and {b.shape}")


def optical_flow(source: np.ndarray, target: np.ndarray, *, preset: str = "fast") -> np.ndarray:
    """DIS flow from ``target`` to ``source``: ``(h, w, 2)`` float32 such that
    ``target[y, x] ~ source[y + flow[..., 1], x + flow[..., 0]]``.

    Args:
        source: ``(h, w)`` L* in ``[0, 100]`` (the frame values are taken from).
        target: ``(h, w)`` L* of the frame the values are wanted for.
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (OpenCV's DIS presets).
    """
    _check_pair(source, target)
    if preset not in _PRESETS:
        raise ValueCheckError(f"preset must be one of {', '.join(_PRESETS)}, got {preset!r}")
    return _dis(preset).calc(_to_u8(target), _to_u8(source), None)


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates ``(h, w)`` float32 (read-only, shared)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def _remap(values: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    return cv2.remap(
        np.ascontiguousarray(values, np.float32),
        map_x,
        map_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _inside(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Whether positions ``x``, ``y`` fall within an image of ``shape`` (pixel centres +- 0.5)."""
    h, w = shape
    return (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)


def warp(values: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``values`` ``(h, w)`` or ``(h, w, C)`` of the source frame, seen from the target frame of
    ``flow`` (bilinear; the border is repeated). float32 out."""
    h, w = flow.shape[:2]
    if values.shape[:2] != (h, w):
        raise ShapeError(f"values {values.shape[:2]} and flow {flow.shape[:2]} differ in size")
    gx, gy = _grid(h, w)
    return _remap(values, gx + flow[..., 0], gy + flow[..., 1])


@dataclass(frozen=True)
class FlowPair:
    """Flow between two frames both ways, and how far each target pixel's warp can be trusted."""

    flow: np.ndarray
    """``(h, w, 2)`` from the target to the source (see :func:`optical_flow`)."""
    confidence: np.ndarray
    """``(h, w)`` float32 in ``[0, 1]``: forward-backward and luminance consistency."""


def track(
    source: np.ndarray,
    target: np.ndarray,
    *,
    preset: str = "fast",
    luminance_tolerance: float = 8.0,
) -> FlowPair:
    """Flow from ``target`` to ``source`` with its consistency (module docstring).

    Args:
        source, target: ``(h, w)`` L* in ``[0, 100]``.
        preset: DIS preset.
        luminance_tolerance: L* difference between a pixel and where it came from at which the
            confidence falls to 1/e.
    """
    back = optical_flow(source, target, preset=preset)  # target -> source
    fore = optical_flow(target, source, preset=preset)  # source -> target
    h, w = back.shape[:2]
    gx, gy = _grid(h, w)
    x, y = gx + back[..., 0], gy + back[..., 1]
    fore_seen = _remap(fore, x, y)
    loop = back + fore_seen
    err = np.einsum("ijk,ijk->ij", loop, loop)
    speed = np.einsum("ijk,ijk->ij", back, back) + np.einsum("ijk,ijk->ij", fore_seen, fore_seen)
    scale = 0.01 * speed
    scale += 0.5
    d_lum = (_remap(source, x, y) - target) * np.float32(1 / luminance_tolerance)
    confidence = np.exp(-err / scale - d_lum * d_lum)
    return FlowPair(back, (confidence * _inside(x, y, (h, w))).astype(np.float32))


def _peak_offset(below: float, peak: float, above: float) -> float:
    """Subpixel offset in ``[-0.5, 0.5]`` of a peak from the parabola through three samples."""
    curvature = below - 2 * peak + above
    if curvature >= 0:  # flat (no structure along this axis) or not a maximum
        return 0.0
    return float(np.clip(0.5 * (below - above) / curvature, -0.5, 0.5))


def track_shift(
    source: np.ndarray,
    target: np.ndarray,
    *,
    max_shift: float = 0.1,
    luminance_tolerance: float = 8.0,
) -> tuple[FlowPair, float]:
    """The whole of ``target`` as ``source`` moved by one shift: the shift within ``max_shift``
    that correlates them best (subpixel), as a :class:`FlowPair`, and that correlation.

    Args:
        source, target: ``(h, w)`` L* in ``[0, 100]``, at least 8 pixels a side.
        max_shift: the largest shift searched, as a fraction of the shorter side (at least 1
            pixel).
        luminance_tolerance: as for :func:`track`.

    Returns:
        ``(pair, correlation)``: the pair's flow is the shift everywhere and its confidence the
        luminance agreement alone, ``exp(-(dL / luminance_tolerance)^2)``, 0 outside the frame
        (one motion for the whole frame needs no forward-backward check); ``correlation`` is
        Pearson's, in ``[-1, 1]``, between ``target`` and ``source`` moved, over their overlap
        (0 for a flat frame): about 1 for the same view moved, about 0 for another one.
    """
    _check_pair(source, target)
    h, w = target.shape
    if min(h, w) < 8:
        raise ShapeError(f"frames must be at least 8 pixels a side, got {target.shape}")
    if not 0 < max_shift < 0.5:
        raise ValueCheckError(f"max_shift must be in (0, 0.5), got {max_shift}")
    r = max(1, round(max_shift * min(h, w)))
    src, tgt = np.asarray(source, np.float32), np.asarray(target, np.float32)
    # Normalized cross-correlation of target's centre against every shift of source.
    scores = cv2.matchTemplate(src, tgt[r : h - r, r : w - r], cv2.TM_CCOEFF_NORMED)
    scores = np.nan_to_num(scores, nan=0.0)  # a flat window has no correlation
    # Of shifts that fit about as well (a pattern without structure along one axis, a period's
    # aliases), the smallest: it leaves the fewest pixels without a source.
    d = np.arange(-r, r + 1, dtype=np.float32) / r
    penalty = 0.01 * (d[:, None] ** 2 + d[None, :] ** 2)
    iy, ix = np.unravel_index(int(np.argmax(scores - penalty)), scores.shape)
    dx, dy = float(ix - r), float(iy - r)
    if 0 < ix < scores.shape[1] - 1:
        dx += _peak_offset(*scores[iy, ix - 1 : ix + 2])
    if 0 < iy < scores.shape[0] - 1:
        dy += _peak_offset(*scores[iy - 1 : iy + 2, ix])
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    gx, gy = _grid(h, w)
    inside = _inside(gx + dx, gy + dy, (h, w))
    moved = warp(src, flow)
    d_lum = (moved - tgt) * np.float32(1 / luminance_tolerance)
    confidence = (np.exp(-d_lum * d_lum) * inside).astype(np.float32)
    a, b = moved[inside], tgt[inside]
    spread = float(a.std() * b.std())
    correlation = float(np.mean((a - a.mean()) * (b - b.mean())) / spread) if spread > 0 else 0.0
    return FlowPair(flow, confidence), min(max(correlation, -1.0), 1.0)


def temporal_prior(
    previous_luminance: np.ndarray,
    previous_ab: np.ndarray,
    luminance: np.ndarray,
    *,
    strength: float = 1.0,
    preset: str = "fast",
) -> Prior:
    """The previous output frame's chroma, warped to the current frame, as a solver
    :class:`~polychrome.solve.propagate.Prior` named ``"temporal"``.

    Args:
        previous_luminance: ``(h, w)`` L* of the previous frame (working resolution).
        previous_ab: ``(h, w, 2)`` its output chroma.
        luminance: ``(h, w)`` L* of the current frame.
        strength: the confidence of a perfectly consistent pixel, in ``[0, 1]``.
        preset: DIS preset.

    Returns:
        A prior whose confidence is ``strength`` times the flow's consistency.
    """
    if not 0 <= strength <= 1:
        raise ValueCheckError(f"strength must be in [0, 1], got {strength}")
    if previous_ab.shape != (*luminance.shape, 2):
        raise ShapeError(f"previous_ab must be {(*luminance.shape, 2)}, got {previous_ab.shape}")
    pair = track(previous_luminance, luminance, preset=preset)
    ab = warp(previous_ab, pair.flow)
    return Prior(ab, pair.confidence * np.float32(strength), name="temporal")


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between the 32-bin L* histograms of two frames, in ``[0, 1]``:
    0 for the same tones, 1 for frames with no tone in common. A scene cut scores high, motion
    within a shot low."""
    ha = np.histogram(a, bins=_HIST_BINS, range=(0.0, 100.0))[0] / max(a.size, 1)
    hb = np.histogram(b, bins=_HIST_BINS, range=(0.0, 100.0))[0] / max(b.size, 1)
    return float(0.5 * np.abs(ha - hb).sum())


def flicker(
    previous_ab: np.ndarray,
    ab: np.ndarray,
    pair: FlowPair,
    *,
    min_confidence: float = 0.5,
) -> float:
    """Mean absolute chroma change between consecutive frames after flow compensation: the mean
    over the consistently tracked pixels (confidence >= ``min_confidence``) of
    ``|ab - warp(previous_ab)|`` (Euclidean in ab). ``pair`` comes from :func:`track` on the
    frames' luminance (previous as source). NaN when no pixel is tracked."""
    if previous_ab.shape != ab.shape or ab.shape[:2] != pair.flow.shape[:2]:
        raise ShapeError(
            f"chroma {previous_ab.shape}, {ab.shape} and flow {pair.flow.shape} must match"
        )
    moved = warp(previous_ab, pair.flow)
    keep = pair.confidence >= min_confidence
    if not keep.any():
        return float("nan")
    return float(np.linalg.norm(ab - moved, axis=2)[keep].mean())
