"""References followed through a shot: where, in each reference, every pixel of the current frame
is, and how far that can be trusted.

A reference (a colored frame of the shot) is aligned to a frame three ways, and each pixel keeps
the candidate whose reference luminance agrees best with the frame's:

- **followed**: the previous frame's positions in the reference, carried to this frame by the
  frame-to-frame flow (which the temporal prior computes anyway). Only positions are warped, so
  the reference's colors are sampled once, not resampled (and blurred) frame after frame; pixels
  whose chain broke (an occluder passed, the flow was inconsistent) take the positions their
  tracked neighbours imply (Gaussian-weighted mean displacement) and must earn their trust back
  by luminance agreement.
- **direct**: optical flow from the reference to the frame, which holds while the motion since
  the reference is small (and starts the chain at anchors).
- **refined** (``VideoSettings.reference_refine``): the reference, warped to the frame by the
  chosen positions, is aligned to the frame once more; that residual flow is small, so it
  corrects drift and re-finds what the chain lost.

The confidence of a pixel is ``exp(-(dL / luminance_tolerance)^2)`` (``dL``: frame L* minus the
reference's L* at the position), times whether its chain holds (0.5 for refilled pixels), times 0
outside the reference. With ``VideoSettings.reference_detail`` the positions, taken to full
resolution, sample the reference's full-resolution chroma: the chroma of thin structures (twigs,
leaves) survives the small working resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from polychrome.ops.filters import resize
from polychrome.video.flow import FlowPair, _inside, _remap, track, warp
from polychrome.video.settings import VideoSettings

__all__ = ["Alignment", "ReferenceTracker", "sample"]

_CHAIN_HOLDS = 0.3
"""Frame-to-frame consistency below which a pixel's chain to the reference breaks."""
_FILL_SIGMA = 0.05
"""Reach of the refill of broken chains (Gaussian sigma, fraction of the longer side)."""
_REFILL_TRUST = 0.5
"""Chain trust of a refilled pixel (luminance agreement decides the rest)."""


def sample(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``values`` ``(h, w)`` or ``(h, w, C)`` read at ``coords`` ``(H, W, 2)`` (x, y in the
    pixels of ``values``; bilinear, the border repeated). float32 ``(H, W[, C])`` out."""
    return _remap(
        values,
        np.ascontiguousarray(coords[..., 0], np.float32),
        np.ascontiguousarray(coords[..., 1], np.float32),
    )


@lru_cache(maxsize=8)
def _grid(shape: tuple[int, int]) -> np.ndarray:
    """Pixel positions ``(h, w, 2)`` (x, y) float32 (read-only, shared: made once per size)."""
    h, w = shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], axis=2)
    grid.flags.writeable = False
    return grid


@dataclass(frozen=True)
class Alignment:
    """The references' chroma at the frame's working resolution, the most trusted reference at
    each pixel."""

    ab: np.ndarray
    """``(h, w, 2)`` float32 chroma read from the references."""
    confidence: np.ndarray
    """``(h, w)`` float32 in ``[0, 1]``."""
    coords: np.ndarray
    """``(h, w, 2)`` float32: each pixel's position (x, y) in its reference, in the pixels of
    the reference at working resolution."""
    source: np.ndarray
    """``(h, w)`` int: which reference each pixel reads."""


class ReferenceTracker:
    """Follows color references through the frames of a shot (module docstring).

    Args:
        references: ``(H, W, 3)`` float RGB in ``[0, 1]``, any size.
        settings: the video's settings (flow preset, tolerance, overlap, refine).
    """

    def __init__(self, references: list[np.ndarray], settings: VideoSettings):
        from polychrome.ops.color import rgb_to_lab

        self.settings = settings
        # Full-resolution L*, a*, b* and a spare channel: OpenCV remaps 4 channels at once
        # faster than 1 + 2.
        self._full = []
        for rgb in references:
            lab = rgb_to_lab(np.asarray(rgb, np.float32))
            self._full.append(np.concatenate([lab, np.zeros_like(lab[..., :1])], axis=2))
        self._work: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._chains: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(references)

    def reset(self) -> None:
        """Forget the chains (a new shot): the next frame is aligned directly."""
        self._chains = [None] * len(self._chains)

    def _agreement(self, ref_lum: np.ndarray, coords: np.ndarray, lum: np.ndarray) -> np.ndarray:
        d_lum = sample(ref_lum, coords) - lum
        return np.exp(-((d_lum / self.settings.luminance_tolerance) ** 2))

    def _follow(self, k: int, pair: FlowPair, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chain of reference ``k`` carried one frame on; broken links refilled."""
        coords, held = self._chains[k]
        coords = warp(coords, pair.flow)
        held = warp(held, pair.flow) * (pair.confidence >= _CHAIN_HOLDS)
        broken = held < 0.5
        if broken.any():
            sigma = _FILL_SIGMA * max(held.shape)
            moved = cv2.GaussianBlur((coords - grid) * held[..., None], (0, 0), sigma)
            weight = cv2.GaussianBlur(held, (0, 0), sigma)
            refill = broken & (weight > 1e-3)
            coords[refill] = grid[refill] + moved[refill] / weight[refill, None]
            held = np.where(refill, np.float32(_REFILL_TRUST), held)
        return coords, held.astype(np.float32)

    def update(self, lum: np.ndarray, pair: FlowPair | None) -> Alignment | None:
        """Align the references to the next frame.

        Args:
            lum: ``(h, w)`` working-resolution L* of the frame.
            pair: the flow from this frame to the previous one (:func:`track`), or None at an
                anchor (the chains start again).

        Returns:
            The alignment, or None when no reference aligns with enough of the frame.
        """
        s = self.settings
        if self._work is None or self._work[0][0].shape != lum.shape:
            self._work = []
            for lab in self._full:
                small = resize(lab, lum.shape, mode="area")
                self._work.append((small[..., 0].copy(), small[..., 1:3].copy()))
        if pair is None:
            self.reset()
        grid = _grid(lum.shape)
        best: Alignment | None = None
        for k, (ref_lum, ref_ab) in enumerate(self._work):
            # 1. Candidates: followed from the previous frame, and aligned directly.
            candidates = []
            if self._chains[k] is not None and pair is not None:
                candidates.append(self._follow(k, pair, grid))
            direct = track(ref_lum, lum, preset=s.flow_preset)
            if np.mean(direct.confidence >= 0.5) >= s.reference_overlap:
                held = (direct.confidence >= 0.5).astype(np.float32)
                candidates.append((grid + direct.flow, held))
            if not candidates:
                self._chains[k] = None
                continue
            coords, held = candidates[0]
            if len(candidates) == 2:
                other, other_held = candidates[1]
                score = self._agreement(ref_lum, coords, lum) * held
                better = self._agreement(ref_lum, other, lum) * other_held > score
                coords[better], held = other[better], np.where(better, other_held, held)
            # 2. Refined: the residual flow between the reference so warped and the frame.
            if s.reference_refine:
                residual = track(sample(ref_lum, coords), lum, preset=s.flow_preset)
                coords = sample(coords, grid + residual.flow)
                kept = held * (residual.confidence >= _CHAIN_HOLDS)
                held = np.maximum(kept, residual.confidence >= 0.5).astype(np.float32)
            held = held * _inside(coords[..., 0], coords[..., 1], ref_lum.shape)
            self._chains[k] = (coords, held.astype(np.float32))
            # 3. Confidence by luminance agreement; the best reference per pixel.
            confidence = (self._agreement(ref_lum, coords, lum) * held).astype(np.float32)
            ab = sample(ref_ab, coords)
            if best is None:
                best = Alignment(ab, confidence, coords.copy(), np.full(lum.shape, k))
                continue
            better = confidence > best.confidence
            best.ab[better], best.coords[better] = ab[better], coords[better]
            best.source[better] = k
            best.confidence[better] = confidence[better]
        return best

    def detail(self, alignment: Alignment, luminance: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """Full-resolution chroma ``ab`` ``(H, W, 2)`` with the references' own full-resolution
        chroma blended in where the alignment holds (its confidence taken to full resolution,
        times the luminance agreement at full resolution). ``luminance``: the frame's ``(H, W)``
        L*. Returns a new array."""
        shape = luminance.shape
        h, w = alignment.confidence.shape
        confidence = resize(alignment.confidence, shape, mode="linear")
        lum = np.asarray(luminance, np.float32)
        out = ab.astype(np.float32, copy=True)
        for k, lab in enumerate(self._full):
            trust = confidence
            if len(self._full) > 1:
                mine = cv2.resize(
                    (alignment.source == k).astype(np.uint8),
                    (shape[1], shape[0]),
                    interpolation=cv2.INTER_NEAREST,
                )
                if not mine.any():
                    continue
                trust = trust * mine
            # Positions in the full-resolution reference (scaled first: fewer pixels).
            scale = np.array([lab.shape[1] / w, lab.shape[0] / h], np.float32)
            coords = resize((alignment.coords + 0.5) * scale - 0.5, shape, mode="linear")
            seen = sample(lab, coords)
            d_lum = seen[..., 0] - lum
            d_lum *= np.float32(0.5 / self.settings.luminance_tolerance)
            np.square(d_lum, out=d_lum)
            np.negative(d_lum, out=d_lum)
            np.exp(d_lum, out=d_lum)
            d_lum *= trust
            change = seen[..., 1:3] - out
            change *= d_lum[..., None]
            out += change
        return out
