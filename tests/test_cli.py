"""Tests of the ``polychrome`` command line (polychrome.apps.cli and polychrome.apps.jobs).

Most tests drive the Typer app in-process with ``CliRunner`` (fast); a few run the installed
console script in a subprocess, because only that shows what a user sees: exit codes, the absence
of tracebacks, which stream the progress bar goes to, and which modules get imported.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polychrome import __version__
from polychrome.apps.cli import app
from polychrome.guidance.palette import parse_color
from polychrome.io import read_image, read_metadata, write_image
from polychrome.ops.color import luminance_of, rgb_to_lab
from polychrome.options import ColorizeOptions

H, W = 48, 64  # non-square, so a transposed result would not fit
HEAVY = ("numpy", "cv2", "scipy", "PIL", "onnxruntime", "torch")

runner = CliRunner()


# --------------------------------------------------------------------------- helpers


@dataclass
class Scene:
    """A gray input with a hint image and a region mask, all in one folder."""

    root: Path
    gray: Path
    hints: Path
    mask: Path


def _gray_gradient(shift: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return (40 + 150 * x / W + 20 * y / H + shift).astype(np.uint8)


def _hint_image(color: tuple[int, int, int] = (30, 60, 200)) -> tuple[np.ndarray, np.ndarray]:
    """RGBA hints: ``color`` at top left, green at bottom right, transparent elsewhere."""
    rgb = np.zeros((H, W, 3), np.uint8)
    alpha = np.zeros((H, W), np.uint8)
    rgb[5:10, 5:10] = color
    alpha[5:10, 5:10] = 255
    rgb[38:43, 52:57] = (30, 180, 40)
    alpha[38:43, 52:57] = 255
    return rgb, alpha


def _mask_array() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[15:35, 20:45] = 255
    return mask


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose (valid, CRC-checked) IHDR claims ``width x height`` 8-bit gray, with no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _hue_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(b, a))


def _hue_distance(h1: np.ndarray, h2: float) -> np.ndarray:
    return np.abs((h1 - h2 + 180.0) % 360.0 - 180.0)


def _invoke(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def _assert_clean_failure(result, *needles: str) -> None:
    """Exit 2, one ``error:`` message on stderr containing ``needles``, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error:" in result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def _console_script() -> Path:
    script = Path(sys.executable).parent / "polychrome"
    if script.is_file():
        return script
    found = shutil.which("polychrome")
    if found is None:
        pytest.skip("the polychrome console script is not installed")
    return Path(found)


def _mean_chroma(path: Path) -> float:
    lab = rgb_to_lab(read_image(path).pixels / 255.0)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def _tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    gray = tmp_path / "photo.png"
    write_image(gray, _gray_gradient())
    hints = tmp_path / "hints.png"
    rgb, alpha = _hint_image()
    write_image(hints, rgb, alpha=alpha)
    mask = tmp_path / "mask.png"
    write_image(mask, _mask_array())
    return Scene(tmp_path, gray, hints, mask)


# --------------------------------------------------------------------------- colorize: one file


def test_colorize_one_file_keeps_luminance_and_records_metadata(scene: Scene):
    out = scene.root / "out" / "photo-color.png"
    result = _invoke("colorize", scene.gray, "-o", out, "--hints", scene.hints, "--seed", "3")
    assert result.exit_code == 0, result.output

    colored = read_image(out)
    source = read_image(scene.gray)
    assert colored.shape == source.shape == (H, W)
    assert colored.pixels.shape == (H, W, 3)
    diff = np.abs(luminance_of(colored.pixels) - luminance_of(source.pixels))
    assert diff.max() <= 1.0
    # The hints did color the image: the blue hint patch is blue-ish, not gray.
    lab = rgb_to_lab(colored.pixels[5:10, 5:10] / 255.0)
    assert lab[..., 2].mean() < -20

    meta = read_metadata(out)
    assert meta is not None
    assert meta["engine"] == "cnn"
    assert meta["seed"] == 3
    assert meta["options"] == ColorizeOptions(seed=3).to_dict()
    assert meta["input"]["size"] == [W, H]
    assert {"kind": "points", "source": "hints.png", "count": 50} in meta["guidance"]
    assert _tmp_files(scene.root) == []


def test_region_is_red_inside_and_changes_nothing_outside(scene: Scene):
    plain = scene.root / "plain.png"
    region = scene.root / "region.png"
    base = ["colorize", scene.gray, "--hints", scene.hints, "--engine", "none"]
    assert _invoke(*base, "-o", plain).exit_code == 0
    result = _invoke(*base, "-o", region, "--region", f"{scene.mask}=red")
    assert result.exit_code == 0, result.output

    without = read_image(plain).pixels
    with_region = read_image(region).pixels
    inside = _mask_array() > 0
    assert np.array_equal(without[~inside], with_region[~inside])

    lab = rgb_to_lab(with_region / 255.0)
    mid = inside & (lab[..., 0] > 30) & (lab[..., 0] < 80)
    assert mid.sum() > 100
    a, b = lab[mid][:, 1], lab[mid][:, 2]
    assert a.mean() > 20 and b.mean() > 0
    red = parse_color("red").lab
    hue_error = _hue_distance(_hue_degrees(a, b), math.degrees(math.atan2(red[2], red[1])))
    assert np.median(hue_error) < 15
    # Without the region, the same pixels were not red.
    plain_lab = rgb_to_lab(without / 255.0)
    assert plain_lab[mid][:, 1].mean() < 10

    meta = read_metadata(region)
    assert meta is not None
    assert any(g["kind"] == "instance" and g["label"] == "red" for g in meta["guidance"])


def test_one_file_with_hints_dir_pairs_by_stem(scene: Scene):
    hints_dir = scene.root / "hints"
    hints_dir.mkdir()
    shutil.copy(scene.hints, hints_dir / "photo.png")
    out = scene.root / "out.png"
    result = _invoke("colorize", scene.gray, "-o", out, "--hints-dir", hints_dir)
    assert result.exit_code == 0, result.output
    meta = read_metadata(out)
    assert meta is not None
    assert [g["source"] for g in meta["guidance"]] == ["photo.png"]


# --------------------------------------------------------------------------- colorize: folders


def _folder_scene(root: Path) -> tuple[Path, Path]:
    """``in/`` with a.png, b.png and a 0-byte c.png; ``hints/`` with a hint for a only."""
    inputs, hints = root / "in", root / "hints"
    inputs.mkdir()
    hints.mkdir()
    write_image(inputs / "a.png", _gray_gradient())
    write_image(inputs / "b.png", _gray_gradient(shift=10))
    (inputs / "c.png").write_bytes(b"")
    (inputs / "notes.txt").write_text("not an image")
    rgb, alpha = _hint_image()
    write_image(hints / "a.png", rgb, alpha=alpha)
    return inputs, hints


def test_folder_pairs_hints_goes_past_a_bad_file_and_resumes(tmp_path: Path):
    inputs, hints = _folder_scene(tmp_path)
    out = tmp_path / "out"
    args = ["colorize", inputs, "-o", out, "--hints-dir", hints, "--engine", "none"]

    # 1. First run: a and b written, c (0 bytes) reported at the end, exit 2.
    first = _invoke(*args)
    _assert_clean_failure(first, "c.png", "1 of 3 images failed")
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert _tmp_files(tmp_path) == []
    meta_a, meta_b = read_metadata(out / "a.png"), read_metadata(out / "b.png")
    assert meta_a is not None and meta_b is not None
    assert [g["source"] for g in meta_a["guidance"]] == ["a.png"]
    assert meta_b["guidance"] == []  # no hint image named b.*: no hints
    assert _mean_chroma(out / "a.png") > 10 > _mean_chroma(out / "b.png")

    # 2. Second run with --skip-existing: nothing rewritten, the bad file reported again.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    second = _invoke(*args, "--skip-existing")
    _assert_clean_failure(second, "c.png", "0 written, 2 skipped")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    # 3. Without the bad file: success, and the summary says everything was skipped.
    (inputs / "c.png").unlink()
    third = _invoke(*args, "--skip-existing")
    assert third.exit_code == 0, third.output
    assert "0 written, 2 skipped" in third.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    # 4. An empty output (a copy cut short outside polychrome) is not a finished result.
    (out / "b.png").write_bytes(b"")
    fourth = _invoke(*args, "--skip-existing")
    assert "1 written, 1 skipped" in fourth.stdout, fourth.output
    assert (out / "b.png").stat().st_size > 0


def test_folder_stops_when_the_disk_is_full(tmp_path: Path, monkeypatch):
    """A full disk fails every later write: the run stops at the first such failure (instead of
    colorizing the rest to fail each), says so, and --skip-existing resumes."""
    import errno

    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(4):
        write_image(inputs / f"p{k}.png", _gray_gradient(shift=k))
    out = tmp_path / "out"
    args = ["colorize", inputs, "-o", out, "--engine", "none"]
    replace, tried = os.replace, []

    def full(source, target):
        tried.append(Path(target).name)
        if len(tried) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        replace(source, target)

    monkeypatch.setattr(os, "replace", full)
    first = _invoke(*args)
    monkeypatch.setattr(os, "replace", replace)
    assert first.exit_code == 2 and "Traceback" not in first.output
    assert first.stderr.count("No space left on device") == 1
    assert "is full; 1 written, 0 skipped, 2 not tried" in first.stderr
    assert tried == ["p0.png", "p1.png"]
    assert sorted(p.name for p in out.iterdir()) == ["p0.png"]  # no temporary left
    again = _invoke(*args, "--skip-existing")
    assert again.exit_code == 0, again.output
    assert "3 written, 1 skipped" in again.stdout


@pytest.mark.parametrize("code", ["EACCES", "EROFS"])
def test_folder_stops_when_the_output_folder_is_not_writable(tmp_path: Path, monkeypatch, code):
    """A folder that refuses writes (no permission, a read-only mount) fails every later result:
    the run stops at the first, names the folder and how to resume. An input that cannot be
    read for lack of permission is only that input's failure. (Tests run as root, whom chmod
    does not stop: the low-level calls are patched.)"""
    import errno

    import polychrome.io as io_module

    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(4):
        write_image(inputs / f"p{k}.png", _gray_gradient(shift=k))
    out = tmp_path / "out"
    args = ["colorize", inputs, "-o", out, "--engine", "none"]
    number = getattr(errno, code)
    real_open, real_os_open, created = open, os.open, []

    def unreadable_p1(path, *rest, **kwargs):
        if Path(os.fspath(path)).name == "p1.png" and Path(os.fspath(path)).parent == inputs:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, *rest, **kwargs)

    def refused_after_one(path, flags, *rest, **kwargs):
        if flags & os.O_CREAT and Path(os.fspath(path)).parent == out:
            created.append(Path(os.fspath(path)).name)
            if len(created) > 1:
                raise OSError(number, os.strerror(number), os.fspath(path))
        return real_os_open(path, flags, *rest, **kwargs)

    monkeypatch.setattr(io_module, "open", unreadable_p1, raising=False)
    monkeypatch.setattr(os, "open", refused_after_one)
    first = _invoke(*args)
    monkeypatch.undo()
    assert first.exit_code == 2 and "Traceback" not in first.output
    # p1 is reported, and the run went on
    assert f"cannot read {inputs / 'p1.png'}: Permission denied" in first.stderr
    assert first.stderr.count("cannot write") == 1  # p2's, nothing after it
    assert f"cannot write {out / 'p2.png'}: {os.strerror(number)}" in first.stderr
    assert (
        f"stopped: the output folder {out} is not writable; 1 written, 0 skipped, 1 not tried: "
        "make it writable and rerun with --skip-existing"
    ) in first.stderr
    assert [name.split(".")[1] for name in created] == ["p0", "p2"]  # p3 not tried
    assert sorted(p.name for p in out.iterdir()) == ["p0.png"]  # no temporary left
    again = _invoke(*args, "--skip-existing")
    assert again.exit_code == 0, again.output
    assert "3 written, 1 skipped" in again.stdout


def test_hints_dir_says_which_files_are_unpaired_and_hidden_files_are_not_inputs(
    tmp_path: Path,
):
    inputs, hints = _folder_scene(tmp_path)
    (inputs / "c.png").unlink()
    write_image(inputs / "._a.png", _gray_gradient())  # macOS resource-fork twin
    rgb, alpha = _hint_image()
    write_image(hints / "photo-b.png", rgb, alpha=alpha)  # misspelled: pairs with nothing
    out = tmp_path / "out"
    result = _invoke("colorize", inputs, "-o", out, "--hints-dir", hints, "--engine", "none")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, result.stderr
    assert "for 1 of 2 inputs" in warnings[0] and "b.png" in warnings[0]
    assert "match no input" in warnings[1] and "photo-b.png" in warnings[1]
    # Without hints and with the none engine, nothing colors b.png.
    assert warnings[2].startswith("warning: b.png: the result is gray"), warnings[2]


def test_folder_refuses_to_write_over_its_inputs(tmp_path: Path):
    inputs, hints = _folder_scene(tmp_path)
    (inputs / "c.png").unlink()
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    _assert_clean_failure(_invoke("colorize", inputs, "-o", inputs), "refusing to overwrite")
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    # Hint images are inputs too.
    hint_bytes = (hints / "a.png").read_bytes()
    result = _invoke("colorize", inputs, "-o", hints, "--hints-dir", hints)
    _assert_clean_failure(result, "refusing to overwrite")
    assert (hints / "a.png").read_bytes() == hint_bytes
    assert sorted(p.name for p in hints.iterdir()) == ["a.png"]


def test_a_folder_colorized_into_itself_in_another_format_can_be_run_again(tmp_path: Path):
    # The first run's a.jpg and b.jpg were read as inputs by the next: "share a file stem".
    inputs, _ = _folder_scene(tmp_path)
    (inputs / "c.png").unlink()
    pages = {p.name: p.read_bytes() for p in inputs.iterdir()}
    args = ["colorize", inputs, "-o", inputs, "--format", "jpg", "--engine", "none"]
    assert _invoke(*args).exit_code == 0
    assert sorted(p.name for p in inputs.glob("*.jpg")) == ["a.jpg", "b.jpg"]
    again = _invoke(*args, "--skip-existing")
    assert again.exit_code == 0, again.output
    assert "0 written, 2 skipped" in again.stdout
    assert _invoke(*args).exit_code == 0  # redone, not read as inputs
    assert {p.name: p.read_bytes() for p in inputs.iterdir() if p.suffix != ".jpg"} == pages
    # A gray a.jpg beside a.png may be a page: it is not written over, and the clash is named.
    write_image(inputs / "a.jpg", _gray_gradient())
    _assert_clean_failure(_invoke(*args), "share a file stem")


def test_a_folder_holding_its_own_results_can_be_colorized_into_another_folder(tmp_path: Path):
    # After `colorize in -o in --format jpg`, `colorize in -o out` (and `batch`) refused: "a.png
    # and a.jpg share a file stem ... write into another folder", which is what it did.
    inputs, _ = _folder_scene(tmp_path)
    (inputs / "c.png").unlink()
    # Then results in two formats (JPEG, then WebP): the JPEG, older than the WebP, was taken for
    # an input, and a.jpg + a.png refused as sharing a stem.
    for fmt, earlier, prefix in (("jpg", 2, "out"), ("webp", 4, "out2")):
        result = _invoke("colorize", inputs, "-o", inputs, "--format", fmt, "--engine", "none")
        assert result.exit_code == 0
        for command in ("colorize", "batch"):
            out = tmp_path / f"{prefix}-{command}"
            result = _invoke(command, inputs, "-o", out, "--engine", "none")
            assert result.exit_code == 0, result.output
            assert (
                f"left out {earlier} results of an earlier run beside their inputs" in result.output
            )
            assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]


# --------------------------------------------------------------------------- colorize: bad input


def _write_bad_inputs(scene: Scene) -> dict[str, Path]:
    root = scene.root
    files = {
        "empty": root / "empty.png",
        "garbage": root / "garbage.png",
        "truncated": root / "truncated.png",
        "huge": root / "huge.png",
        "small_hints": root / "small_hints.png",
        "opaque_hints": root / "opaque_hints.png",
        "small_mask": root / "small_mask.png",
        "empty_mask": root / "empty_mask.png",
    }
    files["empty"].write_bytes(b"")
    files["garbage"].write_bytes(b"this is not an image at all " * 8)
    encoded = scene.gray.read_bytes()
    files["truncated"].write_bytes(encoded[: len(encoded) // 2])
    files["huge"].write_bytes(_png_header_only(100_000, 100_000))
    small_rgb = np.zeros((H // 2, W // 2, 3), np.uint8)
    small_alpha = np.zeros((H // 2, W // 2), np.uint8)
    small_alpha[2:4, 2:4] = 255
    write_image(files["small_hints"], small_rgb, alpha=small_alpha)
    write_image(files["opaque_hints"], np.full((H, W, 3), 128, np.uint8))
    write_image(files["small_mask"], np.full((H // 2, W // 2), 255, np.uint8))
    write_image(files["empty_mask"], np.zeros((H, W), np.uint8))
    return files


BAD_CALLS = {
    # name: (extra arguments with placeholders, words the message must contain)
    "0-byte input": (["{empty}"], ["empty.png", "0 bytes"]),
    "garbage input": (["{garbage}"], ["garbage.png", "not a PNG"]),
    "truncated PNG": (["{truncated}"], ["truncated.png", "truncated"]),
    "100k x 100k header": (["{huge}"], ["huge.png", "100000x100000", "limit"]),
    "hints of the wrong size": (
        ["{gray}", "--hints", "{small_hints}"],
        ["small_hints.png", "32x24"],
    ),
    "hints without alpha": (["{gray}", "--hints", "{opaque_hints}"], ["no alpha channel"]),
    "mask of the wrong size": (["{gray}", "--region", "{small_mask}=red"], ["small_mask.png"]),
    "empty mask": (["{gray}", "--region", "{empty_mask}=red"], ["selects no pixel"]),
    "unknown color": (["{gray}", "--region", "{mask}=redd"], ["'redd'", "did you mean", "red"]),
    "region without =": (["{gray}", "--region", "{mask}"], ["--region", "MASK=PHRASE"]),
    "label without =": (["{gray}", "--label", "car"], ["--label must look like LABEL=MASK"]),
    "click without a label": (["{gray}", "--click", "3,4"], ["--click", "X,Y=LABEL", "'3,4'"]),
    "box outside the image": (
        ["{gray}", "--box", "500,500,600,600.5=car"],
        ["box 500,500,600,600.5 is empty or outside"],
    ),
    "unknown engine": (["{gray}", "--engine", "nope"], ["unknown engine 'nope'", "none"]),
    "unknown engine option": (["{gray}", "--engine-option", "x=1"], ["unknown engine option"]),
    "bad --max-pixels": (["{gray}", "--max-pixels", "0"], ["--max-pixels"]),
    "missing input": (["{root}/nothing.png"], ["no such file"]),
    "--hints with a folder": (["{gray}", "{gray2}", "--hints", "{hints}"], ["--hints-dir"]),
    "--hints and --hints-dir": (
        ["{gray}", "--hints", "{hints}", "--hints-dir", "{root}"],
        ["one at a time"],
    ),
    "a folder as --reference": (["{gray}", "--reference", "{root}"], ["is a folder"]),
    "segmenter without a description": (
        ["{gray}", "--segmenter", "{root}"],
        ["--describe"],
    ),
    "samples without sampling": (
        ["{gray}", "--samples", "3", "--engine", "none"],
        ["identical copies"],
    ),
}


@pytest.mark.parametrize("case", BAD_CALLS, ids=list(BAD_CALLS))
def test_bad_input_fails_cleanly_and_writes_nothing(scene: Scene, case: str):
    files = _write_bad_inputs(scene)
    write_image(scene.root / "photo2.png", _gray_gradient())
    places = {name: str(path) for name, path in files.items()}
    places.update(
        gray=str(scene.gray),
        gray2=str(scene.root / "photo2.png"),
        hints=str(scene.hints),
        mask=str(scene.mask),
        root=str(scene.root),
    )
    extra, needles = BAD_CALLS[case]
    out = scene.root / "out" / "result.png"
    result = _invoke("colorize", *[a.format(**places) for a in extra], "-o", out)
    _assert_clean_failure(result, *needles)
    assert not (scene.root / "out").exists()
    assert _tmp_files(scene.root) == []


@pytest.mark.parametrize("spelling", ["same", "dotted", "absolute"])
def test_output_equal_to_the_input_is_refused(scene: Scene, spelling: str, monkeypatch):
    monkeypatch.chdir(scene.root)
    target = {"same": "photo.png", "dotted": "./photo.png", "absolute": str(scene.gray)}[spelling]
    before = scene.gray.read_bytes()
    result = _invoke("colorize", "photo.png", "-o", target)
    _assert_clean_failure(result, "refusing to overwrite")
    assert scene.gray.read_bytes() == before


@pytest.mark.parametrize("guide", ["hints", "mask"])
def test_output_equal_to_a_hint_image_or_mask_is_refused(scene: Scene, guide: str):
    path = scene.hints if guide == "hints" else scene.mask
    before = path.read_bytes()
    extra = ["--hints", path] if guide == "hints" else ["--region", f"{path}=red"]
    result = _invoke("colorize", scene.gray, "-o", path, *extra)
    _assert_clean_failure(result, "refusing to overwrite")
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["result.xyz", "result"])
def test_output_with_an_unknown_extension_is_refused(scene: Scene, name: str):
    result = _invoke("colorize", scene.gray, "-o", scene.root / "out" / name)
    _assert_clean_failure(result, "unknown image extension")
    assert not (scene.root / "out").exists()


def test_max_pixels_from_the_environment(scene: Scene):
    out = scene.root / "out.png"
    result = _invoke("colorize", scene.gray, "-o", out, env={"POLYCHROME_MAX_PIXELS": "100"})
    _assert_clean_failure(result, "3,072 pixels", "limit of 100")
    assert not out.exists()
    # A flag on the command line wins over the environment.
    result = _invoke(
        "colorize",
        scene.gray,
        "-o",
        out,
        "--max-pixels",
        str(H * W),
        env={"POLYCHROME_MAX_PIXELS": "100"},
    )
    assert result.exit_code == 0, result.output
    assert read_metadata(out)["options"]["max_pixels"] == H * W


# --------------------------------------------------------------------------- version and engines


def test_version():
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"polychrome {__version__}"


def test_engines_lists_none_as_available():
    result = _invoke("engines")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["none"])
    assert line.split()[1] == "available"
    assert "--engine-option vividness=...  (default 1.75; 0 to 4)" in result.stdout
    assert "(default 'unipc'; one of ddim, unipc, dpm++)" in result.stdout
    # diffusion ships no weights: installed is not ready to run, and the listing says so
    line = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["diffusion"])
    assert "available" not in line
    assert ("runs with your weights" in line) or ("unavailable: pip install" in line)


def test_engines_json():
    result = _invoke("engines", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["none"]["available"] is True
    assert by_name["none"]["missing"] == []
    assert by_name["none"]["options"] == []
    assert by_name["diffusion"]["user_weights"] is True and by_name["cnn"]["user_weights"] is False


_IMPORT_CHECK = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from polychrome.apps.cli import app
    result = CliRunner().invoke(app, {args!r})
    assert result.exit_code == 0, result.output
    print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r})))
    """
)


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["engines"],
        ["engines", "--json"],
    ],
    ids=["--version", "engines", "engines --json"],
)
def test_light_commands_import_nothing_heavy(args: list[str]):
    code = _IMPORT_CHECK.format(args=args, heavy=set(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_words_that_color_nothing_are_warned_about(scene, tmp_path: Path):
    """A typo in a description or a label, or an object with no region, colors nothing: the
    run succeeds (the rest applies) but says so, with the likely color names."""
    mask = np.zeros((H, W), np.uint8)
    mask[: H // 2] = 255
    write_image(tmp_path / "car.png", mask)
    out = tmp_path / "out.png"
    result = _invoke(
        "colorize", scene.gray, "--describe", "a gren car and a red hat",
        "--label", f"car={tmp_path / 'car.png'}", "--label", f"blu door={tmp_path / 'car.png'}",
        "--engine", "none", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 5, result.stderr
    assert "region 'car' (car.png) got no color" in warnings[3]  # the typo left it uncolored
    assert "the result is gray: the none engine" in warnings[4]  # and nothing else colors
    assert "'gren'" in warnings[0] and "did you mean: green" in warnings[0]
    assert "'blu'" in warnings[1] and "in the label 'blu door'" in warnings[1]
    assert "'red hat'" in warnings[2] and "--label hat=MASK" in warnings[2]
    clean = _invoke(
        "colorize", scene.gray, "--describe", "a green car",
        "--label", f"car={tmp_path / 'car.png'}", "--engine", "none", "-o", out,
    )  # fmt: skip
    assert clean.exit_code == 0 and "warning" not in clean.stderr


def test_a_description_over_the_limit_is_refused_with_its_length(scene, tmp_path: Path):
    result = _invoke(
        "colorize", scene.gray, "--describe", "a red car " * 500, "-o", tmp_path / "o.png"
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--describe is limited to 2,000 characters, got 5,000" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_jpeg_results_of_inputs_with_alpha(tmp_path: Path):
    """A folder of RGBA scans (alpha opaque everywhere, as many programs save them) can be
    written as JPEG (each one failed, after its colorization); an input with real transparency
    is refused before the colorization, naming it, and the others are written."""
    from PIL import Image

    scans = tmp_path / "scans"
    scans.mkdir()
    gray = _gray_gradient()
    Image.fromarray(np.dstack([gray] * 3 + [np.full_like(gray, 255)]), "RGBA").save(
        scans / "opaque.png"
    )
    holes = np.full_like(gray, 255)
    holes[:5, :5] = 0
    Image.fromarray(np.dstack([gray, holes]), "LA").save(scans / "holes.png")
    out = tmp_path / "out"
    result = _invoke("colorize", scans, "-o", out, "--format", "jpg", "--engine", "none", "-q")
    assert result.exit_code == 2, result.output
    assert [p.name for p in out.iterdir()] == ["opaque.jpg"]
    assert "holes.png has transparency, which a JPEG result (holes.jpg) cannot" in result.stderr
    assert "Traceback" not in result.output
    assert read_image(out / "opaque.jpg").alpha is None


def test_a_result_left_gray_by_the_none_engine_is_warned_about(scene: Scene):
    """The none engine with no guidance (e.g. POLYCHROME_ENGINE=none left set) writes a gray
    copy: the run says so (it said nothing); with hints or a colored region it does not."""
    out = scene.root / "out.png"
    result = _invoke("colorize", scene.gray, "-o", out, env={"POLYCHROME_ENGINE": "none"})
    assert result.exit_code == 0, result.output
    assert "warning: photo.png: the result is gray: the none engine" in result.stderr
    assert np.ptp(rgb_to_lab(read_image(out).pixels / 255.0)[..., 1:]) < 1.0
    for guidance in (["--hints", scene.hints], ["--region", f"{scene.mask}=red"]):
        colored = _invoke("colorize", scene.gray, "-o", out, "--engine", "none", *guidance)
        assert colored.exit_code == 0, colored.output
        assert "warning" not in colored.stderr


def test_a_multi_page_tiff_is_colorized_from_its_first_page_with_a_warning(tmp_path: Path):
    """A multi-page TIFF scan gives one result, its first page's, and says that the other pages
    were left out (they were dropped without a word); the metadata counts them."""
    from PIL import Image

    pages = [Image.fromarray(_gray_gradient(shift)) for shift in (0, 40, 80)]
    scan = tmp_path / "scan.tif"
    pages[0].save(scan, save_all=True, append_images=pages[1:])
    out = tmp_path / "scan.png"
    result = _invoke("colorize", scan, "--engine", "none", "-o", out)
    assert result.exit_code == 0, result.output
    assert "warning: scan.tif: the file holds 3 images (pages or frames)" in result.stderr
    assert read_metadata(out)["input"]["pages"] == 3
    np.testing.assert_allclose(
        luminance_of(read_image(out).pixels), luminance_of(_gray_gradient()), atol=1.0
    )
    single = tmp_path / "single.tif"
    pages[0].save(single)
    clean = _invoke("colorize", single, "--engine", "none", "-o", tmp_path / "single.png")
    assert clean.exit_code == 0 and "holds" not in clean.stderr
    assert "pages" not in read_metadata(tmp_path / "single.png")["input"]


# --------------------------------------------------------------------------- eval


@pytest.fixture
def originals(tmp_path: Path) -> Path:
    folder = tmp_path / "originals"
    y, x = np.mgrid[0:H, 0:W] / np.array([H, W], dtype=np.float64)[:, None, None]
    for i in range(3):
        rgb = np.stack(
            [(x * 200 + 30 * i) % 255, y * 180 + 40, (255 - x * 150 - y * 60 + 20 * i) % 255],
            axis=-1,
        )
        write_image(folder / f"img{i}.png", rgb.astype(np.uint8))
    return folder


def test_eval_prints_a_table_and_writes_json(originals: Path, tmp_path: Path):
    report = tmp_path / "report" / "out.json"
    result = _invoke(
        "eval", originals, "--protocol", "points", "--points", "5,20", "--max-side", "64",
        "--json", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "gray baseline" in result.stdout
    assert "3 images" in result.stdout
    data = json.loads(report.read_text())
    rows = [(row["method"], row["points"]) for row in data["rows"]]
    assert rows == [
        ("gray baseline", None), ("none", 5), ("none", 20), ("cnn", 5), ("cnn", 20)
    ]  # fmt: skip
    assert all(row["images"] == 3 for row in data["rows"])
    assert len(data["per_image"]) == 3 * 5
    # More hints, closer colors; any hints beat gray.
    de = {row["points"]: row["ciede2000"] for row in data["rows"]}
    assert de[20] < de[5] < de[None]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--points", "abc"], "--points"),
        (["--points", "0"], "positive"),
        (["--points", "5,x"], "--points"),
        (["--points", "100000"], "100000 points"),
        (["--protocol", "strokes"], "unknown protocol"),
        (["--engine", "nope"], "unknown engine"),
        (["--engine-option", "nope=1"], "no evaluated engine"),
        (["--engine-option", "vividness=9"], "vividness must be in"),
        (["--protocol", "regions", "--engine-option", "vividness=1"], "points and auto"),
        (["--samples", "3"], "--samples applies to the auto protocol, not points"),
        (["--protocol", "auto", "--points", "10"], "--points applies to the points protocol"),
        (["--protocol", "auto", "--engine", "none", "--samples", "2"], "engines that sample"),
        (["--sheet-images", "3"], "--sheet-images applies with --sheet"),
        (["--protocol", "auto", "--regions", "5"], "--regions applies to the regions protocol"),
        (["--protocol", "pool", "--quality", "high"], "--quality applies to the reference"),
        (["--protocol", "reference", "--engine", "none"], "--engine does not apply to the ref"),
    ],
)
def test_eval_bad_arguments(originals: Path, tmp_path: Path, extra: list[str], needle: str):
    report = tmp_path / "out.json"
    result = _invoke("eval", originals, "--max-side", "64", "--json", report, *extra)
    _assert_clean_failure(result, needle)
    assert not report.exists()


def test_eval_report_paths_are_checked_before_the_evaluation(originals: Path, tmp_path: Path):
    """A report never overwrites an original (nor lands in the folder as an image that the next
    evaluation would read); the paths are checked first, not after a long evaluation."""
    original = (originals / "img1.png").read_bytes()
    args = ["eval", originals, "--points", "5", "--max-side", "64", "--engine", "none"]
    for extra, needle in [
        (["--json", originals / "img1.png"], "inside the evaluated folder"),
        (["--sheet", originals / "img1.png"], "inside the evaluated folder"),
        (["--sheet", originals / "sheet.png"], "inside the evaluated folder"),
        (["--json", tmp_path / "r.x", "--sheet", tmp_path / "r.x"], "both write"),
        (["--json", tmp_path], "is a folder"),
        (["--json", originals / "img1.png" / "r.json"], "img1.png is a file, not a folder"),
    ]:
        _assert_clean_failure(_invoke(*args, *extra), needle)
    assert (originals / "img1.png").read_bytes() == original
    assert sorted(p.name for p in originals.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    # A JSON report beside the originals is not an image: allowed.
    assert _invoke(*args, "--json", originals / "report.json").exit_code == 0


def test_eval_refuses_gray_originals_and_files(tmp_path: Path):
    gray = tmp_path / "gray"
    write_image(gray / "a.png", np.tile(np.arange(64, dtype=np.uint8), (48, 1)))
    _assert_clean_failure(_invoke("eval", gray, "--points", "5"), "grayscale")
    _assert_clean_failure(_invoke("eval", gray / "a.png", "--points", "5"), "is a file")
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200
    write_image(gray / "b.png", rgb)
    _assert_clean_failure(_invoke("eval", gray, "--points", "5"), "a.png in", "is grayscale")


def test_eval_refuses_originals_with_transparency(originals: Path):
    # The colors under transparent pixels were scored as if they were seen; an opaque alpha
    # channel is fine.
    rgb, alpha = read_image(originals / "img1.png").pixels, np.full((H, W), 255, np.uint8)
    write_image(originals / "img1.png", rgb, alpha=alpha)
    args = ["eval", originals, "--points", "5", "--max-side", "64", "--engine", "none"]
    assert _invoke(*args).exit_code == 0
    alpha[:8, :8] = 0
    write_image(originals / "img1.png", rgb, alpha=alpha)
    _assert_clean_failure(_invoke(*args), "img1.png in", "has transparent pixels")


def test_eval_refuses_originals_too_small_to_score_up_front(tmp_path: Path):
    # A 5 x 3000 original at --max-side 256 was an internal error (OpenCV, a side of 0); an
    # 8 x 8 one failed after the other images were colorized, without its name.
    folder = tmp_path / "small"
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = np.arange(60, dtype=np.uint8) * 4
    write_image(folder / "a.png", rgb)
    write_image(folder / "b.png", np.resize(rgb, (5, 3000, 3)))
    _assert_clean_failure(
        _invoke("eval", folder, "--points", "5", "--engine", "none"),
        "b.png in",
        "is 256 x 1 pixels at --max-side 256; eval needs at least 11 x 11",
    )
    (folder / "b.png").unlink()
    write_image(folder / "c.png", rgb[:8, :8])
    _assert_clean_failure(
        _invoke("eval", folder, "--points", "5", "--engine", "none"), "c.png in", "is 8 x 8 pixels;"
    )


def test_eval_refuses_a_bad_sheet_name_and_too_many_points_before_the_evaluation(
    originals: Path, tmp_path: Path
):
    # Both failed only after the evaluation had run (the table printed, then 'error:').
    args = ["eval", originals, "--max-side", "64", "--engine", "none"]
    result = _invoke(*args, "--points", "5", "--sheet", tmp_path / "sheet.txt")
    _assert_clean_failure(result, "--sheet", "unknown image extension")
    assert "PSNR" not in result.output and not (tmp_path / "sheet.txt").exists()
    result = _invoke(*args, "--points", "5,100000")
    _assert_clean_failure(result, "100000 points asked but", "at max side 64")
    assert "PSNR" not in result.output


def test_eval_an_engine_named_twice_is_evaluated_once(originals: Path, tmp_path: Path):
    report = tmp_path / "r.json"
    args = ["eval", originals, "--points", "5", "--max-side", "64", "--json", report]
    result = _invoke(*args, "--engine", "none", "--engine", "none")
    assert result.exit_code == 0, result.output
    methods = [row["method"] for row in json.loads(report.read_text())["rows"]]
    assert methods == ["gray baseline", "none"]
    # So is a hint count (two identical rows).
    result = _invoke(*args[:3], "5,20,5", *args[4:], "--engine", "none")
    assert result.exit_code == 0, result.output
    rows = [(row["method"], row["points"]) for row in json.loads(report.read_text())["rows"]]
    assert rows == [("gray baseline", None), ("none", 5), ("none", 20)]


def test_eval_json_is_strict():
    from polychrome.eval.protocols import _finite

    data = {"rows": [{"psnr": float("inf"), "ssim": 1.0}], "x": [float("nan"), 2]}
    assert json.dumps(_finite(data), allow_nan=False) == (
        '{"rows": [{"psnr": null, "ssim": 1.0}], "x": [null, 2]}'
    )


def test_eval_engine_options_reach_the_engine(originals: Path, tmp_path: Path):
    """``--engine-option`` goes to the engines that have it: with ``vividness=0`` the cnn
    proposes no color, so its automatic result is the gray baseline."""
    psnr = {}
    for extra in ([], ["--engine-option", "vividness=0"]):
        report = tmp_path / f"auto{len(extra)}.json"
        args = ["eval", originals, "--protocol", "auto", "--max-side", "64", "--json", report]
        result = _invoke(*args, *extra)
        assert result.exit_code == 0, result.output
        rows = {row["method"]: row for row in json.loads(report.read_text())["rows"]}
        psnr[len(extra)] = (rows["gray baseline"]["psnr"], rows["cnn"]["psnr"])
        colorful = rows["cnn"]["colorfulness"]
    assert colorful < 0.5 and abs(psnr[2][1] - psnr[2][0]) < 0.05
    assert abs(psnr[0][1] - psnr[0][0]) > 0.1
    # Beside `none` (which has no options) the option goes to cnn alone.
    result = _invoke(
        "eval", originals, "--points", "5", "--max-side", "64", "--engine-option", "hints=false"
    )
    assert result.exit_code == 0, result.output


def test_eval_missing_folder(tmp_path: Path):
    _assert_clean_failure(_invoke("eval", tmp_path / "nowhere"), "no such folder")


# --------------------------------------------------------------------------- real processes


def test_console_script_colorizes_one_file(scene: Scene):
    out = scene.root / "out.png"
    done = subprocess.run(
        [_console_script(), "colorize", scene.gray, "-o", out, "--hints", scene.hints],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_image(out).shape == (H, W)


@pytest.mark.parametrize("bad", ["empty", "huge"])
def test_console_script_bad_file_has_no_traceback(scene: Scene, bad: str):
    files = _write_bad_inputs(scene)
    out = scene.root / "out.png"
    done = subprocess.run(
        [_console_script(), "colorize", files[bad], "-o", out],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert f"{bad}.png" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not out.exists()


@pytest.mark.parametrize("writer", ["pillow", "opencv"])
def test_console_script_truncated_tiff_is_one_error_line(scene: Scene, writer: str):
    """A scan cut short by a failed copy gives one 'error:' line: libtiff's WARN and ERROR lines
    came through OpenCV's log before it (the header first, as Pillow writes it), or Pillow's
    'Corrupt EXIF data' warning with its source line (the header last, as OpenCV writes it)."""
    from PIL import Image

    full = scene.root / "full.tif"
    if writer == "pillow":
        Image.fromarray(_gray_gradient()).save(full)
    else:
        write_image(full, _gray_gradient().astype(np.uint16) * 257)
    cut = scene.root / "cut.tif"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    line = _the_one_error_line(cut, scene.root / "out.png")
    assert line.startswith("error: cannot ") and str(cut) in line and "truncated" in line


def _the_one_error_line(source: Path, out: Path) -> str:
    """``polychrome colorize SOURCE -o OUT`` as a user runs it: exit 2, stderr one line, and
    no OUT."""
    done = subprocess.run(
        [_console_script(), "colorize", source, "-o", out, "--engine", "none"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert not out.exists()
    return lines[0]


def test_console_script_corrupt_png_is_one_error_line(scene: Scene):
    """A PNG damaged by bit rot: one 'error:' line (libpng's own 'libpng error:' line came
    first)."""
    data = bytearray(scene.gray.read_bytes())
    data[data.index(b"IDAT") + 40] ^= 0xFF
    bad = scene.root / "rot.png"
    bad.write_bytes(bytes(data))
    line = _the_one_error_line(bad, scene.root / "out.png")
    assert line.startswith(f"error: cannot decode {bad}")
    assert "checksum mismatch in the IDAT chunk" in line


def test_console_script_progress_bar_goes_to_stderr(tmp_path: Path):
    """With stderr on a terminal the folder run shows a progress bar there; stdout, which may be
    piped, gets only the summary line."""
    pty = pytest.importorskip("pty")
    inputs, hints = _folder_scene(tmp_path)
    (inputs / "c.png").unlink()
    out = tmp_path / "out"
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO once the terminal's other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [_console_script(), "colorize", inputs, "-o", out, "--hints-dir", hints],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == 0, terminal
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert done.stdout.decode().splitlines() == [f"2 written, 0 skipped -> {out}"]
    assert "2/2" in terminal
    assert "Traceback" not in terminal


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Log(io.StringIO):
    """A log file: not a terminal."""

    def isatty(self) -> bool:
        return False


def test_progress_off_a_terminal_is_a_plain_line_every_30_s():
    """Off a terminal (nohup, a log file) a long job prints a plain progress line: none in the
    first 30 s, then at most one per 30 s, with count, percent, rate and time left; no ANSI."""
    from polychrome.apps.cli import _progress_bar

    clock, log = _Clock(), _Log()
    with _progress_bar("frames", stream=log, clock=clock) as advance:
        for done in range(1, 300):  # 10 frames per second for 29.9 s: a short job says nothing
            clock.now += 0.1
            advance(done, 5000)
        assert log.getvalue() == ""
        clock.now += 0.1
        advance(300, 5000)  # 30 s in
        clock.now += 10
        advance(400, 5000)  # throttled
        lines = log.getvalue().splitlines()
        assert lines == ["progress: frames 300/5000 (6 %), 10.0/s, about 8 min left"]
        clock.now += 20
        advance(600, 5000)  # 60 s in: the next line
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1] == "progress: frames 600/5000 (12 %), 10.0/s, about 7 min left"
    assert "\x1b" not in log.getvalue()


def test_progress_off_a_terminal_shows_the_rate_the_command_gives_and_no_total():
    from polychrome.apps.cli import _progress_bar

    clock, log = _Clock(), _Log()
    with _progress_bar("frames", unit="frames/s", stream=log, clock=clock) as advance:
        clock.now += 31
        advance(62, 100, 2.0)
    with _progress_bar("pool", stream=log, clock=clock) as advance:
        advance(1, None)
        clock.now += 45
        advance(91, None)
    assert log.getvalue().splitlines() == [
        "progress: frames 62/100 (62 %), 2.0 frames/s, about 19 s left",
        "progress: pool 91, 2.0/s",
    ]


def test_progress_off_a_terminal_is_silent_when_quiet_and_training_keeps_its_loss_log(capsys):
    from polychrome.apps.cli import _progress_bar

    clock, log = _Clock(), _Log()
    with _progress_bar("frames", enabled=False, stream=log, clock=clock) as advance:
        for done in range(1, 10):
            clock.now += 60
            advance(done, 10)
    assert log.getvalue() == ""
    with _progress_bar("training", loss=True, stream=log, clock=clock) as advance:
        for step in range(1, 201):
            clock.now += 60
            advance(step, 200, 0.5)
    assert log.getvalue() == ""  # training logs its loss every 100 steps, no progress lines
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "training: 100/200 loss 0.5000",
        "training: 200/200 loss 0.5000",
    ]


def test_a_path_the_system_refuses_is_a_clear_error(scene: Scene):
    """A file name longer than the file system allows is the user's input, not a bug."""
    out = scene.root / ("a" * 300 + ".png")
    done = subprocess.run(
        [str(_console_script()), "colorize", str(scene.gray), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "File name too long" in done.stderr and "internal error" not in done.stderr


@pytest.mark.parametrize(
    ("given", "ending"), [("JPEG", ".jpg"), (".tiff", ".tif"), ("Png", ".png")]
)
def test_format_names_are_read_leniently(tmp_path: Path, given: str, ending: str):
    folder = tmp_path / "in"
    write_image(folder / "a.png", _gray_gradient())
    out = tmp_path / "out"
    result = _invoke("colorize", folder, "-o", out, "--format", given, "--engine", "none", "-q")
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == [f"a{ending}"]
    _assert_clean_failure(_invoke("colorize", folder, "-o", out, "--format", "gif"), "--format")


def test_what_a_folder_input_leaves_out_is_named(tmp_path: Path):
    """Subfolders and GIF or BMP scans in an input folder are not colorized: a warning names
    them (they were left out without a word), and when nothing is left the error says why. The
    output folder and the hints folder inside it are not reported."""
    from PIL import Image

    scans = tmp_path / "scans"
    write_image(scans / "a.png", _gray_gradient())
    (scans / "1950s").mkdir()
    write_image(scans / "1950s" / "b.png", _gray_gradient())
    Image.fromarray(_gray_gradient()).save(scans / "c.gif")
    Image.fromarray(_gray_gradient()).save(scans / "d.BMP")
    (scans / "notes.txt").write_text("not an image")
    (scans / "strokes").mkdir()
    out = scans / "color"
    result = _invoke(
        "colorize", scans, "-o", out, "--hints-dir", scans / "strokes", "--engine", "none", "-q"
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["a.png"]
    left_out = [line for line in result.stderr.splitlines() if "left out" in line]
    assert len(left_out) == 1, result.stderr
    assert "1 subfolder (subfolders are not searched; give them as inputs): 1950s;" in left_out[0]
    assert "2 images of a format polychrome does not read" in left_out[0]
    assert "c.gif, d.BMP" in left_out[0] and "notes.txt" not in left_out[0]
    assert "color" not in left_out[0] and "strokes" not in left_out[0]
    # A link whose scan was moved away is named too (it was left out without a word).
    (scans / "e.png").symlink_to(scans / "moved.png")
    result = _invoke("colorize", scans, "-o", out, "--engine", "none", "-q")
    assert result.exit_code == 0, result.output
    assert "1 link to no file (its target was moved or deleted): e.png" in result.stderr
    (scans / "a.png").unlink()
    _assert_clean_failure(
        _invoke("colorize", scans, "-o", tmp_path / "out", "--engine", "none"),
        "no input images found",
        "1950s",
        "c.gif",
    )


def test_one_input_skipped_by_skip_existing_says_so(scene: Scene):
    """With one input, --skip-existing left an existing result alone without a word (a folder
    run prints 'N written, M skipped'); it says so now, unless --quiet."""
    out = scene.root / "out.png"
    first = _invoke("colorize", scene.gray, "-o", out, "--engine", "none", "--skip-existing")
    assert first.exit_code == 0 and "left as it is" not in first.output
    before = out.read_bytes()
    again = _invoke("colorize", scene.gray, "-o", out, "--engine", "none", "--skip-existing")
    assert again.exit_code == 0, again.output
    assert f"{out} exists, left as it is (--skip-existing)" in again.stdout
    assert out.read_bytes() == before
    quiet = _invoke("colorize", scene.gray, "-o", out, "--skip-existing", "-q")
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_a_format_that_contradicts_the_output_file_is_refused(scene: Scene):
    """With one input, -o names the file and its extension sets the format: a --format that says
    otherwise is refused before any work (it was ignored without a word: '-o scan.png --format
    tif' wrote a PNG). The same format in another spelling, or into a folder, is fine."""
    out = scene.root / "color.png"
    result = _invoke("colorize", scene.gray, "-o", out, "--format", "tif", "--engine", "none")
    _assert_clean_failure(result, "--format tif does not match -o", "color.png")
    assert not out.exists()
    jpeg = scene.root / "color.jpeg"
    agreed = _invoke("colorize", scene.gray, "-o", jpeg, "--format", "JPG", "--engine", "none")
    assert agreed.exit_code == 0, agreed.output
    assert read_image(jpeg).format == "JPEG"
    folder = scene.root / "results"
    folder.mkdir()
    into = _invoke("colorize", scene.gray, "-o", folder, "--format", "tif", "--engine", "none")
    assert into.exit_code == 0, into.output
    assert [p.name for p in folder.iterdir()] == ["photo.tif"]


def test_a_reference_that_matches_nothing_is_listed_and_warned_about(tmp_path: Path):
    from skimage import data

    from polychrome.io import read_metadata
    from polychrome.ops.color import luminance_of

    gray = tmp_path / "coffee.png"
    write_image(gray, np.round(luminance_of(data.coffee()) * 2.55).astype(np.uint8))
    reference = tmp_path / "cat.png"
    write_image(reference, data.chelsea())
    out = tmp_path / "out.png"
    result = _invoke("colorize", gray, "--reference", reference, "-o", out)
    assert result.exit_code == 0, result.output
    assert "cat.png" in result.stderr and "no confident match" in result.stderr
    rows = read_metadata(out)["guidance"]
    assert [(r["kind"], r["count"]) for r in rows] == [("points", 0)]


def test_a_region_mask_whose_name_holds_an_equals_sign(scene: Scene):
    import shutil

    mask = scene.root / "m=eq.png"
    shutil.copy(scene.mask, mask)
    out = scene.root / "out.png"
    result = _invoke(
        "colorize", scene.gray, "--region", f"{mask}=red", "--engine", "none", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert _mean_chroma(out) > 5


def test_the_package_lists_its_public_names():
    import polychrome

    assert {"colorize", "Guidance", "read_image"} <= set(dir(polychrome))
    assert "ColorizeOptions" in polychrome.__doc__


def test_a_reference_that_is_no_image_is_named_as_the_reference(scene: Scene):
    clip = scene.root / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    result = _invoke("colorize", scene.gray, "--reference", clip, "-o", scene.root / "o.png")
    _assert_clean_failure(result, f"reference {clip} is not a PNG, JPEG, TIFF or WebP image")
    assert not (scene.root / "o.png").exists()


def test_a_library_warning_is_one_warning_line(tmp_path, monkeypatch):
    """A Python warning from the library (here a JPEG's stray bytes before its end marker) was
    printed as ``.../jobs.py:301: UserWarning: ...`` and a line of source code."""
    import io
    import warnings

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.camera()).save(buffer, "JPEG")
    clean = buffer.getvalue()
    end = clean.rindex(b"\xff\xd9")
    for n in range(1, 16):  # libjpeg's read-ahead swallows the first few bytes unreported
        padded = clean[:end] + bytes(n) + clean[end:]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_image(padded)
        if caught:
            break
    source = tmp_path / "scan.jpg"
    source.write_bytes(padded)
    monkeypatch.delenv("POLYCHROME_DEBUG", raising=False)
    # The real console script: in-process, pytest records warnings instead of printing them.
    result = subprocess.run(
        [_console_script(), "colorize", source, "-o", tmp_path / "o.png", "--engine", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "stray bytes" in line]
    assert lines and lines[0].startswith(f"warning: {source}: the JPEG data has stray bytes")
    assert "UserWarning" not in result.stderr and "read_image(" not in result.stderr


def test_a_mistyped_model_folder_is_exit_2_like_the_cnn_model(tmp_path):
    """--segmenter and --clip-model with a local path that does not exist were exit 3 (missing
    weights), while cnn's model= and diffusion's base_model= were exit 2 (a mistake in the
    call)."""
    gray = tmp_path / "g.png"
    write_image(gray, np.full((32, 32), 128, np.uint8))
    (tmp_path / "refs").mkdir()
    write_image(tmp_path / "refs" / "r.png", np.full((32, 32, 3), 90, np.uint8))
    for args in (
        ["colorize", str(gray), "-o", str(tmp_path / "o.png"), "--describe", "a red car",
         "--segmenter", "./modles/clipseg"],
        ["pool", "build", str(tmp_path / "refs"), "-o", str(tmp_path / "p.npz"),
         "--embedder", "clip", "--clip-model", "./modles/clip"],
    ):  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "does not exist" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "p.npz").exists()


def test_a_hub_id_shaped_typo_of_a_model_folder(tmp_path, monkeypatch):
    """--segmenter and --clip-model modles/x (shaped like a hub id, not cached, offline) were
    exit 3 (missing weights) with no hint: with a folder models/x here they are exit 2 and ask
    "did you mean ./models/x?"; with none, exit 3 saying both where it looked."""
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never a download
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    write_image(tmp_path / "g.png", np.full((32, 32), 128, np.uint8))
    (tmp_path / "refs").mkdir()
    write_image(tmp_path / "refs" / "r.png", np.full((32, 32, 3), 90, np.uint8))
    (tmp_path / "models" / "clipseg").mkdir(parents=True)
    (tmp_path / "models" / "clip").mkdir()
    for flags, name in (
        (["colorize", "g.png", "-o", "o.png", "--describe", "a red car", "--segmenter"], "clipseg"),
        (["pool", "build", "refs", "-o", "p.npz", "--embedder", "clip", "--clip-model"], "clip"),
    ):
        typo = CliRunner().invoke(app, [*flags, f"modles/{name}"])
        assert typo.exit_code == 2, typo.output
        assert f"no folder ./modles/{name} and no hub model modles/{name} in the cache" in (
            typo.output
        )
        assert f"did you mean ./models/{name}?" in typo.output
        missing = CliRunner().invoke(app, [*flags, f"nobody/{name}"])
        assert missing.exit_code == 3, missing.output
        assert f"no folder ./nobody/{name} and no hub model nobody/{name} in the cache at " in (
            missing.output
        )
        assert "Traceback" not in typo.output + missing.output
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "p.npz").exists()


# ------------------------------------------------------------------- a new user's first calls


def _command_paths() -> list[list[str]]:
    """Every command and subcommand of the app, e.g. ``["pool", "build"]``."""
    import typer.main

    def walk(group: typer.core.TyperGroup, prefix: list[str]) -> list[list[str]]:
        paths = [prefix]
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a group
                paths += walk(command, [*prefix, name])
            else:
                paths.append([*prefix, name])
        return paths

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "polychrome")
def test_dash_h_is_help_on_every_command(path: list[str]):
    """``-h`` is refused by Click by default ("No such option: -h"); users type it first."""
    long, short = _invoke(*path, "--help"), _invoke(*path, "-h")
    assert short.exit_code == 0, short.output
    assert short.stdout == long.stdout
    assert "-h, --help" in short.stdout


DASH_CALLS = {
    "colorize input": (["colorize", "-", "-o", "{root}/out.png"], "input -: standard input"),
    "colorize -o": (["colorize", "{gray}", "-o", "-"], "-o -: standard output"),
    "colorize folder -o": (["colorize", "{root}", "-o", "-"], "-o -: standard output"),
    "batch input": (["batch", "-", "-o", "{root}/out"], "input -: standard input"),
    "batch -o": (["batch", "{root}", "-o", "-"], "-o -: standard output"),
    "video input": (["video", "-", "-o", "{root}/v.mp4"], "input -: standard input"),
    "video -o": (["video", "{root}", "-o", "-"], "-o -: standard output"),
    "sequence -o": (["sequence", "{root}", "--pool", "{root}", "-o", "-"], "-o -: standard"),
    "eval input": (["eval", "-"], "input -: standard input"),
    "eval --json": (["eval", "{root}", "--json", "-"], "--json -: standard output"),
    "pool build input": (["pool", "build", "-", "-o", "{root}/p.npz"], "input -: standard"),
    "pool build -o": (["pool", "build", "{root}", "-o", "-"], "-o -: standard output"),
}


@pytest.mark.parametrize("case", DASH_CALLS, ids=list(DASH_CALLS))
def test_a_dash_for_standard_input_or_output_is_refused(scene: Scene, case: str, monkeypatch):
    """``-`` was taken for a file name: ``video DIR -o -`` and ``batch DIR -o -`` wrote a
    folder named ``-``, ``eval --json -`` a file named ``-``."""
    monkeypatch.chdir(scene.root)
    args, needle = DASH_CALLS[case]
    places = {"root": str(scene.root), "gray": str(scene.gray)}
    result = _invoke(*[a.format(**places) for a in args])
    _assert_clean_failure(result, needle)
    assert not (scene.root / "-").exists()


@pytest.mark.parametrize("name", ["clip.gif", "clip.mpg", "clip.png"])
def test_video_output_named_like_a_file_it_cannot_write_is_refused(scene: Scene, name: str):
    """``video DIR -o clip.gif`` wrote the frames into a new folder named clip.gif."""
    frames = scene.root / "frames"
    frames.mkdir()
    write_image(frames / "f0.png", _gray_gradient())
    result = _invoke("video", frames, "-o", scene.root / name, "-q")
    _assert_clean_failure(result, f"{name}: write a video (.mp4")
    assert not (scene.root / name).exists()


def test_output_file_for_a_folder_input_and_a_folder_name_for_a_file(scene: Scene):
    """A folder of one image with ``-o x.png`` was told "with several inputs", and ``-o out``
    (meant as a folder) for one file did not say how to write into a folder."""
    folder = scene.root / "scans"
    folder.mkdir()
    write_image(folder / "a.png", _gray_gradient())
    result = _invoke("colorize", folder, "-o", scene.root / "a-color.png")
    _assert_clean_failure(result, "with a folder or several inputs, -o must be a folder")
    result = _invoke("colorize", scene.gray, "-o", scene.root / "colored")
    _assert_clean_failure(result, "unknown image extension", "to write into a folder, create it")
    assert not (scene.root / "a-color.png").exists() and not (scene.root / "colored").exists()


def test_every_command_help_ends_with_examples_that_parse():
    """The help had no examples, and ``polychrome --help`` cut the commands' summaries
    ("Colorize images with hints, color regions and an engine's...")."""
    import shlex

    import typer.main

    from polychrome.apps.cli import EXAMPLES

    leaves = [p for p in _command_paths() if p and p != ["pool"]]
    assert sorted(" ".join(p) for p in leaves) == sorted(EXAMPLES)
    top = typer.main.get_command(app)
    for command, examples in EXAMPLES.items():
        shown = _invoke(*command.split(), "--help").stdout
        assert "Examples:\n" in shown, command
        for example in examples:
            assert f"  {example}\n" in shown, example
            words = shlex.split(example)[1:]  # parse it as the shell would give it: no error
            group, ctx = top, top.make_context("polychrome", list(words))
            while hasattr(group, "commands"):
                name, *words = words
                group = group.get_command(ctx, name)
                ctx = group.make_context(name, list(words), parent=ctx)
    for group in ([], ["pool"]):
        listing = _invoke(*group, "--help").stdout.split("Commands:\n")[1]
        assert "..." not in listing, listing


def test_quiet_says_what_it_hides(scene: Scene):
    """-q was documented as "No progress bar." but also hides the summary line."""
    folder = scene.root / "scans"
    folder.mkdir()
    write_image(folder / "a.png", _gray_gradient())
    loud = _invoke("colorize", folder, "-o", scene.root / "loud", "--engine", "none")
    quiet = _invoke("colorize", folder, "-o", scene.root / "quiet", "--engine", "none", "-q")
    assert loud.exit_code == quiet.exit_code == 0, loud.output + quiet.output
    assert "1 written" in loud.stdout and quiet.stdout == ""
    for path in _command_paths():
        shown = _invoke(*path, "--help").stdout
        if "-q, --quiet" in shown:
            assert "No progress bar or summary line" in " ".join(shown.split()), path


def test_pool_build_of_one_reference_says_one_reference(tmp_path: Path):
    """It said "1 references (builtin-v1) -> p.npz"."""
    (tmp_path / "refs").mkdir()
    color = np.zeros((H, W, 3), np.uint8)
    color[..., 0], color[..., 2] = _gray_gradient(), 200
    write_image(tmp_path / "refs" / "r.png", color)
    result = _invoke("pool", "build", tmp_path / "refs", "-o", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 reference (builtin"), result.stdout


def test_help_shows_the_shape_of_repeatable_values():
    """Repeatable options showed Python types: ``--region <list[str]>``, ``--reference
    <list[Path]>``."""
    for path in _command_paths():
        options = _invoke(*path, "--help").stdout.partition("Options:")[2]
        assert "list[" not in options, (path, options)
    shown = _invoke("colorize", "--help").stdout
    for flag in ("--region MASK=PHRASE", "--label LABEL=MASK", "--click X,Y=LABEL"):
        assert flag in shown
    assert "--box X0,Y0,X1,Y1=LABEL" in shown and "--engine-option KEY=VALUE" in shown


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("temperature=abc", "temperature='abc': not a number"),
        ("vividness==2", "vividness='=2': not a number"),
        ("net_side=2.5", "net_side='2.5': not a whole number"),
    ],
)
def test_an_engine_option_of_the_wrong_type_says_what_it_wants(scene: Scene, given, needle):
    """It said Python's "could not convert string to float: 'abc'"."""
    out = scene.root / "out.png"
    result = _invoke("colorize", scene.gray, "-o", out, "--engine-option", given)
    _assert_clean_failure(result, needle)
    assert "convert" not in result.stderr and not out.exists()


@pytest.mark.parametrize("command", ["colorize", "batch"])
def test_ctrl_c_in_a_folder_run_says_where_the_results_are(tmp_path, monkeypatch, command):
    """Ctrl-C in a folder run said "interrupted" and nothing about the results kept or how to
    go on (``sequence`` did)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    write_image(folder / "a.png", _gray_gradient())

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    runner_name = "run_jobs" if command == "colorize" else "run_batch"
    module = "jobs" if command == "colorize" else "batch"
    monkeypatch.setattr(f"polychrome.apps.{module}.{runner_name}", stopped)
    result = _invoke(command, folder, "-o", tmp_path / "out", "--engine", "none")
    assert result.exit_code != 0
    resume = "--skip-existing" if command == "colorize" else "rerun the same command"
    assert f"the images done so far are in {tmp_path / 'out'}; " in result.stderr
    assert resume in result.stderr
