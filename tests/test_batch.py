"""Tests of ``polychrome batch`` (polychrome.apps.batch): the manifest, resuming after a kill,
skipping finished work, bad files, inputs left alone, the local process pool and Ray.

Images are small and generated here; the ``none`` engine with a hint folder keeps each image
cheap, so the time goes into starting worker processes (and Ray, once).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polychrome.apps.batch import (
    FAILURES_NAME,
    MANIFEST_NAME,
    Manifest,
    limit_threads,
    run_batch,
)
from polychrome.apps.cli import app
from polychrome.apps.jobs import ColorizeJob, run_job
from polychrome.io import read_image, write_image
from polychrome.ops.color import rgb_to_lab
from polychrome.options import ColorizeOptions

H, W = 48, 64
runner = CliRunner()
FAST = ("--engine", "none")


def _make_inputs(folder: Path, count: int, *, hints: Path | None = None, size=(H, W)) -> None:
    """``count`` gray gradients (different per image), and a blue hint at the top left of each
    in ``hints`` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    x = np.mgrid[0 : size[0], 0 : size[1]][1]
    for k in range(count):
        write_image(folder / f"img{k:03d}.png", (40 + 150 * x / size[1] + k).astype(np.uint8))
        if hints is not None:
            rgb = np.zeros((*size, 3), np.uint8)
            alpha = np.zeros(size, np.uint8)
            rgb[2:8, 2:8], alpha[2:8, 2:8] = (30, 60, 200), 255
            write_image(hints / f"img{k:03d}.png", rgb, alpha=alpha)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _manifest_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def _assert_consistent(out: Path, names: list[str]) -> None:
    """Every expected output is there exactly once, complete, and as the manifest records it;
    nothing else is in the folder (no temporaries)."""
    files = sorted(p.name for p in out.iterdir() if p.name not in (MANIFEST_NAME, FAILURES_NAME))
    assert files == sorted(names)
    records = {r["target"]: r for r in _manifest_lines(out)}
    assert sorted(records) == sorted(names)
    for name in names:
        (output,) = records[name]["outputs"]
        data = (out / name).read_bytes()
        assert output["size"] == len(data)
        assert output["sha256"] == hashlib.sha256(data).hexdigest()
        assert read_image(out / name).shape == (H, W)  # decodes: not truncated


def _invoke(*args: str | Path):
    return runner.invoke(app, ["batch", *(str(a) for a in args)])


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    inputs, hints, out = tmp_path / "in", tmp_path / "hints", tmp_path / "out"
    hints.mkdir()
    _make_inputs(inputs, 6, hints=hints)
    return inputs, hints, out


# --------------------------------------------------------------------------- local pool


def test_batch_writes_every_image_records_it_and_resumes(folders) -> None:
    inputs, hints, out = folders
    before = _digests(inputs)
    result = _invoke(inputs, "-o", out, "--hints-dir", hints, "--workers", "2", *FAST)
    assert result.exit_code == 0, result.output
    assert "6 written, 0 already done" in result.stdout
    names = [f"img{k:03d}.png" for k in range(6)]
    _assert_consistent(out, names)
    # The hints reached the results: the top left is blue.
    lab = rgb_to_lab(read_image(out / "img003.png").pixels[2:8, 2:8] / 255.0)
    assert np.degrees(np.arctan2(lab[..., 2], lab[..., 1])).mean() < -60
    assert _digests(inputs) == before  # inputs untouched

    # A rerun finds everything done and writes nothing.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = _invoke(inputs, "-o", out, "--hints-dir", hints, "--workers", "2", *FAST)
    assert again.exit_code == 0, again.output
    assert "0 written, 6 already done" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    # A missing output and one changed on disk are redone; the others are not.
    (out / "img001.png").unlink()
    (out / "img004.png").write_bytes((out / "img004.png").read_bytes()[:100])
    third = _invoke(inputs, "-o", out, "--hints-dir", hints, "--workers", "1", *FAST)
    assert third.exit_code == 0, third.output
    assert "2 written, 4 already done (2 redone" in third.stdout
    _assert_consistent(out, names)
    assert (out / "img002.png").stat().st_mtime_ns == stamps["img002.png"]

    # Other options, other results: all redone, the manifest grows, the later records count.
    fourth = _invoke(inputs, "-o", out, "--hints-dir", hints, "--saturation", "0.5", *FAST)
    assert fourth.exit_code == 0, fourth.output
    assert "6 written, 0 already done" in fourth.stdout
    assert len(_manifest_lines(out)) == 6 + 2 + 6
    _assert_consistent(out, names)
    assert _digests(inputs) == before


def test_bad_files_are_reported_and_the_others_written(folders) -> None:
    inputs, hints, out = folders
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (inputs / "empty.jpg").write_bytes(b"")
    result = _invoke(inputs, "-o", out, "--hints-dir", hints, "--workers", "2", *FAST)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "broken.png" in result.stderr and "empty.jpg" in result.stderr
    assert "2 of 8 images failed; 6 written" in result.stderr
    _assert_consistent(out, [f"img{k:03d}.png" for k in range(6)])  # no partial files
    # Failures are not in the manifest, so a rerun tries them again (and only them); they are
    # listed, with their errors and exit codes, for a script to read.
    assert f"listed in {out / FAILURES_NAME}" in result.stderr
    assert _failures(out) == {
        "broken.png": (str(inputs / "broken.png"), 2, "input"),
        "empty.png": (str(inputs / "empty.jpg"), 2, "input"),
    }
    again = _invoke(inputs, "-o", out, "--hints-dir", hints, "--workers", "1", *FAST)
    assert again.exit_code == 2
    assert "2 of 8 images failed; 0 written, 6 already done" in again.stderr
    assert sorted(_failures(out)) == ["broken.png", "empty.png"]
    # One fixed: the list keeps the other. Both fixed: it is gone.
    shutil.copy(inputs / "img000.png", inputs / "broken.png")
    third = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert third.exit_code == 2 and "1 of 8 images failed" in third.stderr
    assert sorted(_failures(out)) == ["empty.png"]
    (inputs / "empty.jpg").unlink()
    fourth = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert fourth.exit_code == 0, fourth.output
    assert not (out / FAILURES_NAME).exists()


def _failures(out: Path) -> dict[str, tuple[str, int, str]]:
    """The failures file: target -> (source, code, kind); each entry has an error message."""
    entries = json.loads((out / FAILURES_NAME).read_text())["failures"]
    assert all(e["error"] for e in entries)
    return {e["target"]: (e["source"], e["code"], e["kind"]) for e in entries}


def test_refusals(folders, tmp_path: Path) -> None:
    inputs, _, out = folders
    before = _digests(inputs)
    # Writing results over the inputs.
    result = _invoke(inputs, "-o", inputs, *FAST)
    assert result.exit_code == 2 and "refusing to overwrite the input" in result.stderr
    # Not a folder.
    result = _invoke(inputs / "img000.png", "-o", out, *FAST)
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    # -o names a file.
    result = _invoke(inputs, "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 2 and "-o must be a folder" in result.stderr
    # A second batch into a folder another batch is writing.
    held = Manifest.open(out)
    try:
        result = _invoke(inputs, "-o", out, *FAST)
    finally:
        held.close()
    assert result.exit_code == 2 and "another batch is writing" in result.stderr
    assert "Traceback" not in result.output
    assert _digests(inputs) == before


def test_every_pair_of_inputs_that_share_a_stem_is_named_at_once(folders) -> None:
    """A big folder with several a.jpg + a.png pairs: all of them are named in one refusal,
    not one per run."""
    inputs, _, out = folders
    for k in (1, 3, 4):
        shutil.copy(inputs / f"img{k:03d}.png", inputs / f"img{k:03d}.jpg")
    result = _invoke(inputs, "-o", out, *FAST)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "3 pairs of inputs share a file stem" in result.stderr
    for k in (1, 3, 4):
        assert f"img{k:03d}.jpg and {inputs / f'img{k:03d}.png'}" in result.stderr
    assert not out.exists()


def _full_after(count: int, monkeypatch, code: int = errno.ENOSPC) -> list[str]:
    """Let ``count`` outputs be renamed into place, then fail every result's write as a full
    disk does (or with another ``code``); returns the names tried. Jobs run in this process (a
    worker would not see the patch)."""
    import polychrome.apps.batch as batch_module

    def in_process(chunks, options, engine_options, workers):
        for chunk in chunks:
            yield from batch_module._run_chunk(chunk, options, engine_options)

    monkeypatch.setattr(batch_module, "_run_local", in_process)
    replace, tried = os.replace, []

    def full(source, target):
        if Path(target).name == FAILURES_NAME:  # small: let it through
            return replace(source, target)
        tried.append(Path(target).name)
        if len(tried) > count:
            raise OSError(code, os.strerror(code))
        replace(source, target)

    monkeypatch.setattr(os, "replace", full)
    return tried


def test_a_full_disk_stops_the_batch_and_a_rerun_resumes(folders, monkeypatch) -> None:
    """Once the disk is full, every later image would be colorized only to fail writing (and
    each be reported): the batch stops at the first, says why, and a rerun does the rest."""
    inputs, _, out = folders
    tried = _full_after(2, monkeypatch)
    result = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    monkeypatch.undo()  # space freed; real workers again
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("No space left on device") == 1
    assert "the disk holding" in result.stderr and "is full; 2 written" in result.stderr
    assert "3 not done" in result.stderr
    assert tried == ["img000.png", "img001.png", "img002.png"]  # nothing tried after it
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == tried[:2]
    assert not list(out.glob("*.tmp"))

    assert _failures(out) == {"img002.png": (str(inputs / "img002.png"), 2, "input")}

    again = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert "4 written, 2 already done" in again.stdout
    assert not (out / FAILURES_NAME).exists()
    _assert_consistent(out, [f"img{k:03d}.png" for k in range(6)])


def test_a_run_stopped_early_keeps_the_failures_it_did_not_retry(folders, monkeypatch) -> None:
    """Images an earlier run listed as failed stay listed when a run stops before it retries
    them, and go once a run gets to them."""
    inputs, _, out = folders
    (inputs / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    first = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert first.exit_code == 2 and sorted(_failures(out)) == ["zz-broken.png"]
    (out / "img004.png").unlink()  # to be redone: fails (disk full) before zz-broken is tried
    _full_after(0, monkeypatch)
    stopped = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    monkeypatch.undo()
    assert stopped.exit_code == 2 and "is full" in stopped.stderr
    assert sorted(_failures(out)) == ["img004.png", "zz-broken.png"]
    (inputs / "zz-broken.png").unlink()
    again = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert not (out / FAILURES_NAME).exists()


@pytest.mark.parametrize(
    "code", [errno.EACCES, errno.EPERM, errno.EROFS], ids=["EACCES", "EPERM", "EROFS"]
)
def test_an_output_folder_that_refuses_writes_stops_the_batch(folders, monkeypatch, code) -> None:
    """Permission denied or a read-only mount fails every later write too: the batch stops at
    the first, names the folder and says how to resume (chmod does not stop root, who runs
    the tests: the rename is patched)."""
    inputs, _, out = folders
    tried = _full_after(1, monkeypatch, code)
    result = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count(os.strerror(code)) == 1
    assert (
        f"stopped: the output folder {out} is not writable; 1 written, 0 already done, 4 not "
        "done: make it writable and rerun the same command to resume"
    ) in result.stderr
    assert tried == ["img000.png", "img001.png"]  # nothing tried after it
    assert not list(out.glob("*.tmp"))

    again = _invoke(inputs, "-o", out, "--workers", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert "5 written, 1 already done" in again.stdout
    _assert_consistent(out, [f"img{k:03d}.png" for k in range(6)])


# --------------------------------------------------------------------------- into the input folder


@pytest.mark.parametrize("count", [1, 3])
def test_into_the_input_folder_a_rerun_resumes(tmp_path: Path, count: int) -> None:
    folder = tmp_path / "in"
    _make_inputs(folder, count)
    before = _digests(folder)
    inputs = sorted(before)
    outputs = [name.replace(".png", ".jpg") for name in inputs]

    # The listing is taken before anything is written: the results are not colorized again.
    first = _invoke(folder, "-o", folder, "--format", "jpg", "--workers", "1", *FAST)
    assert first.exit_code == 0, first.output
    assert f"{count} written, 0 already done" in first.stdout
    records = _manifest_lines(folder)
    assert sorted(Path(r["source"]).name for r in records) == inputs
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST_NAME, *inputs, *outputs])
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    # A rerun takes the outputs for what they are, not for inputs sharing their stems.
    again = _invoke(folder, "-o", folder, "--format", "jpg", "--workers", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert f"0 written, {count} already done" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps

    # Other options: the inputs (only they) are done again, over the batch's own outputs.
    third = _invoke(folder, "-o", folder, "--format", "jpg", "--saturation", "0.5", *FAST)
    assert third.exit_code == 0, third.output
    assert f"{count} written, 0 already done" in third.stdout
    assert sorted(Path(r["source"]).name for r in _manifest_lines(folder)) == sorted(inputs * 2)

    # The inputs' own format: refused, as on a first run.
    same = _invoke(folder, "-o", folder, "--format", "png", *FAST)
    assert same.exit_code == 2 and "refusing to overwrite the input" in same.stderr
    assert {n: d for n, d in _digests(folder).items() if n in before} == before

    # Only outputs left: nothing to do, said plainly.
    for name in inputs:
        (folder / name).unlink()
    alone = _invoke(folder, "-o", folder, "--format", "jpg", *FAST)
    assert alone.exit_code == 2 and "all are outputs of this batch" in alone.stderr


def test_into_the_input_folder_an_input_named_like_an_output_is_never_written_over(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    _make_inputs(folder, 2)
    # A first run makes the folder a batch's output folder ...
    webp = _invoke(folder, "-o", folder, "--format", "webp", "--workers", "1", *FAST)
    assert webp.exit_code == 0, webp.output
    assert "2 written" in webp.stdout
    # ... then an image comes in named as a jpg result would be. None of the batch's outputs,
    # it is an input: jpg results are refused (not written over it).
    write_image(folder / "img001.jpg", np.full((H, W), 90, np.uint8))
    before = {n: d for n, d in _digests(folder).items() if not n.endswith(".webp")}
    jpg = _invoke(folder, "-o", folder, "--format", "jpg", *FAST)
    assert jpg.exit_code == 2 and "share a file stem" in jpg.stderr
    assert {n: d for n, d in _digests(folder).items() if n in before} == before


def test_into_the_input_folder_an_output_written_but_not_recorded_is_no_input(
    tmp_path: Path, monkeypatch
) -> None:
    """As after a kill between writing an output and recording it: the journal still claims
    the file, so the rerun does that image again instead of taking its output for an input."""
    import polychrome.apps.batch as batch

    folder = tmp_path / "in"
    _make_inputs(folder, 3)
    before = _digests(folder)
    append = batch.Manifest.append

    def append_once(self, record):
        if self.records:
            raise KeyboardInterrupt  # the second image is written, never recorded
        append(self, record)

    monkeypatch.setattr(batch.Manifest, "append", append_once)
    first = _invoke(folder, "-o", folder, "--format", "jpg", "--workers", "1", *FAST)
    assert first.exit_code == 130, first.output  # as Ctrl-C ends a batch
    monkeypatch.setattr(batch.Manifest, "append", append)
    recorded = {r["target"] for r in _manifest_lines(folder)}
    unrecorded = {p.name for p in folder.glob("*.jpg")} - recorded
    assert len(recorded) == 1 and unrecorded  # an output no manifest line names
    assert unrecorded <= batch.own_outputs(folder)

    again = _invoke(folder, "-o", folder, "--format", "jpg", "--workers", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert "2 written, 1 already done" in again.stdout
    outputs = [f"img{k:03d}.jpg" for k in range(3)]
    assert sorted(r["target"] for r in _manifest_lines(folder)) == outputs
    assert not (folder / batch.JOURNAL_NAME).exists()  # settled: everything is recorded
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST_NAME, *before, *outputs])
    assert {n: d for n, d in _digests(folder).items() if n in before} == before


def test_manifest_drops_a_record_cut_short_and_ignores_junk(tmp_path: Path) -> None:
    good = {"target": "a.png", "key": "k", "outputs": [{"name": "a.png", "size": 3, "sha256": "x"}]}
    path = tmp_path / MANIFEST_NAME
    path.write_text(
        json.dumps(good) + "\n" + "not json\n" + '{"target": "b.png"}\n' + '{"target": "c.pn'
    )
    manifest = Manifest.open(tmp_path)
    try:
        assert list(manifest.records) == ["a.png"]
        manifest.append({**good, "target": "d.png"})
    finally:
        manifest.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["target"] == "d.png"  # on a line of its own
    assert not any(line.startswith('{"target": "c.pn') for line in lines)
    (tmp_path / "a.png").write_bytes(b"abc")
    manifest = Manifest.open(tmp_path)
    try:
        assert manifest.verified("a.png", "k") is False  # wrong hash
        assert manifest.verified("a.png", "other key") is None
        assert manifest.verified("zzz.png", "k") is None
    finally:
        manifest.close()


def test_workers_are_limited_to_one_thread() -> None:
    import cv2

    saved = {k: os.environ.get(k) for k in ("POLYCHROME_THREADS", "OMP_NUM_THREADS")}
    threads = cv2.getNumThreads()
    try:
        limit_threads(1)
        assert cv2.getNumThreads() == 1
        assert os.environ["POLYCHROME_THREADS"] == "1" == os.environ["OMP_NUM_THREADS"]
    finally:
        cv2.setNumThreads(threads)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize(
    ("where", "address"),
    [
        (["--ray", "IN", "-o", "OUT"], "local"),  # a folder after a bare --ray stays the input
        (["IN", "-o", "OUT", "--ray"], "local"),
        (["IN", "--ray", "-o", "OUT"], "local"),
        (["IN", "-o", "OUT", "--ray", "auto"], "auto"),
        (["IN", "--ray", "ray://head:10001", "-o", "OUT"], "ray://head:10001"),
        (["IN", "-o", "OUT", "--ray", "10.0.0.5:6379"], "10.0.0.5:6379"),
        (["IN", "-o", "OUT"], None),
    ],
)
def test_ray_flag_takes_an_optional_address(folders, monkeypatch, where, address) -> None:
    import polychrome.apps.batch as batch

    inputs, _, out = folders
    seen = {}

    def fake_run_batch(jobs, **kwargs):
        seen.update(kwargs, sources=sorted(j.source.name for j in jobs))
        return batch.BatchSummary(total=len(jobs), done=len(jobs))

    monkeypatch.setattr(batch, "run_batch", fake_run_batch)
    args = [str(inputs) if a == "IN" else str(out) if a == "OUT" else a for a in where]
    result = runner.invoke(app, ["batch", *args, *FAST])
    assert result.exit_code == 0, result.output
    assert seen["ray_address"] == address
    assert seen["out_dir"] == out
    assert seen["sources"] == [f"img{k:03d}.png" for k in range(6)]


# --------------------------------------------------------------------------- a real kill


def _console_script() -> Path:
    script = Path(sys.executable).parent / "polychrome"
    if not script.is_file():
        pytest.skip("the polychrome console script is not installed")
    return script


def test_kill_halfway_then_rerun_leaves_every_output_once(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    count = 40
    _make_inputs(inputs, count)
    command = [str(_console_script()), "batch", str(inputs), "-o", str(out), "--workers", "1"]
    command += [*FAST, "--method", "exact", "--quiet"]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 5:
                break
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, mid-write maybe
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    first = manifest.read_bytes().count(b"\n")
    assert 5 <= first < count, first  # killed halfway

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    names = [f"img{k:03d}.png" for k in range(count)]
    _assert_consistent(out, names)
    records = _manifest_lines(out)
    assert len(records) == count  # nothing recorded was done twice
    assert len({r["target"] for r in records}) == count


def _session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # the session id; zombies do not count
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_batch_stopped_by_a_signal_leaves_no_worker_running(tmp_path: Path, sig) -> None:
    """Only the batch process gets the signal (as from ``kill``, systemd or docker): its
    workers must not carry on writing, nor wait for work forever."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    _make_inputs(inputs, 40)
    command = [str(_console_script()), "batch", str(inputs), "-o", str(out), "--workers", "2"]
    command += [*FAST, "--method", "exact", "--quiet"]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and manifest.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait(timeout=30)
    if sig == signal.SIGTERM:
        assert process.returncode == 143 and b"terminated" in process.stderr.read()
    deadline = time.monotonic() + 10
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session_processes(process.pid) == []
    written = sorted(out.glob("*.png"))
    time.sleep(1.5)
    assert sorted(out.glob("*.png")) == written and len(written) < 40


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_stop_when_the_batch_is_killed_and_left_unreaped(tmp_path: Path) -> None:
    """A batch killed outright whose parent has not reaped it yet (``$(polychrome batch ...)``
    or ``Popen.communicate()`` read its output to the end first) is a zombie: its workers must
    stop all the same, or they hold that output open and the parent waits forever."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    _make_inputs(inputs, 40)
    command = [str(_console_script()), "batch", str(inputs), "-o", str(out), "--workers", "2"]
    command += [*FAST, "--method", "exact", "--quiet"]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    manifest = out / MANIFEST_NAME
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # and not reaped while the workers are watched
        deadline = time.monotonic() + 10
        while _session_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(process.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole session has ended
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --------------------------------------------------------------------------- Ray


@pytest.fixture
def local_ray(monkeypatch):
    """A local Ray of 2 CPUs whose files (and HOME) lie in a temporary folder."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    root = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are limited
    monkeypatch.setenv("HOME", root)
    monkeypatch.setenv("RAY_TMPDIR", root)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=root)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def test_ray_path(local_ray, folders) -> None:
    inputs, hints, out = folders
    (inputs / "broken.png").write_bytes(b"junk")
    options = ColorizeOptions(engine="none")
    files = sorted(inputs.iterdir())
    jobs = [
        ColorizeJob(source=f, target=out / f.name, hints=hints / f.name)
        if f.stem != "broken"
        # the broken input has no hint file: like the CLI, it goes without
        else ColorizeJob(source=f, target=out / f.name)
        for f in files
    ]
    summary = run_batch(jobs, out_dir=out, options=options, ray_address="local", workers=2)
    assert summary.done == 6 and summary.skipped == 0
    assert [
        (j.source.name, code) for (j, _), code in zip(summary.failures, summary.codes, strict=True)
    ] == [("broken.png", 2)]
    _assert_consistent(out, [f"img{k:03d}.png" for k in range(6)])
    # The same result as colorizing in this process: only the backend differs.
    here = out.parent / "here.png"
    run_job(ColorizeJob(source=jobs[3].source, target=here, hints=jobs[3].hints), options=options)
    assert np.array_equal(read_image(here).pixels, read_image(jobs[3].target).pixels)

    # Through the CLI, on the Ray already running: everything is done already.
    result = _invoke(inputs, "-o", out, "--hints-dir", hints, "--ray", *FAST)
    assert result.exit_code == 2, result.output
    assert "1 of 7 images failed; 0 written, 6 already done" in result.stderr


def test_a_ray_batch_prints_no_lines_of_ray(tmp_path: Path) -> None:
    """``batch --ray`` starting its own Ray printed Ray's notices on stderr (token
    authentication, progress bars disabled) among its own lines: only ours are left."""
    pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths
    try:
        _make_inputs(tmp_path / "in", 2)
        (tmp_path / "in" / "broken.png").write_bytes(b"junk")  # our own error stays
        env = {**os.environ, "HOME": str(root), "RAY_TMPDIR": str(root)}
        env.pop("RAY_ADDRESS", None)  # a Ray started here, not one this machine runs
        env.pop("RAY_USAGE_STATS_ENABLED", None)
        command = [_console_script(), "batch", tmp_path / "in", "-o", tmp_path / "out", "--ray"]
        command += FAST
        result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if not line.startswith(("warning: ", "error: "))] == []
    assert any("broken.png" in line for line in lines)
    assert lines[-1].startswith("error: 1 of 3 images failed; 2 written, 0 already done")


def test_a_worker_reports_the_words_that_colored_nothing(tmp_path: Path) -> None:
    from polychrome.apps.batch import _run_one
    from polychrome.apps.jobs import ColorizeJob

    _make_inputs(tmp_path / "in", 1)
    job = ColorizeJob(
        source=tmp_path / "in" / "img000.png",
        target=tmp_path / "out" / "img000.png",
        description="a purpel sky",
    )
    result = _run_one(job, ColorizeOptions(engine="none"), None)
    assert "error" not in result, result
    assert any("did you mean: purple" in note for note in result["notes"]), result["notes"]
