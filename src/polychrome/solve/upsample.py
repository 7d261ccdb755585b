"""Bring the solver's working-resolution chroma to full resolution and compose the instances.

Chroma goes up guided by the full-resolution luminance
(:func:`polychrome.ops.filters.guided_upsample`), so chroma edges follow the real, full-resolution
edges. Each instance's chroma is then pasted inside its own full-resolution mask (later instances
on top), which is what makes the zero-bleeding guarantee exact at full resolution.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from polychrome.errors import ValueCheckError
from polychrome.guidance.hints import Guidance
from polychrome.ops.filters import guided_upsample, resize
from polychrome.solve.propagate import Solution, owner_boxes, work_box

__all__ = ["UpsampleMode", "compose_chroma", "upsample_chroma"]

UpsampleMode = Literal["guided", "linear"]


def upsample_chroma(
    ab: np.ndarray,
    luminance_low: np.ndarray,
    luminance: np.ndarray,
    *,
    mode: UpsampleMode = "guided",
) -> np.ndarray:
    """``(h, w, 2)`` chroma -> ``(H, W, 2)``; returns a copy when the sizes already match."""
    if ab.shape[:2] == luminance.shape:
        return ab.astype(np.float32, copy=True)
    if mode == "guided":
        return guided_upsample(ab, luminance_low, luminance)
    if mode == "linear":
        return resize(ab, luminance.shape, mode="linear")
    raise ValueCheckError(f"upsample must be 'guided' or 'linear', got {mode!r}")


def compose_chroma(
    solution: Solution,
    guidance: Guidance,
    luminance_low: np.ndarray,
    luminance: np.ndarray,
    *,
    mode: UpsampleMode = "guided",
) -> np.ndarray:
    """Full-resolution ``(H, W, 2)`` chroma: the background upsampled, each instance pasted in
    the pixels it owns."""
    ab = upsample_chroma(solution.background, luminance_low, luminance, mode=mode)
    if not guidance.instances:
        return ab
    owner = guidance.owner(luminance.shape)
    count = len(guidance.instances)
    h, w = luminance.shape
    lh, lw = luminance_low.shape
    for k, (inst, field, full_box) in enumerate(
        zip(guidance.instances, solution.instances, owner_boxes(owner, count), strict=True)
    ):
        if full_box is None:
            continue
        # Only the box of the pixels it owns is visited: many small regions on a large image
        # cost their own size, not the image's each.
        by0, by1, bx0, bx1 = full_box
        ys, xs = np.nonzero(owner[by0:by1, bx0:bx1] == k + 1)
        ys += by0
        xs += bx0
        if field is None:
            ab[ys, xs] = inst.ab
            continue
        # Upsample only the bounding box (plus a margin) of the instance's mask.
        y0, y1, x0, x1 = work_box(full_box, (h, w), (lh, lw))
        fy0, fy1 = y0 * h // lh, min(h, -(-y1 * h // lh))
        fx0, fx1 = x0 * w // lw, min(w, -(-x1 * w // lw))
        oy, ox = field.box[0], field.box[2]
        low = field.ab[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        if (lh, lw) == (h, w):
            patch = low
        else:
            patch = upsample_chroma(
                low,
                luminance_low[y0:y1, x0:x1],
                luminance[fy0:fy1, fx0:fx1],
                mode=mode,
            )
        ab[ys, xs] = patch[ys - fy0, xs - fx0]
    return ab
