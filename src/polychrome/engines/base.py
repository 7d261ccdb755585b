"""Engines: components that look at the luminance and propose chroma (priors). They never smooth
(that is the solver's job) and never see full resolution unless they ask for it.

Engines are registered by name with where their code lives and what they need, so that
``polychrome engines`` can list them, and say which are available, without importing any of them.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from polychrome.errors import EngineUnavailableError, UnknownEngineError, ValueCheckError
from polychrome.options import parse_bool

__all__ = [
    "ENGINES",
    "Engine",
    "EngineContext",
    "EngineOptions",
    "EngineSpec",
    "Proposal",
    "describe_engines",
    "engine_option",
    "engine_spec",
    "load_engine",
    "require_modules",
]

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Proposal:
    """What an engine proposes at working resolution.

    Attributes:
        ab: ``(h, w, 2)`` float32 chroma.
        confidence: ``(h, w)`` float32 in ``[0, 1]``: how much the solver should trust ``ab``.
    """

    ab: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class EngineContext:
    """What the user said, for engines that read guidance themselves (those whose class sets
    ``wants_context = True``; the others never see it).

    Attributes:
        description: the user's description (``""`` for none).
        instances: ``(mask, label)`` pairs, bottom to top: ``(h, w)`` bool masks at working
            resolution and each instance's label (``"car: red"``, or a color phrase).
        hints: the point hints (clicks, strokes, reference matches) at working resolution.
    """

    description: str = ""
    instances: tuple[tuple[np.ndarray, str], ...] = ()
    hints: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """The point hints at working resolution, merged: ``(yx (N, 2) int32, ab (N, 2) float32,
    weight (N,) float32)``, or None when there are none."""


_LIMITS = ("min", "max", "choices")


def engine_option(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    files: bool = False,
) -> Any:
    """A field of an :class:`EngineOptions` dataclass: its default, its help (shown by
    ``polychrome engines`` and ``/v1/engines``) and the values it accepts, checked when the
    options are made. ``files``: the value names files or models on the machine that runs the
    engine (weights, references), which the HTTP service does not take from its clients."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "files": files}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class EngineOptions:
    """Base class of engine options: a frozen dataclass of :func:`engine_option` fields;
    unknown keys are refused, and values outside a field's range or choices too."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            low, high, choices = meta.get("min"), meta.get("max"), meta.get("choices")
            if choices is not None and value not in choices:
                raise ValueCheckError(
                    f"{f.name} must be one of {', '.join(choices)}, got {value!r}"
                )
            if (low is not None and not value >= low) or (high is not None and not value <= high):
                if low is not None and high is not None:
                    bounds = f"in [{low:g}, {high:g}]"
                else:
                    bounds = f">= {low:g}" if low is not None else f"<= {high:g}"
                raise ValueCheckError(f"{f.name} must be {bounds}, got {value}")

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names this engine accepts."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> EngineOptions:
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ValueCheckError(
                f"unknown engine option(s) {', '.join(unknown)}; allowed: {allowed}"
            )
        converted = {}
        for key, raw in values.items():
            kind = (
                known[key].type if isinstance(known[key].type, type) else type(known[key].default)
            )
            try:
                if kind is bool and isinstance(raw, str):
                    converted[key] = parse_bool(raw)  # bool("false") would be True
                elif kind in (int, float) and isinstance(raw, bool):
                    raise ValueError  # int(True) is 1: a yes/no is no number
                elif kind is int and isinstance(raw, float) and not raw.is_integer():
                    raise ValueError  # int(2.5) would be 2, silently
                else:
                    converted[key] = kind(raw) if not isinstance(raw, kind) else raw
            except (TypeError, ValueError) as exc:
                # Python's "could not convert string to float: '=2'" names no type a user knows.
                wanted = {float: "a number", int: "a whole number"}.get(kind)
                why = f"not {wanted}" if wanted else str(exc)
                raise ValueCheckError(f"engine option {key}={raw!r}: {why}") from exc
        return cls(**converted)


class Engine(Protocol):
    """The interface every engine implements."""

    name: ClassVar[str]
    Options: ClassVar[type[EngineOptions]]

    def propose(
        self,
        luminance: np.ndarray,
        *,
        options: EngineOptions,
        seed: int,
        sample: int | None = None,
    ) -> Proposal | None:
        """Chroma proposal for ``luminance`` ``(h, w)`` in ``[0, 100]`` (working resolution),
        or None when the engine has nothing to say (then hints alone decide). ``sample`` asks
        for the ``sample``-th of several diverse proposals (engines that cannot sample ignore
        it). Engines with ``wants_context = True`` also receive ``context=``
        (:class:`EngineContext`)."""
        ...


@dataclass(frozen=True)
class EngineSpec:
    """A registry entry: where an engine lives and what it needs, known without importing it."""

    name: str
    target: str
    """``"module:Class"``."""
    summary: str
    requires: tuple[str, ...] = ()
    """Top-level modules the engine imports (checked with ``find_spec``, not imported)."""
    extra: str | None = None
    """The pip extra that installs ``requires``."""
    weights: str | None = None
    """What weights it needs, for the listing."""
    weights_file: str | None = None
    """A file (relative to the package) that must exist for the engine to run."""
    user_weights: bool = False
    """It runs only with weights the user passes (nothing is shipped): installed is not ready."""
    samples: bool = False
    """Its proposals differ by sample (``--samples N``); otherwise N results would be copies."""
    default: bool = False

    def missing(self) -> list[str]:
        out = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if self.weights_file and not (_PACKAGE / self.weights_file).is_file():
            out.append(f"weights {self.weights_file}")
        return out

    @property
    def available(self) -> bool:
        return not self.missing()


def require_modules(modules: tuple[str, ...], *, extra: str, what: str) -> None:
    """Raise :class:`EngineUnavailableError` naming the install command if any of ``modules``
    is missing (checked without importing them)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise EngineUnavailableError(
            f"{what} needs {', '.join(missing)}, {_not_installed(missing)}; run: "
            f"pip install 'polychrome[{extra}]'"
        )


_PACKAGE = Path(__file__).resolve().parents[1]

ENGINES: dict[str, EngineSpec] = {}


def _not_installed(modules: list[str]) -> str:
    return "which is not installed" if len(modules) == 1 else "which are not installed"


def register(spec: EngineSpec) -> EngineSpec:
    ENGINES[spec.name] = spec
    return spec


register(
    EngineSpec(
        name="cnn",
        target="polychrome.engines.cnn:CnnEngine",
        summary="Automatic colors from polychrome's own small network (ONNX, CPU); samples.",
        requires=("onnxruntime",),
        weights="shipped: weights/cnn.onnx (see docs/model-card.md)",
        weights_file="weights/cnn.onnx",
        default=True,
        samples=True,
    )
)
register(
    EngineSpec(
        name="diffusion",
        target="polychrome.engines.diffusion:DiffusionEngine",
        summary="Stable Diffusion 1.5 + a luminance ControlNet (diffusers): descriptions, "
        "multi-instance sampling, attention and anti-color guidance, in-context references, "
        "recolor; best on a GPU.",
        requires=("torch", "diffusers", "transformers"),
        extra="diffusion",
        weights="yours: --engine-option base_model=... controlnet=... (folder or hub id)",
        user_weights=True,
        samples=True,
    )
)
register(
    EngineSpec(
        name="none",
        target="polychrome.engines.none:NoneEngine",
        summary="No automatic colors: the hints, regions and references alone decide.",
    )
)


def engine_spec(name: str) -> EngineSpec:
    try:
        return ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise UnknownEngineError(f"unknown engine {name!r}; known engines: {known}") from None


_LOADED: dict[str, Engine] = {}


def load_engine(name: str) -> Engine:
    """Import and instantiate an engine (cached); raises a typed error that names the install
    command when its extra is missing."""
    spec = engine_spec(name)
    if name in _LOADED:
        return _LOADED[name]
    modules = [m for m in spec.requires if importlib.util.find_spec(m) is None]
    if modules:
        hint = (
            f"pip install 'polychrome[{spec.extra}]'"
            if spec.extra
            else "pip install " + " ".join(modules)
        )
        raise EngineUnavailableError(
            f"engine {name!r} needs {', '.join(modules)}, {_not_installed(modules)}; run: {hint}"
        )
    # Missing weights are reported by the engine when it loads them: options may name others.
    module_name, _, cls_name = spec.target.partition(":")
    engine = getattr(importlib.import_module(module_name), cls_name)()
    _LOADED[name] = engine
    return engine


def describe_engines() -> list[dict[str, Any]]:
    """Every registered engine as a JSON-able row: name, whether it is available (and what is
    missing), its extra, summary, weights (``user_weights``: only with weights the user passes),
    whether it samples, and its options (name, default, help). The `engines`
    command and the HTTP service's ``/v1/engines`` show these.

    Engine modules are imported (they import their own dependencies lazily), not instantiated.
    """
    rows = []
    for spec in ENGINES.values():
        module_name, _, cls_name = spec.target.partition(":")
        options_cls = getattr(importlib.import_module(module_name), cls_name).Options
        options = [
            {
                "name": f.name,
                "default": f.default,
                "help": f.metadata.get("help", ""),
                **{k: f.metadata[k] for k in _LIMITS if f.metadata.get(k) is not None},
            }
            for f in dataclasses.fields(options_cls)
        ]
        rows.append(
            {
                "name": spec.name,
                "available": spec.available,
                "missing": spec.missing(),
                "extra": spec.extra,
                "summary": spec.summary,
                "weights": spec.weights,
                "user_weights": spec.user_weights,
                "samples": spec.samples,
                "options": options,
            }
        )
    return rows
