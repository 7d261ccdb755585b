"""Image file formats polychrome reads and writes, by file extension.

Light on purpose (no numpy, OpenCV or Pillow): the CLI uses it at start-up to find images in
folders.
"""

from __future__ import annotations

__all__ = ["IMAGE_FORMATS", "IMAGE_SUFFIXES"]

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
