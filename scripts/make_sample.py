"""Build the bundled sample: a grayscale photo and a hint image of color strokes.

Source: scikit-image's ``coffee.png``, "No copyright restrictions. CC0 by the photographer
(Rachel Michetti)", courtesy of Pikolo Espresso Bar. Run with scikit-image installed (``pip install
-e '.[dev]'``); writes ``src/polychrome/samples/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from polychrome.io import write_image
from polychrome.ops.color import lab_to_rgb, luminance_of

OUT = Path(__file__).resolve().parents[1] / "src" / "polychrome" / "samples"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the folder to write")
    out = parser.parse_args(argv).out  # --help now helps; it used to rewrite the sample
    rgb = data.coffee()
    lum = luminance_of(rgb)
    gray = lab_to_rgb(np.dstack([lum, np.zeros_like(lum), np.zeros_like(lum)]))[..., 0]
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "coffee.png", rgb, compress_level=9)
    write_image(out / "coffee-gray.png", np.round(gray * 255).astype(np.uint8), compress_level=9)
    # Strokes: short lines whose color is the original's median color along the line.
    rng = np.random.default_rng(7)
    h, w = lum.shape
    canvas = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    for _ in range(40):
        y, x = int(rng.integers(10, h - 10)), int(rng.integers(10, w - 10))
        angle = rng.uniform(0, np.pi)
        length = rng.integers(10, 30)
        y2 = int(np.clip(y + length * np.sin(angle), 0, h - 1))
        x2 = int(np.clip(x + length * np.cos(angle), 0, w - 1))
        line = np.zeros((h, w), np.uint8)
        cv2.line(line, (x, y), (x2, y2), 255, 3)
        color = np.median(rgb[line > 0], axis=0).astype(np.uint8)
        canvas[line > 0] = color
        alpha[line > 0] = 255
    write_image(out / "coffee-hints.png", canvas, alpha=alpha, compress_level=9)
    (out / "CREDITS.txt").write_text(
        "coffee.png, coffee-gray.png and coffee-hints.png are made from scikit-image's "
        "coffee.png:\n"
        "'Coffee cup. This photograph is courtesy of Pikolo Espresso Bar. No copyright\n"
        "restrictions. CC0 by the photographer (Rachel Michetti).'\n"
        "coffee-gray.png is its CIE L* channel; coffee-hints.png holds strokes whose colors are\n"
        "the original's (scripts/make_sample.py).\n"
    )


if __name__ == "__main__":
    main()
