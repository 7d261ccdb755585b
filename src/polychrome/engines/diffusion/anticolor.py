"""Anti-color guidance (DiffColor): a CLIP contrastive loss pulls the sample towards the
description and away from texts such as "a grayscale photograph" or "a faded sepia photo".

DiffColor fine-tunes with this loss; here it guides sampling without training. At a guided step
the clean image is estimated from the noise prediction (``x0 = (z - sqrt(1 - abar) eps) /
sqrt(abar)``), decoded, embedded by CLIP, and scored by

    L = -log softmax([cos(I, T_desc), cos(I, T_anti_1), ...] * logit_scale)[0]

The gradient of ``L`` with respect to the latents (through the decoder, not the UNet) shifts
the noise prediction as classifier guidance does: ``eps += s * sqrt(1 - abar) * g / std(g)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["AntiColorGuide"]

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _features(out: Any):
    """transformers returns a tensor or, in v5, an output whose pooler is the projection."""
    return out if hasattr(out, "ndim") else out.pooler_output


class AntiColorGuide:
    """Contrastive CLIP guidance towards ``positive`` and away from ``negatives``."""

    def __init__(self, clip: Any, positive: str, negatives: Sequence[str]):
        import torch

        self.clip = clip
        model = clip.model
        device = next(model.parameters()).device
        texts = [positive, *negatives]
        tokens = clip.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=clip.tokenizer.model_max_length,
            return_tensors="pt",
        ).to(device)
        with torch.no_grad():
            text = _features(model.get_text_features(**tokens)).float()
        self.text = torch.nn.functional.normalize(text, dim=-1)
        self.logit_scale = float(model.logit_scale.exp())
        self.mean = torch.tensor(_CLIP_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(_CLIP_STD, device=device).view(1, 3, 1, 1)

    def loss(self, images):
        """Mean contrastive loss of ``images`` ``(B, 3, H, W)`` in ``[-1, 1]``."""
        import torch
        import torch.nn.functional as F

        model = self.clip.model
        pixels = (images.float().clamp(-1, 1) + 1) / 2
        size = self.clip.image_size
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
        pixels = ((pixels - self.mean) / self.std).to(next(model.parameters()).dtype)
        image = F.normalize(
            _features(model.get_image_features(pixel_values=pixels)).float(), dim=-1
        )
        logits = self.logit_scale * image @ self.text.T
        target = torch.zeros(len(images), dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, target)

    def adjust(self, eps, latents, t, *, scheduler: Any, vae: Any, strength: float):
        """The noise prediction ``eps`` shifted along the loss's gradient at timestep ``t``."""
        import torch

        abar = scheduler.alphas_cumprod.to(latents.device)[int(t)].float()
        with torch.enable_grad():
            z = latents.detach().float().requires_grad_(True)
            x0 = (z - (1 - abar).sqrt() * eps.detach().float()) / abar.sqrt()
            decoded = vae.decode((x0 / vae.config.scaling_factor).to(vae.dtype)).sample
            (grad,) = torch.autograd.grad(self.loss(decoded), z)
        grad = grad / (grad.std() + 1e-12)
        return (eps.float() + strength * (1 - abar).sqrt() * grad).to(eps.dtype)
