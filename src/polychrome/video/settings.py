"""How a clip is colorized: :class:`VideoSettings` (no heavy imports, so the CLI can take its
defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polychrome.errors import ValueCheckError

__all__ = ["QUALITIES", "VideoSettings"]

QUALITIES = ("fast", "high")
"""Names of the presets of :meth:`VideoSettings.quality`."""


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is colorized (defaults: 854x480 at several frames per second on 2 cores)."""

    working_pixels: int = 25_000
    """Pixels of the working resolution (flow, engine and solver); chroma is upsampled from it
    guided by each frame's full-resolution luminance."""
    temporal: bool = True
    """Carry colors from frame to frame; False colorizes every frame on its own (each one an
    anchor: the per-frame baseline of ``eval --protocol reference``)."""
    temporal_strength: float = 1.0
    """Confidence of a consistently tracked pixel of the warped previous chroma, in [0, 1]."""
    temporal_weight: float = 4.0
    """Solver data weight of the temporal prior at confidence 1 (smoothness weighs at most 1 per
    edge): high keeps tracked colors from blurring over many frames."""
    scene_cut: float = 0.35
    """Luminance-histogram distance (0..1) between consecutive frames that starts a new anchor."""
    cut_tracked: float = 0.25
    """A frame where less than this share of pixels is followed consistently from the previous
    frame (optical flow, forward-backward and luminance checks) also starts a new anchor: a cut
    between shots of similar tones, which the histogram misses. On video-dev the share is at
    least 0.86 within a shot (fast BMX motion) and 0.02 across a cut from davis_bmx-trees to
    vid4_foliage, whose histogram distance is 0.24. 0 turns it off."""
    cut_correlation: float = 0.8
    """A frame that ``scene_cut`` or ``cut_tracked`` flags is still no cut when it correlates
    with the previous frame moved as a whole (the best shift, up to a tenth of the shorter side)
    by more than this, and at least ``cut_tracked`` of its pixels then agree: the same view,
    moved, where the flow is ambiguous (a periodic pattern: stripes, a fence, a grille) or a
    pattern of few tones changes histogram bins at working resolution. Its pixels are then
    followed by that shift where their luminance agrees (by the flow where that is the more
    consistent). On video-dev the correlation is at least 0.94 between frames of a clip and at
    most 0.13 across a cut between the clips (0.28 between unrelated synthetic textures). 1
    turns it off."""
    reference_flow: bool = True
    """Also align each reference to every frame by optical flow, followed from frame to frame
    (:mod:`polychrome.video.align`): where the alignment holds (a reference from the same shot),
    its chroma is a dense prior (``"reference"``). A reference that aligns directly with less
    than ``reference_overlap`` of a shot's first frame is left out."""
    reference_overlap: float = 0.2
    """Fraction of consistently aligned pixels a reference needs to give its flow prior."""
    reference_refine: bool = True
    """Refine the followed alignment every frame by the flow between the reference warped so far
    and the frame (two more flows per reference): corrects drift, re-finds what an occluder hid.
    On video-dev: davis_bmx-trees +0.8 dB, vid4_foliage -0.4 dB."""
    reference_detail: bool = True
    """Read the aligned references' chroma at full resolution (where the alignment holds) rather
    than upsampling it from the working resolution: thin structures keep their colors."""
    luminance_tolerance: float = 6.0
    """L* difference between a frame's pixel and its aligned reference pixel at which the
    reference's confidence falls to 1/e."""
    engine_every: int = 8
    """Without references: within a shot, run the engine again every this many frames (0: at
    anchors only); its latest proposal, warped along, fills what the temporal prior does not
    hold (new things entering the frame), weighted by ``engine_weight`` times 1 - the flow's
    consistency. With references, new things take their neighbours' colors instead."""
    engine_weight: float = 1.0
    """Data weight of the carried engine proposal (0: not carried), in units of
    ``temporal_weight``."""
    reference_match: bool = True
    """Match the references into hints (descriptor matching, :mod:`polychrome.reference.match`)
    at anchors and keyframes: finds correspondences anywhere, where the flow alignment finds
    only the same shot."""
    rematch_every: int = 0
    """Within a shot, match the references again every this many frames (0: at anchors only)."""
    match_pixels: int = 65_000
    """Working size of reference matching."""
    flow_preset: str = "medium"
    """DIS optical-flow preset: ultrafast, fast or medium. On video-dev, medium against fast:
    +0.4 dB on davis_bmx-trees, +0.8 dB on vid4_foliage, and at 854x480 8 % (no reference) to
    30 % (one reference) more CPU time per frame."""
    cg_iterations: int = 5
    """Conjugate-gradient iterations per level of the multiscale solve."""
    upsample: str = "linear"
    """How chroma returns to full resolution (``"linear"`` or ``"guided"``). Linear: on the
    video-dev frames, the true chroma taken to 25,000 pixels and back scores 40 dB PSNR
    linearly, 31 dB guided (the guided filter's edges cost more than they give on photos)."""

    @classmethod
    def quality(cls, name: str = "fast", **changes: Any) -> VideoSettings:
        """Named presets, with ``changes`` on top: ``"fast"`` (the defaults, about 10 frames per
        second at 854x480 on 2 cores) or ``"high"`` (100,000 working pixels instead of 25,000:
        about 3x slower; on video-dev +0.6 dB on vid4_foliage, -0.1 dB on davis_bmx-trees)."""
        if name not in QUALITIES:
            raise ValueCheckError(f"quality must be one of {', '.join(QUALITIES)}, got {name!r}")
        preset: dict[str, Any] = {}
        if name == "high":
            preset = {"working_pixels": 100_000}
        return cls(**{**preset, **changes})

    def __post_init__(self) -> None:
        if self.luminance_tolerance <= 0:
            raise ValueCheckError(
                f"luminance_tolerance must be > 0, got {self.luminance_tolerance}"
            )
        if self.working_pixels < 1024:
            raise ValueCheckError(f"working_pixels must be >= 1024, got {self.working_pixels}")
        if not 0 <= self.temporal_strength <= 1:
            raise ValueCheckError(
                f"temporal_strength must be in [0, 1], got {self.temporal_strength}"
            )
        if self.temporal_weight <= 0:
            raise ValueCheckError(f"temporal_weight must be > 0, got {self.temporal_weight}")
        if not 0 < self.scene_cut <= 1:
            raise ValueCheckError(f"scene_cut must be in (0, 1], got {self.scene_cut}")
        if not 0 <= self.cut_tracked < 1:
            raise ValueCheckError(f"cut_tracked must be in [0, 1), got {self.cut_tracked}")
        if not 0 <= self.cut_correlation <= 1:
            raise ValueCheckError(f"cut_correlation must be in [0, 1], got {self.cut_correlation}")
        if self.engine_every < 0 or self.engine_weight < 0:
            raise ValueCheckError("engine_every and engine_weight must be >= 0")
        if self.rematch_every < 0:
            raise ValueCheckError(f"rematch_every must be >= 0, got {self.rematch_every}")
        if self.upsample not in ("linear", "guided"):
            raise ValueCheckError(f"upsample must be linear or guided, got {self.upsample!r}")
        if self.flow_preset not in ("ultrafast", "fast", "medium"):
            raise ValueCheckError(
                f"flow_preset must be ultrafast, fast or medium, got {self.flow_preset!r}"
            )
