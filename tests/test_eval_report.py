"""The eval command's plain-text table and its JSON report."""

import json
from pathlib import Path

import numpy as np

import polychrome
from polychrome.eval.protocols import (
    EvalReport,
    EvalRow,
    auto_protocol,
    points_protocol,
    reference_protocol,
    regions_protocol,
)
from polychrome.eval.report import format_table
from polychrome.io import write_image


def _row(method: str, psnr: float) -> EvalRow:
    return EvalRow(
        method=method, points=None, images=2, psnr=psnr, ssim=0.9, colorfulness=20.0,
        colorfulness_gap=3.0, ciede2000=2.0,
    )  # fmt: skip


def test_columns_stay_aligned_with_long_method_names():
    report = EvalReport("reference", "clips", 256, 0, 30.0)
    report.rows = [_row("video", 30.0), _row("video davis_bmx-trees (30 frames)", 24.5)]
    lines = format_table(report).splitlines()
    head, rows = lines[1], lines[3:]
    assert len(rows) == 2
    # Every row's PSNR ends where the header's "PSNR" ends.
    end = head.index("PSNR") + len("PSNR")
    assert [r[end - 5 : end] for r in rows] == ["30.00", "24.50"]
    assert rows[1].startswith("video davis_bmx-trees (30 frames) ")
    # No rows with hint counts (reference, auto, regions, pool), no 'points' column of dashes.
    assert "points" not in head and head.startswith("method ")
    report.rows.insert(0, EvalRow("none", 10, 28.0, 0.95, 20.0, 3.0, 5.0, images=2))
    lines = format_table(report).splitlines()
    end = lines[1].index("points") + len("points")
    assert lines[1].index("PSNR") > end
    assert [r[end - 2 : end] for r in lines[3:]] == ["10", " -", " -"]


def test_the_header_counts_what_was_scored():
    # A 3-frame clip's header said '2 images': the reference protocol scores the frames after
    # the reference frame.
    report = EvalReport("reference", "clip", 64, 0, 30.0)
    report.rows = [_row("video", 30.0)]
    assert format_table(report).startswith(
        "protocol reference on clip (2 frames after the reference,"
    )
    # The originals' flicker, which the methods' flicker compares with, was in the JSON only.
    report.reference_flicker = 2.0625
    assert "ground-truth colorfulness 30.0, flicker 2.062\n" in format_table(report)
    report = EvalReport("points", "photos", 64, 0, 30.0)
    report.rows = [EvalRow("gray baseline", None, 22.0, 0.9, 0.0, 30.0, 10.0, images=1)]
    assert format_table(report).startswith("protocol points on photos (1 image, max side 64,")


def _originals(folder: Path) -> Path:
    y, x = np.mgrid[0:40, 0:56] / np.array([40, 56], dtype=np.float64)[:, None, None]
    for i in range(2):
        rgb = np.stack([(x * 200 + 40 * i) % 255, y * 180 + 40, 255 - x * 150 - y * 60], axis=-1)
        write_image(folder / f"img{i}.png", rgb.astype(np.uint8))
    return folder


def test_the_json_report_records_version_settings_and_timings(tmp_path: Path):
    # It had the figures, max side and seed, but neither the engines, the hint counts, the
    # engine options, the version nor any timing: two reports could not be told apart.
    folder = _originals(tmp_path / "originals")
    report = points_protocol(folder, points=(5, 20), engines=("none",), max_side=48)
    data = report.to_dict()
    assert data["version"] == polychrome.__version__
    assert list(data)[-2:] == ["rows", "per_image"]  # the settings first, where one reads them
    assert data["settings"] == {
        "engines": ["none"],
        "engine_options": {"none": {}},
        "points": [5, 20],
    }
    assert set(data["timings"]) == {"none 5 points", "none 20 points", "total"}
    assert all(t >= 0 for t in data["timings"].values())
    assert data["timings"]["total"] >= data["timings"]["none 5 points"]
    json.dumps(data, allow_nan=False)
    # The same run again gives the same report, timings apart.
    again = points_protocol(folder, points=(5, 20), engines=("none",), max_side=48).to_dict()
    assert {**data, "timings": None} == {**again, "timings": None}

    # Engine options as the engine reads them: the CLI gives text ("1.5", "false").
    options = {"cnn": {"vividness": "1.5", "hints": "false"}}
    auto = auto_protocol(
        folder, engines=("cnn",), max_side=48, samples=2, engine_options=options
    ).to_dict()
    assert auto["settings"] == {
        "engines": ["cnn"], "engine_options": {"cnn": {"vividness": 1.5, "hints": False}},
        "samples": 2,
    }  # fmt: skip
    assert set(auto["timings"]) == {"cnn", "cnn x2", "total"}
    # The samples' row counts images, as every row does (it said 4: 2 images x 2 samples).
    assert [(r["method"], r["images"]) for r in auto["rows"]] == [
        ("gray baseline", 2), ("cnn", 2), ("cnn x2", 2)
    ]  # fmt: skip


def test_the_reference_protocols_sheet_names_each_frame_and_the_reference(tmp_path: Path):
    # Its rows began with 'video inf dB': no frame name, no gray input, and the reference frame
    # scored as an infinite PSNR.
    clip = tmp_path / "clip"
    y, x = np.mgrid[0:32, 0:40]
    for t in range(3):
        rgb = np.stack([(x * 6 + t * 3) % 255, y * 7, 255 - x * 5], axis=-1)
        write_image(clip / f"f{t}.png", rgb.astype(np.uint8))
    report = reference_protocol(clip, max_side=40, gallery=3)
    captions = {name: [c for c, _ in tiles] for name, tiles in report.gallery.items()}
    assert list(captions) == ["clip/f0.png", "clip/f1.png", "clip/f2.png"]
    assert captions["clip/f0.png"] == [
        "f0.png gray", "video (reference)", "per-frame (reference)", "original"
    ]  # fmt: skip
    assert captions["clip/f1.png"][0] == "f1.png gray"
    assert captions["clip/f1.png"][1].startswith("video ") and "dB" in captions["clip/f1.png"][1]
    # The gray baseline is scored as in the other protocols, on the frames after the reference
    # (the table had none).
    gray = report.rows[0]
    assert (gray.method, gray.images, gray.flicker, gray.colorfulness) == ("gray baseline", 2, 0, 0)
    assert [r.images for r in report.rows] == [2, 2, 2]
    grays = [e for e in report.to_dict()["per_image"] if e["method"] == "gray"]
    assert [e["frame"] for e in grays] == [1, 2]
    assert np.isclose(np.mean([e["psnr"] for e in grays]), gray.psnr)
    # Each frame's flicker against the previous result is in the JSON (it had the means only).
    frames = [e for e in report.to_dict()["per_image"] if e["method"] == "video"]
    assert [e["frame"] for e in frames] == [0, 1, 2]
    assert frames[0]["flicker"] is None
    changes = [e["flicker"] for e in frames[1:]]
    assert all(c is not None and c >= 0 for c in changes)
    assert np.isclose(np.mean(changes), report.rows[1].flicker)


def test_the_regions_protocol_reports_each_images_color_error_and_leakage(tmp_path: Path):
    # Per image it had PSNR and the like only: which image missed its colors was not said.
    folder = _originals(tmp_path / "originals")
    report = regions_protocol(folder, engines=("none",), regions=2, modes=("true",), max_side=48)
    entries = [e for e in report.to_dict()["per_image"] if e["method"] == "none true"]
    assert [e["image"] for e in entries] == ["img0.png", "img1.png"]
    for e in entries:
        assert len(e["requested"]) == 2 and all(isinstance(n, str) for n in e["requested"])
        assert e["color_error"] >= 0 and e["leakage"] >= 0 and e["instance_leakage"] >= 0
    # The row's color error is the mean over every region, each image having 2.
    assert np.isclose(np.mean([e["color_error"] for e in entries]), report.rows[1].color_error)
    assert np.isclose(max(e["instance_leakage"] for e in entries), report.rows[1].instance_leakage)


def test_contact_sheet_captions_are_not_cut_at_a_narrow_images_width():
    # Beside landscape photos, a portrait photo's caption was cut at its own width
    # ('none 1000 pts 3'), and a caption longer than the cell was cut too.
    from polychrome.apps.sheet import contact_sheet

    wide, narrow = np.full((100, 150, 3), 128, np.uint8), np.full((150, 100, 3), 128, np.uint8)
    sheet = contact_sheet([wide, narrow], ["wide", "none 1000 pts 35.8 dB"], height=160, columns=2)
    cell = sheet.shape[1] // 2
    ink = np.flatnonzero((sheet[:28, cell:] < 128).any(axis=(0, 2)))
    narrow_width = round(100 * 160 / 150)
    assert ink.max() > narrow_width  # the caption spans the cell, past the image
    assert ink.max() < cell - 2  # and ends inside it, not cut at its edge
