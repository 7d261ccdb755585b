"""Options of the ``diffusion`` engine (``--engine-option KEY=VALUE``), checked when built.

Importing this module needs neither torch nor diffusers: ``polychrome engines`` lists the
options without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from polychrome.engines.base import EngineOptions, engine_option
from polychrome.errors import ValueCheckError

__all__ = ["DEVICES", "DTYPES", "SCHEDULERS", "DiffusionOptions"]

SCHEDULERS = ("ddim", "unipc", "dpm++")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


_opt = engine_option


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
        files=True,
    )
    controlnet: str = _opt(
        "",
        "ControlNet conditioned on luminance (a grayscale or brightness ControlNet): local "
        "folder or hub id.",
        files=True,
    )
    device: str = _opt(
        "auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps.", choices=DEVICES
    )
    dtype: str = _opt(
        "auto",
        "auto (float16 on cuda/mps, float32 on cpu), float32, float16 or bfloat16.",
        choices=DTYPES,
    )
    scheduler: str = _opt(
        "unipc", "Sampler: ddim, unipc or dpm++ (DPM-Solver++).", choices=SCHEDULERS
    )
    steps: int = _opt(20, "Denoising steps.", min=1, max=1000)
    guidance_scale: float = _opt(
        7.5, "Classifier-free guidance scale (1 turns it off).", min=0, max=50
    )
    conditioning_scale: float = _opt(
        1.0, "Weight of the ControlNet's luminance condition.", min=0, max=5
    )
    resolution: int = _opt(
        512,
        "Longer side (pixels) of the image the model sees; rounded to the model's multiple.",
        min=16,
        max=2048,
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
        min=0,
        max=1,
    )
    background_weight: float = _opt(
        0.2,
        "Multi-instance sampling b: weight of the global latents outside every instance.",
        min=0,
        max=1,
    )
    attention_strength: float = _opt(
        1.0,
        "Instance-aware attention guidance lambda: cross-attention of each instance's words is "
        "pulled towards its mask (0 turns it off).",
        min=0,
        max=100,
    )
    attention_iterations: int = _opt(
        1, "Refinement steps of each attention map per layer.", min=1, max=10
    )
    clip_model: str = _opt(
        "",
        "CLIP model (transformers CLIPModel folder or hub id) for anti-color guidance; empty "
        "turns it off.",
        files=True,
    )
    anticolor_texts: str = _opt(
        "a grayscale photograph|a faded sepia photo|a black and white picture with scratches",
        "Texts the result is pushed away from, separated by |.",
    )
    anticolor_strength: float = _opt(
        0.3, "Strength of anti-color guidance (a fraction of the noise scale).", min=0, max=10
    )
    anticolor_every: int = _opt(
        2, "Apply anti-color guidance every N steps (it costs a decode).", min=1, max=1000
    )
    references: str = _opt(
        "",
        "In-context reference: color images (paths separated by commas, at most 3) stitched "
        "beside the target so it copies their identities' colors.",
        files=True,
    )
    pool: str = _opt(
        "",
        "In-context reference from a pool (pool.npz or folder, see `polychrome pool build`): "
        "the best 3 references are retrieved and stitched.",
        files=True,
    )
    recolor: str = _opt(
        "",
        "Recolor: a color image of this input (an earlier result); the description is the "
        "edit ('the bench is purple'); instance masks, when given, restrict the change.",
        files=True,
    )
    recolor_strength: float = _opt(
        0.7,
        "How much of the sampling a recolor redoes (0 keeps the image, 1 starts from noise).",
        min=0,
        max=1,
    )
    confidence: float = _opt(
        0.8,
        "Confidence of the proposal where the decoded image's luminance matches the input "
        "(lower where it does not).",
        min=0,
        max=1,
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # ranges and choices
        if len(self.reference_paths) > 3:
            raise ValueCheckError(
                f"references takes at most 3 images, got {len(self.reference_paths)}"
            )
        if self.recolor and (self.references or self.pool):
            given = "references" if self.references else "pool"
            raise ValueCheckError(
                f"recolor edits the colors of one image and takes no {given}: give recolor= or "
                f"{given}=, not both"
            )
        # A strategy's knobs set without the strategy would change nothing: most likely the
        # option that turns it on was forgotten.
        for knob, strategy, on in (
            ("recolor_strength", "recolor", self.recolor),
            ("anticolor_strength", "clip_model", self.clip_model),
            ("anticolor_texts", "clip_model", self.clip_model),
            ("anticolor_every", "clip_model", self.clip_model),
        ):
            field = type(self).__dataclass_fields__[knob]
            if not on and getattr(self, knob) != field.default:
                raise ValueCheckError(
                    f"{knob}={getattr(self, knob)} has no effect without {strategy}= (the "
                    f"option that turns its strategy on): pass {strategy}=..., or leave "
                    f"{knob} out"
                )

        if self.clip_model and self.anticolor_strength > 0 and not self.anticolor_list:
            # The contrastive loss over the description alone is 0: each guided step would
            # cost a decode and a backward pass, and change nothing.
            raise ValueCheckError(
                f"anticolor_texts={self.anticolor_texts!r} holds no text: anti-color guidance "
                "needs texts to push away from, separated by | (or anticolor_strength=0 to "
                "turn it off)"
            )

    @property
    def reference_paths(self) -> list[str]:
        return [p.strip() for p in self.references.split(",") if p.strip()]

    @property
    def anticolor_list(self) -> list[str]:
        return [t.strip() for t in self.anticolor_texts.split("|") if t.strip()]
