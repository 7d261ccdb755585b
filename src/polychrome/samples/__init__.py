"""Sample images shipped with polychrome (see CREDITS.txt): a CC0 photo, its grayscale version and
a hint image of color strokes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from polychrome.errors import InputError

__all__ = ["sample_path"]


def sample_path(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("coffee-gray.png")``; a name that is
    not one of them (another folder's file included) raises :class:`InputError` listing them."""
    folder = Path(str(resources.files(__name__)))
    files = {p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py"}
    if not isinstance(name, str) or name not in files:
        names = sorted(f for f in files if f.endswith(".png"))
        raise InputError(f"no sample named {name!r}; samples: {', '.join(names)}")
    return folder / name
