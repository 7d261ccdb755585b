"""Sweep the cnn engine's decoding settings on a folder of color originals.

The network runs once per image; then, for every combination of ``prior_correction``,
``temperature`` and saturation, the annealed mean is decoded and composed with the true L*
(no solver), and PSNR, colorfulness and CIEDE2000 are printed beside the gray baseline. This is
how the engine's defaults were chosen (see docs/model-card.md).

Run: python scripts/tune_cnn_decoding.py ../shared/data/photos-dev \
        --correction 0,0.5,1 --temperature 0.38,0.6,1 --saturation 1,1.3,1.6
"""

from __future__ import annotations

import argparse
import itertools

import cv2
import numpy as np

from polychrome.engines.bins import annealed_mean
from polychrome.engines.cnn import WEIGHTS as DEFAULT_MODEL
from polychrome.engines.cnn import CnnEngine, CnnOptions, _class_weights
from polychrome.errors import PolychromeError
from polychrome.eval.protocols import load_originals, score
from polychrome.ops.color import lab_to_rgb, luminance_of


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--max-side", type=int, default=256)
    parser.add_argument("--correction", type=_floats, default=[0.0, 0.5, 1.0])
    parser.add_argument("--temperature", type=_floats, default=[0.38, 0.6, 1.0])
    parser.add_argument("--saturation", type=_floats, default=[1.0, 1.3, 1.6])
    args = parser.parse_args()

    try:  # a missing folder or model is one line, not a traceback
        originals = load_originals(args.folder, max_side=args.max_side)
        engine = CnnEngine()
        raw = CnnOptions(model=args.model, prior_correction=0.0)
        weights = _class_weights(args.model)
        cache = []
        for o in originals:
            lum = luminance_of(o.rgb)
            cache.append((o, lum, engine.probabilities(lum, raw)))
    except PolychromeError as exc:
        parser.exit(exc.exit_code, f"error: {exc}\n")
    gray = [
        score(np.repeat(np.round(o.gray * 255).astype(np.uint8)[..., None], 3, 2), o.rgb)
        for o in originals
    ]
    ref = np.mean([score(o.rgb, o.rgb)["colorfulness"] for o in originals])
    gray_psnr = float(np.mean([g["psnr"] for g in gray]))
    print(f"{len(originals)} images; gray PSNR {gray_psnr:.2f}; originals colorfulness {ref:.1f}")
    head = ("correction", "T", "sat", "PSNR", "vs gray", "colorful", "gap")
    print("".join(f"{h:>{w}}" for h, w in zip(head, (10, 6, 6, 8, 9, 10, 7), strict=True)))
    for a, t, sat in itertools.product(args.correction, args.temperature, args.saturation):
        rows = []
        for o, lum, probs in cache:
            p = probs
            if weights is not None and a > 0:
                p = probs * (weights**-a)[:, None, None]
                p /= p.sum(axis=0, keepdims=True)
            ab = annealed_mean(p, t)
            ab = cv2.resize(ab, lum.shape[::-1], interpolation=cv2.INTER_LINEAR) * sat
            rgb = lab_to_rgb(np.dstack([lum, ab]))
            rows.append(score(np.round(rgb * 255).astype(np.uint8), o.rgb))
        psnr = float(np.mean([r["psnr"] for r in rows]))
        cf = float(np.mean([r["colorfulness"] for r in rows]))
        print(
            f"{a:>10.2f}{t:>6.2f}{sat:>6.2f}{psnr:>8.2f}{psnr - gray_psnr:>+9.2f}"
            f"{cf:>10.1f}{cf - ref:>+7.1f}"
        )


if __name__ == "__main__":
    main()
