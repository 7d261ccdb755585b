"""The sampling loop of the diffusion engine: Stable Diffusion + a luminance ControlNet, with the
hooks each strategy needs (multi-instance branches, attention guidance, anti-color guidance,
known latents kept outside the region being colorized).

:meth:`Sampler.run` reads like diffusers' ``StableDiffusionControlNetPipeline.__call__`` (the
same model calls, so the same cost per step), with the strategies' steps in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polychrome.engines.diffusion.attention import AttentionGuide, guided_attention, word_tokens
from polychrome.engines.diffusion.fusion import fuse_instance_latents, fuse_scheduler_state
from polychrome.engines.diffusion.loading import Components, make_scheduler
from polychrome.engines.diffusion.progress import DiffusionStep, ProgressCallback
from polychrome.errors import ShapeError, ValueCheckError

__all__ = ["Sampler", "SamplingPlan"]


@dataclass
class SamplingPlan:
    """Everything one sampling run needs, decided by the strategies
    (:mod:`polychrome.engines.diffusion.strategies`).

    Shapes: the canvas is ``(H, W)`` pixels, multiples of :attr:`Components.multiple`; latents
    are ``(h, w) = (H, W) / vae_scale``.
    """

    control: np.ndarray
    """``(H, W)`` float32 luminance in ``[0, 1]``: the ControlNet's condition."""
    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    scheduler: str = "unipc"
    guidance_scale: float = 7.5
    conditioning_scale: float = 1.0
    seed: int = 0
    instance_texts: list[str] = field(default_factory=list)
    """Multi-instance sampling: each instance's own prompt (empty: off)."""
    instance_masks: np.ndarray | None = None
    """``(n, h, w)`` owner fractions at latent resolution."""
    instance_fraction: float = 0.2
    background_weight: float = 0.2
    attention_words: list[list[str]] = field(default_factory=list)
    """Attention guidance: each instance's color words (guided towards its mask)."""
    attention_strength: float = 0.0
    attention_iterations: int = 1
    known: np.ndarray | None = None
    """``(H, W, 3)`` RGB in ``[0, 1]``: an image whose latents start the run (img2img)."""
    keep: np.ndarray | None = None
    """``(h, w)`` in ``[0, 1]``: where the known image's latents are kept at every step."""
    strength: float = 1.0
    """Fraction of the steps run, starting from the known image noised to that level."""
    anticolor: Any = None
    """An :class:`~polychrome.engines.diffusion.anticolor.AntiColorGuide`, or None."""
    anticolor_strength: float = 0.0
    anticolor_every: int = 2


class Sampler:
    """Runs :class:`SamplingPlan` s on loaded :class:`Components`."""

    def __init__(self, components: Components):
        self.c = components

    # ------------------------------------------------------------------ public steps

    def run(self, plan: SamplingPlan, *, progress: ProgressCallback | None = None) -> np.ndarray:
        """Sample and decode: ``(H, W, 3)`` float32 RGB in ``[0, 1]``. ``progress`` is called
        after each denoising step and before the decode
        (:class:`~polychrome.engines.diffusion.progress.DiffusionStep`)."""
        latents = self.denoise(plan, progress=progress)
        if progress is not None:
            steps = plan.steps - self.first_step(plan)
            progress(DiffusionStep(steps, steps, "decode"))
        return self.decode(latents)

    def first_step(self, plan: SamplingPlan) -> int:
        """The first step run: a run from a known image skips those above its noise level."""
        return plan.steps - round(plan.strength * plan.steps) if plan.known is not None else 0

    def denoise(self, plan: SamplingPlan, *, progress: ProgressCallback | None = None):
        """The latents ``(1, C, h, w)`` at the end of sampling; ``progress`` is called after
        each step."""
        import torch

        c = self.c
        # 1. Check inputs
        height, width = self.check(plan)
        first = self.first_step(plan)
        branch_steps = round(plan.instance_fraction * (plan.steps - first))
        n = len(plan.instance_texts) if branch_steps > 0 else 0
        cfg = plan.guidance_scale > 1.0
        # 2. Encode prompts: the global one, then each instance's own
        cond = self.encode_prompts([plan.prompt, *plan.instance_texts[:n]])
        uncond = self.encode_prompts([plan.negative_prompt]).expand(len(cond), -1, -1)
        # 3. Prepare the control image
        control = torch.from_numpy(np.ascontiguousarray(plan.control, dtype=np.float32))
        control = control.to(c.device, c.dtype)[None, None].expand(1, 3, height, width)
        # 4. Prepare timesteps
        scheduler = make_scheduler(plan.scheduler, c.scheduler_config)
        scheduler.set_timesteps(plan.steps, device=c.device)
        timesteps = scheduler.timesteps
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(first)
        # 5. Prepare latents: one noise for every branch (MT-Color: z_T^i = z_T)
        latent_shape = (1, c.unet.config.in_channels, height // c.vae_scale, width // c.vae_scale)
        generator = torch.Generator("cpu").manual_seed(plan.seed)
        noise = torch.randn(latent_shape, generator=generator, dtype=torch.float32)
        noise = noise.to(c.device, c.dtype)
        known = self.encode_image(plan.known) if plan.known is not None else None
        if first >= len(timesteps):
            return known
        if known is not None:
            latents = scheduler.add_noise(known, noise, timesteps[first : first + 1])
        else:
            latents = noise * scheduler.init_noise_sigma
        keep = None
        if plan.keep is not None:
            keep = torch.from_numpy(np.asarray(plan.keep, np.float32)).to(c.device, c.dtype)
            keep = keep[None, None]
        # 6. Multi-instance branches and attention guidance
        branch_end = first
        masks = None
        if n:
            masks = torch.from_numpy(plan.instance_masks).to(c.device, c.dtype)
            branch_end = first + branch_steps
            latents = latents.expand(n + 1, -1, -1, -1).clone()
        embeds = torch.cat([uncond, cond]) if cfg else cond
        guide = self.attention_guide(plan, rows=[len(cond) if cfg else 0])
        # 7. Denoising loop
        with torch.no_grad(), guided_attention(c.unet, guide):
            for i in range(first, len(timesteps)):
                t = timesteps[i]
                if n and i == branch_end:
                    latents, embeds = self.fuse(plan, scheduler, latents, embeds, masks, cfg)
                    if guide is not None:
                        guide.rows = [1 if cfg else 0]
                eps = self.predict_noise(scheduler, latents, t, embeds, control, plan, cfg)
                if plan.anticolor is not None and (i - first) % plan.anticolor_every == 0:
                    eps = plan.anticolor.adjust(
                        eps, latents, t, scheduler=scheduler, vae=c.vae,
                        strength=plan.anticolor_strength,
                    )  # fmt: skip
                latents = scheduler.step(eps, t, latents, return_dict=False)[0]
                if keep is not None:
                    latents = self.keep_known(scheduler, latents, known, noise, keep, timesteps, i)
                if progress is not None:
                    phase = "instances" if n and i < branch_end else "global"
                    progress(DiffusionStep(i + 1 - first, len(timesteps) - first, phase))
        if n and branch_end >= len(timesteps):  # a = 1: the branches ran to the end
            latents, _ = self.fuse(plan, scheduler, latents, embeds, masks, cfg)
        return latents

    def check(self, plan: SamplingPlan) -> tuple[int, int]:
        height, width = plan.control.shape
        m = self.c.multiple
        if height % m or width % m:
            raise ShapeError(f"the canvas {width}x{height} must be a multiple of {m} pixels")
        h, w = height // self.c.vae_scale, width // self.c.vae_scale
        n = len(plan.instance_texts)
        if n and (plan.instance_masks is None or plan.instance_masks.shape != (n, h, w)):
            raise ShapeError(f"{n} instance texts need masks of shape ({n}, {h}, {w})")
        if len(plan.attention_words) and (
            plan.instance_masks is None or len(plan.attention_words) != len(plan.instance_masks)
        ):
            raise ShapeError("attention guidance needs one mask per instance")
        if (plan.keep is not None) and plan.known is None:
            raise ValueCheckError("keeping known latents needs a known image")
        if plan.known is not None and plan.known.shape != (height, width, 3):
            raise ShapeError(f"the known image must be ({height}, {width}, 3)")
        return height, width

    def encode_prompts(self, prompts: list[str]):
        """``(len(prompts), 77, D)`` text embeddings (the last hidden state, as SD uses)."""
        import torch

        tok = self.c.tokenizer
        ids = tok(
            prompts,
            padding="max_length",
            max_length=tok.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids.to(self.c.device)
        with torch.no_grad():
            return self.c.text_encoder(ids)[0].to(self.c.dtype)

    def encode_image(self, rgb: np.ndarray):
        """``(1, C, h, w)`` latents of ``rgb`` ``(H, W, 3)`` in ``[0, 1]`` (the posterior mean:
        deterministic)."""
        import torch

        c = self.c
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))
        x = (x[None] * 2 - 1).to(c.device, c.vae.dtype)
        with torch.no_grad():
            z = c.vae.encode(x).latent_dist.mean
        return (z * c.vae.config.scaling_factor).to(c.dtype)

    def decode(self, latents) -> np.ndarray:
        import torch

        vae = self.c.vae
        with torch.no_grad():
            x = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
        x = ((x[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0)
        return x.cpu().numpy().astype(np.float32)

    def predict_noise(self, scheduler, latents, t, embeds, control, plan: SamplingPlan, cfg: bool):
        """One UNet + ControlNet evaluation, with classifier-free guidance."""
        import torch

        c = self.c
        x = torch.cat([latents, latents]) if cfg else latents
        x = scheduler.scale_model_input(x, t)
        down, mid = c.controlnet(
            x,
            t,
            encoder_hidden_states=embeds,
            controlnet_cond=control.expand(len(x), -1, -1, -1),
            conditioning_scale=plan.conditioning_scale,
            return_dict=False,
        )
        eps = c.unet(
            x,
            t,
            encoder_hidden_states=embeds,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            return_dict=False,
        )[0]
        if cfg:
            uncond, cond = eps.chunk(2)
            eps = uncond + plan.guidance_scale * (cond - uncond)
        return eps

    def fuse(self, plan: SamplingPlan, scheduler, latents, embeds, masks, cfg: bool):
        """End of the instance phase: eq. 10 on the latents and the sampler's history; only
        the global prompt goes on."""
        batch = latents.shape[0]

        def fuse(x):
            return fuse_instance_latents(x[:1], x[1:], masks, plan.background_weight)

        fuse_scheduler_state(scheduler, batch, fuse)
        latents = fuse(latents)
        half = embeds.shape[0] // 2 if cfg else 0
        embeds = embeds[[0, half]] if cfg else embeds[:1]
        return latents, embeds

    def keep_known(self, scheduler, latents, known, noise, keep, timesteps, i: int):
        """Outside the region being colorized, the known image noised to the next step's level
        (RePaint-style inpainting)."""
        if i + 1 < len(timesteps):
            level = scheduler.add_noise(known, noise, timesteps[i + 1 : i + 2])
        else:
            level = known
        return keep * level + (1 - keep) * latents

    def attention_guide(self, plan: SamplingPlan, rows: list[int]) -> AttentionGuide | None:
        if plan.attention_strength <= 0 or not plan.attention_words:
            return None
        tokens = [word_tokens(self.c.tokenizer, plan.prompt, w) for w in plan.attention_words]
        if not any(tokens):
            return None
        import torch

        masks = torch.from_numpy(np.asarray(plan.instance_masks, np.float32)).to(self.c.device)
        return AttentionGuide(
            masks=masks,
            tokens=tokens,
            rows=rows,
            strength=plan.attention_strength,
            iterations=plan.attention_iterations,
        )
