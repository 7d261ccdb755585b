"""Reference matching: chroma hints for a gray target from one or several color references.

A reference is a color image that shows the same things as the target (another page of the
chapter, a frame of the same shot, a photo of the same person). Matching finds, for target pixels,
the reference pixel that looks the same in luminance, and takes the reference's chroma there as a
hint. Only confident matches become hints, sparse and spread over the image; the solver spreads
them edge-aware, so a few hundred good matches color a whole region.

Method (everything at a reduced working size):

0. **Strips.** A target more than 2.5 times as long as it is wide (a webtoon strip) is cut into
   overlapping windows 1.5 times as long as it is wide; each is matched as below and keeps the
   hints of the part it owns (the owned parts tile the target), so that a strip's detail is not
   squeezed into ``work_pixels``.
1. **Scale.** The target is reduced to at most ``work_pixels`` pixels; every reference is scaled
   by the same factor (references are assumed to have a pixel scale comparable to the target's,
   as pages of one scan or frames of one video do), its size kept within ``work_pixels / 4`` and
   ``2 * work_pixels`` pixels. The reference's chroma is ``rgb_to_lab`` of the reduced image.
2. **Luminance remapping.** Each reference's L* is also shifted and scaled so that its mean and
   standard deviation equal the target's (Welsh et al., 2002), so that a darker or flatter print
   still matches. Moment matching is wrong when a reference shows only part of the target (or
   more than it), so both versions are tried on a sample of 4,000 target pixels, and the one
   with more confident matches is used.
3. **Descriptors.** For every pixel, from L* alone: local mean (Gaussian, sigma 1) and context
   (sigma 4, 8, 16); local contrast (standard deviation, sigma 2); scale-normalised Gaussian
   derivatives d/dx, d/dy and the Laplacian at sigma 1, 2, 4, 8; and the 5 x 5 patch around the
   pixel minus its mean, divided by its contrast (plus a floor, so flat noise stays small). Every
   channel is standardised over the target and references together and every group weighted so
   that a group of 25 channels counts no more than a group of one. With ``use_network=True``
   (or ``None`` and the ``cnn`` model available), its per-pixel distribution over ab bins (a
   semantic descriptor: "sky-like", "skin-like") is added: square-rooted (Hellinger), reduced
   to 8 principal components, upsampled to the working size, and weighted below the luminance
   groups. Descriptors are not L2-normalised per pixel: that would make a flat dark region and a
   flat bright region identical; the global standardisation keeps them apart. A PCA fitted on a
   seeded sample of all descriptors reduces them to at most 16 dimensions. The network features
   are off by default: on the manga-dev pages (Pepper&Carrot episode 02, each page with the
   other pages as its pool, 512 px) they left no confident match at all (20.21 dB PSNR, the same
   as ``cnn`` alone), against 21.88 dB with luminance features only.
4. **Nearest neighbours.** A ``scipy.spatial.cKDTree`` over all reference pixels (of all
   references at once) gives each target pixel its 8 nearest reference descriptors, searched
   approximately (``eps=1``) and only within the distance beyond which no match could be
   confident (which keeps unrelated targets fast).
5. **Confidence**, the product of four factors in ``[0, 1]``:

   - *ratio test, color-aware*: the distance to the best match over the distance to the nearest
     reference descriptor whose chroma differs (by more than 12 units of ab) from the best
     match's (or the 8th, a lower bound, when all 8 agree). Ambiguity between two
     matches of the same color is harmless, so only ambiguity about the color counts;
   - *cycle consistency*: the best match's own nearest target descriptor must lie within a few
     working pixels of the pixel it was matched from (forward-backward check);
   - *distance*: the best match must be close in absolute terms (relative to the spread of all
     descriptors), which an unrelated target rarely is;
   - *flat chroma*: a match on a color edge of the reference is risky (a pixel off is another
     color), so confidence falls with the local spread of the reference's chroma.

6. **Sparse hints.** ``coverage`` is the fraction of target (working) pixels whose confidence
   reaches ``min_confidence``. A reference that covers less than ``min_coverage`` (1%) of the
   target gives no hint at all: between unrelated images a few chance matches pass every test
   (about 0.1 to 0.7% of the pixels on photos), and a handful of confident wrong hints would
   tint the whole image. The image is cut into a grid of about 3,000 cells, and the most
   confident such pixel of each cell becomes a hint at full resolution, with the matched
   reference pixel's ab and its confidence (the solver's weight).

Several references are matched together (one tree), so each cell's hint comes from the most
confident reference there, and ambiguity between references of different colors lowers
confidence.

Where matching fails between comic pages (2026-12-04, manga-dev episode 02, each page with the
other four as its pool, ``polychrome eval E02/ --protocol pool --max-side 1401``: 23.30 dB, SSIM
0.9606; per page 28.05 / 17.79 / 21.52 / 24.13 / 25.00 dB). Carrot, the orange cat, covers 1 to 5%
of each page and keeps no color across them: 0 to 7 of the 159 to 525 hints of a page fall on him
(the orange pixels of the original), and those are wrong (mean ab error 18 to 38 against 5 to 11
for all hints, most of which lie on the white gutters and the sepia background). The result gives
him the chapter's sepia (ab error within him 14.8 / 34.3 / 27.6 / 25.2 / 20.5). Retrieval is not
the cause: with ``k=3`` per patch every page retrieves all four others. Nor are the confidence
tests: among the 8 nearest reference descriptors of the cat's pixels only 11 to 18% are orange
pixels (3 to 4 times chance, 3.5%), so no threshold can find his colors; a gray orange fur has the
lightness and texture of the sepia background. Tried on those neighbours, none of which lifts the
share: the network's bin distributions added (11 to 18%) or alone (5 to 25%); descriptors at a
coarser working size (16,000 pixels: 7 to 18%; 4,000: 3 to 21%); several scales of the references
pooled (target at 16,000 or 65,000 pixels, references at a quarter, the same and four times that: 9
to 18%, 12 to 17%); rotation-invariant descriptors (gradient magnitude for the derivatives, the
patch's sorted values: 10 to 16%). Measured on the protocol and dropped: a color-aware cycle check
(the backward match may land anywhere whose own match has the same color: 1.1 to 3.7 times the
hints, 23.29 dB, SSIM 0.9602, no page better by more than 0.07 dB, page 4 0.10 dB worse, the cat
still at 0 to 7 hints); a longer cycle tolerance (12 working pixels: more hints, the same 0 to 7
wrong ones on the cat) was dropped before the protocol; and, composed with the true L* without the
solver (the palette gives 23.19 dB this way), the mean chroma of the 32 nearest reference pixels in
place of the palette: 23.08 with luminance descriptors, 22.59 with context at sigma 4 and 16, 22.31
with the network's distributions (page 4 loses 2.6 dB). A character in another pose and size needs
descriptors that know what it is (a segmentation or an embedding trained on characters), which this
CPU matcher does not have; scenes no reference shows keep the palette's sepia.

A reference without color (every pixel gray, or a gray file) has nothing to give: it is refused
with :class:`~polychrome.errors.ValueCheckError` rather than turned into hints that would pull
the target to gray (usually the gray target itself was passed by mistake).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from polychrome.errors import EngineUnavailableError, ShapeError, ValueCheckError
from polychrome.guidance.hints import PointHints
from polychrome.ops.color import rgb_to_lab
from polychrome.ops.filters import resize, working_shape

__all__ = ["ReferenceHints", "is_color", "match_reference", "match_references", "to_rgb_float"]

_NEIGHBOURS = 8  # K of the nearest-neighbour query
_AB_DIFFERENT = 12.0  # chroma distance at which two matches count as different colors
_RATIO_SURE = 0.5  # a ratio at or below this gives full confidence; 1 gives none
_CYCLE_PIXELS = 3.0  # working pixels of tolerance of the forward-backward check
_DISTANCE_SCALE = 0.2  # of the typical distance between two random descriptors
_SEARCH_RADIUS = 2.0  # in _DISTANCE_SCALE units: confidence is below exp(-4) farther out
_CHROMA_SPREAD = 8.0  # ab standard deviation (3 x 3) at which confidence falls to 1/e
_MAX_HINTS = 3000  # about this many grid cells, one hint at most each
_PCA_DIMS = 16
_EPS = 1.0  # approximate search: a neighbour at most (1 + eps) times farther than the true one
_NET_DIMS = 8
_NET_WEIGHT = 0.5  # the network group's weight; each luminance group has about 1
_MIN_SIDE = 8
_GROUP_WEIGHTS = {"intensity": 1.0, "contrast": 0.7, "derivatives": 1.0, "patch": 1.0}


@dataclass(frozen=True)
class ReferenceHints:
    """Chroma hints found by matching a target against color references.

    Attributes:
        yx: ``(N, 2)`` int32 row, column of each hint, at the target's full resolution.
        ab: ``(N, 2)`` float32 chroma of the matched reference pixel.
        confidence: ``(N,)`` float32 in ``[min_confidence, 1]``: use it as the hint's weight.
        source: where the hints came from (``"reference ref.png"``).
        coverage: fraction of the target's pixels with a confident match, in ``[0, 1]``.
        features: which descriptors were used (whether the cnn model took part).
        reference: ``(N,)`` int32 index of the reference each hint came from.
        names: the references' names, in the order given.
        coverages: per reference, the fraction of the target's pixels it matches confidently.
    """

    yx: np.ndarray
    ab: np.ndarray
    confidence: np.ndarray
    source: str
    coverage: float
    features: str
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    names: tuple[str, ...] = ()
    coverages: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.yx)
        if (
            self.yx.shape != (n, 2)
            or self.ab.shape != (n, 2)
            or self.confidence.shape != (n,)
            or self.reference.shape != (n,)
        ):
            raise ShapeError(
                f"ReferenceHints wants yx (N, 2), ab (N, 2), confidence (N,), reference (N,); "
                f"got {self.yx.shape}, {self.ab.shape}, {self.confidence.shape}, "
                f"{self.reference.shape}"
            )

    def __len__(self) -> int:
        return len(self.yx)

    def to_point_hints(self) -> list[PointHints]:
        """One :class:`~polychrome.guidance.hints.PointHints` per reference (empty for one that
        matched nowhere), weighted by confidence, its ``source`` saying which reference and how
        well it matched, e.g. ``"reference ref.png (812 matches, coverage 0.41, luminance
        features)"``."""
        out = []
        for k, name in enumerate(self.names):
            pick = self.reference == k
            source = (
                f"{_label(name)} ({int(pick.sum())} matches, coverage "
                f"{self.coverages[k]:.2f}, {self.features})"
            )
            out.append(
                PointHints(
                    yx=self.yx[pick].astype(np.int32),
                    ab=self.ab[pick].astype(np.float32),
                    weight=self.confidence[pick].astype(np.float32),
                    source=source,
                )
            )
        return out


# --------------------------------------------------------------------------- input checks


def to_rgb_float(image: np.ndarray, *, name: str = "reference") -> np.ndarray:
    """A reference as ``(h, w, 3)`` float32 sRGB in ``[0, 1]`` (a new array).

    Accepts uint8, uint16 or float (``[0, 1]``) RGB ``(h, w, 3)``, or RGBA ``(h, w, 4)`` (alpha
    dropped). Raises :class:`ShapeError` for anything else, gray ``(h, w)`` included.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        raise ShapeError(
            f"{name} must be an RGB image (h, w, 3); a gray (h, w) image has no colors to give"
        )
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise ShapeError(f"{name} must be an RGB image (h, w, 3), got shape {image.shape}")
    image = image[..., :3]
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueCheckError(f"{name} must be uint8, uint16 or float, got {image.dtype}")
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueCheckError(f"a float {name} must hold finite values in [0, 1]")
    return image.astype(np.float32)


def is_color(rgb: np.ndarray) -> bool:
    """Whether an RGB image ``(h, w, 3)`` (uint8, uint16 or float in ``[0, 1]``) has color: at
    least 1% of its pixels have a chroma above 3 (JPEG noise on a gray image stays below)."""
    rgb = to_rgb_float(rgb, name="image")
    small = resize(rgb, working_shape(rgb.shape[:2], 65_000), mode="area")
    ab = rgb_to_lab(small)[..., 1:]
    return bool(np.mean(np.hypot(ab[..., 0], ab[..., 1]) > 3.0) >= 0.01)


def _check_luminance(luminance: np.ndarray) -> np.ndarray:
    luminance = np.asarray(luminance)
    if luminance.ndim != 2:
        raise ShapeError(f"target luminance must be (H, W), got shape {luminance.shape}")
    if min(luminance.shape) < _MIN_SIDE:
        raise ShapeError(
            f"target is {luminance.shape[1]}x{luminance.shape[0]}; matching needs at least "
            f"{_MIN_SIDE} pixels a side"
        )
    if not np.issubdtype(luminance.dtype, np.floating):
        raise ValueCheckError(
            f"target luminance must be float L* in [0, 100], got {luminance.dtype}"
        )
    if not np.isfinite(luminance).all() or luminance.min() < -0.01 or luminance.max() > 100.01:
        raise ValueCheckError("target luminance must hold finite L* values in [0, 100]")
    return luminance.astype(np.float32)


# --------------------------------------------------------------------------- matching


def match_reference(
    target_luminance: np.ndarray,
    reference_rgb: np.ndarray,
    *,
    work_pixels: int = 65_000,
    use_network: bool | None = False,
    seed: int = 0,
    min_confidence: float = 0.5,
    min_coverage: float = 0.01,
    name: str = "reference",
) -> ReferenceHints:
    """Chroma hints for a gray target from one color reference (method: module docstring).

    Args:
        target_luminance: ``(H, W)`` float L* in ``[0, 100]``. Not modified.
        reference_rgb: ``(h, w, 3)`` uint8, uint16 or float (``[0, 1]``) sRGB.
        work_pixels: pixels of the working size the matching runs at.
        use_network: add the ``cnn`` engine's bin distributions to the descriptors: ``None``
            when its model is available, ``True`` always (raises if it is not), ``False``
            (default) never; see the module docstring for why.
        seed: seed of the PCA's sample (results are deterministic for a seed).
        min_confidence: confidence a match needs to count (coverage) and to become a hint.
        min_coverage: a reference covering less of the target than this gives no hint.
        name: what the reference is called in ``source`` (a file name).

    Returns:
        :class:`ReferenceHints` at the target's full resolution (possibly empty).

    Raises:
        ShapeError: wrong shapes (a gray ``(h, w)`` reference included) or images too small.
        ValueCheckError: values out of range, or a reference without color.
        EngineUnavailableError: ``use_network=True`` and the cnn model cannot run here.
    """
    return match_references(
        target_luminance,
        [reference_rgb],
        names=[name],
        work_pixels=work_pixels,
        use_network=use_network,
        seed=seed,
        min_confidence=min_confidence,
        min_coverage=min_coverage,
    )


def match_references(
    target_luminance: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    work_pixels: int = 65_000,
    use_network: bool | None = False,
    seed: int = 0,
    min_confidence: float = 0.5,
    min_coverage: float = 0.01,
) -> ReferenceHints:
    """Chroma hints from several color references, matched together: each grid cell keeps the
    most confident match over all references. Arguments as :func:`match_reference`; ``names``
    (default ``"reference 1"``, ...) name the references in the hints' sources."""
    # 1. Check inputs.
    target = _check_luminance(target_luminance)
    if len(references) == 0:
        raise ValueCheckError("no reference given")
    names = [f"reference {k + 1}" for k in range(len(references))] if names is None else names
    if len(names) != len(references):
        raise ValueCheckError(f"{len(references)} references but {len(names)} names")
    if work_pixels < 64 * 64:
        raise ValueCheckError(f"work_pixels must be at least {64 * 64}, got {work_pixels}")
    if not 0 < min_confidence <= 1:
        raise ValueCheckError(f"min_confidence must be in (0, 1], got {min_confidence}")
    if not 0 <= min_coverage <= 1:
        raise ValueCheckError(f"min_coverage must be in [0, 1], got {min_coverage}")
    rgbs = [to_rgb_float(r, name=_label(n)) for r, n in zip(references, names, strict=True)]
    for rgb, n in zip(rgbs, names, strict=True):
        if min(rgb.shape[:2]) < _MIN_SIDE:
            raise ShapeError(
                f"{_label(n)} is {rgb.shape[1]}x{rgb.shape[0]}; matching needs at least "
                f"{_MIN_SIDE} pixels a side"
            )
        if not is_color(rgb):
            raise ValueCheckError(
                f"{_label(n)} has no color (every pixel is gray): a reference gives its "
                "colors to the target, so it must be a color image"
            )
    network = _use_network(use_network)
    windows = _windows(target.shape)

    def match(part: np.ndarray) -> ReferenceHints:
        return _match_checked(
            part,
            rgbs,
            names,
            work_pixels=work_pixels,
            network=network,
            use_network=use_network,
            seed=seed,
            min_confidence=min_confidence,
            min_coverage=min_coverage,
        )

    if len(windows) == 1:
        return match(target)
    # A long strip (a webtoon): each window of it is matched on its own, at the working size,
    # so that its details are not squeezed away; hints are kept where their window owns them.
    parts, coverages, features = [], np.zeros(len(rgbs)), ""
    for (y0, y1, x0, x1), (oy0, oy1, ox0, ox1) in windows:
        part = match(np.ascontiguousarray(target[y0:y1, x0:x1]))
        yx = part.yx + np.array([y0, x0], np.int32)
        own = (yx[:, 0] >= oy0) & (yx[:, 0] < oy1) & (yx[:, 1] >= ox0) & (yx[:, 1] < ox1)
        parts.append((yx[own], part.ab[own], part.confidence[own], part.reference[own]))
        coverages += np.asarray(part.coverages) * ((oy1 - oy0) * (ox1 - ox0) / target.size)
        features = part.features
    return ReferenceHints(
        yx=np.concatenate([p[0] for p in parts]).astype(np.int32),
        ab=np.concatenate([p[1] for p in parts]).astype(np.float32),
        confidence=np.concatenate([p[2] for p in parts]).astype(np.float32),
        source=_label(names[0]) if len(names) == 1 else "references " + ", ".join(names),
        coverage=float(min(1.0, coverages.sum())),
        features=features,
        reference=np.concatenate([p[3] for p in parts]).astype(np.int32),
        names=tuple(names),
        coverages=tuple(float(c) for c in coverages),
    )


_STRIP_RATIO = 2.5
"""A target whose long side is more than this many times its short side (a webtoon strip) is
matched window by window."""


def _windows(
    shape: tuple[int, ...],
) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """Windows ``(y0, y1, x0, x1)`` of a target, each with the part of it that it owns (the
    owned parts tile the target): the whole target for an ordinary page; for a long strip,
    windows 1.5 times as long as the strip is wide, overlapping by a quarter of its width."""
    h, w = shape[:2]
    if max(h, w) <= _STRIP_RATIO * min(h, w):
        return [((0, h, 0, w), (0, h, 0, w))]
    short, long_side = min(h, w), max(h, w)
    size, step = round(1.5 * short), round(1.25 * short)
    starts = [*range(0, long_side - size, step), long_side - size]
    out = []
    for k, a in enumerate(starts):
        own_a = 0 if k == 0 else (starts[k - 1] + size + a) // 2
        own_b = long_side if k == len(starts) - 1 else (a + size + starts[k + 1]) // 2
        if h > w:
            out.append(((a, a + size, 0, w), (own_a, own_b, 0, w)))
        else:
            out.append(((0, h, a, a + size), (0, h, own_a, own_b)))
    return out


def _match_checked(
    target: np.ndarray,
    rgbs: list[np.ndarray],
    names: Sequence[str],
    *,
    work_pixels: int,
    network: bool,
    use_network: bool | None,
    seed: int,
    min_confidence: float,
    min_coverage: float,
) -> ReferenceHints:
    """Steps 2-6 of :func:`match_references` on checked inputs."""
    # 2. Working sizes; the references' chroma, and their luminance as it is and remapped.
    work = working_shape(target.shape, work_pixels)
    t_lum = resize(target, work, mode="area")
    scale = work[0] / target.shape[0]
    r_lums, r_abs, remapped = [], [], []
    for rgb in rgbs:
        lab = rgb_to_lab(resize(rgb, _reference_shape(rgb.shape[:2], scale, work_pixels)))
        r_lums.append(lab[..., 0])
        r_abs.append(lab[..., 1:])
        remapped.append(_remap(lab[..., 0], t_lum))

    # 3. Descriptors (luminance features of all images fitted together; the network's, of the
    # images as they are).
    extra = [m for m in remapped if m is not None]
    descs = _describe([t_lum, *r_lums, *extra], seed=seed)
    t_desc, r_descs, m_descs = descs[0], descs[1 : 1 + len(rgbs)], iter(descs[1 + len(rgbs) :])
    m_descs = [None if m is None else next(m_descs) for m in remapped]
    features = "luminance features"
    if network:
        try:
            nets = _network_descriptors([t_lum, *r_lums], seed=seed)
        except EngineUnavailableError:
            if use_network:
                raise
            features = "luminance features, cnn model not usable here"
        else:
            t_desc = np.concatenate([t_desc, nets[0]], axis=2)
            r_descs = [
                np.concatenate([d, n], axis=2) for d, n in zip(r_descs, nets[1:], strict=True)
            ]
            m_descs = [
                None if d is None else np.concatenate([d, n], axis=2)
                for d, n in zip(m_descs, nets[1:], strict=True)
            ]
            features = "luminance + cnn features"
    elif use_network is None:
        features = "luminance features, no cnn model"
    everything = np.concatenate([_flat(d) for d in (t_desc, *r_descs)])
    spread = float(np.sqrt(2 * np.var(everything, axis=0).sum()))  # a random pair's distance

    # 4. Remapped or not: whichever matches more of the target (moment matching is wrong when
    # a reference shows only part of the target, or other things beside it).
    chosen = [
        d
        if m is None
        or not _pick_remapped(t_desc, (d, m), ab, spread, min_confidence=min_confidence, seed=seed)
        else m
        for d, m, ab in zip(r_descs, m_descs, r_abs, strict=True)
    ]

    # 5. Nearest neighbours and confidence.
    dense = _match_dense(t_desc, chosen, r_abs, spread, min_confidence=min_confidence)

    # 6. Sparse hints at full resolution.
    confident = dense.confidence >= min_confidence
    coverage = float(confident.mean())
    coverages = tuple(float((confident & (dense.reference == k)).mean()) for k in range(len(rgbs)))
    for k, covered in enumerate(coverages):
        if covered < min_coverage:  # chance matches, not a correspondence
            confident &= dense.reference != k
    yx, pick = _spread(dense.confidence, confident)
    full = np.asarray(target.shape)
    yx_full = np.minimum(((yx + 0.5) * (full / np.asarray(work))).astype(np.int32), full - 1)
    return ReferenceHints(
        yx=yx_full.astype(np.int32),
        ab=dense.ab[pick].astype(np.float32),
        confidence=dense.confidence[pick].astype(np.float32),
        source=_label(names[0]) if len(names) == 1 else "references " + ", ".join(names),
        coverage=coverage,
        features=features,
        reference=dense.reference[pick].astype(np.int32),
        names=tuple(names),
        coverages=coverages,
    )


def _label(name: str) -> str:
    """``"reference NAME"`` (a name that already says it is a reference is kept)."""
    return name if name.startswith("reference") else f"reference {name}"


def _use_network(use_network: bool | None) -> bool:
    """Whether the cnn engine's features are wanted and possible."""
    if use_network is False:
        return False
    from polychrome.engines.base import ENGINES

    spec = ENGINES["cnn"]
    if not spec.available:
        if use_network:
            raise EngineUnavailableError(
                "use_network=True needs the cnn engine, which cannot run here: missing "
                + ", ".join(spec.missing())
            )
        return False
    return True


def _reference_shape(shape: tuple[int, int], scale: float, work_pixels: int) -> tuple[int, int]:
    """The reference's working shape: the target's scale, within [work/4, 2 work] pixels."""
    h, w = shape
    pixels = h * w * scale * scale
    pixels = min(max(pixels, work_pixels / 4), 2 * work_pixels, h * w)
    s = (pixels / (h * w)) ** 0.5
    return (max(_MIN_SIDE, round(h * s)), max(_MIN_SIDE, round(w * s)))


def _remap(luminance: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """``luminance`` with the mean and standard deviation of ``target``, or None when that
    changes it by less than 1 L* anywhere."""
    std = float(luminance.std())
    gain = float(target.std()) / std if std > 1e-3 else 1.0
    shift = float(target.mean()) - float(luminance.mean())
    if abs(gain - 1) * 100 < 1 and abs(shift) < 1:
        return None
    return ((luminance - luminance.mean()) * gain + target.mean()).astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _raw_features(lum: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Feature channels of one L* image, by group (each ``(h, w)`` float32)."""
    groups: dict[str, list[np.ndarray]] = {k: [] for k in _GROUP_WEIGHTS}
    groups["intensity"] = [_blur(lum, s) for s in (1.0, 4.0, 8.0, 16.0)]
    mean2 = _blur(lum, 2.0)
    groups["contrast"] = [np.sqrt(np.maximum(_blur(lum * lum, 2.0) - mean2 * mean2, 0))]
    for s in (1.0, 2.0, 4.0, 8.0):
        g = _blur(lum, s)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8
        lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
        groups["derivatives"] += [gx * s, gy * s, lap * s * s]
    g = _blur(lum, 0.7)
    mean = cv2.blur(g, (5, 5), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(cv2.blur(g * g, (5, 5), borderType=cv2.BORDER_REFLECT) - mean**2, 0))
    norm = 1.0 / (std + 2.0)
    pad = np.pad(g, 2, mode="reflect")
    h, w = lum.shape
    groups["patch"] = [
        (pad[dy : dy + h, dx : dx + w] - mean) * norm for dy in range(5) for dx in range(5)
    ]
    return groups


def _describe(images: list[np.ndarray], *, seed: int) -> list[np.ndarray]:
    """``(h, w, d)`` float32 descriptors of each L* image, standardised and weighted over all
    images together, reduced by one PCA."""
    raw = [_raw_features(im) for im in images]
    stacks = []
    for group, weight in _GROUP_WEIGHTS.items():
        chans = [np.stack(r[group], axis=2) for r in raw]
        flat = np.concatenate([c.reshape(-1, c.shape[2]) for c in chans])
        mean = flat.mean(axis=0)
        std = flat.std(axis=0) + 1e-6
        factor = weight / np.sqrt(len(mean)) / std
        stacks.append([((c - mean) * factor).astype(np.float32) for c in chans])
    descs = [np.concatenate(parts, axis=2) for parts in zip(*stacks, strict=True)]
    return _pca(descs, _PCA_DIMS, seed=seed)


def _pca(arrays: list[np.ndarray], dims: int, *, seed: int) -> list[np.ndarray]:
    """Project ``(h, w, D)`` arrays on the top ``dims`` principal components of all of them."""
    flat = [a.reshape(-1, a.shape[2]) for a in arrays]
    rows = np.concatenate(flat)
    rng = np.random.default_rng(seed)
    if len(rows) > 8000:  # plenty for a covariance of a few dozen dimensions
        rows = rows[rng.choice(len(rows), 8000, replace=False)]
    mean = rows.mean(axis=0)
    cov = np.cov(rows - mean, rowvar=False).astype(np.float64)
    _, vectors = np.linalg.eigh(np.atleast_2d(cov))
    basis = vectors[:, ::-1][:, : min(dims, rows.shape[1])].astype(np.float32)
    return [
        ((f - mean) @ basis).reshape(*a.shape[:2], -1).astype(np.float32)
        for f, a in zip(flat, arrays, strict=True)
    ]


def _cnn_probabilities(luminance: np.ndarray) -> np.ndarray:
    """The cnn engine's ``(Q, h/4, w/4)`` ab-bin distribution for ``luminance``."""
    from polychrome.engines.cnn import CnnEngine, CnnOptions

    return CnnEngine().probabilities(luminance, CnnOptions())


def _network_descriptors(images: list[np.ndarray], *, seed: int) -> list[np.ndarray]:
    """``(h, w, 8)`` semantic descriptors: the cnn's bin distributions, square-rooted, reduced
    by one PCA over all images, upsampled, scaled to total variance ``_NET_WEIGHT ** 2``."""
    probs = [np.sqrt(np.maximum(_cnn_probabilities(im), 0)).transpose(1, 2, 0) for im in images]
    reduced = _pca([p.astype(np.float32) for p in probs], _NET_DIMS, seed=seed)
    total = np.sqrt(
        sum(float((r**2).sum()) for r in reduced) / sum(r[..., 0].size for r in reduced)
    )
    factor = _NET_WEIGHT / max(total, 1e-6)
    return [
        resize(np.ascontiguousarray(r * factor), im.shape, mode="linear").reshape(
            *im.shape, r.shape[2]
        )
        for r, im in zip(reduced, images, strict=True)
    ]


@dataclass(frozen=True)
class _Dense:
    """Per target working pixel: best match's chroma, its reference, and the confidence."""

    ab: np.ndarray  # (h, w, 2)
    reference: np.ndarray  # (h, w) int
    confidence: np.ndarray  # (h, w)


def _forward(
    t_flat: np.ndarray,
    r_flat: np.ndarray,
    r_ab: np.ndarray,
    r_spread: np.ndarray,
    spread: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Best reference match of each target descriptor and its confidence before the cycle
    check: ratio test (color-aware), absolute distance and flat chroma."""
    from scipy.spatial import cKDTree

    # Nearest neighbours target -> references, searched only within a distance beyond which a
    # match could not be confident anyway (this keeps unrelated targets fast).
    bound = _SEARCH_RADIUS * _DISTANCE_SCALE * spread
    tree = cKDTree(r_flat)
    dist, idx = tree.query(t_flat, k=_NEIGHBOURS, eps=_EPS, distance_upper_bound=bound, workers=-1)
    found = np.isfinite(dist[:, 0])
    best = np.where(found, idx[:, 0], 0)
    d1 = np.where(found, dist[:, 0], bound)

    # Ratio test against the nearest neighbour of another color (or the K-th, or the search
    # radius: lower bounds of that distance).
    valid = np.isfinite(dist)
    safe = np.where(valid, idx, 0)
    differs = valid & (
        np.hypot(*(r_ab[safe] - r_ab[best][:, None]).transpose(2, 0, 1)) > _AB_DIFFERENT
    )
    has_other = differs.any(axis=1)
    first_other = np.argmax(differs, axis=1)
    d2 = np.where(
        has_other, dist[np.arange(len(best)), first_other], np.minimum(dist[:, -1], bound)
    )
    ratio = d1 / np.maximum(d2, 0.02 * spread)
    conf = np.clip((1 - ratio) / (1 - _RATIO_SURE), 0, 1) * found
    # Absolute distance and flat chroma.
    conf *= np.exp(-((d1 / (_DISTANCE_SCALE * spread)) ** 2))
    conf *= np.exp(-((r_spread[best] / _CHROMA_SPREAD) ** 2))
    return best, conf


def _flat(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, image.shape[-1])


def _pick_remapped(
    target: np.ndarray,
    variants: tuple[np.ndarray, np.ndarray],
    ab: np.ndarray,
    spread: float,
    *,
    min_confidence: float,
    seed: int,
) -> bool:
    """Whether the remapped reference (``variants[1]``) matches a sample of target pixels more
    often than the reference as it is (``variants[0]``)."""
    t_flat = _flat(target)
    rng = np.random.default_rng(seed)
    sample = t_flat[rng.choice(len(t_flat), min(len(t_flat), 4000), replace=False)]
    r_ab, r_spread = _flat(ab), _chroma_spread(ab).reshape(-1)
    scores = [
        float(np.mean(_forward(sample, _flat(v), r_ab, r_spread, spread)[1] >= min_confidence))
        for v in variants
    ]
    return scores[1] > scores[0]


def _match_dense(
    target: np.ndarray,
    references: list[np.ndarray],
    abs_: list[np.ndarray],
    spread: float,
    *,
    min_confidence: float,
) -> _Dense:
    from scipy.spatial import cKDTree

    h, w, _ = target.shape
    t_flat = _flat(target)
    r_flat = np.concatenate([_flat(r) for r in references])
    r_ab = np.concatenate([_flat(a) for a in abs_])
    r_index = np.concatenate([np.full(a.shape[0] * a.shape[1], k) for k, a in enumerate(abs_)])
    r_spread = np.concatenate([_chroma_spread(a).reshape(-1) for a in abs_])
    best, conf = _forward(t_flat, r_flat, r_ab, r_spread, spread)

    # Forward-backward check, for the pixels still in the running. The pixel matched from is
    # itself within the search radius, so the backward search needs to look no farther.
    live = np.nonzero(conf >= min_confidence)[0]
    if len(live):
        back_tree = cKDTree(t_flat)
        bound = _SEARCH_RADIUS * _DISTANCE_SCALE * spread
        _, back = back_tree.query(
            r_flat[best[live]], k=1, eps=_EPS, distance_upper_bound=bound, workers=-1
        )
        back = np.minimum(back, len(t_flat) - 1)  # (none found: cannot happen, but stay safe)
        dy = back // w - live // w
        dx = back % w - live % w
        conf[live] *= np.exp(-(dy * dy + dx * dx) / _CYCLE_PIXELS**2)
    conf[np.setdiff1d(np.arange(len(conf)), live, assume_unique=True)] = 0

    return _Dense(
        ab=r_ab[best].reshape(h, w, 2),
        reference=r_index[best].reshape(h, w),
        confidence=conf.reshape(h, w).astype(np.float32),
    )


def _chroma_spread(ab: np.ndarray) -> np.ndarray:
    """``(h, w)`` standard deviation of the chroma in each 3 x 3 neighbourhood."""
    mean = cv2.blur(ab, (3, 3), borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(ab * ab, (3, 3), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(sq - mean * mean, 0).sum(axis=2))


def _spread(
    confidence: np.ndarray, confident: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The most confident pixel of each grid cell among ``confident`` ones: ``(N, 2)`` yx at
    working resolution and the matching ``(N, 2)`` index tuple into the dense arrays."""
    h, w = confidence.shape
    cell = max(1, round((h * w / _MAX_HINTS) ** 0.5))
    ys, xs = np.nonzero(confident)
    if len(ys) == 0:
        return np.zeros((0, 2), np.int32), (ys, xs)
    cells = (ys // cell) * (w // cell + 1) + xs // cell
    order = np.lexsort((-confidence[ys, xs], cells))
    first = np.ones(len(order), bool)
    first[1:] = cells[order][1:] != cells[order][:-1]
    keep = order[first]
    ys, xs = ys[keep], xs[keep]
    return np.stack([ys, xs], axis=1).astype(np.int32), (ys, xs)
