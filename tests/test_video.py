"""Video: frames in and out with PyAV, the temporal prior, scene cuts, damaged inputs, the
reference protocol. Clips are generated here (a moving colored texture, with a sine tone)."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from polychrome.apps.cli import app
from polychrome.errors import DecodeError, InputError, ShapeError, ValueCheckError
from polychrome.io import read_image, write_image
from polychrome.ops.color import luminance_of, rgb_to_lab
from polychrome.video.flow import (
    flicker,
    histogram_distance,
    temporal_prior,
    track,
    track_shift,
    warp,
)
from polychrome.video.temporal import VideoColorizer, VideoSettings, colorize_video

av = pytest.importorskip("av")

W, H = 96, 64
SMALL = VideoSettings(working_pixels=4096, match_pixels=4096)


def _texture(seed: int, scale: int = 8) -> np.ndarray:
    """A smooth random color texture ``(2H, 2W, 3)`` uint8 (colored blobs with edges)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 1, (2 * H // scale, 2 * W // scale, 3)).astype(np.float32)
    big = cv2.resize(small, (2 * W, 2 * H), interpolation=cv2.INTER_CUBIC)
    return np.clip(big * 255, 0, 255).astype(np.uint8)


def _frames(n: int, *, cut_at: int | None = None) -> list[np.ndarray]:
    """``n`` frames of a texture panning 2 px right and 1 px down per frame; from ``cut_at`` on,
    another, darker texture (a scene cut)."""
    a, b = _texture(1), (_texture(2) // 3)
    out = []
    for t in range(n):
        tex = b if cut_at is not None and t >= cut_at else a
        out.append(np.ascontiguousarray(tex[t : t + H, 2 * t : 2 * t + W]))
    return out


def _write_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    audio: bool = True,
    rotation: int = 0,
    sample_aspect: Fraction | None = None,
    times: list[int] | None = None,
) -> None:
    """An H.264 clip at 10 frames per second; ``rotation``: a phone's display rotation
    (degrees counterclockwise), ``sample_aspect``: non-square pixels, ``times``: each frame's
    time in tenths of a second (gaps: a variable frame rate)."""
    out = av.open(str(path), "w", options={"movflags": "faststart"})
    video = out.add_stream("libx264", rate=10)
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    video.options = {"crf": "10"}
    if rotation:
        video.set_display_rotation(rotation)
    if sample_aspect is not None:
        video.codec_context.sample_aspect_ratio = sample_aspect
    sound = None
    if audio:
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
    pts = 0
    for t, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        if times is not None:
            picture.pts = times[t]
        for packet in video.encode(picture):
            out.mux(packet)
        if sound is not None:
            tone = (0.2 * np.sin(np.arange(pts, pts + 1600) / 8)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, pts
            pts += 1600
            for packet in sound.encode(chunk):
                out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    if sound is not None:
        for packet in sound.encode(None):
            out.mux(packet)
    out.close()


def _frame_folder(folder: Path, frames: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for t, frame in enumerate(frames):
        path = folder / f"{t:05d}.png"
        write_image(path, frame)
        paths.append(path)
    return paths


def _read_video(path: Path) -> tuple[list[np.ndarray], list[str]]:
    with av.open(str(path)) as container:
        kinds = [s.type for s in container.streams]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames, kinds


# --------------------------------------------------------------------------- flow


def test_flow_follows_a_shift_and_flags_disocclusion():
    tex = luminance_of(_texture(3))
    source, target = tex[10 : 10 + H, 10 : 10 + W], tex[10 : 10 + H, 13 : 13 + W]
    pair = track(source, target)
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(pair.flow[..., 0][inner]) == pytest.approx(3, abs=0.3)
    assert np.abs(warp(source, pair.flow) - target)[inner].mean() < 1.0
    assert pair.confidence[inner].mean() > 0.8
    # The last 3 columns of the target were never in the source: not trusted.
    assert pair.confidence[:, -2:].mean() < 0.5 * pair.confidence[inner].mean()


def test_track_shift_finds_how_the_whole_frame_moved():
    tex = luminance_of(_texture(3))
    source, target = tex[10 : 10 + H, 10 : 10 + W], tex[12 : 12 + H, 13 : 13 + W]
    pair, correlation = track_shift(source, target)
    assert pair.flow[..., 0] == pytest.approx(3, abs=0.2)  # target[y, x] = source[y+2, x+3]
    assert pair.flow[..., 1] == pytest.approx(2, abs=0.2)
    assert correlation > 0.99 and pair.confidence[:-3, :-4].min() > 0.5
    # The last 3 columns and 2 rows come from outside the source: no confidence.
    assert pair.confidence[:, -3:].max() == 0 and pair.confidence[-2:].max() == 0
    assert track_shift(source, luminance_of(_texture(5))[:H, :W])[1] < 0.5  # another view
    assert track_shift(source, np.full_like(source, 50.0))[1] == 0  # a flat frame
    with pytest.raises(ValueCheckError, match="max_shift"):
        track_shift(source, target, max_shift=0.5)
    with pytest.raises(ShapeError, match="8 pixels"):
        track_shift(source[:4], target[:4])


def test_temporal_prior_warps_the_previous_chroma():
    tex = _texture(4)
    lab = rgb_to_lab(tex / 255.0)
    prev, cur = (slice(10, 10 + H), slice(10, 10 + W)), (slice(11, 11 + H), slice(12, 12 + W))
    prior = temporal_prior(lab[prev][..., 0], lab[prev][..., 1:], lab[cur][..., 0], strength=0.5)
    assert prior.name == "temporal"
    assert prior.confidence.max() <= 0.5
    inner = (slice(8, -8), slice(8, -8))
    err = np.abs(prior.ab - lab[cur][..., 1:])[inner].mean()
    assert err < 0.25 * np.abs(lab[prev][..., 1:] - lab[cur][..., 1:])[inner].mean()


def test_histogram_distance_tells_a_cut_from_motion():
    frames = _frames(8, cut_at=5)
    lums = [luminance_of(f) for f in frames]
    assert histogram_distance(lums[0], lums[0]) == 0
    motion = max(histogram_distance(lums[t - 1], lums[t]) for t in range(1, 5))
    assert motion < 0.2
    assert histogram_distance(lums[4], lums[5]) > 0.5


# --------------------------------------------------------------------------- references followed


def test_reference_is_followed_beyond_what_direct_flow_reaches():
    """A texture panning 3 px right and 1 px down per frame: after 11 frames, the positions the
    tracker gives in the reference are the true ones, where the content is still visible, and
    nothing is trusted where it has left the reference."""
    from polychrome.video.align import ReferenceTracker

    tex = _texture(5, scale=6)
    frames = [np.ascontiguousarray(tex[t : t + H, 3 * t : 3 * t + W]) for t in range(12)]
    lums = [luminance_of(f) for f in frames]
    tracker = ReferenceTracker([frames[0] / 255.0], VideoSettings(flow_preset="medium"))
    alignment = tracker.update(lums[0], None)
    for t in range(1, 12):
        alignment = tracker.update(lums[t], track(lums[t - 1], lums[t], preset="medium"))
    t = 11
    gx, gy = np.meshgrid(np.arange(W), np.arange(H))
    visible = (gx + 3 * t <= W - 4) & (gy + t <= H - 4)
    trusted = alignment.confidence > 0.5
    err = np.hypot(alignment.coords[..., 0] - (gx + 3 * t), alignment.coords[..., 1] - (gy + t))
    assert trusted[visible].mean() > 0.6
    assert np.median(err[trusted & visible]) < 0.5
    assert alignment.confidence[gx + 3 * t >= W + 2].mean() < 0.1
    truth = rgb_to_lab(frames[t] / 255.0)[..., 1:]
    assert np.abs(alignment.ab - truth)[trusted & visible].mean() < 1.5
    # A new shot starts the chains again: the reference frame itself aligns everywhere.
    again = tracker.update(lums[0], None)
    assert again.confidence.mean() > 0.9


def test_reference_detail_keeps_thin_structures_at_full_resolution():
    """Two-pixel stripes of two colors (and two lightnesses) vanish at 4,096 working pixels;
    read from the full-resolution reference, they keep their colors."""
    from polychrome.ops.metrics import psnr

    frame = np.zeros((2 * H, 2 * W, 3), np.uint8)
    frame[:] = (200, 60, 40)
    frame[:, (np.arange(2 * W) // 2) % 2 == 1] = (40, 90, 210)
    scores = {}
    for detail in (True, False):
        settings = VideoSettings(
            working_pixels=4096, reference_detail=detail, reference_match=False
        )
        colorizer = VideoColorizer([frame], settings=settings)
        scores[detail] = psnr(colorizer.step(frame).image, frame, data_range=255)
    assert scores[True] > 35
    assert scores[True] > scores[False] + 10


def test_quality_presets():
    assert VideoSettings.quality() == VideoSettings()
    high = VideoSettings.quality("high", scene_cut=0.5)
    assert (high.working_pixels, high.flow_preset, high.scene_cut) == (100_000, "medium", 0.5)
    assert VideoSettings.quality("high", working_pixels=50_000).working_pixels == 50_000
    with pytest.raises(ValueCheckError, match="quality must be one of fast, high"):
        VideoSettings.quality("best")
    with pytest.raises(ValueCheckError, match="luminance_tolerance"):
        VideoSettings(luminance_tolerance=0)


# --------------------------------------------------------------------------- colorizer


def _flicker_of(images: list[np.ndarray], originals: list[np.ndarray]) -> float:
    lums = [luminance_of(o) for o in originals]
    abs_ = [rgb_to_lab(im / 255.0)[..., 1:] for im in images]
    values = [
        flicker(abs_[t - 1], abs_[t], track(lums[t - 1], lums[t])) for t in range(1, len(images))
    ]
    return float(np.mean(values))


def test_temporal_prior_reduces_flicker_and_keeps_luminance():
    frames = _frames(8)
    runs = {}
    for temporal in (True, False):
        colorizer = VideoColorizer(
            [frames[0]],
            settings=VideoSettings(
                temporal=temporal, working_pixels=4096, match_pixels=4096, reference_flow=False
            ),
        )
        runs[temporal] = [colorizer.step(f).image for f in frames]
    with_prior, per_frame = _flicker_of(runs[True], frames), _flicker_of(runs[False], frames)
    assert with_prior < 0.8 * per_frame
    gray_lum = luminance_of(frames[3])
    assert np.abs(luminance_of(runs[True][3]) - gray_lum).max() < 1.5  # 8-bit rounding


def test_a_reference_of_the_same_shot_is_aligned_by_flow():
    from polychrome.ops.metrics import psnr

    frames = _frames(4)
    scores = {}
    for aligned in (True, False):
        settings = VideoSettings(
            working_pixels=4096, match_pixels=4096, reference_flow=aligned, reference_match=False
        )
        colorizer = VideoColorizer([frames[0]], settings=settings)
        scores[aligned] = [psnr(colorizer.step(f).image, f, data_range=255) for f in frames]
    assert scores[True][0] > 30  # the reference frame itself: aligned everywhere
    assert min(scores[True]) > np.mean(scores[False]) + 10


def test_colorizer_marks_scene_cuts_as_anchors():
    frames = _frames(8, cut_at=5)
    colorizer = VideoColorizer(settings=SMALL)
    results = [colorizer.step(f) for f in frames]
    assert [r.cut for r in results] == [False] * 5 + [True] + [False] * 2
    assert [r.anchor for r in results] == [True] + [False] * 4 + [True] + [False] * 2


def test_a_cut_between_shots_of_the_same_tones_is_found_by_motion():
    """The second shot is the first one's texture turned upside down: the same tones (the
    histogram sees no cut), but nothing can be followed across the cut."""
    a = _texture(1)
    frames = [np.ascontiguousarray(a[t : t + H, 2 * t : 2 * t + W]) for t in range(4)]
    b = a[::-1, ::-1]
    frames += [np.ascontiguousarray(b[t : t + H, 2 * t : 2 * t + W]) for t in range(3)]
    lum = [luminance_of(f) for f in frames]
    assert histogram_distance(lum[3], lum[4]) < SMALL.scene_cut
    colorizer = VideoColorizer(settings=SMALL)
    results = [colorizer.step(f) for f in frames]
    assert [r.cut for r in results] == [False] * 4 + [True] + [False] * 2
    histogram_only = VideoColorizer(settings=dataclasses.replace(SMALL, cut_tracked=0))
    assert not any(histogram_only.step(f).cut for f in frames)
    with pytest.raises(ValueCheckError, match="cut_tracked"):
        VideoSettings(cut_tracked=1.0)


def _sawtooth(n: int, *, vertical: bool = False) -> list[np.ndarray]:
    """``n`` gray frames of a sawtooth (period 8 px) along x moving 3 px left per frame: a
    periodic pattern, on which the optical flow is ambiguous. ``vertical``: along y, moving up
    (the same tones, another view)."""
    ramp = (np.arange(max(H, W) + 3 * n) % 8 * (255 / 7)).astype(np.uint8)
    if vertical:
        return [np.tile(ramp[3 * t : 3 * t + H, None], (1, W)) for t in range(n)]
    return [np.tile(ramp[3 * t : 3 * t + W], (H, 1)) for t in range(n)]


def test_a_moving_periodic_pattern_is_no_scene_cut():
    """On a moving sawtooth the flow is ambiguous and fails its forward-backward check, and at
    working resolution its few tones fall into other histogram bins from frame to frame: every
    frame was a cut, and the clip lost its temporal prior. It is the previous frame moved."""
    from polychrome.pipeline import prepare

    frames = _sawtooth(6) + _sawtooth(3, vertical=True)
    colorizer = VideoColorizer(settings=SMALL)
    lum = [prepare(f, options=colorizer.options, exact=False).work_luminance for f in frames]
    pairs = list(itertools.pairwise(lum[:6]))
    flow = [track(a, b, preset=SMALL.flow_preset) for a, b in pairs]
    followed = [float((p.confidence > 0.5).mean()) for p in flow]
    assert max(followed) < SMALL.cut_tracked  # what the flow alone follows
    assert max(histogram_distance(a, b) for a, b in pairs) > SMALL.scene_cut
    results = [colorizer.step(f) for f in frames]
    # Within each pattern no cut; between them, the same tones but another view: a cut.
    assert [r.cut for r in results] == [False] * 6 + [True] + [False] * 2
    assert [r.anchor for r in results] == [True] + [False] * 5 + [True] + [False] * 2
    moved = track_shift(lum[0], lum[1])
    assert moved[1] > 0.95 and float((moved[0].confidence > 0.5).mean()) > 0.8
    assert track_shift(lum[5], lum[6])[1] < SMALL.cut_correlation
    # cut_correlation=1 turns the check off: the flow and histogram rules alone, as before.
    before = VideoColorizer(settings=dataclasses.replace(SMALL, cut_correlation=1))
    assert all([before.step(f).cut for f in frames][1:])
    with pytest.raises(ValueCheckError, match="cut_correlation"):
        VideoSettings(cut_correlation=1.5)


def test_cli_cut_correlation_reaches_the_cut_rule(tmp_path):
    """``--cut-correlation 1`` turns the moved-pattern check off from the command line."""
    _frame_folder(tmp_path / "in", _sawtooth(5))
    args = ["video", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--working-pixels=4096"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "scene cuts" not in result.output, result.output
    result = CliRunner().invoke(app, [*args, "--cut-correlation", "1"])
    assert result.exit_code == 0 and "scene cuts before frames 1, 2, 3, 4" in result.output
    result = CliRunner().invoke(app, [*args, "--cut-correlation", "1.5"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_video_reads_the_engine_from_the_environment(tmp_path, monkeypatch):
    """colorize, batch and sequence read POLYCHROME_ENGINE; video did not."""
    _frame_folder(tmp_path / "in", _frames(2))
    monkeypatch.setenv("POLYCHROME_ENGINE", "nosuch")
    args = ["video", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--working-pixels=4096"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "nosuch" in result.output, result.output


def test_the_engine_sees_the_matched_reference_hints_at_anchors(monkeypatch):
    """At an anchor (here a scene cut into a shot the reference does not show) the reference's
    matches are hints for the solver and for the engine (a hint network reads them)."""
    import polychrome.video.temporal as temporal

    seen = []
    real = temporal.propose

    def spy(prepared, **kwargs):
        guidance = kwargs.get("guidance")
        seen.append(sum(len(p) for p in guidance.points) if guidance is not None else None)
        return real(prepared, **kwargs)

    monkeypatch.setattr(temporal, "propose", spy)
    frames = _frames(7, cut_at=4)
    settings = VideoSettings(working_pixels=4096, match_pixels=4096, reference_flow=False)
    colorizer = VideoColorizer([_texture(2)[:H, :W] // 3], settings=settings)
    results = [colorizer.step(f) for f in frames]
    anchors = [r for r in results if r.anchor]
    assert len(anchors) == 2 and len(seen) == 2  # the engine runs at anchors only
    assert seen == [r.hints for r in anchors] and seen[1] > 0


# --------------------------------------------------------------------------- files


def test_video_file_in_and_out_keeps_audio(tmp_path):
    frames = _frames(10)
    clip, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    _write_clip(clip, frames)
    ref = tmp_path / "ref.png"
    write_image(ref, frames[0])
    report = colorize_video(clip, out, references=[ref], settings=SMALL)
    assert report.frames == 10 and report.audio_streams == 1 and report.cuts == []
    decoded, kinds = _read_video(out)
    assert kinds == ["video", "audio"]
    assert len(decoded) == 10
    assert decoded[0].shape == (H, W, 3)
    # Colored (the input video is colored too, but only its luminance is used: the reference
    # brings the colors back).
    chroma = np.hypot(*rgb_to_lab(decoded[5] / 255.0)[..., 1:].transpose(2, 0, 1))
    assert chroma.mean() > 10
    assert not list(tmp_path.glob(".*partial*"))


def test_a_phone_video_comes_out_upright(tmp_path):
    # A portrait phone clip (frames stored sideways, a display rotation of 90 degrees) came out
    # sideways: the rotation was neither applied nor copied.
    frames = _frames(4)
    clip = tmp_path / "phone.mp4"
    _write_clip(clip, frames, rotation=90)
    report = colorize_video(clip, tmp_path / "out.mp4", settings=SMALL)
    assert report.frames == 4 and report.audio_streams == 1
    with av.open(str(tmp_path / "out.mp4")) as result:
        decoded = list(result.decode(video=0))
    assert len(decoded) == 4 and (decoded[0].width, decoded[0].height) == (H, W)
    assert decoded[0].rotation == 0  # upright pixels, no rotation left for the player
    colorize_video(clip, tmp_path / "out", settings=SMALL)
    result = read_image(tmp_path / "out" / "frame_000002.png").pixels
    upright = np.rot90(frames[2])  # counterclockwise, as the display rotation says
    assert np.abs(luminance_of(result) - luminance_of(upright)).mean() < 2.0


def test_non_square_pixels_keep_their_aspect(tmp_path):
    # Anamorphic footage (a sample aspect ratio of 4:3) came out with square pixels: squeezed.
    clip = tmp_path / "wide.mp4"
    _write_clip(clip, _frames(3), audio=False, sample_aspect=Fraction(4, 3))
    for target in (tmp_path / "out.mp4", tmp_path / "out.mkv"):
        colorize_video(clip, target, settings=SMALL)
        with av.open(str(target)) as result:
            assert result.streams.video[0].codec_context.sample_aspect_ratio == Fraction(4, 3)


def test_a_variable_frame_rate_clip_with_gaps_is_not_truncated(tmp_path):
    # 8 frames over 1.4 s (a screen recording, a phone's variable rate) were taken for a clip
    # truncated at frame 8 of 14: the run failed at its end.
    times = [0, 1, 2, 5, 6, 7, 12, 13]
    clip = tmp_path / "vfr.mkv"
    _write_clip(clip, _frames(8), audio=False, times=times)
    report = colorize_video(clip, tmp_path / "out.mkv", settings=SMALL)
    assert report.frames == 8
    with av.open(str(tmp_path / "out.mkv")) as result:
        got = [float(f.time) for f in result.decode(video=0)]
    assert got == pytest.approx([t / 10 for t in times], abs=1e-3)


def test_an_mp4_with_aac_sound_written_as_avi_keeps_every_frame_time(tmp_path):
    # The AAC sound copied from an .mp4 starts before 0 (the encoder's priming samples). AVI
    # cannot hold a negative time, so FFmpeg shifted the file by it, the video included but
    # for its first frame: frame times 0.0, 0.2, 0.3, ... (the 0.1 s slot empty).
    clip, out = tmp_path / "in.mp4", tmp_path / "out.avi"
    _write_clip(clip, _frames(10))
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--working-pixels=4096"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as written:
        assert [s.type for s in written.streams] == ["video", "audio"]
        times = [float(f.time) for f in written.decode(video=0)]
    assert times == pytest.approx([t / 10 for t in range(10)], abs=1e-3)


def test_webm_output_is_vp9_with_its_aac_sound_re_encoded_as_opus(tmp_path):
    # .webm was refused. WebM holds VP8/VP9 and Opus/Vorbis only: the AAC sound is re-encoded
    # (and a note says so), the frames keep their times.
    if not {"libvpx-vp9", "libopus"} <= av.codecs_available:
        pytest.skip("FFmpeg without libvpx-vp9 or libopus")
    clip, out = tmp_path / "in.mp4", tmp_path / "out.webm"
    _write_clip(clip, _frames(10))
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--working-pixels=4096"])
    assert result.exit_code == 0, result.output
    assert "note: WebM cannot hold the audio (aac): re-encoded as Opus" in result.output
    assert "1 audio stream re-encoded" in result.output
    with av.open(str(out)) as written:
        assert [s.codec_context.name for s in written.streams] == ["vp9", "opus"]
        times = [float(f.time) for f in written.decode(video=0)]
    assert times == pytest.approx([t / 10 for t in range(10)], abs=1e-3)
    with av.open(str(out)) as written:
        sound = np.concatenate([f.to_ndarray()[0] for f in written.decode(audio=0)])
    assert 0.95 < len(sound) / 48000 < 1.1  # the clip's second of sound, not silence
    assert np.abs(sound).max() > 0.1
    assert not list(tmp_path.glob(".*partial*"))
    # Opus sound is copied as it is.
    again = tmp_path / "again.webm"
    result = CliRunner().invoke(app, ["video", str(out), "-o", str(again), "-q"])
    assert result.exit_code == 0 and "re-encoded" not in result.output, result.output
    with av.open(str(again)) as written:
        assert [s.codec_context.name for s in written.streams] == ["vp9", "opus"]


def test_webm_without_an_encoder_for_it_says_what_works(tmp_path, monkeypatch):
    _write_clip(tmp_path / "in.mp4", _frames(3))
    # No Opus encoder: the video is written, the sound left out with a warning.
    available = av.codecs_available - {"libopus", "opus"}
    if not {"libvpx-vp9", "libvpx"} & available:
        pytest.skip("FFmpeg without libvpx")
    monkeypatch.setattr(av, "codecs_available", available)
    args = ["video", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.webm"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: WebM cannot hold the audio (aac)" in result.output
    assert "written without it" in result.output
    with av.open(str(tmp_path / "o.webm")) as written:
        assert [s.type for s in written.streams] == ["video"]
    # No VP8 or VP9 encoder: refused before any frame, naming what works.
    monkeypatch.setattr(av, "codecs_available", available - {"libvpx-vp9", "libvpx"})
    result = CliRunner().invoke(app, [*args[:-2], str(tmp_path / "o2.webm")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no VP9 or VP8 encoder" in result.output
    assert ".mp4, .mkv, .mov, .avi" in result.output
    assert not (tmp_path / "o2.webm").exists() and not list(tmp_path.glob(".*partial*"))


def _clip_with_more_streams(path: Path, *, second: bool) -> None:
    """An .mp4 of 4 frames (W x H) with a cover picture (32x32, the last stream: MP4 stores
    it apart from the tracks) and, if ``second``, a second video stream at half size."""
    frames = _frames(4)
    with av.open(str(path), "w") as out:

        def add(codec: str, size: tuple[int, int], pix_fmt: str = "yuv420p") -> Any:
            stream = out.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = *size, pix_fmt
            return stream

        video = add("libx264", (W, H))
        half = add("libx264", (W // 2, H // 2)) if second else None
        cover = add("mjpeg", (32, 32), "yuvj420p")
        cover.disposition = av.stream.Disposition.attached_pic
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
            if half is not None:
                small = np.ascontiguousarray(frame[::2, ::2])
                for packet in half.encode(av.VideoFrame.from_ndarray(small, format="rgb24")):
                    out.mux(packet)
        picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        picture = picture.reformat(format="yuvj420p")
        picture.pts = 0
        for stream, item in ((video, None), (half, None), (cover, picture), (cover, None)):
            for packet in stream.encode(item) if stream is not None else ():
                out.mux(packet)


def test_a_second_video_stream_is_named_when_left_out(tmp_path):
    # A second video stream (another angle, a proxy) was ignored without a word.
    clip = tmp_path / "two.mp4"
    _clip_with_more_streams(clip, second=True)
    with pytest.warns(UserWarning, match="the first video stream is colorized") as caught:
        report = colorize_video(clip, tmp_path / "out.mp4", settings=SMALL)
    message = str(caught[0].message)
    assert f"left out: video stream 1 (h264, {W // 2}x{H // 2})" in message
    assert "mjpeg" not in message  # the cover picture is no part of the clip
    assert report.left_out == [f"video stream 1 (h264, {W // 2}x{H // 2})"]
    assert report.covers == ["video stream 2 (mjpeg, 32x32)"]
    decoded, kinds = _read_video(tmp_path / "out.mp4")
    assert kinds == ["video"] and len(decoded) == 4 and decoded[0].shape == (H, W, 3)


def test_a_cover_picture_is_not_copied_and_a_note_says_so(tmp_path):
    # A cover picture was lost without a word; it is no part of the clip, so no warning.
    clip = tmp_path / "cover.mp4"
    _clip_with_more_streams(clip, second=False)
    args = ["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--working-pixels=4096", "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: a cover is no part of the clip
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "note: the cover picture (video stream 1 (mjpeg, 32x32)) is not copied" in result.output
    decoded, _ = _read_video(tmp_path / "out.mp4")
    assert len(decoded) == 4 and decoded[0].shape == (H, W, 3)


def test_frame_folder_in_and_out(tmp_path):
    frames = _frames(5)
    _frame_folder(tmp_path / "in", frames)
    report = colorize_video(tmp_path / "in", tmp_path / "out", settings=SMALL)
    assert report.frames == 5 and report.audio_streams == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [f"{t:05d}.png" for t in range(5)]
    result = read_image(tmp_path / "out" / "00004.png").pixels
    assert np.abs(luminance_of(result) - luminance_of(frames[4])).max() < 1.0


def test_sixteen_bit_frames_keep_their_precision_in_a_folder(tmp_path):
    # 16-bit scans came out as 8-bit PNGs: the frame folder path dropped to 8 bit on reading.
    frames = [f.astype(np.uint16) * 257 + 100 for f in _frames(3)]  # not an 8-bit value
    folder = tmp_path / "in"
    folder.mkdir()
    for t, frame in enumerate(frames):
        write_image(folder / f"{t}.png", frame)
    colorize_video(folder, tmp_path / "out", settings=SMALL)
    for t, frame in enumerate(frames):
        result = read_image(tmp_path / "out" / f"{t}.png")
        assert result.bit_depth == 16
        lum, want = luminance_of(result.pixels / 65535.0), luminance_of(frame / 65535.0)
        assert np.abs(lum - want).max() < 0.01  # 8 bit would be off by up to about 0.2
    # A video is 8 bit.
    colorize_video(folder, tmp_path / "out.mp4", settings=SMALL)
    assert len(_read_video(tmp_path / "out.mp4")[0]) == 3


def test_ten_bit_video_is_read_with_its_precision(tmp_path):
    # A 10-bit clip (a camera's, a phone's HDR) was read at 8 bits: a smooth gradient kept at
    # most 256 lightness levels, and a folder output got 8-bit PNGs.
    if "yuv420p10le" not in [f.name for f in av.Codec("libx264", "w").video_formats]:
        pytest.skip("libx264 without 10-bit support")
    from polychrome.video.frames import open_frames

    width, height = 256, 64
    ramp = np.linspace(0, 65535, width * height).reshape(height, width).astype(np.uint16)
    clip = tmp_path / "ten.mkv"
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p10le"
        video.options = {"qp": "0"}  # lossless
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.repeat(ramp[..., None], 3, 2), format="rgb48le")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    reader = open_frames(clip)
    try:
        _, rgb = next(iter(reader))
    finally:
        reader.close()
    assert rgb.dtype == np.uint16
    levels = np.unique(np.round(luminance_of(rgb / 65535.0), 2))
    assert len(levels) > 600  # 8 bits: at most 256
    colorize_video(clip, tmp_path / "out", settings=SMALL)
    result = read_image(tmp_path / "out" / "frame_000000.png")
    assert result.bit_depth == 16
    assert len(np.unique(np.round(luminance_of(result.pixels / 65535.0), 2))) > 600
    # A video output is 8 bit (8-bit 4:2:0 H.264 plays everywhere).
    colorize_video(clip, tmp_path / "out.mp4", settings=SMALL)
    with av.open(str(tmp_path / "out.mp4")) as written:
        assert written.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_transparency_of_frames_is_kept_in_a_folder_and_noted_for_a_video(tmp_path):
    # Frames with alpha (animation cels) lost it without a word.
    frames = _frames(3)
    folder = tmp_path / "in"
    folder.mkdir()
    alpha = np.full(frames[0].shape[:2], 255, np.uint8)
    alpha[:, :10] = 0
    for t, frame in enumerate(frames):
        write_image(folder / f"{t}.png", frame, alpha=alpha if t != 1 else None)
    report = colorize_video(folder, tmp_path / "out", settings=SMALL)
    assert report.alpha_dropped == 0
    assert read_image(tmp_path / "out" / "1.png").alpha is None
    for t in (0, 2):
        np.testing.assert_array_equal(read_image(tmp_path / "out" / f"{t}.png").alpha, alpha)
    result = CliRunner().invoke(
        app, ["video", str(folder), "-o", str(tmp_path / "out.mp4"), "--working-pixels=4096"]
    )
    assert result.exit_code == 0, result.output
    assert "note: 2 frames had transparency, which a video cannot hold" in result.output


def test_corrupt_frame_in_a_folder_names_it_and_keeps_the_frames_before(tmp_path):
    paths = _frame_folder(tmp_path / "in", _frames(6))
    paths[3].write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DecodeError, match=r"frame 3 \(00003\.png\)"):
        colorize_video(tmp_path / "in", tmp_path / "out", settings=SMALL)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "00000.png",
        "00001.png",
        "00002.png",
    ]


def test_a_frame_of_another_size_stops_the_run_before_any_frame(tmp_path):
    # It stopped the run only when reached (after hours on a long folder), frames written.
    frames = _frames(6)
    paths = _frame_folder(tmp_path / "in", frames)
    write_image(paths[4], frames[4][:, : W - 2])
    result = CliRunner().invoke(app, ["video", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"frame 4 (00004.png) is {W - 2}x{H}, the first frame {W}x{H}" in result.output
    assert "are in" not in result.output and not (tmp_path / "o").exists()


def test_truncated_video_names_the_frame_and_finalizes_the_output(tmp_path):
    clip, cut, out = tmp_path / "clip.mp4", tmp_path / "cut.mp4", tmp_path / "out.mkv"
    _write_clip(clip, _frames(24), audio=False)
    data = clip.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(DecodeError, match=r"frame \d+") as info:
        colorize_video(cut, out, settings=SMALL)
    assert "cut.mp4" in str(info.value)
    decoded, _ = _read_video(out)
    assert 0 < len(decoded) < 24


def test_cli_video_and_errors(tmp_path):
    runner = CliRunner()
    paths = _frame_folder(tmp_path / "in", _frames(4))
    result = runner.invoke(
        app,
        ["video", str(tmp_path / "in"), "-o", str(tmp_path / "out.mp4"), "--working-pixels=4096"],
    )
    assert result.exit_code == 0, result.output
    assert "4 frames" in result.output
    assert len(_read_video(tmp_path / "out.mp4")[0]) == 4
    paths[2].write_bytes(b"garbage")
    result = runner.invoke(app, ["video", str(tmp_path / "in"), "-o", str(tmp_path / "o2")])
    assert result.exit_code == 2
    assert "frame 2 (00002.png)" in result.output
    assert "Traceback" not in result.output
    assert len(list((tmp_path / "o2").iterdir())) == 2
    result = runner.invoke(app, ["video", str(tmp_path / "nothing.mp4"), "-o", "x.mp4"])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(app, ["video", str(tmp_path / "in"), "-o", "x.mp4", "--quality", "x"])
    assert result.exit_code == 2 and "quality must be one of fast, high" in result.output
    assert "Traceback" not in result.output


def test_cli_summary_stays_one_short_line_with_many_cuts(tmp_path):
    # Every scene cut was listed: a film's summary line ran to thousands of numbers.
    frames = [_texture(seed)[:H, :W] // (1 + seed % 3) for seed in range(14)]  # all cuts
    _frame_folder(tmp_path / "in", frames)
    args = ["video", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--working-pixels=4096"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "14 frames at" in result.output and "0 audio streams copied" in result.output
    assert (
        "scene cuts before frames 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... (13 in all)" in result.output
    )
    _frame_folder(tmp_path / "one", frames[:1])
    result = CliRunner().invoke(app, [*args[:1], str(tmp_path / "one"), *args[2:]])
    assert result.exit_code == 0 and "1 frame at" in result.output, result.output


def test_a_folder_holding_an_earlier_longer_run_is_noted(tmp_path):
    # A 5-frame clip into a folder holding a 7-frame run's PNGs left 2 stale frames among the
    # new ones, and the summary said only "5 frames".
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, _frames(7), audio=False)
    out = tmp_path / "out"
    assert colorize_video(clip, out, settings=SMALL).others == 0
    _write_clip(clip, _frames(5), audio=False)
    args = ["video", str(clip), "-o", str(out), "--working-pixels=4096", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"note: {out} also holds 2 images this run did not write" in result.output
    assert len(list(out.iterdir())) == 7  # left as they were
    result = CliRunner().invoke(app, args)
    assert "also holds 2 images" in result.output  # still there, still said


def test_a_failed_run_does_not_replace_an_earlier_result(tmp_path, monkeypatch):
    paths = _frame_folder(tmp_path / "in", _frames(5))
    out = tmp_path / "out.mp4"
    colorize_video(tmp_path / "in", out, settings=SMALL)
    earlier = out.read_bytes()
    paths[3].write_bytes(b"garbage")
    runner = CliRunner()
    result = runner.invoke(app, ["video", str(tmp_path / "in"), "-o", str(out), "-q"])
    assert result.exit_code == 2, result.output
    assert out.read_bytes() == earlier  # the finished video is left as it was
    kept = tmp_path / "out.partial.mp4"
    assert len(_read_video(kept)[0]) == 3  # the new run's frames, beside it
    assert "3 frames colorized before it are in" in result.output and str(kept) in result.output
    assert not list(tmp_path.glob(".*partial*"))
    # A folder output: the new run's frames do not mix with the earlier run's.
    folder = tmp_path / "frames"
    _frame_folder(folder, _frames(5))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(DecodeError, match="frame 3"):
        colorize_video(tmp_path / "in", folder, settings=SMALL)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    aside = tmp_path / "frames.partial"
    assert sorted(p.name for p in aside.iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert not list(tmp_path.glob(".*partial*"))
    # The current folder as the output (a name-less path) works too.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert colorize_video(tmp_path / "frames", ".", settings=SMALL).frames == 5
    assert len(list(here.glob("*.png"))) == 5 and not list(here.glob(".*"))


def test_an_error_before_any_frame_claims_no_kept_frames(tmp_path):
    _frame_folder(tmp_path / "in", _frames(3))
    out = tmp_path / "out.mp4"
    colorize_video(tmp_path / "in", out, settings=SMALL)
    result = CliRunner().invoke(
        app, ["video", str(tmp_path / "in"), "-o", str(out), "--engine", "bogus"]
    )
    assert result.exit_code == 2 and "kept" not in result.output and "are in" not in result.output
    result = CliRunner().invoke(
        app, ["video", str(tmp_path / "in"), "-o", str(out), "--reference", str(tmp_path)]
    )
    assert result.exit_code == 2 and "is a folder" in result.output
    for fps in ("nan", "inf", "1e-9"):
        result = CliRunner().invoke(
            app, ["video", str(tmp_path / "in"), "-o", str(out), "--fps", fps]
        )
        assert result.exit_code == 2 and "Traceback" not in result.output, (fps, result.output)


def test_frame_folders_are_read_in_numeric_order_and_stems_must_differ(tmp_path):
    frames = _frames(12)
    folder = tmp_path / "in"
    folder.mkdir()
    for t, frame in enumerate(frames):
        write_image(folder / f"{t}.png", frame)  # 0.png ... 11.png: text order is 0, 1, 10, 11, 2
    report = colorize_video(folder, tmp_path / "out", settings=SMALL)
    assert report.cuts == []  # in text order the texture would jump back and forth
    write_image(folder / "3.jpg", frames[3])
    with pytest.raises(ValueCheckError, match="share a file stem"):
        colorize_video(folder, tmp_path / "out2", settings=SMALL)


def test_truncated_matroska_is_found_by_its_duration(tmp_path):
    clip, cut, out = tmp_path / "clip.mkv", tmp_path / "cut.mkv", tmp_path / "out.mkv"
    _write_clip(clip, _frames(30), audio=False)
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == 0  # no frame count: only a duration
    with pytest.raises(DecodeError, match="truncated"):
        colorize_video(cut, out, settings=SMALL)
    assert 0 < len(_read_video(out)[0]) < 30
    assert colorize_video(clip, tmp_path / "whole.mkv", settings=SMALL).frames == 30


def _mkv_with_silence(
    clip: Path, frames: list[np.ndarray], *, seconds: float, first_frame: int = 0
) -> Path:
    """A Matroska clip at 10 frames per second, its first frame at ``first_frame`` tenths of
    a second, with ``seconds`` of silent AAC sound from 0."""
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for t, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = first_frame + t
            for packet in video.encode(picture):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for pts in range(0, round(seconds * 16000), 1600):
            silence = np.zeros((1, 1600), np.float32)
            chunk = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, pts
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return clip


def test_matroska_whose_audio_outlasts_the_video_is_not_truncated(tmp_path):
    # Matroska gives no frame count and the container's duration is its longest stream's: 10
    # frames (1 s) with 3 s of sound were taken for a clip truncated at a third.
    clip = _mkv_with_silence(tmp_path / "clip.mkv", _frames(10), seconds=3.0)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].frames == 0 and container.duration > 2_500_000
    report = colorize_video(clip, tmp_path / "out.mkv", settings=SMALL)
    assert report.frames == 10 and report.audio_streams == 1
    assert len(_read_video(tmp_path / "out.mkv")[0]) == 10


def test_a_video_that_starts_after_its_sound_stays_in_step(tmp_path):
    # Frames were renumbered from 0: a video whose first frame is at 1 s (its sound at 0) came
    # out a second early against the copied sound; and its Matroska DURATION tag (where the
    # track ends, 2 s) was read as its length, so the clip was called truncated.
    clip = _mkv_with_silence(tmp_path / "clip.mkv", _frames(10), seconds=2.0, first_frame=10)
    for target in (tmp_path / "out.mkv", tmp_path / "out.mp4"):
        report = colorize_video(clip, target, settings=SMALL)
        assert report.frames == 10 and report.audio_streams == 1
        with av.open(str(target)) as result:
            times = [float(f.time) for f in result.decode(video=0)]
        assert times == pytest.approx([1.0 + t / 10 for t in range(10)], abs=1e-3), target


def test_audio_the_output_cannot_hold_is_one_error_before_any_frame(tmp_path):
    # README's example (PCM in .mp4) is written fine by current FFmpeg; Opus in .mov is not.
    # The message named the hidden temporary file FFmpeg had complained about.
    if "libopus" not in av.codecs_available:
        pytest.skip("FFmpeg without libopus")
    clip = tmp_path / "clip.mkv"
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = out.add_stream("libopus", rate=48000)
        sound.layout = "mono"
        for t, frame in enumerate(_frames(3)):
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), layout="mono")
            chunk.sample_rate, chunk.pts = 48000, 960 * t
            for packet in sound.encode(chunk):
                out.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode(None):
                out.mux(packet)
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(tmp_path / "o.mov")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: the audio (opus) cannot go into .mov; write .mkv instead" in result.output
    assert "partial" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]  # nothing left behind


def test_refuses_a_gray_reference_and_bad_paths(tmp_path):
    gray = tmp_path / "gray.png"
    write_image(gray, np.full((H, W), 128, np.uint8))
    _frame_folder(tmp_path / "in", _frames(2))
    with pytest.raises(InputError, match="gray"):
        colorize_video(tmp_path / "in", tmp_path / "out", references=[gray])
    with pytest.raises(InputError, match="not a video"):
        colorize_video(gray, tmp_path / "out")


# --------------------------------------------------------------------------- eval


def test_reference_protocol_on_a_tiny_clip(tmp_path):
    import json

    _frame_folder(tmp_path / "clips" / "one", _frames(5))
    _frame_folder(tmp_path / "clips" / "two", _frames(3, cut_at=0))
    out = tmp_path / "report.json"
    args = ["eval", str(tmp_path / "clips"), "--protocol", "reference", "--max-side", "96"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "flicker" in result.output
    report = json.loads(out.read_text())
    rows = {r["method"]: r for r in report["rows"]}
    clip_rows = {f"{m} {c}" for m in ("video", "per-frame") for c in ("one", "two")}
    assert set(rows) == {"gray baseline", "video", "per-frame"} | clip_rows  # then each clip's
    assert rows["video"]["images"] == 4 + 2  # the reference frames themselves are not scored
    assert (rows["video one"]["images"], rows["video two"]["images"]) == (4, 2)
    mean = (4 * rows["video one"]["psnr"] + 2 * rows["video two"]["psnr"]) / 6
    assert rows["video"]["psnr"] == pytest.approx(mean)
    assert rows["video"]["psnr"] > 20 and rows["video"]["flicker"] is not None
    frames = [p for p in report["per_image"] if p.get("method") == "video"]
    assert [p["frame"] for p in frames] == [*range(5), *range(3)]


def test_a_killed_folder_run_is_not_lost_and_resume_goes_on_from_it(tmp_path):
    gray = [
        np.repeat(f.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2) for f in _frames(8)
    ]
    _frame_folder(tmp_path / "in", gray)
    full = tmp_path / "full"
    colorize_video(tmp_path / "in", full, settings=SMALL)
    # A run killed outright (SIGKILL) leaves its finished frames in the hidden staging folder.
    out = tmp_path / "out"
    staging = out / ".polychrome-partial"
    staging.mkdir(parents=True)
    for t in range(3):
        (staging / f"{t:05d}.png").write_bytes((full / f"{t:05d}.png").read_bytes())
    (staging / ".00003.png.abcd.tmp").write_bytes(b"half a frame")  # the one being written
    with pytest.raises(ValueCheckError, match=r"3 frames of a run that was killed.*--resume"):
        colorize_video(tmp_path / "in", out, settings=SMALL)
    assert len(list(staging.glob("*.png"))) == 3  # not deleted unasked
    report = colorize_video(tmp_path / "in", out, settings=SMALL, resume=True)
    assert (report.resumed, report.frames, report.anchors, report.cuts) == (3, 5, 0, [])
    assert sorted(p.name for p in out.iterdir()) == [f"{t:05d}.png" for t in range(8)]
    for t in range(8):  # carried on from frame 2's colors, as the run in one go
        a = rgb_to_lab(read_image(out / f"{t:05d}.png").pixels / 255.0)[..., 1:]
        b = rgb_to_lab(read_image(full / f"{t:05d}.png").pixels / 255.0)[..., 1:]
        assert np.abs(a - b).mean() < 1.0, t
    # Resuming a finished folder colorizes nothing; a video cannot be continued.
    again = colorize_video(tmp_path / "in", out, settings=SMALL, resume=True)
    assert (again.resumed, again.frames, again.kept) == (8, 0, None)
    args = ["video", str(tmp_path / "in"), "-o", str(tmp_path / "v.mp4"), "--resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "cannot be continued" in result.output, result.output
    assert not (tmp_path / "v.mp4").exists()
    (out / "00006.png").unlink()
    (out / "00007.png").unlink()
    args = ["video", str(tmp_path / "in"), "-o", str(out), "--resume", "--working-pixels=4096"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 frames (after 6 from an earlier run)" in result.output


def test_a_gap_in_frame_numbers_is_warned_about(tmp_path):
    frames = _frames(4)
    (tmp_path / "in").mkdir()
    for name, frame in zip(["0001", "0002", "0004", "0007"], frames, strict=True):
        write_image(tmp_path / "in" / f"{name}.png", frame)
    with pytest.warns(UserWarning, match="frame numbers skip 0003, 0005, 0006"):
        assert colorize_video(tmp_path / "in", tmp_path / "out", settings=SMALL).frames == 4
    # Natural numbering without a gap (frame_1 ... frame_10), or names that are no sequence.
    for names in ([f"frame_{k}" for k in range(1, 11)], ["a", "b"], ["t1000", "t2000000"]):
        folder = tmp_path / names[0]
        folder.mkdir()
        for name in names:
            write_image(folder / f"{name}.png", frames[0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            colorize_video(folder, tmp_path / f"out-{names[0]}", settings=SMALL)
