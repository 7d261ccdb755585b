"""Sample images shipped with polychrome (see CREDITS.txt): a CC0 photo, its grayscale version and
a hint image of color strokes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from polychrome.errors import InputError

__all__ = ["sample_path"]


def sample_path(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("coffee-gray.png")``."""
    path = Path(str(resources.files(__name__) / name))
    if not path.is_file():
        names = sorted(p.name for p in path.parent.iterdir() if p.suffix == ".png")
        raise InputError(f"no sample named {name!r}; samples: {', '.join(names)}")
    return path
