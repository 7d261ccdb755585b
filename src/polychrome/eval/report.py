"""Formatting evaluation reports."""

from __future__ import annotations

from polychrome.eval.protocols import EvalReport

__all__ = ["format_table"]


def format_table(report: EvalReport) -> str:
    """A plain-text table of a report's rows (means over images)."""
    width = max([20, *(len(r.method) + 1 for r in report.rows)])
    points = any(r.points is not None for r in report.rows)  # only the points protocol's
    head = f"{'method':<{width}}" + (f"{'points':>7}" if points else "") + f"{'PSNR':>8}{'SSIM':>8}"
    head += f"{'colorful':>10}{'gap':>7}{'dE2000':>8}"
    if any(r.diversity is not None for r in report.rows):
        head += f"{'diversity':>11}{'worst PSNR':>12}"
    if any(r.color_error is not None for r in report.rows):
        head += f"{'color dE':>10}{'leak out':>10}{'leak inst':>11}"
    flicker = any(r.flicker is not None for r in report.rows)
    if flicker:
        head += f"{'flicker':>9}"
    n = report.rows[0].images
    # The reference protocol scores the frames after each clip's reference frame.
    if report.protocol == "reference":
        scored = f"{n} frame{'s' * (n != 1)} after the reference"
    else:
        scored = f"{n} image{'s' * (n != 1)}"
    lines = [
        f"protocol {report.protocol} on {report.dataset} ({scored}, "
        f"max side {report.max_side}, seed {report.seed}); ground-truth colorfulness "
        f"{report.reference_colorfulness:.1f}"
        + ("" if report.reference_flicker is None else f", flicker {report.reference_flicker:.3f}"),
        head,
        "-" * len(head),
    ]
    for r in report.rows:
        line = f"{r.method:<{width}}"
        if points:
            line += f"{'-' if r.points is None else r.points:>7}"
        line += (
            f"{r.psnr:>8.2f}{r.ssim:>8.4f}{r.colorfulness:>10.1f}"
            f"{r.colorfulness_gap:>7.1f}{r.ciede2000:>8.2f}"
        )
        if r.diversity is not None:
            line += f"{r.diversity:>11.2f}{r.worst_psnr:>12.2f}"
        if r.color_error is not None:
            line += f"{r.color_error:>10.2f}{r.leakage:>10.3f}{r.instance_leakage:>11.3f}"
        if flicker:
            line += f"{r.flicker:>9.3f}" if r.flicker is not None else f"{'-':>9}"
        lines.append(line)
    return "\n".join(lines)


def gallery_sheet(report: EvalReport, originals_last: bool = True):
    """One row per kept image: gray, each method's result, and the original."""
    import numpy as np

    from polychrome.apps.sheet import contact_sheet

    images, captions = [], []
    columns = 0
    for tiles in report.gallery.values():
        columns = max(columns, len(tiles))
    for tiles in report.gallery.values():
        tiles = tiles + [("", np.full_like(tiles[0][1], 255))] * (columns - len(tiles))
        for caption, image in tiles:
            images.append(image)
            captions.append(caption)
    return contact_sheet(images, captions, height=160, columns=columns)
