"""The network of the ``cnn`` engine: L* in, a distribution over quantized ab bins out (at 1/4
resolution), as in Zhang et al. 2016, small enough to run on a laptop CPU.

Encoder to 1/16 resolution with dilated residual blocks and a global-context branch (the scene's
overall statistics, which decide e.g. indoor vs outdoor palettes), then a decoder with skip
connections back to 1/4 resolution, where a 1x1 convolution gives the bin logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ColorNet"]


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


class ColorNet(nn.Module):
    """``forward(luminance)``: ``(B, 1, H, W)`` L* in ``[0, 100]`` (``H, W`` multiples of 16) ->
    ``(B, Q, H/4, W/4)`` bin logits."""

    def __init__(self, bins: int, width: int = 32):
        super().__init__()
        w = width
        self.bins = bins
        self.stage1 = nn.Sequential(_conv(1, w, stride=2), _conv(w, w))  # 1/2
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

    def forward(self, luminance: torch.Tensor) -> torch.Tensor:
        x = luminance / 50.0 - 1.0
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        s4 = self.stage4(s3)
        glob = self.context(s4.mean(dim=(2, 3)))
        s4 = s4 + glob[:, :, None, None]
        y = F.interpolate(s4, size=s3.shape[2:], mode="bilinear", align_corners=False)
        y = self.up3(torch.cat([y, s3], 1))
        y = F.interpolate(y, size=s2.shape[2:], mode="bilinear", align_corners=False)
        y = self.up2(torch.cat([y, s2], 1))
        return self.head(y)
