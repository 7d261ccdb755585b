"""Video and image sequences: frames in and out (:mod:`polychrome.video.frames`, PyAV), optical
flow and the temporal prior (:mod:`polychrome.video.flow`), the frame-by-frame colorizer
(:mod:`polychrome.video.temporal`) and its settings (:mod:`polychrome.video.settings`).

The names below are imported on first use, so ``polychrome.video.settings`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FrameResult": "polychrome.video.temporal",
    "VideoColorizer": "polychrome.video.temporal",
    "VideoReport": "polychrome.video.temporal",
    "VideoSettings": "polychrome.video.settings",
    "colorize_video": "polychrome.video.temporal",
    "flicker": "polychrome.video.flow",
    "histogram_distance": "polychrome.video.flow",
    "temporal_prior": "polychrome.video.flow",
    "track": "polychrome.video.flow",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'polychrome.video' has no attribute {name!r}")
