"""Colorizing a clip frame by frame, each frame's colors carried to the next.

Every frame goes through the steps of :func:`polychrome.pipeline.colorize` at a small working
resolution, with the fast (multiscale) solver; what changes from frame to frame is where its
colors come from:

- **Anchors** (the first frame, and the first frame after a scene cut): the engine's proposal
  (``cnn`` by default). A scene cut is a frame whose luminance histogram differs from the
  previous frame's by more than ``scene_cut`` (:func:`~polychrome.video.flow.histogram_distance`),
  or one where less than ``cut_tracked`` of the pixels can be followed from the previous frame
  by optical flow; but not a frame that is the previous one moved as a whole (correlation
  above ``cut_correlation`` after the best shift, :func:`~polychrome.video.flow.track_shift`),
  where the flow is ambiguous (periodic patterns) and the shift follows its pixels instead.
  The temporal prior is dropped at a cut.
- **Other frames**: the previous output's chroma warped to this frame by optical flow, weighted
  by the flow's forward-backward and luminance consistency (the ``"temporal"`` prior, see
  :mod:`polychrome.video.flow`). Where it is not trusted (things appearing), the solver fills in
  edge-aware from the neighbours; without references, the engine's latest proposal (rerun every
  ``engine_every`` frames, warped along in between) fills there too.
- **References**, on every frame: each is followed through the shot
  (:class:`~polychrome.video.align.ReferenceTracker`: positions carried by the frame-to-frame
  flow, checked against a direct flow, refined, trusted by lightness agreement), and where that
  alignment holds (a reference from the same shot) its chroma is a dense prior (``"reference"``)
  that outranks the others; the output reads it at full resolution there. At anchors (and every
  ``rematch_every`` frames),
  references are also matched (:func:`~polychrome.reference.match.match_references`) into hints,
  kept only where the flow alignment does not hold: matching finds things anywhere in a
  reference, the alignment is denser where it holds.

The engine and the matcher run only at anchors (and keyframes), so the frames between cost a
few optical flows, warps and one small solve. Nothing is kept but the previous frame's
working-resolution luminance and chroma, the references, and each reference's positions at
working resolution: memory stays flat, however long the clip.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polychrome.errors import InputError, ValueCheckError
from polychrome.guidance.hints import Guidance, PointHints
from polychrome.options import ColorizeOptions
from polychrome.pipeline import prepare, propose, render
from polychrome.solve.propagate import Prior, SolveSettings, solve_chroma
from polychrome.solve.upsample import compose_chroma
from polychrome.video.flow import FlowPair, histogram_distance, track, track_shift, warp
from polychrome.video.settings import VideoSettings

__all__ = ["FrameResult", "VideoColorizer", "VideoReport", "VideoSettings", "colorize_video"]

Progress = Callable[[int, int | None, float], None]


def _followed(pair: FlowPair) -> float:
    """Share of a frame's pixels followed consistently from the previous frame."""
    return float((pair.confidence > 0.5).mean())


@dataclass(frozen=True)
class FrameResult:
    """One colorized frame."""

    image: np.ndarray
    """``(H, W, 3)`` uint8 RGB (uint16 for a uint16 frame); its L* is the input frame's."""
    ab: np.ndarray
    """``(h, w, 2)`` float32 chroma at working resolution (what the next frame is warped from)."""
    anchor: bool
    """Colored from the engine and references alone (first frame, scene cut, or per-frame)."""
    cut: bool
    """A scene cut was detected before this frame."""
    hints: int
    """Reference hints used (0 between keyframes)."""


class VideoColorizer:
    """Colorizes the frames of one clip in order; call :meth:`step` once per frame.

    Args:
        references: color reference images ``(h, w, 3)`` uint8 (or uint16/float), matched at
            anchors (and keyframes).
        names: what each reference is called in hint sources.
        options: the :class:`~polychrome.options.ColorizeOptions` of every frame (engine, seed,
            saturation); its ``working_pixels``, ``method`` and ``upsample`` are replaced by
            the video's settings.
        engine_options: options of the engine.
        settings: :class:`VideoSettings`.
    """

    def __init__(
        self,
        references: Sequence[np.ndarray] = (),
        *,
        names: Sequence[str] | None = None,
        options: ColorizeOptions | None = None,
        engine_options: Mapping[str, Any] | None = None,
        settings: VideoSettings | None = None,
    ):
        from polychrome.engines.base import load_engine
        from polychrome.reference.match import is_color

        self.settings = settings or VideoSettings()
        base = (options or ColorizeOptions()).to_dict()
        base.update(
            method="fast",
            working_pixels=max(4096, self.settings.working_pixels),
            upsample=self.settings.upsample,
        )
        self.options = ColorizeOptions(**base)
        self.engine_options = dict(engine_options or {})
        load_engine(self.options.engine).Options.from_mapping(self.engine_options)
        self.references = [np.asarray(r) for r in references]
        self.names = list(names or [f"reference {k + 1}" for k in range(len(self.references))])
        if len(self.names) != len(self.references):
            raise ValueCheckError(f"{len(self.references)} references but {len(self.names)} names")
        for ref, name in zip(self.references, self.names, strict=True):
            if ref.ndim != 3 or not is_color(ref):
                raise ValueCheckError(
                    f"{name} has no color: a reference gives its colors to the frames, so it "
                    "must be a color image"
                )
        fast = {"cg_iterations": self.settings.cg_iterations, "direct_limit": 1000}
        self._anchor_solver = SolveSettings(**fast)
        self._temporal_solver = SolveSettings(prior_weight=self.settings.temporal_weight, **fast)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._tracker = None
        if self.references and self.settings.reference_flow:
            from polychrome.reference.match import to_rgb_float
            from polychrome.video.align import ReferenceTracker

            rgb = [to_rgb_float(r) for r in self.references]
            self._tracker = ReferenceTracker(rgb, self.settings)
        self._engine: Prior | None = None
        self._since_anchor = 0

    def _matched_hints(self, luminance: np.ndarray, aligned: Prior | None) -> list[PointHints]:
        """The references' matches as hints, except where the flow-aligned references already
        hold (confidence >= 0.5 there): both say the same where both hold, and the dense
        alignment is the finer of the two."""
        from polychrome.reference.match import match_references

        found = match_references(
            luminance,
            self.references,
            names=self.names,
            work_pixels=self.settings.match_pixels,
            seed=self.options.seed,
        )
        points = found.to_point_hints()
        if aligned is None:
            return points
        h, w = aligned.confidence.shape
        out = []
        for hints in points:
            y = hints.yx[:, 0] * h // luminance.shape[0]
            x = hints.yx[:, 1] * w // luminance.shape[1]
            keep = aligned.confidence[y, x] < 0.5
            out.append(PointHints(hints.yx[keep], hints.ab[keep], hints.weight[keep], hints.source))
        return out

    def _follow(
        self, previous: np.ndarray, luminance: np.ndarray, *, tones_changed: bool
    ) -> FlowPair | None:
        """How the frame's pixels come from the previous frame (``(h, w)`` L* both), or None
        for a scene cut.

        A cut is another view. The proxies for it, tones that changed (``tones_changed``: the
        histogram rule) or too few pixels that the optical flow follows (``cut_tracked``), fail
        on one kind of frame: the same view moved, where the flow is ambiguous (a periodic
        pattern: stripes, a fence, a grille) or a pattern of few tones falls into other
        histogram bins at working resolution. So a frame either proxy flags is no cut when it
        is the previous frame moved as a whole (correlation above ``cut_correlation`` after the
        best shift, :func:`~polychrome.video.flow.track_shift`) and at least ``cut_tracked`` of
        its pixels are followed, each by the shift or by the flow, whichever it is the more
        confident of."""
        s = self.settings
        pair = None
        if not tones_changed:
            pair = track(previous, luminance, preset=s.flow_preset)
            if _followed(pair) >= s.cut_tracked:
                return pair
        shifted, correlation = track_shift(previous, luminance)
        if correlation <= s.cut_correlation:
            return None
        if pair is None:
            pair = track(previous, luminance, preset=s.flow_preset)
        better = shifted.confidence > pair.confidence
        pair = FlowPair(
            np.where(better[..., None], shifted.flow, pair.flow),
            np.maximum(shifted.confidence, pair.confidence),
        )
        return pair if _followed(pair) >= s.cut_tracked else None

    def reset(self) -> None:
        """Forget the previous frame: the next frame is an anchor."""
        self._previous = None

    def prime(self, frame: np.ndarray, result: np.ndarray) -> None:
        """Go on from an earlier run: ``result`` (``(H, W, 3)`` RGB, uint8/uint16/float), the
        colorized ``frame``, becomes the previous frame, so the next :meth:`step` carries its
        colors (not an anchor). The references' positions start again from their direct
        alignment, as after a cut."""
        from polychrome.ops.color import rgb_to_lab
        from polychrome.ops.filters import resize
        from polychrome.reference.match import to_rgb_float

        lum = prepare(frame, options=self.options, exact=False).work_luminance
        result = np.asarray(result)
        if result.ndim == 2:  # a result read back as gray (no chroma anywhere)
            result = np.repeat(result[..., None], 3, axis=2)
        rgb = to_rgb_float(result)
        if rgb.shape[:2] != np.asarray(frame).shape[:2]:
            raise ValueCheckError(
                f"the result is {rgb.shape[1]}x{rgb.shape[0]}, its frame "
                f"{np.asarray(frame).shape[1]}x{np.asarray(frame).shape[0]}"
            )
        ab = resize(rgb_to_lab(rgb)[..., 1:], lum.shape, mode="area")
        self._previous = (lum, ab)
        self._since_anchor = 0
        if self._tracker is not None:
            self._tracker.reset()

    def step(self, frame: np.ndarray) -> FrameResult:
        """Colorize the next frame (``(H, W)`` gray or ``(H, W, 3)`` RGB, uint8/uint16/float;
        color frames are recolored from their luminance)."""
        s = self.settings
        # 1. Prepare: full-resolution and working luminance.
        prepared = prepare(frame, options=self.options, exact=False)
        lum = prepared.work_luminance
        # 2. Anchor or not: the first frame, a scene cut, or every frame without temporal.
        cut = False
        if self._previous is not None:
            if self._previous[0].shape != lum.shape:
                raise ValueCheckError(
                    f"frame size changed from {self._previous[0].shape} to {lum.shape} (working)"
                )
            cut = histogram_distance(self._previous[0], lum) > s.scene_cut
        # 3. Motion from the previous frame (a cut too where almost nothing can be followed,
        # and no cut where the frame is the previous one moved), and the references: aligned by
        # flow and followed from frame to frame (a dense prior, outranking the others where it
        # holds), and matched into hints at keyframes where the alignment does not hold.
        anchor = self._previous is None or not s.temporal
        pair = None
        if not anchor:
            pair = self._follow(self._previous[0], lum, tones_changed=cut)
            cut = anchor = pair is None
        self._since_anchor = 0 if anchor else self._since_anchor + 1
        keyframe = anchor or (s.rematch_every > 0 and self._since_anchor % s.rematch_every == 0)
        alignment, aligned = None, None
        if self._tracker is not None:
            alignment = self._tracker.update(lum, pair)
            if alignment is not None:
                aligned = Prior(alignment.ab, alignment.confidence, name="reference")
        points = []
        if keyframe and self.references and s.reference_match:
            points = self._matched_hints(prepared.luminance, aligned)
        guidance = Guidance(points=tuple(points))
        # 4. Priors: the engine at anchors (shown the matched hints: a hint network reads them),
        # the warped previous chroma between them.
        priors: list[Prior] = []
        # Without references the engine is the only source of new colors, so its proposal is
        # refreshed and carried along; with references, what enters the frame takes its
        # neighbours' colors instead (on video-dev the engine's colors there cost 0.8-1.4 dB).
        carry = not self.references and s.engine_weight > 0
        fresh = anchor or (
            carry and s.engine_every > 0 and self._since_anchor % s.engine_every == 0
        )
        if fresh:
            engine = propose(
                prepared,
                options=self.options,
                engine_options=self.engine_options,
                guidance=guidance,
            )
            self._engine = engine[0] if engine else None
        if anchor:
            priors += [self._engine] if self._engine is not None else []
        else:
            prev_ab = self._previous[1]
            held = pair.confidence * np.float32(s.temporal_strength)
            priors.append(Prior(warp(prev_ab, pair.flow), held, name="temporal"))
            if carry and self._engine is not None:
                # The engine's last proposal, carried along, fills what the warp cannot.
                if not fresh:
                    self._engine = Prior(
                        warp(self._engine.ab, pair.flow),
                        warp(self._engine.confidence, pair.flow),
                        self._engine.name,
                    )
                fill = self._engine.confidence * (1 - pair.confidence) * s.engine_weight
                priors.append(Prior(self._engine.ab, fill, self._engine.name))
        if aligned is not None:
            trust = 1 - aligned.confidence
            priors = [
                p if p.name == "temporal" else Prior(p.ab, p.confidence * trust, p.name)
                for p in priors
            ]
            priors.append(aligned)
        # 5. Solve at working resolution; chroma back to full resolution.
        solution = solve_chroma(
            lum,
            guidance,
            full_shape=prepared.luminance.shape,
            priors=tuple(priors),
            settings=self._anchor_solver if anchor else self._temporal_solver,
            method="multiscale",
        )
        ab = compose_chroma(solution, guidance, lum, prepared.luminance, mode=self.options.upsample)
        if alignment is not None and s.reference_detail:
            ab = self._tracker.detail(alignment, prepared.luminance, ab)
        # 6. Output, and what the next frame is warped from.
        image = render(prepared, ab)
        self._previous = (lum, solution.background)
        return FrameResult(
            image, solution.background, anchor, cut, int(sum(len(p) for p in points))
        )


@dataclass
class VideoReport:
    """What :func:`colorize_video` did."""

    frames: int = 0
    anchors: int = 0
    cuts: list[int] = field(default_factory=list)
    """Indices of the frames a scene cut was detected before."""
    seconds: float = 0.0
    audio_streams: int = 0
    resumed: int = 0
    """Frames an earlier run had written (``resume``), not colorized again; not in
    :attr:`frames`."""
    kept: Path | None = None
    """Where the written frames are: the target, or (a failed run that would have replaced an
    earlier result) ``NAME.partial.EXT`` beside it; None when no frame was written."""
    cropped: tuple[int, int] | None = None
    """``(width, height)`` written when a video of odd size lost its last row or column."""
    others: int = 0
    """Images in the target folder that this run did not write (left as they were)."""
    alpha_dropped: int = 0
    """Frames with transparency written into a video, which holds none (a folder keeps it)."""
    audio_reencoded: list[str] = field(default_factory=list)
    """Codecs of the audio streams re-encoded as Opus (a WebM output holds no other sound)."""
    audio_dropped: list[str] = field(default_factory=list)
    """Codecs of the audio streams left out of a WebM output (no Opus encoder)."""
    left_out: list[str] = field(default_factory=list)
    """The input's streams neither colorized nor copied (a second video stream, subtitles,
    data), described, e.g. ``video stream 1 (h264, 320x240)``; a warning names them too."""
    covers: list[str] = field(default_factory=list)
    """The input's cover pictures, not copied (no warning: they are no part of the clip)."""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def colorize_video(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    references: Sequence[str | os.PathLike[str]] = (),
    options: ColorizeOptions | None = None,
    engine_options: Mapping[str, Any] | None = None,
    settings: VideoSettings | None = None,
    fps: float = 25.0,
    crf: int = 18,
    progress: Progress | None = None,
    report: VideoReport | None = None,
    resume: bool = False,
) -> VideoReport:
    """Colorize a video file or a folder of frames into a video file or a folder of PNGs.

    Frames stream through one at a time (memory stays flat). A video's audio is copied. On a
    frame that cannot be read (or any other error, or an interrupt), the frames before it are
    kept: a folder holds them, a video file is finalized with them; then the error (a
    :class:`~polychrome.errors.DecodeError` naming the frame) propagates. They go to the target
    unless it already exists, where an earlier result is not replaced by a partial one: they go
    beside it, to ``NAME.partial.EXT`` (``report.kept`` says where).

    Args:
        source: a video (.mp4, .mkv, .mov, .avi, .webm) or a folder of frames sorted by name.
        target: a video file (.mp4, .mkv, .mov, .avi, .webm) or a folder.
        references: color images whose matches color the anchors.
        options, engine_options: as for :func:`polychrome.pipeline.colorize`.
        settings: :class:`VideoSettings`.
        fps: frame rate of a folder of frames (written into a video).
        crf: H.264 (VP9 in WebM) quality of a video output.
        progress: called after each frame with ``(done, total or None, frames per second)``.
        report: filled in as the frames go (pass one to read it after an error).
        resume: go on from an earlier run into the same folder (stopped, failed or killed):
            the frames there, from the first on, are kept, and the colorizing starts after the
            last of them, carrying its colors (see :meth:`VideoColorizer.prime`). A folder
            target only.

    Returns:
        A :class:`VideoReport`.
    """
    from polychrome.io import read_image
    from polychrome.video.frames import open_frames, open_writer

    options = options or ColorizeOptions()
    source, target = Path(source), Path(target)
    pixels, names = [], []
    for ref in references:
        image = read_image(ref, max_pixels=options.max_pixels)
        if image.is_gray:
            raise ValueCheckError(
                f"reference {Path(ref).name} is a gray image: a reference gives its colors to "
                "the frames, so it must be a color image"
            )
        pixels.append(image.pixels)
        names.append(Path(ref).name)
    colorizer = VideoColorizer(
        pixels, names=names, options=options, engine_options=engine_options, settings=settings
    )
    reader = open_frames(source, fps=fps, max_pixels=options.max_pixels)
    report = report if report is not None else VideoReport()
    report.audio_streams = len(getattr(reader, "audio", []))
    report.left_out, report.covers = list(reader.left_out), list(reader.covers)
    missing = getattr(reader, "missing", [])
    if missing:  # a restorer wants to know: a dropped frame shifts every later one in time
        shown = ", ".join(missing[:10]) + (
            f", ... ({len(missing)} in all)" if len(missing) > 10 else ""
        )
        warnings.warn(
            f"{source.name}: the frame numbers skip {shown}: the clip is read without them",
            stacklevel=2,
        )
    if report.left_out:
        warnings.warn(
            f"{source.name}: the first video stream is colorized; left out: "
            f"{'; '.join(report.left_out)}",
            stacklevel=2,
        )
    try:
        if source.resolve() == target.resolve():
            raise InputError(f"refusing to write the result over the input {source}")
        writer = open_writer(
            target,
            fps=reader.fps,
            size=reader.size,
            names=reader.names,
            audio=getattr(reader, "audio", None),
            crf=crf,
            sample_aspect=getattr(reader, "sample_aspect", None),
            resume=resume,
        )
        report.resumed = done = writer.resumed
        if done and hasattr(reader, "start"):  # a folder: the frames before are not read
            reader.start = done - 1
        reader.on_audio = writer.write_audio
        report.cropped = writer.cropped
        report.audio_reencoded = list(writer.audio_reencoded)
        report.audio_dropped = list(writer.audio_dropped)
        start = time.perf_counter()
        ok = False
        try:
            for index, rgb in reader:
                if index < done:  # written by an earlier run: the last one leads on
                    if index == done - 1:
                        earlier = read_image(writer.path_of(index), max_pixels=options.max_pixels)
                        colorizer.prime(rgb, earlier.pixels)
                    continue
                result = colorizer.step(rgb)
                writer.write(index, result.image, time=reader.time, alpha=reader.alpha)
                report.frames += 1
                report.anchors += result.anchor
                if result.cut:
                    report.cuts.append(index)
                report.seconds = time.perf_counter() - start
                if progress is not None:
                    total = None if reader.count is None else reader.count - done
                    progress(report.frames, total, report.fps)
            ok = True
        finally:
            writer.close(ok)
            report.kept = writer.kept
            report.others = writer.others
            report.alpha_dropped = writer.alpha_dropped
            report.seconds = time.perf_counter() - start
    finally:
        reader.close()
    return report
