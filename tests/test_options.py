"""The one options schema."""

import pytest

from polychrome.errors import ValueCheckError
from polychrome.options import ColorizeOptions, option_specs


def test_defaults_are_valid_and_declared_once():
    options = ColorizeOptions()
    for spec in option_specs():
        assert getattr(options, spec.name) == spec.default
        assert spec.help


def test_from_mapping_converts_and_refuses_unknown():
    options = ColorizeOptions.from_mapping({"seed": "5", "method": "fast"}, env=False)
    assert options.seed == 5 and options.method == "fast"
    with pytest.raises(ValueCheckError, match="unknown option"):
        ColorizeOptions.from_mapping({"colour": 1})
    with pytest.raises(ValueCheckError, match="--seed must be int"):
        ColorizeOptions.from_mapping({"seed": "five"})


def test_ranges_and_choices():
    with pytest.raises(ValueCheckError, match="--working-pixels must be >="):
        ColorizeOptions(working_pixels=10)
    with pytest.raises(ValueCheckError, match="one of auto, fast, exact"):
        ColorizeOptions(method="slow")


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("POLYCHROME_MAX_PIXELS", "1234")
    assert ColorizeOptions.from_mapping({}).max_pixels == 1234
    assert ColorizeOptions.from_mapping({}, env=False).max_pixels == 100_000_000
    assert ColorizeOptions.from_mapping({"max_pixels": 99}).max_pixels == 99
