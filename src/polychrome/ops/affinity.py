"""Pixel-graph affinities: which neighbouring pixels should share a color, and how strongly.

The graph is the 4-connected pixel grid. An edge's weight is
``exp(-(L_i - L_j)^2 / (2 * contrast * mean_edge_dL2))``: near 1 inside flat regions, near 0 across
luminance edges. ``contrast`` scales the image's own typical edge difference, so the same setting
suits flat and busy images. Edges whose two pixels carry different instance labels get weight 0:
no color can flow across an instance boundary.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from polychrome.errors import ShapeError, ValueCheckError

__all__ = ["edge_weights", "grid_edges", "laplacian"]


@functools.lru_cache(maxsize=8)
def grid_edges(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` of the 4-connected grid of ``shape``, flat C-order indices.

    >>> i, j = grid_edges((2, 2)); sorted(zip(i.tolist(), j.tolist()))
    [(0, 1), (0, 2), (1, 3), (2, 3)]
    """
    h, w = shape
    idx = np.arange(h * w, dtype=np.int64).reshape(h, w)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


def edge_weights(
    luminance: np.ndarray, *, contrast: float = 0.3, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the 4-connected grid's edges from luminance similarity.

    Args:
        luminance: ``(H, W)`` in ``[0, 100]``.
        contrast: scale of the Gaussian on luminance differences, relative to the image's mean
            squared neighbour difference; smaller keeps colors more strictly inside edges.
        labels: optional ``(H, W)`` integer instance labels; edges between different labels get 0.

    Returns:
        ``(i, j, weight)``: flat indices and float64 weights in ``[0, 1]``.
    """
    if luminance.ndim != 2:
        raise ShapeError(f"luminance must be (H, W), got {luminance.shape}")
    if contrast <= 0:
        raise ValueCheckError(f"contrast must be > 0, got {contrast}")
    i, j = grid_edges(luminance.shape)
    flat = luminance.ravel().astype(np.float64)
    d2 = (flat[i] - flat[j]) ** 2
    scale = 2.0 * contrast * max(float(d2.mean()) if d2.size else 0.0, 1e-3)
    weight = np.exp(-d2 / scale)
    if labels is not None:
        if labels.shape != luminance.shape:
            raise ShapeError(f"labels {labels.shape} must match luminance {luminance.shape}")
        lab = labels.ravel()
        weight[lab[i] != lab[j]] = 0.0
    return i, j, weight


def laplacian(n: int, i: np.ndarray, j: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
    """Graph Laplacian ``D - W`` (``n x n``, CSR) of the undirected weighted edges ``(i, j)``."""
    rows = np.concatenate([i, j])
    cols = np.concatenate([j, i])
    vals = np.concatenate([weight, weight])
    w = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    degree = np.asarray(w.sum(axis=1)).ravel()
    return (sp.diags(degree) - w).tocsr()
