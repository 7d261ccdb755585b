"""Contact sheets: images side by side with captions, to look at results."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["contact_sheet"]


def contact_sheet(
    images: Sequence[np.ndarray], captions: Sequence[str], *, height: int = 320, columns: int = 4
) -> np.ndarray:
    """Tile RGB or gray uint8 images (resized to ``height``) with a caption above each.

    Returns an ``(H, W, 3)`` uint8 RGB image.
    """
    tiles = []
    for image, caption in zip(images, captions, strict=True):
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        if rgb.dtype == np.uint16:
            rgb = np.round(rgb / 257.0).astype(np.uint8)
        scale = height / rgb.shape[0]
        rgb = cv2.resize(
            rgb, (max(1, round(rgb.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
        )
        bar = np.full((28, rgb.shape[1], 3), 255, np.uint8)
        cv2.putText(
            bar, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA
        )
        tiles.append(np.vstack([bar, rgb]))
    width = max(t.shape[1] for t in tiles)
    tiles = [
        np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles
    ]
    rows = []
    for r in range(0, len(tiles), columns):
        row = tiles[r : r + columns]
        row += [np.full_like(tiles[0], 255)] * (columns - len(row)) if len(tiles) > columns else []
        rows.append(np.hstack(row))
    return np.vstack(rows)
