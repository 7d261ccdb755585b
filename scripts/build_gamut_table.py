"""Precompute the max-chroma table used by the fast gamut mapping (polychrome.ops.color).

Writes src/polychrome/ops/gamut_table.npy; tests/test_color.py checks that it equals a fresh
computation, so rerun this script whenever the table's definition changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from polychrome.ops.color import compute_max_chroma_table

OUT = Path(__file__).resolve().parents[1] / "src" / "polychrome" / "ops" / "gamut_table.npy"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the table to write ({OUT.name})")
    args = parser.parse_args(argv)  # --help now helps; it used to rewrite the table
    np.save(args.out, compute_max_chroma_table())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
