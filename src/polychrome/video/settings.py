"""How a clip is colorized: :class:`VideoSettings` (no heavy imports, so the CLI can take its
defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from polychrome.errors import ValueCheckError

__all__ = ["VideoSettings"]


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
    reference_flow: bool = True
    """Also align each reference to every frame by optical flow: where the flow is consistent
    (a reference from the same shot), its chroma, warped, is a dense prior (``"reference"``).
    A reference that aligns with less than ``reference_overlap`` of the frame is left out."""
    reference_overlap: float = 0.2
    """Fraction of consistently aligned pixels a reference needs to give its flow prior."""
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
    flow_preset: str = "fast"
    """DIS optical-flow preset: ultrafast, fast or medium."""
    cg_iterations: int = 5
    """Conjugate-gradient iterations per level of the multiscale solve."""
    upsample: str = "linear"
    """How chroma returns to full resolution (``"linear"`` or ``"guided"``). Linear: on the
    video-dev frames, the true chroma taken to 25,000 pixels and back scores 40 dB PSNR
    linearly, 31 dB guided (the guided filter's edges cost more than they give on photos)."""

    def __post_init__(self) -> None:
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
