"""Multi-instance sampling (MT-Color, eq. 10-11): masks at latent resolution, the fusion of the
instance latents with the global latents, and the same fusion applied to a sampler's history.

Each instance is denoised alone (from the same initial noise as the global image, with its own
text) for the first ``a * T`` steps. Then

    z = b * m_g * z_g + sum_i m_i * z_i,        m_g = 1 - sum_i m_i          (eq. 10)

and global sampling continues from ``z`` with the global prompt (eq. 11). Masks are owner
fractions at latent resolution: where instances overlap the later one owns the pixel, and a
latent cell on a boundary is shared in proportion to the pixels each side holds, so the masks
and ``m_g`` always sum to one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from polychrome.errors import ShapeError, ValueCheckError

__all__ = ["fuse_instance_latents", "fuse_scheduler_state", "latent_masks"]


def latent_masks(masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Instance masks ``(H, W)`` bool (bottom to top) as owner fractions at latent ``shape``.

    Returns:
        ``(n, h, w)`` float32 in ``[0, 1]`` whose sum over instances is at most one.
    """
    from polychrome.ops.filters import resize

    if not masks:
        return np.zeros((0, *shape), np.float32)
    full = masks[0].shape
    owner = np.zeros(full, np.int16)
    for k, mask in enumerate(masks):
        if mask.shape != full or mask.dtype != bool:
            raise ShapeError(f"instance masks must be (H, W) bool of one size, got {mask.shape}")
        owner[mask] = k + 1
    out = np.stack(
        [resize((owner == k + 1).astype(np.float32), shape, mode="area") for k in range(len(masks))]
    )
    out = np.clip(out, 0.0, 1.0)
    total = out.sum(axis=0, keepdims=True)
    return (out / np.maximum(total, 1.0)).astype(np.float32)


def fuse_instance_latents(global_latents, instance_latents, masks, background_weight: float):
    """Eq. 10 of MT-Color.

    Args:
        global_latents: ``(1, C, h, w)`` tensor (or array): the global trajectory.
        instance_latents: ``(n, C, h, w)``: each instance's trajectory.
        masks: ``(n, h, w)`` owner fractions (:func:`latent_masks`).
        background_weight: ``b`` in ``[0, 1]``: weight of the global latents outside every
            instance.

    Returns:
        ``(1, C, h, w)`` fused latents, of the input's type.
    """
    n = instance_latents.shape[0]
    if masks.shape[0] != n or tuple(masks.shape[1:]) != tuple(global_latents.shape[2:]):
        raise ShapeError(
            f"{n} instance latents of {tuple(global_latents.shape[2:])} need masks "
            f"({n}, h, w), got {tuple(masks.shape)}"
        )
    if not 0 <= background_weight <= 1:
        raise ValueCheckError(f"background_weight must be in [0, 1], got {background_weight}")
    m = masks[:, None]  # (n, 1, h, w)
    background = 1 - m.sum(0, keepdims=True)
    return background_weight * background * global_latents + (m * instance_latents).sum(
        0, keepdims=True
    )


def fuse_scheduler_state(scheduler: Any, batch: int, fuse: Callable[[Any], Any]) -> None:
    """Apply ``fuse`` (``(batch, ...) -> (1, ...)``) to every latent-shaped tensor a sampler
    keeps between steps (a multistep solver's past model outputs, UniPC's last sample), so the
    fused trajectory goes on with a fused history. Stateless samplers (DDIM) are unchanged."""
    import torch

    def one(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[0] == batch:
            return fuse(value)
        return value

    for name, value in list(vars(scheduler).items()):
        if isinstance(value, torch.Tensor):
            setattr(scheduler, name, one(value))
        elif isinstance(value, list) and any(isinstance(v, torch.Tensor) for v in value):
            setattr(scheduler, name, [one(v) for v in value])
