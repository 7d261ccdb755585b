"""Frames in and out, one at a time: video files through PyAV (extra ``[video]``) and folders of
images.

- :func:`open_frames` reads a video file or a folder of frames (images sorted by name) as a
  :class:`FrameReader`: an iterator of ``(index, rgb)`` with ``rgb`` ``(H, W, 3)`` uint8 (uint16 for
  a folder's 16-bit frames and for video of more than 8 bits, e.g. 10-bit 4:2:0). Nothing is read
  ahead, so memory does not grow with the clip's length. A video's frames come upright (its display
  rotation applied, as a phone's portrait clip needs); its sample aspect ratio (non-square pixels)
  is kept by a video written from it.
- :func:`open_writer` writes frames to a video file (H.264 in .mp4/.mkv/.mov, MPEG-4 part 2 in
  .avi, VP9 in .webm; 8 bit) or to a folder of PNGs (each written atomically, 16-bit frames as
  16-bit PNGs). A video's audio streams are copied packet by packet, untouched
  (``reader.on_audio = writer.write_audio``); only WebM, which holds Opus and Vorbis alone, has
  other sound re-encoded as Opus.

A frame that cannot be decoded raises :class:`~polychrome.errors.DecodeError` naming its index
(and file, for folders); so does a video file that ends before the frame count its header gives
(a truncated file). Closing a writer always finalizes what it holds: a video written up to a bad
frame is playable, with the frames before it.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from polychrome.engines.base import require_modules
from polychrome.errors import DecodeError, InputError, ValueCheckError
from polychrome.formats import IMAGE_SUFFIXES, image_files
from polychrome.io import is_opaque, read_image, write_image

__all__ = [
    "FOLDER_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FrameReader",
    "FrameWriter",
    "is_video_path",
    "open_frames",
    "open_writer",
]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
"""File endings read as video (written: all but .m4v)."""
FOLDER_SUFFIXES = IMAGE_SUFFIXES
"""Image files a frame folder may hold."""
_WRITE_CODECS = {
    ".mp4": ("libx264", "mpeg4"),
    ".mkv": ("libx264", "mpeg4"),
    ".mov": ("libx264", "mpeg4"),
    ".avi": ("mpeg4",),
    ".webm": ("libvpx-vp9", "libvpx"),
}
"""Per ending, the video encoders tried in order."""
_WEBM_AUDIO = ("opus", "vorbis")
"""The sound WebM holds (other sound is re-encoded as Opus)."""


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a video file by its ending."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _require_av() -> None:
    require_modules(("av",), extra="video", what="reading and writing video files")


class FrameReader(Protocol):
    """Frames of a clip in order."""

    fps: Fraction
    """Frames per second (a folder: the rate given to :func:`open_frames`)."""
    count: int | None
    """Frames in the clip, when known."""
    size: tuple[int, int]
    """``(width, height)`` of the first frame."""
    names: list[str] | None
    """Per frame, its file name (folders only)."""
    on_audio: Callable[[Any], None] | None
    """Called with every audio packet met while reading (videos only)."""
    time: float | None
    """Presentation time in seconds of the frame last yielded (videos; None for folders)."""
    alpha: np.ndarray | None
    """Alpha of the frame last yielded, when it has transparency (folders; None for videos)."""
    left_out: list[str]
    """The input's streams that are neither read nor copied (a second video stream, subtitles,
    data), each described, e.g. ``video stream 1 (h264, 320x240)``; empty for folders."""
    covers: list[str]
    """The input's cover pictures (attached pictures), described as :attr:`left_out`'s."""

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]: ...

    def close(self) -> None: ...


class _FolderReader:
    def __init__(self, folder: Path, *, fps: float, max_pixels: int):
        files = image_files(folder)
        if not files:
            raise InputError(f"{folder} holds no frames ({', '.join(FOLDER_SUFFIXES)})")
        self.files = files
        self.names = [p.name for p in files]
        self.count = len(files)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.max_pixels = max_pixels
        self.on_audio = None
        self.time = None
        self.alpha: np.ndarray | None = None
        self.left_out: list[str] = []
        self.covers: list[str] = []
        self.start = 0
        """The first frame iteration reads (a resumed run need not read those before it)."""
        self.missing = _missing_numbers(self.names)
        """Frame numbers absent from a numbered sequence (``0001, 0002, 0004``: ``["0003"]``),
        a dropped scan or a lost file; the clip is read without them."""
        # The first frame gives the size; it is kept for the first iteration (not read twice).
        self._first: tuple[np.ndarray, np.ndarray | None] | None = self._read(0)
        self.size = (self._first[0].shape[1], self._first[0].shape[0])
        # Every other frame's size from its header (a few ms in all): a frame of another size
        # stops the run now, not hours in.
        for index in range(1, len(files)):
            size = _header_size(files[index])
            if size is not None and size != self.size:
                raise DecodeError(self._size_message(index, size))

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame's RGB, and its alpha when it has transparency."""
        path = self.files[index]
        try:
            image = read_image(path, max_pixels=self.max_pixels)
        except InputError as exc:
            raise DecodeError(f"frame {index} ({path.name}): {exc}") from None
        pixels = image.pixels  # 16-bit frames stay 16 bit (a scan's precision is kept)
        alpha = None if image.alpha is None or is_opaque(image.alpha) else image.alpha
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        if index and (pixels.shape[1], pixels.shape[0]) != self.size:
            raise DecodeError(self._size_message(index, (pixels.shape[1], pixels.shape[0])))
        return pixels, alpha

    def _size_message(self, index: int, size: tuple[int, int]) -> str:
        return (
            f"frame {index} ({self.files[index].name}) is {size[0]}x{size[1]}, the first frame "
            f"{self.size[0]}x{self.size[1]}: all frames must have one size"
        )

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        first, self._first = self._first, None
        for index in range(self.start, len(self.files)):
            pixels, self.alpha = first if index == 0 and first else self._read(index)
            yield index, pixels

    def close(self) -> None:
        pass


def _missing_numbers(names: list[str]) -> list[str]:
    """The numbers a sequence of frame names (one prefix, then a number: ``0001.png``,
    ``frame_7.tif``) skips, as named (zero-padded where the names are); [] when the names are
    not such a sequence, or are numbered too sparsely to be frames (a time or date)."""
    import re

    found = [re.fullmatch(r"(.*?)(\d+)", Path(name).stem) for name in names]
    if len(found) < 2 or not all(found) or len({m.group(1) for m in found}) != 1:
        return []
    numbers = sorted(int(m.group(2)) for m in found)
    if numbers[-1] - numbers[0] > 10 * len(numbers):  # sparse: times or dates, not frames
        return []
    widths = {len(m.group(2)) for m in found}
    width = widths.pop() if len(widths) == 1 else 0
    have = set(numbers)
    return [f"{n:0{width}d}" for n in range(numbers[0], numbers[-1]) if n not in have]


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image as read (EXIF orientation applied), from its header
    alone; None when the header cannot be read (reading the frame then says why)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            # As polychrome.io reads: a quarter turn swaps the sides (TIFF's size has it).
            turned = Image.Image.getexif(im).get(0x0112) in (5, 6, 7, 8)
            if turned and im.format != "TIFF":
                width, height = height, width
    except Exception:  # Pillow raises many types for damaged headers; the decoder reports it
        return None
    return width, height


class _VideoReader:
    def __init__(self, path: Path, *, max_pixels: int):
        _require_av()
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise DecodeError(f"{path.name}: cannot open as a video: {exc}") from None
        # The first video stream that is not a cover picture is read; the audio is copied; every
        # other stream is named in left_out (or covers), so none is lost without a word.
        videos = list(self.container.streams.video)
        cover = av.stream.Disposition.attached_pic
        real = [s for s in videos if not s.disposition & cover]
        if not real:
            self.container.close()
            only = " (only a cover picture)" if videos else ""
            raise DecodeError(f"{path.name} has no video stream{only}")
        self.stream = real[0]
        self.stream.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio)
        kept = {self.stream.index, *(a.index for a in self.audio)}
        self.covers = [_describe(s) for s in videos if s.disposition & cover]
        self.left_out = [
            _describe(s)
            for s in self.container.streams
            if s.index not in kept and not (s.type == "video" and s.disposition & cover)
        ]
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        self.fps = Fraction(rate)
        self.count = int(self.stream.frames) or None
        # Containers such as Matroska give a duration, not a frame count.
        seconds = _stream_seconds(self.stream)
        if seconds is not None and self.stream.duration is None and self.stream.start_time:
            # Matroska's DURATION tag is where the track ends: less where it starts.
            seconds -= float(self.stream.start_time * self.stream.time_base)
        if seconds is None and len(self.container.streams) == 1 and self.container.duration:
            # The container's duration is its longest stream's: the video's only when alone
            # (audio running on after the last frame is no truncation).
            seconds = self.container.duration / 1_000_000
        self.seconds = seconds
        ctx = self.stream.codec_context
        if ctx.width * ctx.height > max_pixels:
            self.container.close()
            raise InputError(
                f"{path.name}: frames of {ctx.width}x{ctx.height} exceed max_pixels={max_pixels}"
            )
        sar = ctx.sample_aspect_ratio
        self.sample_aspect = Fraction(sar) if sar and sar > 0 and sar != 1 else None
        self.names = None
        self.on_audio: Callable[[Any], None] | None = None
        self.time: float | None = None
        self.alpha: np.ndarray | None = None  # video frames have none
        # The first frame is decoded now: a phone's display rotation, which swaps the sides,
        # is on the frames (the audio met before it is held until iteration starts).
        self._held: list[Any] | None = []
        self._turns = 0
        self._frames = self._decode()
        try:
            self._first: tuple[np.ndarray, float | None] | None = next(self._frames)
        except StopIteration:
            self.container.close()
            raise DecodeError(f"{path.name}: its video stream holds no frame") from None
        except DecodeError:
            self.container.close()
            raise
        self.size = (self._first[0].shape[1], self._first[0].shape[0])
        if self.sample_aspect is not None and self._turns % 2:  # a quarter turn: 1/SAR
            self.sample_aspect = 1 / self.sample_aspect

    def _audio(self, packet: Any) -> None:
        if self._held is not None:
            self._held.append(packet)
        elif self.on_audio is not None:
            self.on_audio(packet)

    def _decode(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Every frame, upright (its display rotation applied), and its time in seconds."""
        import av

        index = 0
        try:
            for packet in self.container.demux(self.stream, *self.audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        self._audio(packet)
                    continue
                for frame in packet.decode():
                    # 10-, 12- and 16-bit video (a camera's, a phone's HDR) as 16-bit RGB: the
                    # lightness keeps its precision, as a 16-bit frame folder's does.
                    deep = max(c.bits for c in frame.format.components) > 8
                    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
                    self._turns = round((frame.rotation or 0) / 90) % 4  # counterclockwise
                    if self._turns:
                        rgb = np.ascontiguousarray(np.rot90(rgb, self._turns))
                    yield rgb, float(frame.time) if frame.time is not None else None
                    index += 1
        except av.FFmpegError as exc:
            raise DecodeError(
                f"{self.path.name}: frame {index} cannot be decoded (damaged or truncated file): "
                f"{exc}"
            ) from None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        held, self._held = self._held or [], None
        for packet in held:
            self._audio(packet)
        first, self._first = self._first, None
        frames = itertools.chain([first] if first else [], self._frames)
        index, start = 0, first[1] if first else None
        for index, (rgb, self.time) in enumerate(frames, 1):
            if rgb.shape[:2] != self.size[::-1]:
                raise DecodeError(
                    f"{self.path.name}: frame {index - 1} is {rgb.shape[1]}x{rgb.shape[0]}, the "
                    f"first frame {self.size[0]}x{self.size[1]}: all frames must have one size"
                )
            yield index - 1, rgb
        if self.count is not None and index < self.count:
            raise DecodeError(
                f"{self.path.name} is truncated: frame {index} of {self.count} is missing"
            )
        # A clip of variable frame rate holds fewer frames than its duration at its mean rate:
        # its frames' times say how far it got.
        seen = index / float(self.fps)
        if start is not None and self.time is not None:
            seen = self.time - start + 1 / float(self.fps)
        seconds = self.seconds
        if (
            self.count is None
            and seconds
            and seen < min(0.9 * seconds, seconds - 2 / float(self.fps))
        ):
            raise DecodeError(
                f"{self.path.name} is truncated: it ends at frame {index} ({seen:.2f} s), its "
                f"header says {self.seconds:.2f} s"
            )

    def close(self) -> None:
        self.container.close()


def _describe(stream: Any) -> str:
    """``video stream 1 (h264, 320x240)``, ``subtitle stream 3 (subrip, fra)``: a stream as a
    user can find it in a player's or ffprobe's list."""
    ctx = getattr(stream, "codec_context", None)
    details = [getattr(ctx, "name", None) or stream.metadata.get("handler_name") or "unknown"]
    if stream.type == "video" and ctx is not None and ctx.width:
        details.append(f"{ctx.width}x{ctx.height}")
    details += [
        v for k in ("language", "title") if (v := stream.metadata.get(k)) not in (None, "", "und")
    ]
    return f"{stream.type} stream {stream.index} ({', '.join(details)})"


def _stream_seconds(stream: Any) -> float | None:
    """The duration of one stream in seconds, from the stream itself or from its ``DURATION``
    tag (Matroska's per-track ``HH:MM:SS.nnnnnnnnn``); None when it gives none."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    try:
        hours, minutes, seconds = str(tag).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def open_frames(
    source: str | os.PathLike[str], *, fps: float = 25.0, max_pixels: int = 100_000_000
) -> FrameReader:
    """A video file (needs the ``[video]`` extra) or a folder of frames.

    Args:
        source: the video file or the folder.
        fps: frame rate of a folder (a video says its own).
        max_pixels: refuse frames larger than this.

    Raises:
        InputError: no such file or folder, or a folder without frames.
        DecodeError: a file that is not a readable video.
        EngineUnavailableError: PyAV is not installed (``pip install 'polychrome[video]'``).
    """
    path = Path(source)
    if fps <= 0:
        raise ValueCheckError(f"fps must be > 0, got {fps}")
    if path.is_dir():
        return _FolderReader(path, fps=fps, max_pixels=max_pixels)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if not is_video_path(path):
        raise InputError(
            f"{path.name}: not a video ({', '.join(VIDEO_SUFFIXES)}) nor a folder of frames"
        )
    return _VideoReader(path, max_pixels=max_pixels)


class FrameWriter(Protocol):
    """Where colorized frames go."""

    written: int
    """Frames written so far."""

    kept: Path | None
    """After :meth:`close`: where the written frames are (None: none written)."""

    cropped: tuple[int, int] | None
    """``(width, height)`` written when odd sizes lose their last row or column (H.264)."""

    others: int
    """After :meth:`close`: images in a target folder that this run did not write (an earlier,
    longer run's frames, say), left as they were; 0 for a video."""

    alpha_dropped: int
    """Frames with transparency written without it (a video holds none)."""

    resumed: int
    """Frames found already written (a folder opened with ``resume``: its first frames, in
    order), which this run does not write again; 0 for a video."""

    audio_reencoded: list[str]
    """Codecs of the audio streams re-encoded as Opus (WebM holds no other sound)."""

    audio_dropped: list[str]
    """Codecs of the audio streams left out (WebM, and no Opus encoder in this FFmpeg)."""

    def write(
        self,
        index: int,
        rgb: np.ndarray,
        time: float | None = None,
        alpha: np.ndarray | None = None,
    ) -> None:
        """Write frame ``index``; ``time`` (seconds, the input's) keeps a video on the input's
        timeline, in step with the audio copied from it; ``alpha`` (the input frame's) is kept
        by a folder of PNGs and counted in :attr:`alpha_dropped` by a video."""

    def write_audio(self, packet: Any) -> None: ...

    def close(self, ok: bool = True) -> None:
        """Finalize: the frames go to the target. ``ok=False`` (the run failed): they are kept
        in the target if it did not exist, else beside it as ``NAME.partial.EXT``."""


def _keep_aside(target: Path) -> Path:
    """A free name beside ``target`` for the frames of a failed run: ``NAME.partial.EXT``
    (``.partial-2``, ... when taken)."""
    for n in range(1, 1000):
        tag = "partial" if n == 1 else f"partial-{n}"
        candidate = target.with_name(f"{target.stem}.{tag}{target.suffix}")
        if not candidate.exists():
            return candidate
    raise ValueCheckError(f"no free name beside {target} for the frames kept")


class _FolderWriter:
    def __init__(self, folder: Path, names: list[str] | None, *, resume: bool = False):
        if folder.exists() and not folder.is_dir():
            raise ValueCheckError(f"-o {folder} is a file; frames go to a folder")
        stems: dict[str, str] = {}
        for name in names or ():
            other = stems.setdefault(Path(name).stem, name)
            if other != name:
                raise ValueCheckError(
                    f"frames {other} and {name} share a file stem; their PNGs would collide"
                )
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.names = names
        self.kept: Path | None = None
        self._before = {p.name for p in image_files(folder)}
        self.others = 0
        self.alpha_dropped = 0  # PNGs keep it
        self.audio_reencoded: list[str] = []  # a folder holds no sound
        self.audio_dropped: list[str] = []
        self.cropped = None  # PNGs keep every pixel
        # Frames go to a hidden folder inside the target and move in when the run ends. A run
        # killed outright (SIGKILL, power loss) leaves its frames there: --resume takes them in,
        # a new run does not delete them unasked.
        self.staging = folder / ".polychrome-partial"
        if self.staging.exists():
            left = [p for p in image_files(self.staging) if not p.name.startswith(".")]
            if left and not resume:
                raise ValueCheckError(
                    f"{self.staging} holds {len(left)} frames of a run that was killed: run "
                    "again with --resume to go on from them, or delete that folder to start over"
                )
            for path in left:  # each was written whole (renamed into place)
                os.replace(path, folder / path.name)
            shutil.rmtree(self.staging)
        self.staging.mkdir()
        self._done: list[str] = []
        # Resuming: the frames already in the folder, from the first on, are not written again.
        self.resumed = 0
        if resume:
            count = len(names) if names is not None else None
            while (count is None or self.resumed < count) and self.path_of(self.resumed).exists():
                self.resumed += 1
            self._before -= {self.path_of(k).name for k in range(self.resumed)}

    def path_of(self, index: int) -> Path:
        if self.names is not None:
            return self.folder / f"{Path(self.names[index]).stem}.png"
        return self.folder / f"frame_{index:06d}.png"

    def write(
        self,
        index: int,
        rgb: np.ndarray,
        time: float | None = None,
        alpha: np.ndarray | None = None,
    ) -> None:
        name = self.path_of(index).name
        write_image(self.staging / name, rgb, alpha=alpha, compress_level=1)
        self._done.append(name)

    @property
    def written(self) -> int:
        return len(self._done)

    def write_audio(self, packet: Any) -> None:  # a folder holds no sound
        pass

    def close(self, ok: bool = True) -> None:
        if self.staging is None:
            return
        staging, self.staging = self.staging, None
        if not self.written:
            shutil.rmtree(staging, ignore_errors=True)
            return
        # A failed run does not mix its frames with an earlier run's frames of the same names.
        clash = not ok and any((self.folder / name).exists() for name in self._done)
        if clash:
            self.kept = _keep_aside(self.folder.resolve())
            try:
                os.replace(staging, self.kept)
            except OSError:  # the folder above cannot be written: they stay inside, hidden
                self.kept = staging
            return
        for name in self._done:
            os.replace(staging / name, self.folder / name)
        shutil.rmtree(staging, ignore_errors=True)
        self.kept = self.folder
        self.others = len(self._before - set(self._done))


class _VideoWriter:
    def __init__(
        self,
        path: Path,
        *,
        fps: Fraction,
        size: tuple[int, int],
        audio: list[Any],
        crf: int,
        sample_aspect: Fraction | None = None,
    ):
        _require_av()
        import av

        suffix = path.suffix.lower()
        codecs = _WRITE_CODECS.get(suffix)
        if codecs is None:
            raise ValueCheckError(
                f"-o {path.name}: write video as {', '.join(_WRITE_CODECS)} (or name a folder)"
            )
        codec = next((c for c in codecs if c in av.codecs_available), None)
        if codec is None:  # WebM needs libvpx, which some FFmpeg builds leave out
            works = [s for s, c in _WRITE_CODECS.items() if set(c) & av.codecs_available]
            raise ValueCheckError(
                f"-o {path.name}: this FFmpeg has no VP9 or VP8 encoder for WebM; write "
                f"{', '.join(works)} instead (or name a folder)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Encode into a temporary file, renamed over the target only when finalized.
        self.partial = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.container = av.open(str(self.partial), "w")
        width, height = size
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width = width - width % 2  # yuv420p needs even sizes
        self.stream.height = height - height % 2
        odd = (self.stream.width, self.stream.height) != (width, height)
        self.cropped = (self.stream.width, self.stream.height) if odd else None
        self.stream.pix_fmt = "yuv420p"
        if sample_aspect is not None:  # non-square pixels (anamorphic DV, a film scan)
            self.stream.codec_context.sample_aspect_ratio = sample_aspect
        if codec == "libx264":
            self.stream.options = {"crf": str(crf), "preset": "ultrafast"}
        elif codec.startswith("libvpx"):  # constant quality; realtime: about H.264's speed
            self.stream.bit_rate = 0
            self.stream.options = {
                "crf": str(crf),
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "1",
            }
        else:
            self.stream.bit_rate = 8_000_000
        self.audio = {}
        self.audio_reencoded: list[str] = []
        self.audio_dropped: list[str] = []
        self._encoders: dict[int, Any] = {}  # input stream index -> its Opus stream (WebM)
        for a in audio:
            name = a.codec_context.name
            if suffix == ".webm" and name not in _WEBM_AUDIO:
                if "libopus" not in av.codecs_available:
                    self.audio_dropped.append(name)
                    continue
                opus = self.container.add_stream("libopus", rate=48000)
                opus.layout = a.codec_context.layout
                self._encoders[a.index] = opus
                self.audio_reencoded.append(name)
                continue
            try:
                self.audio[a.index] = self.container.add_stream_from_template(a)
            except (av.FFmpegError, ValueError) as exc:
                self.container.close()
                self.partial.unlink(missing_ok=True)
                why = getattr(exc, "strerror", None) or exc
                raise ValueCheckError(
                    f"the audio ({a.codec_context.name}) cannot go into {path.suffix}; write "
                    f".mkv instead ({why})"
                ) from None
        try:  # the header now: a container that cannot hold a stream says so before any frame
            self.container.start_encoding()
        except (av.FFmpegError, ValueError) as exc:
            self.container.close()
            self.partial.unlink(missing_ok=True)
            codecs = ", ".join(a.codec_context.name for a in audio)
            what = f"the audio ({codecs})" if audio else "the video"
            # FFmpeg's message, without the hidden temporary file's name it may carry.
            why = getattr(exc, "strerror", None) or exc
            raise ValueCheckError(
                f"{what} cannot go into {path.suffix}; write .mkv instead ({why})"
            ) from None
        self.written = 0
        self.kept: Path | None = None
        self.others = 0
        self.alpha_dropped = 0
        self.resumed = 0  # a video is not continued
        self.fps = fps
        self._pts = -1
        # AVI places sound by position, not time, and holds no time before 0: copied sound that
        # starts before 0 (AAC's priming samples in an .mp4) made FFmpeg shift the whole file,
        # the first video frame excepted, leaving an empty frame slot. Such sound is moved to
        # start at 0 instead (where an AVI plays it anyway); the frames keep their times.
        self._audio_shift: dict[int, int] | None = {} if path.suffix.lower() == ".avi" else None

    def write(
        self,
        index: int,
        rgb: np.ndarray,
        time: float | None = None,
        alpha: np.ndarray | None = None,
    ) -> None:
        import av

        self.alpha_dropped += alpha is not None
        rgb = rgb[: self.stream.height, : self.stream.width]
        if rgb.dtype == np.uint16:
            rgb = (rgb // 257).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        # The input's time, in frames (the audio is copied with its own times: a video that
        # starts later than its sound, or has gaps, stays in step); always increasing.
        self._pts += 1
        if time is not None:
            self._pts = max(self._pts, round(time * self.fps))
        frame.pts = self._pts
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.written += 1

    def write_audio(self, packet: Any) -> None:
        import av

        opus = self._encoders.get(packet.stream.index)
        if opus is not None:
            try:
                for frame in packet.decode():  # the decoded times are the input's
                    for encoded in opus.encode(frame):
                        self.container.mux(encoded)
            except (av.FFmpegError, ValueError) as exc:
                raise DecodeError(
                    f"the audio ({packet.stream.codec_context.name}) cannot be re-encoded as "
                    f"Opus for {self.path.suffix}: {exc}"
                ) from None
            return
        out = self.audio.get(packet.stream.index)
        if out is not None:
            if self._audio_shift is not None:
                first = packet.dts if packet.dts is not None else packet.pts
                shift = self._audio_shift.setdefault(packet.stream.index, max(0, -(first or 0)))
                if shift:
                    if packet.pts is not None:
                        packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
            packet.stream = out
            self.container.mux(packet)

    def close(self, ok: bool = True) -> None:
        import av

        if self.container is None:
            return
        container, self.container = self.container, None
        try:
            try:
                for packet in self.stream.encode(None):
                    container.mux(packet)
                for opus in self._encoders.values():
                    for packet in opus.encode(None):
                        container.mux(packet)
            finally:
                container.close()
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.partial.unlink(missing_ok=True)
            if not ok:  # the run's own error says more
                return
            message = f"cannot finalize {self.path.name}: {exc}"
            codecs = ", ".join(s.codec_context.name for s in self.audio.values())
            if codecs:
                message += f"; the audio ({codecs}) may not fit {self.path.suffix}: try .mkv"
            raise ValueCheckError(message) from None
        if not self.written:  # nothing to keep
            self.partial.unlink(missing_ok=True)
            return
        # A failed run keeps its frames, but not over an earlier result of the same name.
        self.kept = self.path if ok or not self.path.exists() else _keep_aside(self.path)
        os.replace(self.partial, self.kept)


def open_writer(
    target: str | os.PathLike[str],
    *,
    fps: Fraction,
    size: tuple[int, int],
    names: list[str] | None = None,
    audio: list[Any] | None = None,
    crf: int = 18,
    sample_aspect: Fraction | None = None,
    resume: bool = False,
) -> FrameWriter:
    """A video file (by its ending) or a folder of PNG frames.

    Args:
        target: ``out.mp4`` (.mkv, .mov, .avi, .webm) or a folder.
        fps: frame rate of a video.
        size: ``(width, height)`` of the frames (odd sizes lose their last row or column in a
            video: H.264 in yuv420p needs even sizes).
        names: per frame, the input file name whose stem a folder's PNG takes (default
            ``frame_000000.png``, ...).
        audio: the input's audio streams (PyAV), copied into a video (re-encoded as Opus in
            WebM unless Opus or Vorbis already; left out when no Opus encoder is available).
        crf: H.264 quality (0 lossless, 18 visually lossless, 51 worst); VP9's in WebM (the
            same number, on VP9's scale of 0..63).
        sample_aspect: the width of a pixel over its height, when not 1 (kept by a video; a
            folder's PNGs hold the pixels as they are).
        resume: a folder only: go on from an earlier run stopped or killed: the frames of a
            killed run (left in the hidden ``.polychrome-partial``) join the folder, and
            :attr:`FrameWriter.resumed` says how many frames, from the first on, are there.
            Without it, a killed run's frames found there are an error (never deleted unasked).

    Raises:
        ValueCheckError: ``resume`` with a video file (a video cannot be continued).
    """
    path = Path(target)
    if resume and is_video_path(path):
        raise ValueCheckError(
            f"--resume goes on in a folder of frames; a video file ({path.name}) cannot be "
            "continued: write the frames to a folder, then make the video from it"
        )
    if is_video_path(path):
        return _VideoWriter(
            path,
            fps=fps,
            size=size,
            audio=list(audio or []),
            crf=crf,
            sample_aspect=sample_aspect,
        )
    if path.suffix.lower() in FOLDER_SUFFIXES:
        raise ValueCheckError(f"-o {path.name} names an image; name a video file or a folder")
    return _FolderWriter(path, names, resume=resume)
