"""Precompute the max-chroma table used by the fast gamut mapping (polychrome.ops.color).

Writes src/polychrome/ops/gamut_table.npy; tests/test_color.py checks that it equals a fresh
computation, so rerun this script whenever the table's definition changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polychrome.ops.color import compute_max_chroma_table

OUT = Path(__file__).resolve().parents[1] / "src" / "polychrome" / "ops" / "gamut_table.npy"

if __name__ == "__main__":
    np.save(OUT, compute_max_chroma_table())
    print(f"wrote {OUT}")
