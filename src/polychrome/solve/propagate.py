"""The solver: one edge-aware optimization that fuses every prior and hint into dense chroma.

For each chroma channel it minimizes, over the pixels of the working resolution,

    sum_i c_i (x_i - t_i)^2  +  sum_(i,j) w_ij (x_i - x_j)^2  +  neutral * sum_i x_i^2

- data terms ``c_i, t_i``: user hints (strong), each hint's edge-aware footprint (a point
  hint also speaks, more softly, for the similar pixels around it), a non-local regression of the
  hints over (position, luminance) (weak, everywhere), and the engines' proposals weighted by their
  confidence;
- smoothness ``w_ij`` between 4-neighbours from luminance similarity
  (:mod:`polychrome.ops.affinity`);
- a tiny pull to neutral that keeps the system well posed where nothing is known.

With both an engine's proposal and point hints, the background is solved twice: the proposal
alone (``auto``), then the hints' differences from ``prior_under_hints * auto`` with no proposal
(as a hints-only problem), added back to that share. A stroke then recolors its whole region
instead of a halo around itself, and the proposal still shapes the colors between hints.

Instances are solved apart: the background problem is the whole image without them (so adding an
instance never changes a pixel outside it), and each instance is a problem on its own pixels only,
with no edge to the rest, so its color cannot bleed into the background or into another instance.

Two ways to solve each problem (``method``): ``"direct"`` factorizes the sparse system (exact; for
up to a few hundred thousand pixels), ``"multiscale"`` solves a 2x smaller problem (recursively)
and refines its upsampled solution with preconditioned conjugate gradients (fast for any size).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy import ndimage

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.guidance.hints import Guidance, Instance, PointHints, cell_of
from polychrome.ops.affinity import edge_weights, laplacian
from polychrome.ops.filters import (
    bilateral_regression,
    domain_transform_spread,
    guided_upsample,
    resize,
)

__all__ = ["InstanceField", "Prior", "Solution", "SolveSettings", "solve_chroma"]

SolveMethod = Literal["auto", "direct", "multiscale"]


@dataclass(frozen=True)
class Prior:
    """An engine's proposal at working resolution: chroma ``ab`` ``(h, w, 2)`` and a per-pixel
    ``confidence`` ``(h, w)`` in ``[0, 1]``."""

    ab: np.ndarray
    confidence: np.ndarray
    name: str = "engine"


@dataclass(frozen=True)
class SolveSettings:
    """Parameters of the solver (defaults tuned on the points protocol, see docs/solver.md)."""

    edge_scale: float = 0.83
    """Edge sensitivity: the luminance difference (L*) over which a neighbour edge's weight
    falls by a factor e (``exp(-|dL| / edge_scale)``)."""
    hint_weight: float = 100.0
    """Data weight of a user hint pixel (smoothness weights are at most 1 per edge)."""
    hint_texture: float = 60.0
    """Local L* variance (3x3-ish Gaussian window) at which a point hint's footprint and
    non-local reach fall to about 1/e of their full weight: a sample on texture or on an edge
    says less about its surroundings than one in a flat area (0 turns this off). The hint's own
    pixel is held as firmly either way."""
    hint_texture_floor: float = 0.1
    """The least share of its reach a point hint keeps, however textured its neighbourhood."""
    footprint_weight: float = 3.0
    """Peak data weight of the edge-aware footprint around point hints."""
    footprint_radius: float = 1.0
    """Footprint reach, in units of the mean spacing between hints."""
    footprint_range: float = 10.0
    """Luminance difference (L*) that stops a footprint."""
    nonlocal_weight: float = 1e-4
    """Data weight of the non-local regression of hints over (position, luminance)."""
    nonlocal_radius: float = 0.2
    """Spatial reach of the non-local regression, as a fraction of the longer side."""
    nonlocal_range: float = 4.0
    """Luminance reach (L*) of the non-local regression."""
    prior_weight: float = 1.0
    """Data weight of an engine proposal with confidence 1."""
    prior_under_hints: float = 0.2
    """Share of the engine's proposal kept where point hints decide: with hints, the hints'
    differences from this share of the proposal are propagated (as if no engine ran) and added
    back to it, so a stroke recolors its whole region while the proposal keeps its detail. 0
    ignores the proposal wherever there are hints; 1 propagates pure corrections."""
    residual_pull: float = 1e-5
    """Data weight (times the proposal's confidence) pulling the corrected colors back to the
    proposal: the hints' corrections fill the regions they are in, but fade across strong edges
    and far away instead of recoloring the whole image."""
    residual_footprint_range: float = 5.0
    """``footprint_range`` of the hints' corrections to a proposal: there the proposal is a
    better guess beyond an edge than the hint's color, so footprints stop at weaker edges."""
    residual_evidence: float = 0.01
    """In the corrections' problem, the non-local regression pulls a pixel in proportion to
    ``evidence / (evidence + residual_evidence * peak evidence)``: where no hint of similar
    lightness is near, nothing pulls the correction and the proposal is kept."""
    residual_similarity: float = 5.0
    """In the corrections' problem, the non-local regression pulls a pixel by
    ``exp(-|auto - m|^2 / 2 residual_similarity^2)``, where ``m`` is the proposal's mean at
    the hints that speak there: a stroke's correction reaches far pixels of the same lightness
    only if the engine proposed them a similar color (a red stroke on a saucer does not turn
    the table of the same gray red). 0 turns this off."""
    instance_weight: float = 1.0
    """Data weight, per pixel, of an instance's color inside its mask (times its strength)."""
    prior_in_instances: float = 0.0
    """Share of the engines' proposal weight inside instances: their named color decides (the
    proposal's colors would pull a "red" region towards whatever the engine guessed)."""
    shading_offset: float | None = None
    """If set, interpolate ``ab / g(L)`` with ``g(L) = (L + offset) / (50 + offset)`` instead of
    ``ab``: chroma that scales with lightness, as a surface's chroma does under shading."""
    neutral: float = 1e-6
    """Pull towards gray everywhere (keeps the problem well posed)."""
    coarse_weight: float = 0.01
    """Data weight of the half-size solution in an exact solve (coarse-to-fine prior)."""
    coarse_levels: int = 2
    """How many halvings the coarse-to-fine prior of an exact solve goes down."""
    direct_limit: int = 300_000
    """Largest problem solved by factorization when ``method="auto"``."""
    cg_iterations: int = 20
    """Conjugate-gradient iterations at each level above ``direct_limit`` (multiscale method)."""
    prior_cg_iterations: int = 5
    """The same for a problem of proposals without hints: their data terms are dense, so it
    converges fast (at 12 MP, 5 iterations differ from 20 by 64 dB PSNR and save 0.4 s)."""

    def __post_init__(self) -> None:
        # Every field is a finite number of its kind: a NaN made the exact solve report 'out of
        # memory', an infinite hint_weight a gray image, a shading_offset <= 0 a division by
        # zero at black pixels.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "shading_offset" and value is None:
                continue
            integer = f.type == "int"
            kind = numbers.Integral if integer else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
                raise ValueCheckError(
                    f"{f.name} must be a finite {'integer' if integer else 'number'}, got {value!r}"
                )
            object.__setattr__(self, f.name, int(value) if integer else float(value))
        for name in (
            "edge_scale", "hint_weight", "footprint_radius", "footprint_range",
            "residual_footprint_range", "nonlocal_radius", "nonlocal_range",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueCheckError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "footprint_weight", "nonlocal_weight", "prior_weight", "residual_pull", "neutral",
            "hint_texture", "residual_evidence", "residual_similarity", "instance_weight",
            "coarse_weight", "coarse_levels", "direct_limit", "cg_iterations",
            "prior_cg_iterations",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueCheckError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("hint_texture_floor", "prior_under_hints", "prior_in_instances"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueCheckError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.shading_offset is not None and self.shading_offset <= 0:
            raise ValueCheckError(
                f"shading_offset must be > 0 (or None), got {self.shading_offset}: g(L) "
                "divides the chroma and must stay positive down to black"
            )


@dataclass
class _Data:
    """Accumulated data terms: ``weight`` ``(h, w)`` and ``weighted`` ``(h, w, 2)`` = sum c*t."""

    weight: np.ndarray
    weighted: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> _Data:
        return cls(np.zeros(shape, np.float64), np.zeros((*shape, 2), np.float64))

    def add(self, weight: np.ndarray, target: np.ndarray) -> None:
        self.weight += weight
        self.weighted += weight[..., None] * target


def _rasterize(points: list[PointHints], full: tuple[int, int], shape: tuple[int, int]):
    """Point hints at full resolution -> per working pixel: positions ``(M, 2)``, mean ``ab``
    ``(M, 2)`` and weight ``(M,)`` (the firmest hint in the cell)."""
    if not any(len(p.yx) for p in points):  # (bincount of nothing would be integer)
        return np.zeros((0, 2), np.int64), np.zeros((0, 2)), np.zeros(0)
    at = cell_of(np.concatenate([p.yx for p in points]), full, shape)
    ab = np.concatenate([p.ab for p in points]).astype(np.float64)
    wt = np.concatenate([p.weight for p in points]).astype(np.float64)
    flat = at[:, 0] * shape[1] + at[:, 1]
    # Sums over the whole grid (linear in hints and cells; np.unique sorted the hints, 2.4 s
    # for a hint image colored over half of 12 MP). Weights are > 0, so a cell with a hint has
    # a positive sum.
    size = shape[0] * shape[1]
    wsum = np.bincount(flat, wt, size)
    cells = np.flatnonzero(wsum)
    wsum = wsum[cells]
    mean = np.stack([np.bincount(flat, wt * ab[:, c], size)[cells] for c in range(2)], 1)
    mean /= np.maximum(wsum, 1e-12)[:, None]
    wmax = np.zeros(size)
    np.maximum.at(wmax, flat, wt)
    return np.stack([cells // shape[1], cells % shape[1]], 1), mean, wmax[cells]


def _texture_confidence(
    luminance: np.ndarray, yx: np.ndarray, settings: SolveSettings
) -> np.ndarray:
    """Per point hint, in ``[hint_texture_floor, 1]``: 1 on flat luminance, lower where the
    local L* variance (Gaussian window, sigma 1 pixel) is high."""
    if settings.hint_texture <= 0:
        return np.ones(len(yx))
    lum = luminance.astype(np.float64)
    mean = ndimage.gaussian_filter(lum, 1.0)
    var = np.maximum(ndimage.gaussian_filter(lum * lum, 1.0) - mean * mean, 0.0)
    floor = settings.hint_texture_floor
    return floor + (1.0 - floor) * np.exp(-var[yx[:, 0], yx[:, 1]] / settings.hint_texture)


def _hint_terms(
    luminance: np.ndarray,
    yx: np.ndarray,
    ab: np.ndarray,
    weight: np.ndarray,
    settings: SolveSettings,
    data: _Data,
    proposal: np.ndarray | None = None,
) -> None:
    """Add the data terms of rasterized point hints: the hints, their footprints, and the
    non-local regression. With a ``proposal`` (``ab`` are then corrections of it), footprints stop
    at weaker edges and the regression pulls only where it has evidence, so that far from the
    hints the proposal is kept."""
    residual = proposal is not None
    if len(yx) == 0:
        return
    h, w = luminance.shape
    reach = weight * _texture_confidence(luminance, yx, settings)
    if settings.footprint_weight > 0:
        values = np.zeros((h, w, 2), np.float32)
        wmap = np.zeros((h, w), np.float32)
        values[yx[:, 0], yx[:, 1]] = ab
        wmap[yx[:, 0], yx[:, 1]] = reach
        spacing = (h * w / len(yx)) ** 0.5
        mean, density = domain_transform_spread(
            luminance,
            values,
            wmap,
            sigma_spatial=settings.footprint_radius * spacing,
            sigma_range=settings.residual_footprint_range if residual else settings.footprint_range,
        )
        data.add(settings.footprint_weight * density / max(float(density.max()), 1e-12), mean)
    if settings.nonlocal_weight > 0:
        similar = residual and settings.residual_similarity > 0
        values = np.concatenate([ab, proposal[yx[:, 0], yx[:, 1]]], 1) if similar else ab
        mean, density = bilateral_regression(
            luminance,
            yx,
            values,
            reach,
            sigma_spatial=settings.nonlocal_radius * max(h, w),
            sigma_range=settings.nonlocal_range,
        )
        nl = np.full((h, w), settings.nonlocal_weight)
        if similar:
            # The proposal here against its mean at the hints that speak here.
            far = np.sum((proposal - mean[..., 2:]) ** 2, axis=-1)
            nl *= np.exp(-far / (2.0 * settings.residual_similarity**2))
            mean = mean[..., :2]
        if residual and settings.residual_evidence > 0:
            # evidence / (evidence + residual_evidence * peak evidence)
            d = density.astype(np.float64)
            nl *= d / (d + settings.residual_evidence * max(float(d.max()), 1e-300))
        data.add(nl, mean)
    hint = np.zeros((h, w))
    target = np.zeros((h, w, 2))
    hint[yx[:, 0], yx[:, 1]] = settings.hint_weight * weight
    target[yx[:, 0], yx[:, 1]] = ab
    data.add(hint, target)


def _pcg(a: sp.csr_matrix, b: np.ndarray, x0: np.ndarray, iterations: int) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradients for ``a x = b`` with several right-hand sides
    ``(n, k)`` at once (``a`` symmetric positive definite)."""
    inv_diag = 1.0 / a.diagonal()
    x = x0.copy()
    r = b - a @ x
    z = r * inv_diag[:, None]
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    for _ in range(iterations):
        ap = a @ p
        alpha = rz / np.maximum(np.einsum("ij,ij->j", p, ap), 1e-300)
        x += p * alpha
        r -= ap * alpha
        z = r * inv_diag[:, None]
        rz_new = np.einsum("ij,ij->j", r, z)
        p = z + p * (rz_new / np.maximum(rz, 1e-300))
        rz = rz_new
    return x


def _system(luminance: np.ndarray, data: _Data, settings: SolveSettings, keep=None):
    """The sparse system of one problem; ``keep`` (bool ``(h, w)``) restricts it to a subset whose
    edges to the other pixels are cut."""
    h, w = luminance.shape
    labels = None if keep is None else keep.astype(np.int8)
    i, j, wt = edge_weights(luminance, scale=settings.edge_scale, labels=labels)
    a = (laplacian(h * w, i, j, wt) + sp.diags(data.weight.ravel() + settings.neutral)).tocsr()
    rhs = data.weighted.reshape(-1, 2)
    if keep is None:
        return a, rhs
    idx = np.flatnonzero(keep.ravel())
    return a[idx][:, idx].tocsr(), rhs[idx]


def _red(h: int, w: int) -> np.ndarray:
    """``(h * w,)`` bool: the "red" squares of an ``h x w`` checkerboard (``y + x`` even). A
    4-neighbour edge always joins a red pixel to a black one."""
    return ((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0).ravel()


_REFINE_STEPS = 4
"""Most double-precision refinement steps of :func:`_direct_solve`'s single-precision solve."""


def _direct_solve(a: sp.csr_matrix, rhs: np.ndarray, red: np.ndarray, what: str) -> np.ndarray:
    """``a x = rhs`` solved exactly (to double-precision rounding, 1e-12 relative) by sparse
    factorization; ``a`` is a symmetric positive definite system on 4-neighbour grid pixels,
    ``red`` (bool per unknown) their checkerboard color.

    1. The red pixels are eliminated first: their neighbours are all black, so the red block
       of ``a`` is diagonal and the black pixels' system (Schur complement ``S``) is built in
       one sparse product, with half the unknowns. SuperLU factorizes it in about 70 % of the
       time of the whole (less fill than its minimum-degree ordering of the grid).
    2. ``S`` is factorized in single precision (faster still) and each solve is refined in
       double precision until the residual is at most 1e-12 of the right-hand side (two or
       three steps); a system too ill-conditioned for that is factorized in double precision.
    3. The red pixels follow from the black ones.

    Together 1.7x faster than factorizing ``a`` at 250,000 pixels, the same solution to 1e-12
    (``benchmarks/solver.py``).

    Raises:
        MemoryError: SuperLU ran out of memory.
    """
    try:
        r, k = np.flatnonzero(red), np.flatnonzero(~red)
        a = a.tocsr()
        inner = a[r][:, r]
        if not (len(r) and len(k)) or inner.nnz > len(r):  # not a 4-neighbour system
            return spl.splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)
        inv = 1.0 / inner.diagonal()
        cross = a[r][:, k]
        schur = (a[k][:, k] - cross.T @ sp.diags(inv) @ cross).tocsc()
        reduced = rhs[k] - cross.T @ (inv[:, None] * rhs[r])
        lu = spl.splu(schur.astype(np.float32), permc_spec="MMD_AT_PLUS_A")
        xk = lu.solve(reduced.astype(np.float32)).astype(np.float64)
        scale = np.maximum(np.linalg.norm(reduced, axis=0), 1e-300)
        for _ in range(_REFINE_STEPS):
            residual = reduced - schur @ xk
            if np.all(np.linalg.norm(residual, axis=0) <= 1e-12 * scale):
                break
            xk += lu.solve(residual.astype(np.float32))
        else:
            xk = spl.splu(schur, permc_spec="MMD_AT_PLUS_A").solve(reduced)
    except (RuntimeError, SystemError) as exc:  # SuperLU's way of running out of memory
        raise MemoryError(f"the exact solve of {what} ran out of memory") from exc
    x = np.empty_like(rhs)
    x[k] = xk
    x[r] = inv[:, None] * (rhs[r] - cross @ xk)
    return x


def _coarsen(luminance: np.ndarray, data: _Data) -> tuple[np.ndarray, _Data]:
    """The same problem at half size: luminance averaged, data weights summed per 2x2 cell."""
    h, w = luminance.shape
    shape = ((h + 1) // 2, (w + 1) // 2)
    area = (h * w) / (shape[0] * shape[1])
    weight = resize(data.weight.astype(np.float32), shape, mode="area") * area
    weighted = resize(data.weighted.astype(np.float32), shape, mode="area") * area
    coarse = _Data(weight.astype(np.float64), weighted.astype(np.float64))
    return resize(luminance, shape, mode="area"), coarse


def _solve_problem(
    luminance: np.ndarray,
    data: _Data,
    settings: SolveSettings,
    method: SolveMethod,
    depth: int = 0,
) -> np.ndarray:
    """Solve one (background) problem, coarse to fine.

    The problem is first solved at half size (recursively). With ``method="multiscale"`` that
    solution, upsampled, starts conjugate gradients at this size; with ``"direct"`` it becomes a
    weak prior (``settings.coarse_weight``) for the exact solve, which carries sparse hints
    further than the fine grid alone.
    """
    h, w = luminance.shape
    if method == "auto":
        method = "direct" if h * w <= settings.direct_limit else "multiscale"
    wants_coarse = method == "multiscale" or (
        settings.coarse_weight > 0 and depth < settings.coarse_levels
    )
    x0 = None
    if wants_coarse and min(h, w) >= 32:
        coarse_lum, coarse_data = _coarsen(luminance, data)
        coarse_method = "auto" if method == "multiscale" else "direct"
        x_coarse = _solve_problem(coarse_lum, coarse_data, settings, coarse_method, depth + 1)
        x0 = guided_upsample(x_coarse.astype(np.float32), coarse_lum, luminance)
        if method == "direct":
            data = _Data(data.weight.copy(), data.weighted.copy())
            data.add(np.full((h, w), settings.coarse_weight), x0)
    a, rhs = _system(luminance, data, settings)
    if method == "direct" or x0 is None:
        x = _direct_solve(a, rhs, _red(h, w), f"{h}x{w} pixels")
        return x.reshape(h, w, 2)
    x = _pcg(a, rhs, x0.reshape(-1, 2).astype(np.float64), settings.cg_iterations)
    return x.reshape(h, w, 2)


def _solve_instance(
    luminance: np.ndarray,
    owned: np.ndarray,
    instance: Instance,
    data: _Data,
    gain: np.ndarray,
    settings: SolveSettings,
) -> np.ndarray:
    """Solve one instance's problem on its own pixels; returns ``(h, w, 2)`` with the pixels
    outside ``owned`` filled from their nearest owned pixel (for upsampling). The arrays may
    be any box that holds every owned pixel: the problem has no edge leaving ``owned``, so it
    is the same on the box as on the whole image."""
    h, w = luminance.shape
    data = _Data(data.weight.copy(), data.weighted.copy())
    target = np.asarray(instance.ab, np.float64) / gain[..., None]
    data.add(np.full((h, w), settings.instance_weight * instance.strength), target)
    a, rhs = _system(luminance, data, settings, keep=owned)
    if a.shape[0] <= settings.direct_limit:
        x = _direct_solve(a, rhs, _red(h, w)[owned.ravel()], f"{h}x{w} pixels")
    else:  # every pixel has a data term: well conditioned, CG converges fast
        x0 = target.reshape(-1, 2)[owned.ravel()]
        x = _pcg(a, rhs, x0, 4 * settings.cg_iterations)
    field = np.zeros((h, w, 2))
    field[owned] = x * gain[owned][:, None]
    if not owned.all():
        _, (iy, ix) = ndimage.distance_transform_edt(~owned, return_indices=True)
        field = field[iy, ix]
    return field


Box = tuple[int, int, int, int]
"""``(y0, y1, x0, x1)``: rows ``y0:y1`` and columns ``x0:x1`` of an image."""


def work_box(full_box: Box, full_shape: tuple[int, int], shape: tuple[int, int]) -> Box:
    """The working-resolution box (of ``shape``) whose chroma the upsampling of an instance
    reads: the cells under ``full_box`` (of ``full_shape``), 2 to 3 cells wider on each side
    for the guided filter's window. Both the solver and :func:`~polychrome.solve.upsample.
    compose_chroma` take it from here, so the solver's field always covers what is read."""
    (h, w), (lh, lw) = full_shape, shape
    y0, y1, x0, x1 = full_box
    return (
        max(0, y0 * lh // h - 2),
        min(lh, (y1 - 1) * lh // h + 3),
        max(0, x0 * lw // w - 2),
        min(lw, (x1 - 1) * lw // w + 3),
    )


def owner_boxes(owner: np.ndarray, count: int) -> list[Box | None]:
    """Per instance ``k`` of ``count``, the bounding box of the pixels ``owner == k + 1`` (None
    where it owns none), from one pass over ``owner``."""
    return [
        None if s is None else (s[0].start, s[0].stop, s[1].start, s[1].stop)
        for s in ndimage.find_objects(owner, max_label=count)
    ]


@dataclass(frozen=True)
class InstanceField:
    """An instance's chroma at working resolution, on the box around its pixels."""

    ab: np.ndarray
    """``(y1 - y0, x1 - x0, 2)`` float32 chroma, valid on the instance's pixels (the others
    hold their nearest instance pixel's chroma, for upsampling)."""
    box: Box
    """``(y0, y1, x0, x1)``: where ``ab`` lies in the working image."""

    def expand(self, shape: tuple[int, int]) -> np.ndarray:
        """``(h, w, 2)`` float32: ``ab`` in its box, 0 elsewhere."""
        y0, y1, x0, x1 = self.box
        out = np.zeros((*shape, 2), np.float32)
        out[y0:y1, x0:x1] = self.ab
        return out


@dataclass(frozen=True)
class Solution:
    """The solver's output at working resolution."""

    background: np.ndarray
    """``(h, w, 2)`` float32 chroma of the problem without instances."""
    instances: tuple[InstanceField | None, ...]
    """Per instance, its chroma on a box that covers its pixels (and what upsampling reads
    around them); None: not visible at working resolution (use the instance's own color).
    Only the box is solved and kept, so many small regions cost their own size, not the
    image's each."""


def solve_chroma(
    luminance: np.ndarray,
    guidance: Guidance,
    *,
    full_shape: tuple[int, int] | None = None,
    priors: tuple[Prior, ...] = (),
    settings: SolveSettings | None = None,
    method: SolveMethod = "auto",
) -> Solution:
    """Fuse hints and priors into chroma at working resolution.

    Args:
        luminance: ``(h, w)`` working-resolution luminance in ``[0, 100]``.
        guidance: constraints in full-resolution coordinates (``full_shape``).
        full_shape: the full-resolution ``(H, W)``; defaults to ``luminance.shape``.
        priors: engine proposals at working resolution.
        settings: solver parameters.
        method: ``"direct"``, ``"multiscale"`` or ``"auto"`` (direct up to
            ``settings.direct_limit`` pixels).

    Returns:
        A :class:`Solution` with the background chroma and one chroma field per instance.
    """
    settings = settings or SolveSettings()
    if luminance.ndim != 2:
        raise ShapeError(f"luminance must be (h, w), got {luminance.shape}")
    if method not in ("auto", "direct", "multiscale"):
        raise ValueCheckError(f"method must be 'auto', 'direct' or 'multiscale', got {method!r}")
    shape = luminance.shape
    full_shape = full_shape or shape
    guidance.check(full_shape)

    if settings.shading_offset is None:
        gain = np.ones(shape)
    else:
        gain = (luminance.astype(np.float64) + settings.shading_offset) / (
            50.0 + settings.shading_offset
        )
    prior_data = _Data.empty(shape)
    for prior in priors:
        if prior.ab.shape != (*shape, 2) or prior.confidence.shape != shape:
            raise ShapeError(
                f"prior {prior.name!r} must be ab {(*shape, 2)} and confidence {shape}, got "
                f"{prior.ab.shape} and {prior.confidence.shape}"
            )
        prior_data.add(
            settings.prior_weight * prior.confidence.astype(np.float64),
            prior.ab / gain[..., None],
        )

    # Which instance owns each hint: hints inside an instance belong to it alone.
    owner_full = guidance.owner(full_shape) if guidance.instances else None
    groups: list[list[PointHints]] = [[] for _ in range(len(guidance.instances) + 1)]
    for p in guidance.points:
        if owner_full is None:
            groups[0].append(p)
            continue
        who = owner_full[p.yx[:, 0], p.yx[:, 1]]
        for k in np.unique(who):
            sel = who == k
            groups[int(k)].append(PointHints(p.yx[sel], p.ab[sel], p.weight[sel], p.source))

    def data_for(
        points: list[PointHints], auto: np.ndarray | None = None, prior_scale: float = 1.0
    ) -> _Data:
        """Data terms of ``points`` plus the priors (times ``prior_scale``); with ``auto`` (the
        proposal solved alone), the residual problem: the hints' differences from
        ``share * auto``, pulled weakly towards the remaining ``(1 - share) * auto``."""
        share = settings.prior_under_hints
        if auto is None:
            data = _Data(prior_scale * prior_data.weight, prior_scale * prior_data.weighted)
        else:
            data = _Data.empty(shape)
            pull = settings.residual_pull * prior_data.weight / max(settings.prior_weight, 1e-12)
            data.add(pull, (1 - share) * auto)
        yx, ab, weight = _rasterize(points, full_shape, shape)
        ab = ab / gain[yx[:, 0], yx[:, 1], None]
        if auto is not None:
            ab = ab - share * auto[yx[:, 0], yx[:, 1]]
        _hint_terms(luminance, yx, ab, weight, settings, data, proposal=auto)
        return data

    dense = replace(settings, cg_iterations=settings.prior_cg_iterations)
    hinted = any(len(p.yx) for p in groups[0])
    if priors and hinted:
        # Residual fusion (see the module docstring).
        auto = _solve_problem(luminance, data_for([]), dense, method)
        residual = _solve_problem(luminance, data_for(groups[0], auto), settings, method)
        background = (settings.prior_under_hints * auto + residual) * gain[..., None]
    elif priors:
        background = _solve_problem(luminance, data_for([]), dense, method) * gain[..., None]
    else:
        background = (
            _solve_problem(luminance, data_for(groups[0]), settings, method) * gain[..., None]
        )
    fields: list[InstanceField | None] = []
    if guidance.instances:
        count = len(guidance.instances)
        owner = resize(owner_full.astype(np.float32), shape, mode="nearest").astype(np.int16)
        boxes = zip(owner_boxes(owner, count), owner_boxes(owner_full, count), strict=True)
        for k, (own_box, full_box) in enumerate(boxes):
            inst = guidance.instances[k]
            if own_box is None:
                fields.append(None)
                continue
            # The box of the pixels it owns here, and of what upsampling reads (work_box).
            read = work_box(full_box, full_shape, shape) if full_box else own_box
            box = (
                min(own_box[0], read[0]),
                max(own_box[1], read[1]),
                min(own_box[2], read[2]),
                max(own_box[3], read[3]),
            )
            ys, xs = slice(box[0], box[1]), slice(box[2], box[3])
            scale = settings.prior_in_instances
            if any(len(p) for p in groups[k + 1]):  # hint terms see the whole image
                data = data_for(groups[k + 1], prior_scale=scale)
                data = _Data(data.weight[ys, xs], data.weighted[ys, xs])
            else:
                data = _Data(scale * prior_data.weight[ys, xs], scale * prior_data.weighted[ys, xs])
            owned = owner[ys, xs] == k + 1
            field = _solve_instance(luminance[ys, xs], owned, inst, data, gain[ys, xs], settings)
            fields.append(InstanceField(field.astype(np.float32), box))
    return Solution(background.astype(np.float32), tuple(fields))
