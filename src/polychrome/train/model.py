"""The network of the ``cnn`` engine: L* in, a distribution over quantized ab bins out (at 1/4
resolution), as in Zhang et al. 2016, small enough to run on a laptop CPU.

Encoder to 1/16 resolution with dilated residual blocks and a global-context branch (the scene's
overall statistics, which decide e.g. indoor vs outdoor palettes), then a decoder with skip
connections back to 1/4 resolution, where a 1x1 convolution gives the bin logits.

With ``hints=True`` the network also reads sparse user colors, as in Zhang et al. 2017
("Real-Time User-Guided Image Colorization"): a ``(B, 3, H, W)`` map of hint chroma and a hint
mask enters at the input, again at 1/4 and 1/8 resolution (pooled) and in the global context
(the mean hint color), so a few true colors steer the whole prediction, not only the pixels
they touch.
With ``spread=True`` (experimental, off by default) the hints are also spread densely before
they enter: normalized Gaussian averages of the hint colors at three scales (8, 24 and 64 input
pixels), each with its total weight, reach the 1/4 and 1/8 features. Without them a color has to
travel from its pixel through the convolutions, and 10 hints in a photo colored little more than
their neighbourhood.
The hint paths start at zero, so a hint network fine-tuned from a plain one starts out as that
network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from polychrome.engines.bins import HINT_SCALE

__all__ = ["HINT_GAIN", "HINT_SCALE", "SPREAD_SIGMAS", "ColorNet", "pool_hints", "spread_hints"]

HINT_GAIN = 10.0
"""Inside the network the hint inputs are multiplied by this: the hint paths start at zero and
hints are sparse, so at the plain inputs' scale they learn too slowly to matter (measured: after
1,250 steps of fine-tuning the network barely changed its colors at the hint pixels)."""


SPREAD_SIGMAS = ((4, 2.0), (16, 1.5), (16, 4.0))
"""``(cell, sigma)`` of each spread scale: hint sums pooled into ``cell``-pixel cells, blurred by a
Gaussian of ``sigma`` cells (so 8, 24 and 64 input pixels)."""


def _gaussian(sigma: float) -> torch.Tensor:
    """``(3, 1, 1, K)``: a 1-D Gaussian (peak 1) for a depthwise blur of the 3 hint channels."""
    radius = int(3 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return (k / k.max()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable depthwise blur of the 3 channels of ``x``, zero padding."""
    r = kernel.shape[3] // 2
    x = F.conv2d(x, kernel, padding=(0, r), groups=3)
    return F.conv2d(x, kernel.transpose(2, 3), padding=(r, 0), groups=3)


def spread_hints(hints: torch.Tensor, kernels: list[torch.Tensor]) -> torch.Tensor:
    """``(B, 3, H, W)`` hints -> ``(B, 3 * len(SPREAD_SIGMAS), H/4, W/4)``: at each scale the
    Gaussian-weighted mean hint chroma (0 far from every hint) and ``log`` of the total weight
    (a confidence: about 0 at one hint, -7 far from all)."""
    size4 = (hints.shape[2] // 4, hints.shape[3] // 4)
    out = []
    for (cell, _), kernel in zip(SPREAD_SIGMAS, kernels, strict=True):
        sums = F.avg_pool2d(hints, cell) * float(cell * cell)
        sums = _blur(sums, kernel)
        weight = sums[:, 2:3]
        ab = sums[:, :2] / (weight + 1e-3)
        feat = torch.cat([ab, (torch.log(weight + 1e-3) + 3.5) / 3.5], 1)
        if feat.shape[2:] != size4:
            feat = F.interpolate(feat, size=size4, mode="bilinear", align_corners=False)
        out.append(feat)
    return torch.cat(out, 1)


def _conv(cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def pool_hints(hints: torch.Tensor, factor: int) -> torch.Tensor:
    """``(B, 3, H, W)`` hints (``a*m, b*m, m``) -> ``(B, 3, H/f, W/f)``: the mean hint chroma of
    each cell and whether the cell holds any hint."""
    total = F.avg_pool2d(hints, factor) * factor * factor
    count = total[:, 2:3]
    ab = total[:, :2] / count.clamp(min=1e-6)
    present = (count > 0.5).to(hints.dtype)
    return torch.cat([ab * present, present], 1)


class ColorNet(nn.Module):
    """``forward(luminance[, hints])``: ``(B, 1, H, W)`` L* in ``[0, 100]`` (``H, W`` multiples
    of 16) -> ``(B, Q, H/4, W/4)`` bin logits. ``hints`` (only with ``hints=True``) is
    ``(B, 3, H, W)``: hint a*, b* (divided by :data:`HINT_SCALE`) times the mask, and the mask
    (1 at hint pixels, 0 elsewhere)."""

    def __init__(self, bins: int, width: int = 32, *, hints: bool = False, spread: bool = False):
        super().__init__()
        w = width
        self.bins = bins
        self.hints = hints
        self.spread = hints and spread
        self.stage1 = nn.Sequential(_conv(4 if hints else 1, w, stride=2), _conv(w, w))  # 1/2
        self.stage2 = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w))  # 1/4
        self.stage3 = nn.Sequential(_conv(2 * w, 4 * w, stride=2), _conv(4 * w, 4 * w))  # 1/8
        self.stage4 = nn.Sequential(
            _conv(4 * w, 4 * w, stride=2),  # 1/16
            _Residual(4 * w, 1),
            _Residual(4 * w, 2),
            _Residual(4 * w, 4),
        )
        self.context = nn.Sequential(nn.Linear(4 * w, 4 * w), nn.ReLU(inplace=True))
        self.up3 = _conv(4 * w + 4 * w, 4 * w)
        self.up2 = nn.Sequential(_conv(4 * w + 2 * w, 3 * w), _conv(3 * w, 3 * w))
        self.head = nn.Conv2d(3 * w, bins, 1)
        if hints:
            self.hint4 = nn.Conv2d(3, 2 * w, 1)
            self.hint8 = nn.Conv2d(3, 4 * w, 1)
            self.hint_context = nn.Linear(3, 4 * w)
            zeroed = [self.hint4, self.hint8, self.hint_context]
            if self.spread:
                for k, (_, sigma) in enumerate(SPREAD_SIGMAS):
                    self.register_buffer(f"_kernel{k}", _gaussian(sigma), persistent=False)
                spread_ch = 3 * len(SPREAD_SIGMAS)
                self.hint_spread4 = nn.Sequential(
                    nn.Conv2d(spread_ch, 2 * w, 1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(2 * w, 2 * w, 1),
                )
                self.hint_spread8 = nn.Conv2d(spread_ch, 4 * w, 1)
                zeroed += [self.hint_spread4[2], self.hint_spread8]
            for layer in zeroed:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            with torch.no_grad():
                self.stage1[0][0].weight[:, 1:] = 0.0

    def forward(self, luminance: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        x = luminance / 50.0 - 1.0
        if self.hints:
            if hints is None:
                hints = torch.zeros_like(luminance).expand(-1, 3, -1, -1)
            x = torch.cat([x, hints * HINT_GAIN], 1)
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        spread = None
        if self.spread:
            kernels = [getattr(self, f"_kernel{k}") for k in range(len(SPREAD_SIGMAS))]
            spread = spread_hints(hints, kernels) * HINT_GAIN
        if self.hints:
            s2 = s2 + self.hint4(pool_hints(hints, 4) * HINT_GAIN)
        if spread is not None:
            s2 = s2 + self.hint_spread4(spread)
        s3 = self.stage3(s2)
        if self.hints:
            s3 = s3 + self.hint8(pool_hints(hints, 8) * HINT_GAIN)
        if spread is not None:
            s3 = s3 + self.hint_spread8(F.avg_pool2d(spread, 2))
        s4 = self.stage4(s3)
        pooled = s4.mean(dim=(2, 3))
        glob = self.context(pooled)
        if self.hints:
            count = hints[:, 2].sum(dim=(1, 2))
            mean_ab = hints[:, :2].sum(dim=(2, 3)) / count.clamp(min=1.0)[:, None]
            glob = glob + self.hint_context(
                torch.cat([mean_ab, torch.log1p(count)[:, None] / 5.0], 1) * HINT_GAIN
            )
        s4 = s4 + glob[:, :, None, None]
        y = F.interpolate(s4, size=s3.shape[2:], mode="bilinear", align_corners=False)
        y = self.up3(torch.cat([y, s3], 1))
        y = F.interpolate(y, size=s2.shape[2:], mode="bilinear", align_corners=False)
        y = self.up2(torch.cat([y, s2], 1))
        return self.head(y)
