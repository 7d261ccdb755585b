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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from polychrome.errors import EngineUnavailableError, UnknownEngineError, ValueCheckError

__all__ = [
    "ENGINES",
    "Engine",
    "EngineOptions",
    "EngineSpec",
    "Proposal",
    "engine_spec",
    "load_engine",
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
class EngineOptions:
    """Base class of engine options: a frozen dataclass; unknown keys are refused."""

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
                converted[key] = kind(raw) if not isinstance(raw, kind) else raw
            except (TypeError, ValueError) as exc:
                raise ValueCheckError(f"engine option {key}={raw!r}: {exc}") from exc
        return cls(**converted)


class Engine(Protocol):
    """The interface every engine implements."""

    name: ClassVar[str]
    Options: ClassVar[type[EngineOptions]]

    def propose(
        self, luminance: np.ndarray, *, options: EngineOptions, seed: int
    ) -> Proposal | None:
        """Chroma proposal for ``luminance`` ``(h, w)`` in ``[0, 100]`` (working resolution),
        or None when the engine has nothing to say (then hints alone decide)."""
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
    default: bool = False

    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    @property
    def available(self) -> bool:
        return not self.missing()


ENGINES: dict[str, EngineSpec] = {}


def register(spec: EngineSpec) -> EngineSpec:
    ENGINES[spec.name] = spec
    return spec


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
    missing = spec.missing()
    if missing:
        hint = (
            f"pip install 'polychrome[{spec.extra}]'"
            if spec.extra
            else "pip install " + " ".join(missing)
        )
        raise EngineUnavailableError(
            f"engine {name!r} needs {', '.join(missing)}, which is not installed; run: {hint}"
        )
    module_name, _, cls_name = spec.target.partition(":")
    engine = getattr(importlib.import_module(module_name), cls_name)()
    _LOADED[name] = engine
    return engine
