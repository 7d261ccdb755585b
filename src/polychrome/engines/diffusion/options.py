"""Options of the ``diffusion`` engine (``--engine-option KEY=VALUE``), checked when built.

Importing this module needs neither torch nor diffusers: ``polychrome engines`` lists the
options without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polychrome.engines.base import EngineOptions
from polychrome.errors import ValueCheckError

__all__ = ["DEVICES", "DTYPES", "SCHEDULERS", "DiffusionOptions"]

SCHEDULERS = ("ddim", "unipc", "dpm++")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class DiffusionOptions(EngineOptions):
    """Options of the ``diffusion`` engine: the models, the sampler, and each strategy's knobs.

    Strategies switch themselves on from what the user gives: a description is the prompt
    (L-CAD); instances (labelled masks with colors) turn on multi-instance sampling (MT-Color)
    and attention guidance (L-CAD); ``clip_model`` turns on anti-color guidance (DiffColor);
    ``references`` or ``pool`` turn on in-context reference (ColorFlow); ``recolor`` edits a
    color image (DiffColor stage 2). ``--samples`` gives diverse results by seed (GCP).
    """

    base_model: str = _opt(
        "",
        "Stable Diffusion 1.5-compatible model: a local folder in diffusers layout (unet/, vae/, "
        "text_encoder/, tokenizer/, scheduler/) or a hub id (downloaded only if not cached and "
        "the machine is online).",
    )
    controlnet: str = _opt(
        "",
        "ControlNet conditioned on luminance (a grayscale or brightness ControlNet): local "
        "folder or hub id.",
    )
    device: str = _opt("auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps.")
    dtype: str = _opt(
        "auto", "auto (float16 on cuda/mps, float32 on cpu), float32, float16 or bfloat16."
    )
    scheduler: str = _opt("unipc", "Sampler: ddim, unipc or dpm++ (DPM-Solver++).")
    steps: int = _opt(20, "Denoising steps.")
    guidance_scale: float = _opt(7.5, "Classifier-free guidance scale (1 turns it off).")
    conditioning_scale: float = _opt(1.0, "Weight of the ControlNet's luminance condition.")
    resolution: int = _opt(
        512, "Longer side (pixels) of the image the model sees; rounded to the model's multiple."
    )
    prompt: str = _opt(
        "a color photograph, natural colors",
        "Prompt used when there is no description (with one, the description is the prompt).",
    )
    negative_prompt: str = _opt(
        "a grayscale photograph, monochrome, faded, desaturated",
        "Negative prompt of classifier-free guidance.",
    )
    instance_fraction: float = _opt(
        0.2,
        "Multi-instance sampling a: each instance is denoised alone (its mask's own text) for "
        "the first a*steps steps, then latents are fused (0 turns it off).",
    )
    background_weight: float = _opt(
        0.2, "Multi-instance sampling b: weight of the global latents outside every instance."
    )
    attention_strength: float = _opt(
        1.0,
        "Instance-aware attention guidance lambda: cross-attention of each instance's words is "
        "pulled towards its mask (0 turns it off).",
    )
    attention_iterations: int = _opt(1, "Refinement steps of each attention map per layer.")
    clip_model: str = _opt(
        "",
        "CLIP model (transformers CLIPModel folder or hub id) for anti-color guidance; empty "
        "turns it off.",
    )
    anticolor_texts: str = _opt(
        "a grayscale photograph|a faded sepia photo|a black and white picture with scratches",
        "Texts the result is pushed away from, separated by |.",
    )
    anticolor_strength: float = _opt(
        0.3, "Strength of anti-color guidance (a fraction of the noise scale)."
    )
    anticolor_every: int = _opt(2, "Apply anti-color guidance every N steps (it costs a decode).")
    references: str = _opt(
        "",
        "In-context reference: color images (paths separated by commas, at most 3) stitched "
        "beside the target so it copies their identities' colors.",
    )
    pool: str = _opt(
        "",
        "In-context reference from a pool (pool.npz or folder, see `polychrome pool build`): "
        "the best 3 references are retrieved and stitched.",
    )
    recolor: str = _opt(
        "",
        "Recolor: a color image of this input (an earlier result); the description is the "
        "edit ('the bench is purple'); instance masks, when given, restrict the change.",
    )
    recolor_strength: float = _opt(
        0.7, "How much of the sampling a recolor redoes (0 keeps the image, 1 starts from noise)."
    )
    confidence: float = _opt(
        0.8,
        "Confidence of the proposal where the decoded image's luminance matches the input "
        "(lower where it does not).",
    )

    def __post_init__(self) -> None:
        for name, allowed in (("scheduler", SCHEDULERS), ("device", DEVICES), ("dtype", DTYPES)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueCheckError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        checks = [
            ("steps", self.steps, 1, 1000),
            ("guidance_scale", self.guidance_scale, 0.0, 50.0),
            ("conditioning_scale", self.conditioning_scale, 0.0, 5.0),
            ("resolution", self.resolution, 16, 2048),
            ("instance_fraction", self.instance_fraction, 0.0, 1.0),
            ("background_weight", self.background_weight, 0.0, 1.0),
            ("attention_strength", self.attention_strength, 0.0, 100.0),
            ("attention_iterations", self.attention_iterations, 1, 10),
            ("anticolor_strength", self.anticolor_strength, 0.0, 10.0),
            ("anticolor_every", self.anticolor_every, 1, 1000),
            ("recolor_strength", self.recolor_strength, 0.0, 1.0),
            ("confidence", self.confidence, 0.0, 1.0),
        ]
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ValueCheckError(f"{name} must be in [{low:g}, {high:g}], got {value}")
        if len(self.reference_paths) > 3:
            raise ValueCheckError(
                f"references takes at most 3 images, got {len(self.reference_paths)}"
            )

    @property
    def reference_paths(self) -> list[str]:
        return [p.strip() for p in self.references.split(",") if p.strip()]

    @property
    def anticolor_list(self) -> list[str]:
        return [t.strip() for t in self.anticolor_texts.split("|") if t.strip()]
