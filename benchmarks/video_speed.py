"""Speed and memory of `polychrome video` on a generated 854x480 clip.

A moving textured scene (a smooth random color texture panning 3 px per frame, with a disc
crossing it) is encoded with PyAV (H.264, with an AAC tone), then colorized into an .mp4 with the
settings of a ``--quality`` preset (default: fast, the defaults), once with no reference and once
with the clip's first frame as reference.
Reports frames per second (decode, colorize and encode included) and the CPU time per frame
(all threads; on a machine shared with other work, wall-clock rates understate). With
``--long N`` it then runs an N-frame clip and reports the process's resident memory (RSS) after
the first frame and every 100 frames: streaming keeps it flat.

    python benchmarks/video_speed.py [--frames 300] [--quality fast|high] [--long 1000] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from polychrome.io import write_image
from polychrome.video.settings import QUALITIES
from polychrome.video.temporal import VideoSettings, colorize_video

WIDTH, HEIGHT = 854, 480


def rss_mib() -> float:
    """Resident memory of this process, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(path: Path, frames: int, *, seed: int = 0) -> np.ndarray:
    """Write the test clip; returns its first frame."""
    import av

    rng = np.random.default_rng(seed)
    side_w, side_h = WIDTH + 3 * frames + 8, HEIGHT + frames + 8
    small = rng.uniform(0, 1, (side_h // 24 + 2, side_w // 24 + 2, 3)).astype(np.float32)
    texture = cv2.resize(small, (side_w, side_h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 0.03, (side_h, side_w, 1)).astype(np.float32)
    texture = (np.clip(texture + grain, 0, 1) * 255).astype(np.uint8)
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=25)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.options = {"preset": "veryfast", "crf": "20"}
    sound = out.add_stream("aac", rate=16000)
    sound.layout = "mono"
    first = None
    for t in range(frames):
        frame = texture[t : t + HEIGHT, 3 * t : 3 * t + WIDTH].copy()
        x = int((t * 7) % (WIDTH + 160)) - 80
        cv2.circle(frame, (x, HEIGHT // 2), 70, (230, 40, 40), -1)
        first = frame if first is None else first
        for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(packet)
        tone = (0.1 * np.sin(np.arange(t * 640, (t + 1) * 640) / 9)).astype(np.float32)[None]
        chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 16000, t * 640
        for packet in sound.encode(chunk):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    for packet in sound.encode(None):
        out.mux(packet)
    out.close()
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--quality", choices=QUALITIES, default="fast")
    parser.add_argument("--long", type=int, default=0, help="frames of the memory run (0: none)")
    parser.add_argument("--out", type=Path, default=None, help="keep the clips here")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="polychrome-video-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = VideoSettings.quality(args.quality)
    print(f"settings: {settings}")

    clip = work / "clip.mp4"
    first = make_clip(clip, args.frames)
    reference = work / "reference.png"
    write_image(reference, first)
    for label, refs in (("no reference", []), ("first frame as reference", [reference])):
        start, cpu = time.perf_counter(), time.process_time()
        report = colorize_video(clip, work / "out.mp4", references=refs, settings=settings)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"{WIDTH}x{HEIGHT}, {report.frames} frames, {label}: {report.fps:.2f} frames/s in "
            f"the frame loop, {report.frames / wall:.2f} frames/s overall, "
            f"{1000 * cpu / report.frames:.0f} ms of CPU time per frame (all threads) "
            f"({report.anchors} anchors, audio streams {report.audio_streams})"
        )

    if args.long:
        long_clip = work / "long.mp4"
        make_clip(long_clip, args.long, seed=1)
        samples: list[tuple[int, float]] = []

        def progress(done: int, total: int | None, fps: float) -> None:
            if done == 1 or done % 100 == 0:
                samples.append((done, rss_mib()))

        report = colorize_video(
            long_clip, work / "long-out.mp4", settings=settings, progress=progress
        )
        print(f"{report.frames} frames at {report.fps:.2f} frames/s; RSS (MiB) by frame:")
        print("  " + ", ".join(f"{done}: {rss:.0f}" for done, rss in samples))
        print(f"  start {samples[0][1]:.0f} MiB, end {samples[-1][1]:.0f} MiB")


if __name__ == "__main__":
    main()
