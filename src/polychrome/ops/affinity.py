"""Pixel-graph affinities: which neighbouring pixels should share a color, and how strongly.

The graph is the 4-connected pixel grid. An edge's weight is ``exp(-|L_i - L_j| / scale)``: near 1
inside flat regions, near 0 across luminance edges. The Laplace-shaped (not Gaussian) fall-off
follows the photos: the expected squared chroma difference of two neighbours grows about linearly
with their luminance difference, so small steps (texture, noise, shading) should still pass
color while strong edges stop it. Edges whose two pixels carry different instance labels get
weight 0: no color can flow across an instance boundary.
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
    luminance: np.ndarray, *, scale: float = 0.83, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the 4-connected grid's edges from luminance similarity.

    Args:
        luminance: ``(H, W)`` in ``[0, 100]``.
        scale: luminance difference (L* units) over which an edge's weight falls by a factor e;
            smaller keeps colors more strictly inside edges.
        labels: optional ``(H, W)`` integer instance labels; edges between different labels get 0.

    Returns:
        ``(i, j, weight)``: flat indices and float64 weights in ``[0, 1]``.
    """
    if luminance.ndim != 2:
        raise ShapeError(f"luminance must be (H, W), got {luminance.shape}")
    if scale <= 0:
        raise ValueCheckError(f"scale must be > 0, got {scale}")
    i, j = grid_edges(luminance.shape)
    flat = luminance.ravel().astype(np.float64)
    weight = np.exp(-np.abs(flat[i] - flat[j]) / scale)
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
