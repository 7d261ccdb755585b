"""Contact sheets: images side by side with captions, to look at results."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["contact_sheet"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def contact_sheet(
    images: Sequence[np.ndarray], captions: Sequence[str], *, height: int = 320, columns: int = 4
) -> np.ndarray:
    """Tile RGB or gray uint8 images (resized to ``height``) with a caption above each.

    Returns an ``(H, W, 3)`` uint8 RGB image.
    """
    resized = []
    for image in images:
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        if rgb.dtype == np.uint16:
            rgb = np.round(rgb / 257.0).astype(np.uint8)
        scale = height / rgb.shape[0]
        resized.append(
            cv2.resize(
                rgb, (max(1, round(rgb.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
            )
        )
    # Every cell is as wide as the widest image, and its caption spans the cell (a portrait
    # image's caption was cut at the image's own width); a caption still too long gets smaller.
    width = max(rgb.shape[1] for rgb in resized)
    tiles = []
    for rgb, caption in zip(resized, captions, strict=True):
        cell = np.pad(rgb, ((0, 0), (0, width - rgb.shape[1]), (0, 0)), constant_values=255)
        bar = np.full((28, width, 3), 255, np.uint8)
        for font in (0.55, 0.5, 0.45, 0.4, 0.35):
            if cv2.getTextSize(caption, _FONT, font, 1)[0][0] <= width - 8:
                break
        cv2.putText(bar, caption, (6, 20), _FONT, font, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(np.vstack([bar, cell]))
    rows = []
    for r in range(0, len(tiles), columns):
        row = tiles[r : r + columns]
        row += [np.full_like(tiles[0], 255)] * (columns - len(row)) if len(tiles) > columns else []
        rows.append(np.hstack(row))
    return np.vstack(rows)
