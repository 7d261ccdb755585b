"""The solver's time across the exact / fast threshold, with the old factorization as baseline.

``colorize`` solves images of up to ``working_pixels`` (250,000) pixels exactly (``direct``, a
sparse factorization at full size, and two coarser ones for its coarse-to-fine prior) and larger
ones coarse to fine (``multiscale``). For square crops of the bundled sample photo with 10 true
color hints, it prints the solve time (``solve_chroma``, best of ``--repeat``; CPU seconds,
which other jobs on the machine disturb less than wall seconds, and wall seconds) at each side,
with the factorization used before 2026-12 (SuperLU on the whole system in double precision) in
the same run, and the largest difference between the two results (a*, b*).

Usage: python benchmarks/solver.py [--sides 400,499,501,600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import scipy.sparse.linalg as spl

import polychrome
from polychrome import sample_path
from polychrome.io import read_image
from polychrome.ops.color import luminance_of
from polychrome.solve import propagate

WORKING_PIXELS = 250_000


def whole_system(a, rhs, red, what):
    """The factorization before 2026-12: SuperLU on the whole system, double precision."""
    return spl.splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)


def timed(repeat: int, fn) -> tuple[float, float, np.ndarray]:
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="400,499,501,600")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gray = read_image(sample_path("coffee-gray.png")).pixels
    color = read_image(sample_path("coffee.png")).pixels
    new = propagate._direct_solve
    for side in (int(s) for s in args.sides.split(",")):
        lum = luminance_of(cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA))
        rgb = cv2.resize(color, (side, side), interpolation=cv2.INTER_AREA)
        yx = np.random.default_rng(0).integers(0, side, (10, 2))
        hints = polychrome.PointHints.from_rgb(yx, rgb[yx[:, 0], yx[:, 1]] / 255.0)
        guidance = polychrome.Guidance(points=(hints,))
        method = "direct" if side * side <= WORKING_PIXELS else "multiscale"
        rows = {}
        for name, solve in (("before", whole_system), ("now", new)):
            propagate._direct_solve = solve
            rows[name] = timed(
                args.repeat,
                lambda lum=lum, g=guidance, m=method: (
                    propagate.solve_chroma(lum, g, method=m).background
                ),
            )
        propagate._direct_solve = new
        diff = float(np.abs(rows["before"][2] - rows["now"][2]).max())
        print(
            f"{side}x{side} ({method:10s}): before {rows['before'][0]:5.2f} s CPU "
            f"({rows['before'][1]:5.2f} wall), now {rows['now'][0]:5.2f} s CPU "
            f"({rows['now'][1]:5.2f} wall); max |d ab| {diff:.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
