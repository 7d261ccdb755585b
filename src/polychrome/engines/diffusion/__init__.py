"""The ``diffusion`` engine: the seeds' methods on Stable Diffusion 1.5 + a luminance ControlNet,
through diffusers (extra ``[diffusion]``).

The model sees the working-resolution luminance (as the ControlNet's condition) and the user's
guidance; whatever it produces, only its chroma is kept: the decoded image is converted to Lab
at working resolution and its ab returned with a confidence, and the solver fuses that with the
user's hints and instance masks at full resolution, so the input's luminance, text and fine
detail are untouched.

Modules: :mod:`.options` (the engine's options), :mod:`.loading` (models from folders or hub
ids, with errors that say what to pass), :mod:`.strategies` (from guidance to a sampling plan and
back to chroma), :mod:`.sampler` (the denoising loop), :mod:`.fusion` (multi-instance
sampling), :mod:`.attention` (instance-aware attention guidance), :mod:`.anticolor` (CLIP
anti-color guidance), :mod:`.progress` (a callback told of each denoising step). See
docs/diffusion.md.

Nothing here imports torch or diffusers until :meth:`DiffusionEngine.propose` runs.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import TYPE_CHECKING, ClassVar

from polychrome.engines.base import EngineContext, EngineOptions, Proposal, require_modules
from polychrome.engines.diffusion.options import DiffusionOptions
from polychrome.engines.diffusion.progress import DiffusionStep, ProgressCallback, current
from polychrome.errors import InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DiffusionEngine", "DiffusionOptions", "check_paths"]

_RUN_LOCK = threading.Lock()


class DiffusionEngine:
    """Stable Diffusion + ControlNet as a chroma prior (see the module docstring)."""

    name: ClassVar[str] = "diffusion"
    Options: ClassVar[type[EngineOptions]] = DiffusionOptions
    wants_context: ClassVar[bool] = True

    def propose(
        self,
        luminance: np.ndarray,
        *,
        options: EngineOptions,
        seed: int,
        sample: int | None = None,
        context: EngineContext | None = None,
        progress: ProgressCallback | None = None,
    ) -> Proposal:
        """Chroma for ``luminance`` ``(h, w)`` in ``[0, 100]``: ``Proposal(ab (h, w, 2),
        confidence (h, w))`` at the same resolution. ``sample`` picks another initial noise
        (diverse results); ``context`` carries the description and instances; ``progress`` is
        told of each denoising step (default: the callback of an enclosing
        :func:`~polychrome.engines.diffusion.progress.reporting` block)."""
        assert isinstance(options, DiffusionOptions)
        check_paths(options)
        require_modules(
            ("torch", "diffusers", "transformers"), extra="diffusion", what="the diffusion engine"
        )
        from polychrome.engines.diffusion.anticolor import AntiColorGuide
        from polychrome.engines.diffusion.loading import load_clip, load_components
        from polychrome.engines.diffusion.sampler import Sampler
        from polychrome.engines.diffusion.strategies import (
            build_plan,
            read_inputs,
            sample_seed,
            to_proposal,
        )

        context = context or EngineContext()
        # 0. The images the options name, read and checked before minutes of model loading
        images = read_inputs(options, luminance)
        # The models are cached and shared, and a run swaps their attention processors: one
        # run at a time in a process (the HTTP service colorizes in several threads).
        with _RUN_LOCK:
            # 1. Load the models (cached per process)
            components = load_components(
                options.base_model, options.controlnet, options.device, options.dtype
            )
            # 2. Anti-color guidance, when a CLIP model is given
            anticolor = None
            if options.clip_model and options.anticolor_strength > 0:
                clip = load_clip(options.clip_model, options.device, options.dtype)
                positive = context.description or options.prompt
                anticolor = AntiColorGuide(clip, positive, options.anticolor_list)
            # 3. Plan: prompt, branches, attention guidance, canvas with references, recolor
            plan, layout = build_plan(
                luminance,
                options,
                context,
                multiple=components.multiple,
                vae_scale=components.vae_scale,
                seed=sample_seed(seed, sample),
                anticolor=anticolor,
                images=images,
            )
            # 4. Sample and decode
            rgb = Sampler(components).run(plan, progress=_with_sample(progress, sample))
        # 5. Only the chroma, at working resolution, with a confidence
        ab, confidence = to_proposal(rgb, layout, luminance, options)
        return Proposal(ab, confidence)


def check_paths(options: DiffusionOptions) -> None:
    """Fail on missing weights, mistyped model folders and missing input files before anything
    heavy is imported or loaded (minutes on a CPU), without torch: :meth:`DiffusionEngine.propose`
    calls it first, and the CLI before it says a run started.

    Raises:
        EngineUnavailableError: a model is not given, or is a hub id that cannot be had here.
        InputError: a model folder or an input file (references, recolor, pool) is wrong.
    """
    from polychrome.engines.diffusion.loading import model_source

    model_source(options.base_model, "base_model")
    model_source(options.controlnet, "controlnet")
    if options.clip_model and options.anticolor_strength > 0:
        model_source(options.clip_model, "clip_model")
    for what, path in (
        *(("references", p) for p in options.reference_paths),
        ("recolor", options.recolor),
        ("pool", options.pool),
    ):
        if path and not os.path.exists(os.path.expanduser(path)):
            raise InputError(f"{what}={path}: no such file")


def _with_sample(progress: ProgressCallback | None, sample: int | None) -> ProgressCallback | None:
    """``progress`` (or the current :func:`~.progress.reporting` callback), its reports marked
    with the sample they belong to."""
    callback = progress or current()
    if callback is None:
        return None

    def report(step: DiffusionStep) -> None:
        callback(dataclasses.replace(step, sample=sample))

    return report
