"""polychrome: colorize grayscale photos, comics, image sequences and video, offline.

>>> import polychrome
>>> result = polychrome.colorize("page.png", guidance=...)   # doctest: +SKIP
>>> result.save("page-color.png")                             # doctest: +SKIP

Public names: ``colorize`` and ``ColorizeResult`` (:mod:`polychrome.pipeline`),
``ColorizeOptions`` (:mod:`polychrome.options`), ``Guidance``, ``Instance`` and ``PointHints``
(:mod:`polychrome.guidance.hints`), ``SolveSettings`` (:mod:`polychrome.solve.propagate`),
``read_image`` and ``write_image`` (:mod:`polychrome.io`), ``sample_path``
(:mod:`polychrome.samples`). They are imported lazily, so ``import polychrome`` itself is
instant; ``help(polychrome.colorize)`` shows each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "colorize": "polychrome.pipeline",
    "ColorizeResult": "polychrome.pipeline",
    "ColorizeOptions": "polychrome.options",
    "Guidance": "polychrome.guidance.hints",
    "Instance": "polychrome.guidance.hints",
    "PointHints": "polychrome.guidance.hints",
    "SolveSettings": "polychrome.solve.propagate",
    "read_image": "polychrome.io",
    "write_image": "polychrome.io",
    "sample_path": "polychrome.samples",
}

__all__ = [
    "ColorizeOptions",
    "ColorizeResult",
    "Guidance",
    "Instance",
    "PointHints",
    "SolveSettings",
    "__version__",
    "colorize",
    "read_image",
    "sample_path",
    "write_image",
]

if TYPE_CHECKING:  # pragma: no cover
    from polychrome.guidance.hints import Guidance, Instance, PointHints
    from polychrome.io import read_image, write_image
    from polychrome.options import ColorizeOptions
    from polychrome.pipeline import ColorizeResult, colorize
    from polychrome.samples import sample_path
    from polychrome.solve.propagate import SolveSettings


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'polychrome' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
