"""`make demo`: colorize the bundled sample photo and save a before/after contact sheet.

The sample is a CC0 photo (see src/polychrome/samples/CREDITS.txt): its grayscale version is
colorized from a hint image of color strokes, and the sheet shows input, hints, result and the
original side by side.

Run: python examples/demo.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import polychrome
from polychrome.apps.jobs import ColorizeJob, run_job
from polychrome.apps.sheet import contact_sheet
from polychrome.io import read_image, write_image
from polychrome.ops.color import luminance_of


def main(out_dir: Path) -> None:
    gray_path = polychrome.sample_path("coffee-gray.png")
    hints_path = polychrome.sample_path("coffee-hints.png")
    result_path = out_dir / "coffee-colorized.png"
    meta = run_job(
        ColorizeJob(source=gray_path, target=result_path, hints=hints_path),
        options=polychrome.ColorizeOptions(),
    )
    gray = read_image(gray_path).pixels
    hints = read_image(hints_path)
    shown = np.repeat(gray[..., None], 3, axis=2)
    painted = hints.alpha > 0
    shown[painted] = hints.pixels[painted]
    result = read_image(result_path).pixels
    original = read_image(polychrome.sample_path("coffee.png")).pixels
    sheet = contact_sheet(
        [gray, shown, result, original],
        ["input (gray)", "hints", f"result ({meta['engine']})", "original"],
    )
    write_image(out_dir / "coffee-sheet.png", sheet)
    dl = np.abs(luminance_of(result) - luminance_of(gray)).max()
    print(f"wrote {result_path} and {out_dir / 'coffee-sheet.png'} (max |dL*| = {dl:.2f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out"))
