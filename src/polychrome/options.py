"""The one options schema. CLI flags, HTTP form fields and the web page are generated from it, so a
default or a limit is declared exactly once.

Each field of :class:`ColorizeOptions` carries its help text, its allowed values and, optionally,
the environment variable that sets it.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polychrome.errors import ValueCheckError

__all__ = ["ColorizeOptions", "OptionSpec", "option_specs"]


def _opt(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    env: str | None = None,
) -> Any:
    meta = {"help": help, "choices": choices, "min": minimum, "max": maximum, "env": env}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ColorizeOptions:
    """Settings of one colorization, shared by the API, the CLI and the HTTP service."""

    engine: str = _opt(
        "cnn",
        "Engine that proposes automatic colors; `polychrome engines` lists them.",
        env="POLYCHROME_ENGINE",
    )
    seed: int = _opt(0, "Seed of every random choice (same seed, same result).", minimum=0)
    samples: int = _opt(
        1,
        "Number of different plausible results (engines that can sample, e.g. cnn).",
        minimum=1,
        maximum=16,
    )
    saturation: float = _opt(
        1.0,
        "Scale of the engine's automatic chroma (hints and regions keep their colors).",
        minimum=0.0,
        maximum=3.0,
    )
    method: str = _opt(
        "auto",
        "Solver path: 'exact' solves at full resolution (images of at most 2,000,000 pixels); "
        "'fast' solves at working resolution "
        "and upsamples guided by the full-resolution luminance; 'auto' is exact for images of at "
        "most --working-pixels pixels, fast otherwise.",
        choices=("auto", "fast", "exact"),
    )
    working_pixels: int = _opt(
        250_000,
        "Pixel count of the working resolution used by engines and the fast solver path.",
        minimum=4096,
        maximum=4_000_000,
    )
    upsample: str = _opt(
        "guided",
        "How chroma returns to full resolution: 'guided' by the luminance, or plain 'linear'.",
        choices=("guided", "linear"),
    )
    max_pixels: int = _opt(
        100_000_000,
        "Refuse images with more pixels than this (checked before decoding).",
        minimum=1,
        env="POLYCHROME_MAX_PIXELS",
    )

    def __post_init__(self) -> None:
        for spec in option_specs():
            value = getattr(self, spec.name)
            if _is_bool(value):
                pass  # refused below: True is an int to Python, not a seed or a count
            elif spec.type is int and isinstance(value, numbers.Integral):
                value = int(value)  # numpy integers too; stored as int (metadata is JSON)
            elif spec.type is float and isinstance(value, numbers.Real):
                value = float(value)
            object.__setattr__(self, spec.name, value)
            if spec.type is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueCheckError(f"{spec.flag} must be an integer, got {value!r}")
            if spec.type is float and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
            ):
                raise ValueCheckError(f"{spec.flag} must be a number, got {value!r}")
            if spec.type is str and not isinstance(value, str):
                raise ValueCheckError(f"{spec.flag} must be a string, got {value!r}")
            if spec.choices and value not in spec.choices:
                raise ValueCheckError(
                    f"{spec.flag} must be one of {', '.join(spec.choices)}; got {value!r}"
                )
            # Integers read as written: 4,000,000 (not 4e+06).
            shown = "{:,}" if spec.type is int else "{:g}"
            got = shown.format(value) if spec.type is int else value
            if spec.min is not None and value < spec.min:
                bound = shown.format(spec.min)
                raise ValueCheckError(f"{spec.flag} must be >= {bound}, got {got}")
            if spec.max is not None and value > spec.max:
                bound = shown.format(spec.max)
                raise ValueCheckError(f"{spec.flag} must be <= {bound}, got {got}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None = None, *, env: bool = True):
        """Build from a mapping (e.g. parsed form fields); unknown keys are refused; fields not
        given fall back to their environment variable (when ``env``), then to the default."""
        values = dict(values or {})
        specs = _known(values)
        out: dict[str, Any] = {}
        for name, spec in specs.items():
            raw = values.get(name)
            if raw is None and env and spec.env and os.environ.get(spec.env):
                raw = os.environ[spec.env]
            if raw is None:
                continue
            out[name] = spec.convert(raw)
        return cls(**out)

    def replace(self, values: Mapping[str, Any]) -> ColorizeOptions:
        """A copy with ``values`` changed, each converted and checked as :meth:`from_mapping`
        does; unknown keys are refused. ``None`` leaves a field as it is."""
        specs = _known(values)
        changed = {k: specs[k].convert(v) for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **changed)

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-able dict of field -> value (``result.metadata["options"]``);
        ``ColorizeOptions.from_mapping`` reads it back."""
        return dataclasses.asdict(self)


def _known(values: Mapping[str, Any]) -> dict[str, OptionSpec]:
    """The specs by name, after refusing the keys of ``values`` that name no option."""
    specs = {s.name: s for s in option_specs()}
    unknown = sorted(str(k) for k in set(values) - set(specs))
    if unknown:
        raise ValueCheckError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(specs))}"
        )
    return specs


@dataclass(frozen=True)
class OptionSpec:
    """One option as every surface sees it."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None
    min: float | None
    max: float | None
    env: str | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, raw: Any) -> Any:
        """``raw`` (a Python value, or text from a flag, a form or the environment) as this
        option's type. A yes/no is no number, and a fraction is no integer: both are refused
        (``int(2.7)`` would quietly be 2)."""
        if isinstance(raw, self.type) and (self.type is bool or not isinstance(raw, bool)):
            return raw
        kind = {int: "an integer", float: "a number", bool: "bool (yes or no)"}.get(
            self.type, "text"
        )
        wrong = f"{self.flag} must be {kind}, got {raw!r}"
        if self.type is not bool and _is_bool(raw):
            raise ValueCheckError(wrong)
        if self.type is int and isinstance(raw, numbers.Real) and not float(raw).is_integer():
            raise ValueCheckError(wrong)
        try:
            if self.type is bool and isinstance(raw, str):
                return parse_bool(raw)  # bool("false") would be True
            return self.type(raw)
        except (TypeError, ValueError, OverflowError):
            raise ValueCheckError(wrong) from None


def _is_bool(value: Any) -> bool:
    """True for ``bool`` and numpy's ``bool_`` (not imported here: the CLI starts without numpy)."""
    return isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"


def parse_bool(text: str) -> bool:
    """A yes/no value given as text (a flag's value, a form field, an environment variable).

    Raises:
        ValueError: ``text`` is none of true, false, 1, 0, yes, no, on, off (any case).
    """
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value (true, false, 1, 0, yes, no, on, off): {text!r}")


def option_specs() -> list[OptionSpec]:
    """The options of :class:`ColorizeOptions`, in declaration order."""
    types = {"str": str, "int": int, "float": float, "bool": bool}
    out = []
    for f in dataclasses.fields(ColorizeOptions):
        kind = f.type if isinstance(f.type, type) else types[str(f.type)]
        m = f.metadata
        out.append(
            OptionSpec(
                f.name, kind, f.default, m["help"], m["choices"], m["min"], m["max"], m["env"]
            )
        )
    return out
