"""Click-to-region and box-to-region speed on a 1 MP image.

Times :func:`polychrome.guidance.regions.region_from_click` and ``region_from_box`` on a
1024 x 1024 luminance (``skimage.data.astronaut`` upscaled), each in a fresh process so that
the first call's imports count, then warm; beside it, OpenCV's GrabCut on the same box at full
resolution (the classical baseline).

Run: python benchmarks/click.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import cv2, numpy as np
from skimage import data
from polychrome.guidance.regions import region_from_box, region_from_click
from polychrome.ops.color import luminance_of
rgb = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
lum = luminance_of(rgb)
kind, repeat = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(repeat):
    t = time.perf_counter()
    if kind == "click":
        mask = region_from_click(lum, 400, 120)
    elif kind == "box":
        mask = region_from_box(lum, (280, 40, 680, 520))
    else:
        gc = np.zeros(lum.shape, np.uint8)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.grabCut(rgb, gc, (280, 40, 400, 480), bgd, fgd, 3, cv2.GC_INIT_WITH_RECT)
        mask = (gc == 1) | (gc == 3)
    times.append(time.perf_counter() - t)
print(json.dumps({"first": times[0], "warm": min(times[1:] or times),
                  "pixels": int(mask.sum())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for kind, label in [
        ("click", "click (polychrome)"),
        ("box", "box (polychrome)"),
        ("grabcut", "box (cv2.grabCut 3 it, RGB)"),
    ]:
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, kind, str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["label"] = label
        row["process"] = time.perf_counter() - start
        rows.append(row)
    print("1024 x 1024 (1 MP), 2-core CPU")
    print(f"{'method':<30}{'first call s':>14}{'warm s':>10}{'mask px':>10}")
    for r in rows:
        print(f"{r['label']:<30}{r['first']:>14.3f}{r['warm']:>10.3f}{r['pixels']:>10}")
    base = rows[2]["warm"]
    print(f"box: {base / rows[1]['warm']:.1f}x faster than GrabCut at full resolution")


if __name__ == "__main__":
    main()
