"""Typed constraints: what every kind of user guidance becomes before the solver sees it.

- :class:`PointHints`: chroma asked for at individual pixels (clicked points, painted strokes).
- :class:`Instance`: a region (mask) with a target chroma that fills it and must not leak out.
- :class:`Guidance`: everything for one image, in the image's full-resolution coordinates.

Each constraint carries a ``source`` string so results can say where every constraint came from.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polychrome.errors import EmptyMaskError, ShapeError, ValueCheckError
from polychrome.ops.color import rgb_to_lab

__all__ = ["Guidance", "Instance", "LabelMask", "PointHints", "cell_of"]


def cell_of(yx: np.ndarray, full: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """``(N, 2)`` int64: the pixel of a ``shape`` grid that covers each full-resolution
    position ``yx`` of a ``full`` image (the cell an area resize puts it in). The solver and
    the engines both place hints with it, so they agree on where a hint is.

    >>> cell_of(np.array([[0, 0], [99, 199], [50, 101]]), (100, 200), (50, 100)).tolist()
    [[0, 0], [49, 99], [25, 50]]
    """
    yx = np.asarray(yx, dtype=np.int64).reshape(-1, 2)
    return yx * np.array(shape, np.int64) // np.array(full, np.int64)


@dataclass(frozen=True)
class PointHints:
    """Chroma targets at individual pixels.

    Attributes:
        yx: ``(N, 2)`` int32 row, column of each hint pixel.
        ab: ``(N, 2)`` float32 target chroma.
        weight: ``(N,)`` float32 in ``(0, 1]``: how firmly each target holds.
        source: where the hints came from (a file name, ``"points"``).
    """

    yx: np.ndarray
    ab: np.ndarray
    weight: np.ndarray
    source: str = "points"

    def __post_init__(self) -> None:
        # Arrays (lists too) of the documented dtypes; float positions are floored to the
        # pixel that contains them.
        yx = _numbers(self.yx, f"hint positions from {self.source}")
        if yx.dtype.kind == "f":
            if not np.isfinite(yx).all():
                raise ValueCheckError(f"hint positions from {self.source} must be finite")
            yx = np.floor(yx)
        if yx.size and np.abs(yx).max() >= 2**31:
            raise ShapeError(f"hint positions from {self.source} fall outside any image")
        object.__setattr__(self, "yx", yx.astype(np.int32, copy=False))
        object.__setattr__(self, "ab", _numbers(self.ab, f"hints from {self.source}", np.float32))
        weight = _numbers(self.weight, f"hint weights from {self.source}", np.float32)
        object.__setattr__(self, "weight", weight)
        n = len(self.yx) if self.yx.ndim else -1
        if self.yx.shape != (n, 2) or self.ab.shape != (n, 2) or self.weight.shape != (n,):
            raise ShapeError(
                f"PointHints wants yx (N, 2), ab (N, 2), weight (N,); got {self.yx.shape}, "
                f"{self.ab.shape}, {self.weight.shape}"
            )
        _check_ab(self.ab, f"hints from {self.source}")
        if len(self.weight) and not (np.all(self.weight > 0) and np.all(self.weight <= 1)):
            raise ValueCheckError(f"hint weights from {self.source} must be in (0, 1]")

    def __len__(self) -> int:
        return len(self.yx)

    @classmethod
    def from_rgb(
        cls,
        yx: np.ndarray,
        rgb: np.ndarray,
        *,
        weight: np.ndarray | float = 1.0,
        source: str = "points",
    ) -> PointHints:
        """Hints from sRGB colors ``(N, 3)`` in ``[0, 1]`` at ``yx`` ``(N, 2)``; only their
        chroma is used (the image keeps its own luminance)."""
        yx = _numbers(yx, f"hint positions from {source}")
        rgb = _numbers(rgb, f"hint colors from {source}", np.float32)
        if yx.shape[-1:] != (2,) or yx.ndim > 2 or rgb.shape[-1:] != (3,) or rgb.ndim > 2:
            raise ShapeError(
                f"hints from {source}: yx must be (N, 2) and rgb (N, 3), got {yx.shape} and "
                f"{rgb.shape}"
            )
        yx, rgb = yx.reshape(-1, 2), rgb.reshape(-1, 3)
        if len(rgb) != len(yx):
            raise ShapeError(f"{len(yx)} positions but {len(rgb)} colors")
        if len(rgb) and not (np.all(rgb >= 0) and np.all(rgb <= 1)):  # NaN fails both
            raise ValueCheckError(
                f"hint colors from {source} must be sRGB in [0, 1] (divide 8-bit values by 255)"
            )
        w = _numbers(weight, f"hint weights from {source}", np.float32)
        if w.ndim > 1 or w.size not in (1, len(yx)):
            raise ShapeError(
                f"hint weights from {source}: one weight or one per hint ({len(yx)}), got "
                f"shape {w.shape}"
            )
        w = np.broadcast_to(w.reshape(-1), (len(yx),)).copy()
        return cls(yx=yx, ab=rgb_to_lab(rgb)[:, 1:].copy(), weight=w, source=source)

    def check_bounds(self, shape: tuple[int, int]) -> None:
        """Raise :class:`~polychrome.errors.ShapeError` if a position falls outside an image of
        ``shape`` ``(H, W)``."""
        if len(self) and (
            self.yx.min() < 0 or self.yx[:, 0].max() >= shape[0] or self.yx[:, 1].max() >= shape[1]
        ):
            raise ShapeError(f"hint positions from {self.source} fall outside the image {shape}")


def _numbers(values: Any, what: str, dtype: type | None = None) -> np.ndarray:
    """``values`` as a numeric array (of ``dtype`` if given), or a typed error naming ``what``."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueCheckError(f"{what} must be numbers: {exc}") from None
    if array.dtype.kind not in "iuf":
        raise ValueCheckError(f"{what} must be numbers, got dtype {array.dtype}")
    return array


_AB_LIMIT = 200.0
"""|a*|, |b*| beyond this is no color (sRGB stays within about 130)."""


def _check_ab(ab: np.ndarray, what: str) -> None:
    """Finite chroma within :data:`_AB_LIMIT`: a NaN would whiten the pixels it reaches."""
    if len(ab) and not np.all(np.abs(ab) <= _AB_LIMIT):  # NaN fails too
        raise ValueCheckError(f"{what}: a*, b* must be finite numbers within +-{_AB_LIMIT:g}")


class LabelMask:
    """A full-resolution bool mask kept as one value of a label image shared by many masks.

    A label map of 150 labels is one ``uint8`` image, not 150 full-size masks (7.5 GB at
    50 MP): each mask is ``labels == value``, derived on demand and only within its bounding
    ``box``. It stands wherever an :class:`Instance` or a labelled region takes a mask; code
    that needs a plain array gets one from ``np.asarray(mask)`` (full size, made each time).

    Attributes:
        labels: ``(H, W)`` unsigned integer image, shared, never written to.
        value: the label number of this mask.
        box: ``(y0, y1, x0, x1)``: the rows and columns that hold every pixel of the mask.
        pixels: how many pixels it selects.
    """

    ndim = 2
    dtype = np.dtype(bool)

    def __init__(
        self, labels: np.ndarray, value: int, box: tuple[int, int, int, int], pixels: int
    ) -> None:
        if labels.ndim != 2:
            raise ShapeError(f"a label image must be (H, W), got shape {labels.shape}")
        self.labels, self.value, self.pixels = labels, int(value), int(pixels)
        self.box = tuple(int(v) for v in box)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def size(self) -> int:
        return self.labels.size

    def crop(self) -> np.ndarray:
        """``(y1 - y0, x1 - x0)`` bool: the mask within its box."""
        y0, y1, x0, x1 = self.box
        return self.labels[y0:y1, x0:x1] == self.value

    def any(self) -> bool:
        return self.pixels > 0

    def sum(self) -> int:
        return self.pixels

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        full = np.zeros(self.shape, bool)
        y0, y1, x0, x1 = self.box
        full[y0:y1, x0:x1] = self.crop()
        return full if dtype is None else full.astype(dtype)

    def __repr__(self) -> str:
        return f"LabelMask(value={self.value}, box={self.box}, pixels={self.pixels})"


def mask_pixels(mask: np.ndarray | LabelMask) -> int:
    """How many pixels a mask (an array or a :class:`LabelMask`) selects."""
    if isinstance(mask, LabelMask):
        return mask.pixels
    return int(np.count_nonzero(mask))  # 8x faster than .sum()


@dataclass(frozen=True)
class Instance:
    """A region whose pixels all take one target chroma, with no bleeding across its boundary.

    Attributes:
        mask: ``(H, W)`` bool, full resolution (or a :class:`LabelMask`).
        ab: ``(2,)`` target chroma.
        label: what the user said (``"a dark green car"``).
        source: where the mask came from (a file name).
        strength: how firmly the color holds against other evidence inside the mask, ``(0, 1]``.
    """

    mask: np.ndarray
    ab: np.ndarray
    label: str
    source: str = "mask"
    strength: float = 1.0

    def __post_init__(self) -> None:
        mask = self.mask if isinstance(self.mask, LabelMask) else np.asarray(self.mask)
        if mask.ndim != 2:
            raise ShapeError(f"instance mask must be a (H, W) bool array, got shape {mask.shape}")
        if mask.dtype != bool:
            raise ValueCheckError(
                f"instance mask must be a bool array, got dtype {mask.dtype} (use mask > 0)"
            )
        object.__setattr__(self, "mask", mask)
        if not self.mask.any():
            raise EmptyMaskError(f"the mask for {self.label!r} ({self.source}) selects no pixel")
        ab = _numbers(self.ab, f"the color of {self.label!r}", np.float32)
        if ab.shape != (2,):
            raise ShapeError(f"instance ab must have shape (2,), got {ab.shape}")
        object.__setattr__(self, "ab", ab)
        _check_ab(ab[None], f"the color of {self.label!r}")
        if (
            isinstance(self.strength, bool)
            or not isinstance(self.strength, numbers.Real)
            or not 0 < self.strength <= 1
        ):
            raise ValueCheckError(f"instance strength must be in (0, 1], got {self.strength!r}")


@dataclass(frozen=True)
class Guidance:
    """All constraints for one image. Instances are listed bottom to top: where masks overlap,
    the later instance owns the pixel."""

    points: Sequence[PointHints] = field(default_factory=tuple)
    instances: Sequence[Instance] = field(default_factory=tuple)
    tones: Sequence[Any] = field(default_factory=tuple)
    """Tone presets (:class:`~polychrome.guidance.describe.Tone`) applied to the engine's prior."""
    report: Mapping[str, Any] | None = None
    """How a description was bound (see :func:`~polychrome.guidance.binding.bind`), for the
    result's metadata."""

    def __post_init__(self) -> None:
        # Stored as tuples: a generator would be used up by the first pass over it (the
        # bounds check), and the solver would then see no hints.
        for name, kind in (("points", PointHints), ("instances", Instance)):
            value = getattr(self, name)
            if isinstance(value, kind | str | bytes | np.ndarray | Mapping):
                raise ValueCheckError(
                    f"Guidance {name} must be a sequence of {kind.__name__} (for one: "
                    f"{name}=(item,)), got {type(value).__name__}"
                )
            try:
                items = tuple(value)
            except TypeError:
                raise ValueCheckError(
                    f"Guidance {name} must be a sequence of {kind.__name__}, got "
                    f"{type(value).__name__}"
                ) from None
            for item in items:
                if not isinstance(item, kind):
                    raise ValueCheckError(
                        f"Guidance {name} must hold {kind.__name__} objects, got "
                        f"{type(item).__name__}"
                    )
            object.__setattr__(self, name, items)
        object.__setattr__(self, "tones", tuple(self.tones))

    def check(self, shape: tuple[int, int]) -> None:
        """Raise a typed error if any constraint does not fit an image of ``shape``."""
        for p in self.points:
            p.check_bounds(shape)
        for inst in self.instances:
            if inst.mask.shape != shape:
                raise ShapeError(
                    f"the mask for {inst.label!r} ({inst.source}) is {inst.mask.shape[1]}x"
                    f"{inst.mask.shape[0]} but the image is {shape[1]}x{shape[0]}"
                )

    def owner(self, shape: tuple[int, int]) -> np.ndarray:
        """``(H, W)`` int16: 0 for background, ``k + 1`` where instance ``k`` owns the pixel."""
        out = np.zeros(shape, np.int16)
        for k, inst in enumerate(self.instances):
            # copyto, not out[mask] = ...: no index list is built (3x faster on a 50 MP mask).
            if isinstance(inst.mask, LabelMask):  # only its box
                y0, y1, x0, x1 = inst.mask.box
                np.copyto(out[y0:y1, x0:x1], np.int16(k + 1), where=inst.mask.crop())
            else:
                np.copyto(out, np.int16(k + 1), where=inst.mask)
        return out

    def describe(self) -> list[dict[str, object]]:
        """A JSON-able summary for result metadata."""
        rows: list[dict[str, object]] = [
            {"kind": "points", "source": p.source, "count": len(p)} for p in self.points
        ]
        rows += [
            {
                "kind": "instance",
                "label": inst.label,
                "source": inst.source,
                "pixels": mask_pixels(inst.mask),
                "ab": [round(float(v), 2) for v in inst.ab],
            }
            for inst in self.instances
        ]
        return rows
