"""`make demo`: colorize the bundled sample photo and save a before/after contact sheet.

The sample is a CC0 photo (see src/polychrome/samples/CREDITS.txt). Its grayscale version is
colorized twice with the default engine: automatically, and again with a hint image of color
strokes. The sheet shows the input, both results, the hints and the original side by side.

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
    options = polychrome.ColorizeOptions()
    auto_path = out_dir / "coffee-auto.png"
    hinted_path = out_dir / "coffee-hints.png"
    meta = run_job(ColorizeJob(source=gray_path, target=auto_path), options=options)
    run_job(ColorizeJob(source=gray_path, target=hinted_path, hints=hints_path), options=options)
    gray = read_image(gray_path).pixels
    hints = read_image(hints_path)
    shown = np.repeat(gray[..., None], 3, axis=2)
    painted = hints.alpha > 0
    shown[painted] = hints.pixels[painted]
    auto = read_image(auto_path).pixels
    hinted = read_image(hinted_path).pixels
    original = read_image(polychrome.sample_path("coffee.png")).pixels
    engine = meta["engine"]
    sheet = contact_sheet(
        [gray, auto, shown, hinted, original],
        ["input (gray)", f"automatic ({engine})", "strokes", f"{engine} + strokes", "original"],
        columns=5,
    )
    write_image(out_dir / "coffee-sheet.png", sheet)
    dl = max(np.abs(luminance_of(img) - luminance_of(gray)).max() for img in (auto, hinted))
    print(
        f"wrote {auto_path}, {hinted_path} and {out_dir / 'coffee-sheet.png'} "
        f"(engine {engine}; max |dL*| = {dl:.2f})"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out"))
