"""Video and image sequences: frames in and out (:mod:`polychrome.video.frames`, PyAV), optical
flow and the temporal prior (:mod:`polychrome.video.flow`), and the frame-by-frame colorizer
(:mod:`polychrome.video.temporal`)."""

from polychrome.video.flow import flicker, histogram_distance, temporal_prior, track
from polychrome.video.temporal import (
    FrameResult,
    VideoColorizer,
    VideoReport,
    VideoSettings,
    colorize_video,
)

__all__ = [
    "FrameResult",
    "VideoColorizer",
    "VideoReport",
    "VideoSettings",
    "colorize_video",
    "flicker",
    "histogram_distance",
    "temporal_prior",
    "track",
]
