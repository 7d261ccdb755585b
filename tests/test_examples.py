"""Runnable examples: the README's Python block and examples/demo.py."""

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from polychrome.io import read_image

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = read_image(tmp_path / "out.png")
    assert out.pixels.shape == (400, 600, 3)


def test_demo(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["demo.py", str(tmp_path)])
    runpy.run_path(str(ROOT / "examples" / "demo.py"), run_name="__main__")
    result = read_image(tmp_path / "coffee-hints.png").pixels
    original = read_image(ROOT / "src/polychrome/samples/coffee.png").pixels
    mse = np.mean((result.astype(float) - original) ** 2)
    assert 10 * np.log10(255**2 / mse) > 26  # the strokes bring back the original's colors
    assert (tmp_path / "coffee-sheet.png").is_file() and (tmp_path / "coffee-auto.png").is_file()


SCRIPTS = sorted(
    f"{p.parent.name}/{p.name}" for d in ("scripts", "benchmarks") for p in (ROOT / d).glob("*.py")
)


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_answer_help_and_do_nothing_else(script, capsys, monkeypatch):
    # build_gamut_table.py and make_sample.py took no arguments: '--help' rewrote the package's
    # gamut table and sample images.
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(ROOT / script), run_name="__main__")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")


@pytest.mark.parametrize("name", ["nope.png", "", "x/coffee.png", "../__init__.py", "__init__.py"])
def test_sample_path_names_only_the_samples(name):
    """A name in a subfolder raised FileNotFoundError, "" listed no samples, and "../x" gave a
    path outside the samples."""
    from polychrome.errors import InputError
    from polychrome.samples import sample_path

    with pytest.raises(InputError, match=r"no sample named .*samples: coffee-gray\.png, "):
        sample_path(name)
    assert sample_path("coffee.png").is_file()


def test_type_hints_are_published():
    """Without a py.typed marker, mypy and pyright ignore polychrome's type hints in a user's
    script ('missing library stubs or py.typed marker')."""
    import tomllib

    assert (ROOT / "src" / "polychrome" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["polychrome"]


DOCTEST_MODULES = sorted(
    ".".join(p.relative_to(ROOT / "src").with_suffix("").parts)
    for p in (ROOT / "src" / "polychrome").rglob("*.py")
    if ">>> " in p.read_text()
)


@pytest.mark.parametrize("module", DOCTEST_MODULES)
def test_docstring_examples(module):
    """The docstrings' examples (shapes, ranges, known values) run as written; only
    describe's were run before."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_api_has_docstrings():
    """help(polychrome.X) explains every public name and method (ColorizeResult.bit_depth,
    ColorizeOptions.to_dict and PointHints.check_bounds had none)."""
    import inspect

    import polychrome

    missing = []
    for name in polychrome.__all__:
        obj = getattr(polychrome, name)
        if isinstance(obj, str):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") or not (callable(value) or isinstance(value, property)):
                    continue
                if not inspect.getdoc(value):
                    missing.append(f"{name}.{attr}")
    assert not missing
