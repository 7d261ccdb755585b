"""Quantized ab bins shared by the trainer and the ``cnn`` engine (no torch needed).

Bins are the cells of a 10-unit grid over ``a, b`` in ``[-110, 110]`` that touch the sRGB gamut:
some point of the cell (its center, corners or edge midpoints) is inside for at least one
lightness. Zhang et al. 2016 use the same construction (their 313 bins).
"""

from __future__ import annotations

import functools

import numpy as np

from polychrome.ops.color import ab_in_gamut

__all__ = ["GRID", "HINT_SCALE", "ab_bins", "annealed_mean", "entropy_confidence"]

GRID = 10.0

HINT_SCALE = 100.0
"""A hint network reads hint chroma divided by this (see ``polychrome.train.model.ColorNet``)."""


@functools.cache
def ab_bins() -> np.ndarray:
    """``(Q, 2)`` float32 centers of the in-gamut ab bins (Q = 313 with these settings)."""
    centers = np.arange(-110, 110 + 1e-6, GRID, dtype=np.float32)
    a, b = np.meshgrid(centers, centers, indexing="ij")
    ab = np.stack([a.ravel(), b.ravel()], 1)
    lum = np.arange(1, 100, 1.0, dtype=np.float32)
    inside = np.zeros(len(ab), bool)
    h = GRID / 2
    offsets = [(0, 0), (-h, -h), (-h, h), (h, -h), (h, h), (0, h), (0, -h), (h, 0), (-h, 0)]
    for dy, dx in offsets:
        probe = ab + np.array([dy, dx], np.float32)
        for value in lum:
            lab = np.concatenate([np.full((len(ab), 1), value, np.float32), probe], 1)
            inside |= ab_in_gamut(lab, tol=0)
    out = ab[inside]
    out.setflags(write=False)
    return out


def annealed_mean(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Decode ``(Q, h, w)`` bin probabilities to ``(h, w, 2)`` ab by the annealed mean:
    ``p^(1/T)`` renormalized, then the expected bin center. ``T = 1`` is the mean (desaturated),
    ``T -> 0`` the mode (vivid but noisy)."""
    logp = np.log(np.maximum(probs, 1e-12)) / max(temperature, 1e-3)
    logp -= logp.max(axis=0, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(axis=0, keepdims=True)
    bins = ab_bins()
    return np.einsum("qhw,qc->hwc", p, bins).astype(np.float32)


def entropy_confidence(probs: np.ndarray) -> np.ndarray:
    """``1 - H(p) / log Q`` per pixel, ``(h, w)`` in ``[0, 1]``: 1 when one bin has all the mass."""
    p = np.maximum(probs, 1e-12)
    h = -(p * np.log(p)).sum(axis=0)
    return np.clip(1.0 - h / np.log(len(probs)), 0.0, 1.0).astype(np.float32)
