"""The eval command's plain-text table."""

from polychrome.eval.protocols import EvalReport, EvalRow
from polychrome.eval.report import format_table


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


def test_the_header_counts_what_was_scored():
    # A 3-frame clip's header said '2 images': the reference protocol scores the frames after
    # the reference frame.
    report = EvalReport("reference", "clip", 64, 0, 30.0)
    report.rows = [_row("video", 30.0)]
    assert format_table(report).startswith(
        "protocol reference on clip (2 frames after the reference,"
    )
    report = EvalReport("points", "photos", 64, 0, 30.0)
    report.rows = [EvalRow("gray baseline", None, 22.0, 0.9, 0.0, 30.0, 10.0, images=1)]
    assert format_table(report).startswith("protocol points on photos (1 image, max side 64,")
