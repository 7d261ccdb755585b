"""Image file formats polychrome reads and writes, by file extension.

Light on purpose (no numpy, OpenCV or Pillow): the CLI uses it at start-up to find images in
folders.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["IMAGE_FORMATS", "IMAGE_SUFFIXES", "image_files", "name_order"]

IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
"""Lower-case file extension -> the format read from or written to such a file."""

IMAGE_SUFFIXES = tuple(IMAGE_FORMATS)
"""The image file extensions, lower case: ``.png .jpg .jpeg .tif .tiff .webp``."""


def name_order(name: str) -> tuple:
    """Sort key of a file name in reading order: runs of digits compare as numbers, so
    ``page2.png`` comes before ``page10.png`` (and ``frame_9`` before ``frame_10``); ties of
    equal numbers (``01`` and ``1``) fall back to the plain name.

    >>> sorted(["p10.png", "p9.png", "p1.png"], key=name_order)
    ['p1.png', 'p9.png', 'p10.png']
    """
    parts = re.split(r"(\d+)", name.lower())
    return (tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), name)


def image_files(folder: Path) -> list[Path]:
    """The images of ``folder`` (not its subfolders, not hidden files) in reading order
    (:func:`name_order`)."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        ),
        key=lambda p: name_order(p.name),
    )
