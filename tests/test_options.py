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
    with pytest.raises(ValueCheckError, match="--seed must be an integer"):
        ColorizeOptions.from_mapping({"seed": "five"})


def test_ranges_and_choices():
    with pytest.raises(ValueCheckError, match=r"--working-pixels must be >= 4,096, got 10$"):
        ColorizeOptions(working_pixels=10)
    # Integer bounds read as written (they said 'must be <= 4e+06, got 99999999999').
    with pytest.raises(
        ValueCheckError, match=r"--working-pixels must be <= 4,000,000, got 99,999,999,999$"
    ):
        ColorizeOptions(working_pixels=99_999_999_999)
    with pytest.raises(ValueCheckError, match=r"--saturation must be <= 3, got 5\.5$"):
        ColorizeOptions(saturation=5.5)
    with pytest.raises(ValueCheckError, match="one of auto, fast, exact"):
        ColorizeOptions(method="slow")


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("POLYCHROME_MAX_PIXELS", "1234")
    assert ColorizeOptions.from_mapping({}).max_pixels == 1234
    assert ColorizeOptions.from_mapping({}, env=False).max_pixels == 100_000_000
    assert ColorizeOptions.from_mapping({"max_pixels": 99}).max_pixels == 99


def test_python_values_are_checked_not_truncated():
    """A fraction or a yes/no given where an integer is meant was quietly converted
    (seed=1.5 ran with seed 1, samples=True with 1 sample); numpy numbers are taken as numbers."""
    import numpy as np

    for bad in ({"seed": 1.5}, {"samples": 2.7}, {"seed": True}, {"saturation": False}):
        with pytest.raises(ValueCheckError, match="must be"):
            ColorizeOptions.from_mapping(bad, env=False)
    assert ColorizeOptions.from_mapping({"seed": 3.0, "samples": "2"}).seed == 3
    options = ColorizeOptions(seed=np.int64(3), saturation=np.float32(0.5))
    assert type(options.seed) is int and type(options.saturation) is float
    assert ColorizeOptions.from_mapping({"seed": np.uint8(4)}).to_dict()["seed"] == 4
    with pytest.raises(ValueCheckError, match="--engine must be a string"):
        ColorizeOptions(engine=5)
    with pytest.raises(ValueCheckError, match="--seed must be an integer"):
        ColorizeOptions(seed=np.bool_(True))


def test_replace_converts_and_refuses_unknown():
    options = ColorizeOptions(engine="none", seed=2)
    assert options.replace({"seed": "5", "method": None}) == ColorizeOptions(engine="none", seed=5)
    with pytest.raises(ValueCheckError, match=r"unknown option.*sharpness"):
        options.replace({"sharpness": 2})
    with pytest.raises(ValueCheckError, match="--seed must be an integer"):
        options.replace({"seed": 1.5})
