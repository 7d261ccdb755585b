"""Comic sequences: pages in order with a reference pool (`polychrome sequence`), resume, a bad
page, a growing pool, and the pool protocol. Pages are drawn here: one character (blue hair,
skin face, red shirt, outlined in black) placed differently on each page."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from polychrome.apps.cli import app
from polychrome.errors import InputError
from polychrome.io import read_image, write_image
from polychrome.ops.color import lab_to_rgb, luminance_of, rgb_to_lab
from polychrome.reference.pool import Pool
from polychrome.reference.sequence import colorize_sequence

SIDE = 128
SHIRT = (200, 30, 40)


def _page(k: int) -> tuple[np.ndarray, np.ndarray]:
    """A color page ``(SIDE, SIDE, 3)`` uint8 and the mask of the character's shirt."""
    page = np.full((SIDE, SIDE, 3), 245, np.uint8)
    x, y = 30 + 12 * k, 24 + 6 * (k % 3)
    cv2.ellipse(page, (x + 20, y + 8), (18, 10), 0, 0, 360, (40, 70, 200), -1)  # hair
    cv2.circle(page, (x + 20, y + 24), 13, (240, 190, 150), -1)  # face
    cv2.rectangle(page, (x + 4, y + 40), (x + 36, y + 80), SHIRT, -1)  # shirt
    cv2.rectangle(page, (x + 4, y + 40), (x + 36, y + 80), (0, 0, 0), 2)
    cv2.circle(page, (x + 20, y + 24), 13, (0, 0, 0), 2)
    rng = np.random.default_rng(k)
    page = np.clip(page + rng.normal(0, 2, page.shape), 0, 255).astype(np.uint8)
    shirt = np.zeros((SIDE, SIDE), bool)
    shirt[y + 45 : y + 76, x + 9 : x + 32] = True
    return page, shirt


def _gray(rgb: np.ndarray) -> np.ndarray:
    lum = luminance_of(rgb)
    return np.round(lab_to_rgb(np.dstack([lum, 0 * lum, 0 * lum]))[..., 0] * 255).astype(np.uint8)


@pytest.fixture
def chapter(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """``refs/`` with two colored pages, ``pages/`` with two gray ones (masks by stem)."""
    (tmp_path / "refs").mkdir()
    (tmp_path / "pages").mkdir()
    masks = {}
    for k in range(2):
        write_image(tmp_path / "refs" / f"ref{k}.png", _page(k)[0])
    for k in range(2, 4):
        page, shirt = _page(k)
        write_image(tmp_path / "pages" / f"p{k}.png", _gray(page))
        masks[f"p{k}"] = shirt
    return tmp_path / "refs", tmp_path / "pages", masks


def _shirt_ab(path: Path, mask: np.ndarray) -> np.ndarray:
    return rgb_to_lab(read_image(path).pixels / 255.0)[..., 1:][mask].mean(axis=0)


def test_sequence_colors_each_page_from_the_pool_and_grows_it(chapter, tmp_path):
    refs, pages, masks = chapter
    report = colorize_sequence(pages, Pool.open(refs), tmp_path / "out", grow_pool=True)
    assert [p.name for p in report.written] == ["p2.png", "p3.png"]
    assert report.pool_size == 2 + 2  # the finished pages joined
    want = rgb_to_lab(np.array([[SHIRT]], np.float32) / 255.0)[0, 0, 1:]
    for stem, mask in masks.items():
        got = _shirt_ab(tmp_path / "out" / f"{stem}.png", mask)
        assert np.linalg.norm(got - want) < 0.35 * np.linalg.norm(want), stem
        gray = read_image(pages / f"{stem}.png").pixels
        out = read_image(tmp_path / "out" / f"{stem}.png").pixels
        assert np.abs(luminance_of(out) - luminance_of(gray)).max() < 1.0


def test_cli_sequence_resumes_and_reports_a_bad_page(chapter, tmp_path):
    refs, pages, _ = chapter
    runner = CliRunner()
    out = tmp_path / "out"
    out.mkdir()
    write_image(out / "p2.png", np.zeros((SIDE, SIDE, 3), np.uint8))  # finished earlier
    write_image(pages / "p4.png", _gray(_page(4)[0]))
    (pages / "p3.png").write_bytes(b"not an image")
    pool_file = tmp_path / "pool.npz"
    assert runner.invoke(app, ["pool", "build", str(refs), "-o", str(pool_file)]).exit_code == 0
    args = ["sequence", str(pages), "--pool", str(pool_file), "-o", str(out), "--skip-existing"]
    result = runner.invoke(app, [*args, "--grow-pool"])
    assert result.exit_code == 2, result.output
    assert "p3.png" in result.output and "Traceback" not in result.output
    assert "1 written, 1 skipped, 1 failed" in result.output
    assert read_image(out / "p2.png").pixels.max() == 0  # left alone
    assert (out / "p4.png").is_file() and not (out / "p3.png").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial files
    # A finished page damaged since is done again, not trusted (nor failing every rerun).
    data = (out / "p4.png").read_bytes()
    (out / "p4.png").write_bytes(data[: len(data) // 3])
    result = runner.invoke(app, [*args, "--grow-pool"])
    assert "1 written, 1 skipped, 1 failed" in result.output, result.output
    assert read_image(out / "p4.png").pixels.shape[:2] == (SIDE, SIDE)


def test_sequence_refuses_to_overwrite_a_page(chapter):
    refs, pages, _ = chapter
    with pytest.raises(InputError, match="overwrite"):
        colorize_sequence(pages, Pool.open(refs), pages)


def test_pool_protocol_on_tiny_pages(tmp_path):
    import json

    for k in range(2):
        write_image(tmp_path / f"page{k}.png", _page(k)[0])
    args = ["eval", str(tmp_path), "--protocol", "pool", "--max-side", str(SIDE)]
    result = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads((tmp_path / "r.json").read_text())["rows"]}
    assert set(rows) == {"gray baseline", "cnn", "cnn + pool"}
    assert rows["cnn + pool"]["images"] == 2
    assert rows["cnn + pool"]["psnr"] > rows["gray baseline"]["psnr"]


def test_cli_sequence_into_its_pages_folder_can_be_rerun(chapter):
    # With -o the pages folder and another format, the first run's results lie beside the
    # pages: a rerun took them for pages and refused ("share a file stem").
    refs, pages, _ = chapter
    runner = CliRunner()
    args = ["sequence", str(pages), "--pool", str(refs), "-o", str(pages), "--format", "jpg"]
    args += ["--engine", "none", "-q"]
    originals = {p.name: p.read_bytes() for p in pages.iterdir()}
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in pages.iterdir()) == ["p2.jpg", "p2.png", "p3.jpg", "p3.png"]
    result = runner.invoke(app, [*args, "--skip-existing"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*args[:-1], "--skip-existing"])
    assert "0 written, 2 skipped, 0 failed" in result.output, result.output
    result = runner.invoke(app, args)  # redone, not refused
    assert result.exit_code == 0, result.output
    assert {n: (pages / n).read_bytes() for n in originals} == originals
    # In the pages' own format (or a third one) the results are taken for pages, which are
    # never written over: refused, naming them.
    for fmt in ("png", "webp"):
        result = runner.invoke(app, [*args[:6], "--format", fmt, "-q"])
        assert result.exit_code == 2, result.output
        assert "p2.jpg and p2.png share a file stem" in result.output
        assert "Traceback" not in result.output
    assert {n: (pages / n).read_bytes() for n in originals} == originals


def test_sequence_with_several_samples_grows_resumes_and_reruns_in_place(chapter, tmp_path):
    # With --samples 2 the results are STEM-1.png and STEM-2.png; the sequence recorded and
    # pooled STEM.png, which does not exist: with --grow-pool every later page failed ("no such
    # file"), and --skip-existing never skipped.
    from polychrome.options import ColorizeOptions

    refs, pages, _ = chapter
    options = ColorizeOptions(samples=2)
    out = tmp_path / "out"
    report = colorize_sequence(pages, Pool.open(refs), out, grow_pool=True, options=options)
    assert not report.failures, report.failures
    assert [p.name for p in report.written] == ["p2-1.png", "p3-1.png"]
    assert sorted(p.name for p in out.iterdir()) == ["p2-1.png", "p2-2.png", "p3-1.png", "p3-2.png"]
    assert report.pool_size == 2 + 2
    (out / "p3-2.png").unlink()
    again = colorize_sequence(
        pages, Pool.open(refs), out, grow_pool=True, skip_existing=True, options=options
    )
    assert [p.name for p in again.skipped] == ["p2-1.png"]
    assert [p.name for p in again.written] == ["p3-1.png"] and (out / "p3-2.png").is_file()
    # Into the pages folder, in another format: the samples are not taken for pages on a rerun.
    for _ in range(2):
        report = colorize_sequence(
            pages, Pool.open(refs), pages, options=options, output_format="jpg"
        )
        assert len(report.written) == 2 and not report.failures
    assert len(list(pages.iterdir())) == 2 + 4


def test_results_into_the_pool_folder_are_refused_before_any_page(chapter, tmp_path):
    # -o the --pool folder worked once, then every rerun (--skip-existing too) failed with
    # "refusing to overwrite the input" about the first run's results, now references.
    refs, pages, _ = chapter
    before = sorted(p.name for p in refs.iterdir())
    args = ["sequence", str(pages), "--pool", str(refs), "-o", str(refs), "--engine", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "is the --pool folder" in result.output, result.output
    assert sorted(p.name for p in refs.iterdir()) == before
    # From Python, a result over a pool's reference names it as a reference.
    colorize_sequence(pages, Pool.open(refs), refs)
    with pytest.raises(InputError, match=r"overwrite the reference .*p2\.png \(in the pool\)"):
        colorize_sequence(pages, Pool.open(refs), refs, skip_existing=True)


def _stop_on_the_second_page(monkeypatch):
    """Make the second page's colorize raise KeyboardInterrupt (Ctrl-C); returns the real one."""
    from polychrome import pipeline

    real, calls = pipeline.colorize, []

    def stopped_on_the_second_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "colorize", stopped_on_the_second_page)
    return real


def test_cli_sequence_interrupted_says_how_far_it_got_and_resumes(chapter, tmp_path, monkeypatch):
    # Ctrl-C halfway printed "error: interrupted" alone: not which pages were done, nor how to
    # go on.
    from polychrome import pipeline

    refs, pages, _ = chapter
    write_image(pages / "p10.png", _gray(_page(4)[0]))  # after p3 (numbers compare as numbers)
    real = _stop_on_the_second_page(monkeypatch)
    out = tmp_path / "out"
    args = ["sequence", str(pages), "--pool", str(refs), "-o", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert f"stopped after 1 of 3 pages; their results are in {out}" in result.stderr
    assert "--skip-existing" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["p2.png"]  # nothing partial
    monkeypatch.setattr(pipeline, "colorize", real)
    result = CliRunner().invoke(app, [*args[:-1], "--skip-existing"])
    assert result.exit_code == 0, result.output
    assert "2 written, 1 skipped, 0 failed" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["p10.png", "p2.png", "p3.png"]


def test_a_page_already_in_color_is_said(chapter, tmp_path):
    # A chapter's color page among the gray ones was colorized again from its lightness, its
    # own colors lost, without a word.
    refs, pages, _ = chapter
    write_image(pages / "p5.png", _page(5)[0])
    report = colorize_sequence(pages, Pool.open(refs), tmp_path / "out")
    assert [(p.name, "in color already" in note) for p, note in report.notes] == [("p5.png", True)]
    args = ["sequence", str(pages), "--pool", str(refs), "-o", str(tmp_path / "out2"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: p5.png: the page is in color already" in result.stderr
    assert "p2.png:" not in result.stderr and "p3.png:" not in result.stderr


def test_a_color_page_is_said_as_it_finishes_not_at_the_end(chapter, tmp_path, monkeypatch):
    # The warnings were printed after the last page: a run stopped (Ctrl-C) after a color page
    # lost the warning about it, and a long chapter kept it from the user for hours.
    from polychrome import pipeline

    refs, pages, _ = chapter
    write_image(pages / "p1.png", _page(5)[0])  # first in order, in color
    real = _stop_on_the_second_page(monkeypatch)
    out = tmp_path / "out"
    args = ["sequence", str(pages), "--pool", str(refs), "-o", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "stopped after 1 of 3 pages" in result.stderr
    assert result.stderr.count("warning: p1.png: the page is in color already") == 1
    assert "p2.png" not in result.stderr  # nothing said about a page not finished

    # The library says it per page too, and keeps it in the report.
    monkeypatch.setattr(pipeline, "colorize", real)
    said = []
    report = colorize_sequence(
        [pages / "p1.png"], Pool.open(refs), tmp_path / "lib", notify=lambda p, n: said.append(p)
    )
    assert said == [p for p, _ in report.notes] == [pages / "p1.png"]
