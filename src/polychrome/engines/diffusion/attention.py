"""Instance-aware attention guidance (L-CAD, algorithm 1): during sampling, the cross-attention
map of each color word is pulled towards its instance's mask, downsampled to the layer.

At every cross-attention layer of the UNet, for the words of instance ``k`` and the pixels of
the layer (mask ``m_k`` downsampled to the layer's grid), the attention logits ``s`` become

    s <- s - lambda * (sigmoid(s) - m_k)

(one gradient step on the binary cross-entropy between ``sigmoid(s)`` and ``m_k``, taken with
respect to the logits, where it is bounded), repeated ``iterations`` times, before the softmax
over tokens. Only the rows of the batch that carry the global prompt are guided.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AttentionGuide", "InstanceAttentionProcessor", "guided_attention", "word_tokens"]

_STOP = {"a", "an", "the", "is", "are", "of", "and", "with", "in", "on", "its", "it"}


def word_tokens(tokenizer: Any, prompt: str, words: Sequence[str]) -> list[int]:
    """Positions in the tokenized ``prompt`` (with its start token, as the text encoder sees
    it) of every token of ``words`` that occurs there as a whole word."""
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    out: set[int] = set()
    for word in words:
        word = word.strip().lower()
        if not word or word in _STOP:
            continue
        piece = tokenizer(word, add_special_tokens=False).input_ids
        if not piece:
            continue
        for start in range(1, len(ids) - len(piece) + 1):
            if ids[start : start + len(piece)] == piece:
                out.update(range(start, start + len(piece)))
    return sorted(out)


def split_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-zA-Z][a-zA-Z-]*", text.lower()) if w not in _STOP]


@dataclass
class AttentionGuide:
    """What the attention processors need: latent masks, each instance's token positions,
    which batch rows to guide, and the strength.

    Attributes:
        masks: ``(n, h, w)`` float tensor at latent resolution (owner fractions).
        tokens: for each instance, the positions of its color words in the global prompt.
        rows: batch rows (of the UNet's batch) that carry the global prompt.
        strength: ``lambda``.
        iterations: refinement steps per map.
    """

    masks: Any
    tokens: list[list[int]]
    rows: list[int]
    strength: float
    iterations: int = 1
    _per_layer: dict[int, Any] = field(default_factory=dict, repr=False)

    def layer_masks(self, length: int):
        """``(n, length)`` masks for a layer of ``length`` query positions (the latent grid
        downsampled by a power of two, sides rounded up as the UNet's convolutions do)."""
        import torch.nn.functional as F

        if length not in self._per_layer:
            h, w = self.masks.shape[1:]
            factor = 1
            while math.ceil(h / factor) * math.ceil(w / factor) > length and factor < 1024:
                factor *= 2
            size = (math.ceil(h / factor), math.ceil(w / factor))
            if size[0] * size[1] != length:
                return None
            small = F.adaptive_avg_pool2d(self.masks[:, None].float(), size)[:, 0]
            self._per_layer[length] = small.reshape(len(self.masks), length)
        return self._per_layer[length]

    def refine(self, scores, batch: int, heads: int):
        """Guide ``scores`` ``(batch * heads, length, tokens)`` (attention logits)."""
        import torch

        if self.strength <= 0:
            return scores
        length = scores.shape[1]
        masks = self.layer_masks(length)
        if masks is None:
            return scores
        scores = scores.view(batch, heads, length, -1).clone()
        masks = masks.to(scores.dtype)
        rows = torch.as_tensor(self.rows, device=scores.device)
        block = scores[rows]  # the guided rows, gathered once and written back once
        for k, positions in enumerate(self.tokens):
            if not positions:
                continue
            cols = torch.as_tensor(positions, device=scores.device)
            target = masks[k].to(scores.device)[None, None, :, None]
            s = block[:, :, :, cols]
            for _ in range(self.iterations):
                s = s - self.strength * (torch.sigmoid(s) - target)
            block[:, :, :, cols] = s
        scores[rows] = block
        return scores.view(batch * heads, length, -1)


class InstanceAttentionProcessor:
    """A cross-attention processor that computes the attention explicitly and lets an
    :class:`AttentionGuide` refine the logits before the softmax; self-attention (and any call
    it cannot guide) goes to diffusers' default processor."""

    def __init__(self, guide: AttentionGuide, fallback: Any):
        self.guide = guide
        self.fallback = fallback

    def __call__(
        self,
        attn: Any,
        hidden_states: Any,
        encoder_hidden_states: Any = None,
        attention_mask: Any = None,
        temb: Any = None,
        *args: Any,
        **kwargs: Any,
    ):
        import torch

        plain = (
            encoder_hidden_states is None
            or hidden_states.ndim != 3
            or attention_mask is not None
            or attn.spatial_norm is not None
            or attn.group_norm is not None
        )
        if plain:
            return self.fallback(
                attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs
            )
        residual = hidden_states
        batch = hidden_states.shape[0]
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        scores = torch.bmm(query.float(), key.float().transpose(1, 2)) * attn.scale
        scores = self.guide.refine(scores, batch, attn.heads)
        probs = scores.softmax(dim=-1).to(value.dtype)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


@contextmanager
def guided_attention(unet: Any, guide: AttentionGuide | None) -> Iterator[None]:
    """Install :class:`InstanceAttentionProcessor` on the UNet's cross-attention layers for the
    duration of the block (the models are cached and shared, so the old processors come back)."""
    if guide is None:
        yield
        return
    original = dict(unet.attn_processors)
    replaced = {
        name: (
            InstanceAttentionProcessor(guide, proc) if name.endswith("attn2.processor") else proc
        )
        for name, proc in original.items()
    }
    unet.set_attn_processor(replaced)
    try:
        yield
    finally:
        unet.set_attn_processor(original)
