"""The tree stays ruff-clean (ruff is a dev dependency; skipped if missing)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
PATHS = ["src", "tests", "benchmarks", "examples", "scripts"]


@pytest.mark.skipif(not Path(RUFF).exists(), reason="ruff not installed")
@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args):
    proc = subprocess.run([RUFF, *args, *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
