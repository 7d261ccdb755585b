"""From what the user gave (options, description, instances, references, a color image to
recolor) to one :class:`~polychrome.engines.diffusion.sampler.SamplingPlan` and the canvas
layout, and from the decoded canvas back to a chroma proposal.

- any-level text (L-CAD): the description is the prompt; unmentioned things follow the prior.
- multi-instance sampling (MT-Color): instances with texts become branches (see ``fusion``).
- attention guidance (L-CAD): each instance's color words are guided towards its mask.
- anti-color guidance (DiffColor): with ``clip_model``.
- in-context reference (ColorFlow): references stitched beside the target in one canvas; the
  target cell is denoised as inpainting (the reference cells are kept), so self-attention copies
  the references' colors.
- recolor (DiffColor stage 2): a color image noised to ``recolor_strength`` and denoised with
  the edited prompt; outside the instance masks its latents are kept, and its chroma returned.
- diverse samples by seed (GCP): each sample has its own initial noise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from polychrome.engines.base import EngineContext
from polychrome.engines.diffusion.attention import split_words
from polychrome.engines.diffusion.fusion import latent_masks
from polychrome.engines.diffusion.options import DiffusionOptions
from polychrome.engines.diffusion.sampler import SamplingPlan
from polychrome.errors import ShapeError, ValueCheckError
from polychrome.ops.color import rgb_to_lab
from polychrome.ops.filters import resize

__all__ = [
    "InputImages",
    "Layout",
    "build_plan",
    "instance_text",
    "model_shape",
    "read_inputs",
    "sample_seed",
    "to_proposal",
]


@dataclass(frozen=True)
class Layout:
    """Where the target lies in the canvas the model sees, in model pixels."""

    canvas: tuple[int, int]
    box: tuple[int, int, int, int]
    """``(y, x, height, width)`` of the target cell."""
    keep_outside: np.ndarray | None = None
    """``(h, w)`` bool at working resolution: where a recolor keeps the original colors."""
    original_ab: np.ndarray | None = None
    """``(h, w, 2)``: the recolored image's chroma at working resolution."""


def model_shape(shape: tuple[int, int], resolution: int, multiple: int) -> tuple[int, int]:
    """``shape`` scaled so its longer side is ``resolution``, each side rounded to a multiple
    of ``multiple`` (at least one)."""
    scale = resolution / max(shape)
    return tuple(max(multiple, round(s * scale / multiple) * multiple) for s in shape)  # type: ignore[return-value]


def sample_seed(seed: int, sample: int | None) -> int:
    """The noise seed of one result: each sample gets its own (GCP's diversity by seed)."""
    key = [seed] if sample is None else [seed, sample + 1]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def instance_text(label: str) -> tuple[str, list[str]]:
    """``(prompt, color words)`` of an instance label: ``"car: red"`` (a bound description)
    gives ``("a red car", ["red"])``; a bare color phrase is all color words."""
    obj, sep, color = label.partition(":")
    if sep and color.strip():
        return f"a {color.strip()} {obj.strip()}", split_words(color)
    return label.strip(), split_words(label)


def _prompt_with(prompt: str, texts: list[str]) -> str:
    """The prompt, with each instance text it does not already mention appended."""
    words = set(split_words(prompt))
    for text in texts:
        if not set(split_words(text)) <= words:
            prompt = f"{prompt}, {text}" if prompt else text
            words |= set(split_words(text))
    return prompt


def _read_color(path: str, what: str) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB in ``[0, 1]`` of a color image file (typed errors)."""
    from polychrome.io import read_image
    from polychrome.reference.match import is_color

    image = read_image(os.path.expanduser(path))
    if image.is_gray:
        raise ValueCheckError(f"{what} {path} is a gray image; it must be a color image")
    rgb = image.pixels.astype(np.float32) / np.float32(image.max_value)
    if not is_color(rgb):
        raise ValueCheckError(
            f"{what} {path} has no color (every pixel is gray); it must be a color image"
        )
    return rgb


def _cover(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``rgb`` center-cropped to the aspect of ``shape`` and resized to it."""
    h, w = rgb.shape[:2]
    target = shape[0] / shape[1]
    if h / w > target:
        ch = max(1, round(w * target))
        rgb = rgb[(h - ch) // 2 : (h - ch) // 2 + ch]
    else:
        cw = max(1, round(h / target))
        rgb = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    return np.clip(resize(np.ascontiguousarray(rgb), shape, mode="area"), 0, 1)


@dataclass(frozen=True)
class InputImages:
    """The images the options name, read and checked: ``references`` (each ``(H, W, 3)``
    float32 RGB in ``[0, 1]``, at most 3) and the ``recolor`` image (same, or None)."""

    references: tuple[np.ndarray, ...] = ()
    recolor: np.ndarray | None = None


def read_inputs(options: DiffusionOptions, luminance: np.ndarray) -> InputImages:
    """Read and check the references (given, or retrieved from the pool) and the recolor image
    for ``luminance`` ``(h, w)``: cheap, so it runs before the models load (a gray, unreadable
    or misshapen image is found in a second, not after minutes of loading on a CPU).

    Raises:
        ValueCheckError: an image is gray, or the pool is no pool.
        ShapeError: the recolor image has another aspect ratio than the input.
    """
    paths = options.reference_paths
    if options.pool:
        from polychrome.reference.pool import Pool

        pool = Pool.open(os.path.expanduser(options.pool))
        retrieved = [str(p) for p, _ in pool.retrieve(luminance)]
        paths += [p for p in retrieved if p not in paths]
    references = tuple(_read_color(p, "reference") for p in paths[:3])
    original = None
    if options.recolor:
        original = _read_color(options.recolor, "recolor image")
        ratio = (original.shape[0] / original.shape[1]) / (luminance.shape[0] / luminance.shape[1])
        if abs(ratio - 1) > 0.02:
            raise ShapeError(
                f"the recolor image is {original.shape[1]}x{original.shape[0]}: it must be a color "
                "version of the input (same aspect ratio)"
            )
    return InputImages(references, original)


def _luminance01(rgb: np.ndarray) -> np.ndarray:
    return (rgb_to_lab(rgb)[..., 0] / 100.0).astype(np.float32)


def build_plan(
    luminance: np.ndarray,
    options: DiffusionOptions,
    context: EngineContext,
    *,
    multiple: int,
    vae_scale: int,
    seed: int,
    anticolor=None,
    images: InputImages | None = None,
) -> tuple[SamplingPlan, Layout]:
    """The sampling plan for ``luminance`` ``(h, w)`` in ``[0, 100]`` (working resolution).
    ``images``: from :func:`read_inputs` (read here when not given)."""
    if images is None:
        images = read_inputs(options, luminance)
    cell = model_shape(luminance.shape, options.resolution, multiple)
    target_l = np.clip(resize(luminance.astype(np.float32), cell, mode="area") / 100, 0, 1)
    # Instances: masks and texts (the description binds objects to them).
    instances = list(context.instances)
    for mask, label in instances:
        if mask.shape != luminance.shape:
            raise ShapeError(f"the mask of {label!r} is {mask.shape}, not {luminance.shape}")
    texts = [instance_text(label) for _, label in instances]
    description = context.description.strip()
    prompt = description or options.prompt
    prompt = _prompt_with(prompt, [t for t, _ in texts])
    # Canvas: the target alone, or beside its references (in-context reference).
    references = images.references
    rows, cols = (1, 1) if not references else (1, 2) if len(references) == 1 else (2, 2)
    canvas = (cell[0] * rows, cell[1] * cols)
    control = np.zeros(canvas, np.float32)
    control[: cell[0], : cell[1]] = target_l
    latent = (canvas[0] // vae_scale, canvas[1] // vae_scale)
    known = keep = keep_work = original_ab = None
    strength = 1.0
    if references:
        known = np.repeat(control[..., None], 3, axis=2)
        cells = [(r, c) for r in range(rows) for c in range(cols)][1:]
        for k, (r, c) in enumerate(cells):
            ref = _cover(references[k % len(references)], cell)
            y, x = r * cell[0], c * cell[1]
            known[y : y + cell[0], x : x + cell[1]] = ref
            control[y : y + cell[0], x : x + cell[1]] = _luminance01(ref)
        keep_px = np.ones(canvas, np.float32)
        keep_px[: cell[0], : cell[1]] = 0
        keep = resize(keep_px, latent, mode="area")
    if images.recolor is not None:
        original = images.recolor
        known = resize(original, cell, mode="area").clip(0, 1)
        strength = options.recolor_strength
        work = resize(original, luminance.shape, mode="area").clip(0, 1)
        original_ab = rgb_to_lab(work)[..., 1:].astype(np.float32)
        if instances:
            change = np.zeros(luminance.shape, bool)
            for mask, _ in instances:
                change |= mask
            keep_work = ~change
            keep = 1 - latent_masks([change], latent)[0]
    # Masks in the canvas at latent resolution, for branches and attention guidance.
    masks = None
    if instances:
        full = []
        for mask, _ in instances:
            m = np.zeros(canvas, bool)
            m[: cell[0], : cell[1]] = resize(mask.astype(np.float32), cell, mode="area") >= 0.5
            full.append(m if m.any() else _nearest_cell(mask, cell, canvas))
        masks = latent_masks(full, latent)
    branches = bool(instances) and options.instance_fraction > 0 and not options.recolor
    plan = SamplingPlan(
        control=control,
        prompt=prompt,
        negative_prompt=options.negative_prompt,
        steps=options.steps,
        scheduler=options.scheduler,
        guidance_scale=options.guidance_scale,
        conditioning_scale=options.conditioning_scale,
        seed=seed,
        instance_texts=[t for t, _ in texts] if branches else [],
        instance_masks=masks,
        instance_fraction=options.instance_fraction,
        background_weight=options.background_weight,
        attention_words=[w for _, w in texts] if options.attention_strength > 0 else [],
        attention_strength=options.attention_strength,
        attention_iterations=options.attention_iterations,
        known=known,
        keep=keep,
        strength=strength,
        anticolor=anticolor,
        anticolor_strength=options.anticolor_strength,
        anticolor_every=options.anticolor_every,
    )
    return plan, Layout(canvas, (0, 0, *cell), keep_work, original_ab)


def _nearest_cell(mask: np.ndarray, cell: tuple[int, int], canvas: tuple[int, int]) -> np.ndarray:
    """A mask too small to survive the resize keeps at least the pixel nearest its center."""
    ys, xs = np.nonzero(mask)
    out = np.zeros(canvas, bool)
    y = min(cell[0] - 1, int(ys.mean() * cell[0] / mask.shape[0]))
    x = min(cell[1] - 1, int(xs.mean() * cell[1] / mask.shape[1]))
    out[y, x] = True
    return out


def to_proposal(
    rgb: np.ndarray, layout: Layout, luminance: np.ndarray, options: DiffusionOptions
) -> tuple[np.ndarray, np.ndarray]:
    """``(ab, confidence)`` at working resolution from the decoded canvas ``rgb``.

    Only chroma is kept. Confidence is ``options.confidence`` where the decoded luminance agrees
    with the input's and falls off where it does not (where the model redrew the structure, its
    colors are placed wrongly); a recolor keeps the original's chroma, fully confident, outside
    its masks.
    """
    import cv2

    y, x, h, w = layout.box
    target = np.ascontiguousarray(rgb[y : y + h, x : x + w])
    broken = ~np.isfinite(target).all(axis=2)  # a float16 overflow: no opinion there
    target = np.nan_to_num(target, nan=0.5, posinf=1.0, neginf=0.0)
    target = resize(target, luminance.shape, mode="area").clip(0, 1)
    lab = rgb_to_lab(target)
    ab = np.ascontiguousarray(lab[..., 1:], dtype=np.float32)
    error = cv2.blur(np.abs(lab[..., 0] - luminance).astype(np.float32), (5, 5))
    confidence = options.confidence * np.exp(-error / 10.0)
    if broken.any():
        confidence *= resize((~broken).astype(np.float32), luminance.shape, mode="area") >= 1.0
    if layout.keep_outside is not None and layout.original_ab is not None:
        ab = np.where(layout.keep_outside[..., None], layout.original_ab, ab)
        confidence = np.where(layout.keep_outside, 1.0, confidence)
    return ab.astype(np.float32), np.clip(confidence, 0, 1).astype(np.float32)
