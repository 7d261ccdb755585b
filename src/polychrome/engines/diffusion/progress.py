"""Progress of the diffusion engine's sampling: one report per denoising step, to a callback.

A run takes seconds on a GPU and minutes on a CPU; the engine reports each step so that a caller
can show it. The CLI shows a bar (``polychrome colorize`` of one image); library users pass their
own callback, to :meth:`~polychrome.engines.diffusion.sampler.Sampler.run`, to
:meth:`~polychrome.engines.diffusion.DiffusionEngine.propose`, or around any call that reaches the
engine (``colorize()``)::

    from polychrome.engines.diffusion.progress import reporting

    with reporting(lambda s: print(f"step {s.step}/{s.steps} {s.phase}")):
        colorize(gray, engine="diffusion", engine_options=...)

Importing this module needs neither torch nor diffusers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["PHASES", "DiffusionStep", "ProgressCallback", "current", "reporting"]

PHASES = ("instances", "global", "decode")
"""``instances``: multi-instance sampling, each instance denoised alone (MT-Color's first
``a * steps`` steps); ``global``: the global prompt; ``decode``: the VAE decode after the last
step (on a CPU, as long as a few steps)."""


@dataclass(frozen=True)
class DiffusionStep:
    """One report: ``step`` of ``steps`` denoising steps of this run are done.

    ``steps`` is the number of steps this run makes (a recolor redoes fewer than the ``steps``
    option); the ``decode`` report comes after the last step, with ``step == steps``.
    ``sample`` is the engine's ``sample`` argument (None when one result is made).
    """

    step: int
    steps: int
    phase: str
    sample: int | None = None


ProgressCallback = Callable[[DiffusionStep], None]

_CALLBACK: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "polychrome_diffusion_progress", default=None
)


@contextlib.contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Within the block, diffusion runs in this thread (or task) report to ``callback``; other
    threads (the HTTP service's) are not affected."""
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


def current() -> ProgressCallback | None:
    """The callback set by the innermost :func:`reporting` block, or None."""
    return _CALLBACK.get()
