"""What a pip install gets: declared dependencies, package data, extras and their install hints.

These read pyproject.toml and the source tree; none of them builds a wheel.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

from polychrome.errors import EngineUnavailableError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "polychrome"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
PROJECT = PYPROJECT["project"]

# The import name of every third-party module the package imports, and its distribution.
DISTRIBUTION = {
    "numpy": "numpy",
    "scipy": "scipy",
    "PIL": "pillow",
    "cv2": "opencv-contrib-python-headless",
    "onnxruntime": "onnxruntime",
    "typer": "typer",
    "rich": "rich",
    "skimage": "scikit-image",
    "torch": "torch",
    "onnx": "onnx",
    "transformers": "transformers",
    "diffusers": "diffusers",
    "fastapi": "fastapi",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "multipart": "python-multipart",
    "python_multipart": "python-multipart",
    "av": "av",
    "ray": "ray",
}
# Extras that are for this repository's own tests, never for a feature of the package.
TEST_ONLY_EXTRAS = {"dev", "web-test"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def _imports() -> list[tuple[Path, str, bool]]:
    """(file, top-level module, imported at module level) of every absolute import in the
    package, lazy ones inside functions included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(path, name.split(".")[0], id(node) in top) for name in names]
    return found


def _third_party() -> list[tuple[Path, str, bool]]:
    stdlib = sys.stdlib_module_names | {"__future__"}
    return [i for i in _imports() if i[1] not in stdlib and i[1] != "polychrome"]


def test_every_imported_module_is_a_declared_dependency():
    base = {_name(r) for r in PROJECT["dependencies"]}
    extras = {
        _name(r)
        for extra, reqs in PROJECT["optional-dependencies"].items()
        if extra not in TEST_ONLY_EXTRAS
        for r in reqs
    }
    undeclared = sorted(
        f"{path.relative_to(PACKAGE)}: {module}"
        for path, module, _ in _third_party()
        if DISTRIBUTION.get(module) not in base | extras
    )
    assert not undeclared, f"imported but not in the base install or a feature extra: {undeclared}"


def test_extra_only_modules_are_imported_lazily():
    """A module that only an extra installs is imported inside a function (or in
    ``polychrome.train``, which as a whole needs ``[train]``), so that the base install imports
    every other module of the package."""
    base = {_name(r) for r in PROJECT["dependencies"]}
    eager = sorted(
        f"{path.relative_to(PACKAGE)}: {module}"
        for path, module, top in _third_party()
        if top and DISTRIBUTION.get(module) not in base and path.parent.name != "train"
    )
    assert not eager, f"extra-only modules imported at module level: {eager}"


def test_base_install_pulls_no_torch_and_extras_pin_it():
    assert "torch" not in {_name(r) for r in PROJECT["dependencies"]}
    for extra, reqs in PROJECT["optional-dependencies"].items():
        for r in reqs:
            if _name(r) == "torch":
                assert r == "torch==2.13.0", (extra, r)


# The oldest release of each dependency that works, and why an older one does not (found by
# installing the wheel beside the older releases and running the CLI: each failed with a traceback).
MINIMUM = {
    "opencv-contrib-python-headless": ((4, 13), "cv2.IMWRITE_PNG_FILTER and cv2.utils.logging"),
    "typer": ((0, 16), "older ones break on click 8.2+, which they do not exclude"),
    "numpy": ((2, 0), "opencv 4.13 needs it"),
    "scipy": ((1, 13), "the first for numpy 2"),
    "onnxruntime": ((1, 19), "the first for numpy 2"),
    "scikit-image": ((0, 24), "the first for numpy 2"),
    "starlette": ((0, 44), "Request.form(max_part_size=...)"),
    "av": ((15,), "av.stream.Disposition"),
}


def _lower_bound(requirement: str) -> tuple[int, ...]:
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    assert match, f"no lower bound: {requirement}"
    return tuple(int(x) for x in match.group(1).split("."))


@pytest.mark.parametrize("distribution", sorted(MINIMUM))
def test_dependencies_exclude_releases_that_fail(distribution):
    version, why = MINIMUM[distribution]
    extras = PROJECT["optional-dependencies"].values()
    requirements = [r for reqs in [PROJECT["dependencies"], *extras] for r in reqs]
    found = [r for r in requirements if _name(r) == distribution]
    assert found, f"{distribution} is not declared"
    for requirement in found:
        assert _lower_bound(requirement) >= version, f"{requirement}: needs >= {version}: {why}"


def test_package_data_covers_every_data_file():
    """Every file of the package that is not Python (weights, samples, web page, tables) is
    matched by a package-data pattern, so the wheel holds it."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["polychrome"]
    data = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    ]
    assert data
    missing = [f for f in data if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_every_folder_of_python_files_is_a_package():
    folders = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(
        str(f.relative_to(PACKAGE)) for f in folders if not (f / "__init__.py").exists()
    )
    assert not missing, f"folders without __init__.py: {missing}"


def test_metadata():
    assert PROJECT["requires-python"] == ">=3.11"
    assert "version" in PROJECT.get("dynamic", [])
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "polychrome.__version__"
    assert PROJECT["license"] == "Apache-2.0"
    for pattern in PROJECT["license-files"]:
        assert list(ROOT.glob(pattern)), pattern
    assert "Apache License" in (ROOT / "LICENSE").read_text("utf-8")
    # The license expression makes License :: classifiers an error for the build.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    assert "Programming Language :: Python :: 3.11" in PROJECT["classifiers"]
    # setuptools reads a license expression (a string) from 77 on.
    setuptools = next(r for r in PYPROJECT["build-system"]["requires"] if _name(r) == "setuptools")
    assert setuptools == "setuptools>=77"
    module, _, func = PROJECT["scripts"]["polychrome"].partition(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_training_without_torch_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "polychrome.train" or name.startswith("polychrome.train."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(EngineUnavailableError, match=r"pip install 'polychrome\[train\]'"):
        importlib.import_module("polychrome.train.loop")
