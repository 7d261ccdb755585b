"""Odd and big inputs: how `colorize` scales where a demanding user pushes it.

Cases (each prints one line per size, best of ``--repeat`` runs, in this process):

- ``regions``: K rectangular regions (``--region MASK=COLOR``) on a 3 MP image, K = 0, 30, 120.
  The cost of a region should be its own size, not the image's: the time per region stays small
  and flat as K grows.

- ``16bit``: a 16-bit gray image (``cnn``, automatic) at 3 and 12 MP: its result is rendered
  with the exact gamut mapping (to 16-bit precision), so "output" is the step to watch, with
  the peak memory numpy allocated (tracemalloc) for the whole colorization.

- ``dense-hints``: hints on 55 % of the pixels of a 3 MP image (a hint image painted all over),
  ``none`` and ``cnn``: millions of hints should cost about as much as reading them.

- ``big``: 12 and 50 MP automatic (``cnn``): the upsampling and the output steps, and the peak
  of memory numpy allocated (tracemalloc).

- ``labels``: a gray label map of 150 labels (blobs: a coarse Voronoi diagram, enlarged) on a
  page of ``--megapixels`` MP (default 50), each label with a color in the legend (``"red
  part 7"``): the time of ``read_label_map`` alone, and the time and numpy peak (tracemalloc)
  of reading, binding and colorizing (``none``). Memory should grow with the page, not with
  labels x page (before 2026-12: one full-size mask per label, 8.6 GB at 50 MP).

Inputs are the bundled CC0 sample photo, resized; nothing is written but the label map and its
legend, to a temporary folder.

Usage: python benchmarks/stress.py [--cases regions] [--repeat 2] [--megapixels 50]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import polychrome
from polychrome import sample_path
from polychrome.io import read_image


def gray_of(width: int, height: int) -> np.ndarray:
    gray = read_image(sample_path("coffee-gray.png")).pixels
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_CUBIC)


def best(repeat: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def case_regions(repeat: int) -> None:
    gray = gray_of(2000, 1500)
    rng = np.random.default_rng(0)
    instances = []
    for k in range(120):
        mask = np.zeros(gray.shape, bool)
        y, x = rng.integers(0, 1400), rng.integers(0, 1900)
        mask[y : y + rng.integers(30, 300), x : x + rng.integers(30, 300)] = True
        ab = rng.uniform(-40, 40, 2).astype(np.float32)
        instances.append(polychrome.Instance(mask, ab, label=f"region {k}"))
    base = None
    for count in (0, 30, 120):
        guidance = polychrome.Guidance(instances=tuple(instances[:count]))
        seconds, result = best(
            repeat, lambda g=guidance: polychrome.colorize(gray, guidance=g, engine="none")
        )
        t = result.metadata["timings"]
        base = seconds if base is None else base
        per = (seconds - base) / count * 1000 if count else 0.0
        print(
            f"regions  3 MP, {count:3d} regions: {seconds:6.2f} s (solve {t['solve']:.2f}, "
            f"upsample {t['upsample']:.2f}); {per:5.1f} ms per region",
            flush=True,
        )


def automatic_with_peak(repeat: int, gray: np.ndarray) -> tuple[float, dict, float]:
    """Best time of an automatic (``cnn``) colorization of ``gray``, its step timings, and the
    peak of memory numpy allocated (GB, tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    seconds, result = best(repeat, lambda: polychrome.colorize(gray, engine="cnn"))
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return seconds, result.metadata["timings"], peak


def case_16bit(repeat: int) -> None:
    for mp, (width, height) in ((3, (2000, 1500)), (12, (4000, 3000))):
        gray = gray_of(width, height).astype(np.uint16) * 257
        seconds, t, peak = automatic_with_peak(repeat, gray)
        print(
            f"16bit   {mp:2d} MP: {seconds:6.2f} s (output {t['output']:.2f}, solve "
            f"{t['solve']:.2f}, upsample {t['upsample']:.2f}); numpy peak {peak:.2f} GB",
            flush=True,
        )


def case_dense_hints(repeat: int) -> None:
    gray = gray_of(2000, 1500)
    color = cv2.resize(read_image(sample_path("coffee.png")).pixels, (2000, 1500))
    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(rng.random(gray.shape) < 0.55)
    hints = polychrome.PointHints.from_rgb(np.stack([ys, xs], 1), color[ys, xs] / 255.0)
    guidance = polychrome.Guidance(points=(hints,))
    for engine in ("none", "cnn"):
        seconds, result = best(
            repeat, lambda e=engine: polychrome.colorize(gray, guidance=guidance, engine=e)
        )
        t = result.metadata["timings"]
        print(
            f"dense-hints 3 MP, {len(hints):,} hints, {engine}: {seconds:6.2f} s (priors "
            f"{t['priors']:.2f}, solve {t['solve']:.2f})",
            flush=True,
        )


def case_big(repeat: int) -> None:
    for mp, (width, height) in ((12, (4000, 3000)), (50, (8660, 5774))):
        seconds, t, peak = automatic_with_peak(repeat, gray_of(width, height))
        print(
            f"big    {mp:2d} MP: {seconds:6.2f} s (upsample {t['upsample']:.2f}, output "
            f"{t['output']:.2f}); numpy peak {peak:.2f} GB",
            flush=True,
        )


def case_labels(repeat: int, megapixels: float = 50.0, count: int = 150) -> None:
    import json
    import tempfile
    import tracemalloc
    from pathlib import Path

    from scipy.spatial import cKDTree

    from polychrome.guidance.binding import bind
    from polychrome.guidance.regions import read_label_map

    height = round((megapixels * 1e6 / 1.5) ** 0.5)
    width = round(height * 1.5)
    rng = np.random.default_rng(0)
    small = (height // 16, width // 16)
    seeds = rng.random((count, 2)) * small
    yx = np.indices(small).reshape(2, -1).T
    cells = cKDTree(seeds).query(yx)[1].reshape(small).astype(np.uint8) + 1
    labels = cv2.resize(cells, (width, height), interpolation=cv2.INTER_NEAREST)
    colors = ("red", "green", "blue", "yellow", "brown", "purple", "orange", "pink")
    legend = {str(v): f"{colors[v % len(colors)]} part {v}" for v in range(1, count + 1)}
    gray = gray_of(width, height)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labels.png"
        cv2.imwrite(str(path), labels)
        (Path(folder) / "legend.json").write_text(json.dumps(legend))
        del labels
        read, _ = best(  # the regions are not kept (before 2026-12 they held 7.5 GB)
            repeat, lambda: len(read_label_map(path, legend, shape=gray.shape, max_pixels=10**9))
        )

        def colorize():
            regions = read_label_map(path, legend, shape=gray.shape, max_pixels=10**9)
            bound = bind("", regions)
            guidance = polychrome.Guidance(instances=tuple(bound.instances))
            return polychrome.colorize(gray, guidance=guidance, engine="none")

        tracemalloc.start()
        seconds, result = best(1, colorize)
        peak = tracemalloc.get_traced_memory()[1] / 2**30
        tracemalloc.stop()
    t = result.metadata["timings"]
    print(
        f"labels {megapixels:g} MP, {count} labels: read_label_map {read:5.2f} s; read, bind "
        f"and colorize {seconds:6.2f} s (solve {t['solve']:.2f}, upsample "
        f"{t['upsample']:.2f}); numpy peak {peak:.2f} GB",
        flush=True,
    )


CASES = {
    "regions": case_regions,
    "16bit": case_16bit,
    "dense-hints": case_dense_hints,
    "big": case_big,
    "labels": case_labels,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=50.0, help="page size of 'labels'")
    args = parser.parse_args()
    for name in args.cases.split(","):
        if name == "labels":
            case_labels(args.repeat, args.megapixels)
        else:
            CASES[name](args.repeat)


if __name__ == "__main__":
    main()
