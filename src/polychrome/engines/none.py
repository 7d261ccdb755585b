"""The ``none`` engine: proposes nothing, so hints, regions and references alone decide colors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from polychrome.engines.base import EngineOptions, Proposal

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class NoneOptions(EngineOptions):
    """The ``none`` engine takes no options."""


class NoneEngine:
    name: ClassVar[str] = "none"
    Options: ClassVar[type[EngineOptions]] = NoneOptions

    def propose(
        self,
        luminance: np.ndarray,
        *,
        options: EngineOptions,
        seed: int,
        sample: int | None = None,
    ) -> Proposal | None:
        return None
