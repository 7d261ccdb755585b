"""Training data: a folder of color images, held in memory as Lab, served as random crops with
flips and resolution jitter, with soft-encoded bin targets and class-rebalancing weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from polychrome.engines.bins import HINT_SCALE
from polychrome.errors import ImageTooLargeError, InputError
from polychrome.io import DEFAULT_MAX_PIXELS, read_image
from polychrome.ops.color import rgb_to_lab

__all__ = ["ImageBank", "class_weights", "sample_hints", "soft_encode"]

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


@dataclass
class ImageBank:
    """All training images as Lab float16 ``(H, W, 3)``, longer side at most ``max_side``."""

    images: list[np.ndarray]
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    """Files left out, per reason (``unreadable``, ``gray``, ``smaller than 64 x 64 px``,
    ``over 100 MP``: above the pixel limit of :func:`~polychrome.io.read_image`)."""

    def skipped_text(self) -> str:
        """The files left out, as text: ``"3 images left out (2 unreadable, 1 gray)"``."""
        total = sum(self.skipped.values())
        parts = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        return f"{total} image{'s' * (total != 1)} left out ({parts})"

    @classmethod
    def from_folder(cls, folder: str | Path, *, max_side: int = 320, limit: int | None = None):
        folder = Path(folder)
        if folder.is_file():
            raise InputError(f"{folder} is a file; training reads a folder of color images")
        if not folder.is_dir():
            raise InputError(f"no such folder: {folder}")
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )[:limit]
        if not files:
            raise InputError(f"no images ({', '.join(SUFFIXES)}) under {folder}")
        images, names = [], []
        too_large = f"over {DEFAULT_MAX_PIXELS / 1e6:g} MP"
        skipped = dict.fromkeys(("unreadable", "gray", "smaller than 64 x 64 px", too_large), 0)
        for path in files:
            try:
                data = read_image(path)
            except ImageTooLargeError:  # readable, but refused before decoding (said unreadable)
                skipped[too_large] += 1
                continue
            except InputError:
                skipped["unreadable"] += 1  # the caller reports the counts
                continue
            rgb = data.pixels
            # Gray images teach nothing about color: gray files, and color files whose
            # channels agree to 2 levels of 255 (the test eval uses for gray originals).
            if rgb.ndim == 2 or np.ptp(rgb, axis=2).max() <= 2 * data.max_value / 255:
                skipped["gray"] += 1
                continue
            if rgb.shape[0] < 64 or rgb.shape[1] < 64:
                skipped["smaller than 64 x 64 px"] += 1
                continue
            rgb = rgb.astype(np.float32) / data.max_value
            h, w = rgb.shape[:2]
            if max(h, w) > max_side:
                s = max_side / max(h, w)
                rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            images.append(rgb_to_lab(rgb).astype(np.float16))
            names.append(path.name)
        bank = cls(images, names, {why: n for why, n in skipped.items() if n})
        if not images:
            raise InputError(
                f"no usable color images under {folder}: {bank.skipped_text()}; training needs "
                "color images of at least 64 x 64 pixels"
            )
        return bank

    def batch(self, rng: np.random.Generator, size: int, crop: int) -> np.ndarray:
        """``(size, 3, crop, crop)`` float32 Lab crops: random image, scale in [0.5, 1] of the
        stored resolution, position and horizontal flip."""
        out = np.empty((size, 3, crop, crop), np.float32)
        for k in range(size):
            img = self.images[rng.integers(len(self.images))]
            h, w = img.shape[:2]
            scale = rng.uniform(0.5, 1.0)
            side = min(h, w, max(crop, round(crop / scale)))
            y = rng.integers(0, h - side + 1)
            x = rng.integers(0, w - side + 1)
            patch = img[y : y + side, x : x + side].astype(np.float32)
            if side != crop:
                patch = cv2.resize(patch, (crop, crop), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            out[k] = patch.transpose(2, 0, 1)
        return out


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, *, neighbours: int = 5, sigma: float = 5.0):
    """Soft one-hot targets: ``(B, 2, h, w)`` ab -> ``(B, Q, h, w)`` weights on the nearest
    bins (Gaussian of the distance), as in Zhang et al. 2016."""
    b, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, bins) ** 2
    vals, idx = torch.topk(d2, neighbours, dim=1, largest=False)
    wts = torch.exp(-vals / (2 * sigma**2))
    wts = wts / wts.sum(1, keepdim=True)
    target = torch.zeros(flat.shape[0], bins.shape[0], dtype=ab.dtype)
    target.scatter_(1, idx, wts)
    return target.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def class_weights(
    bank: ImageBank, bins: np.ndarray, *, mix: float = 0.5, sigma: float = 5.0
) -> np.ndarray:
    """Class-rebalancing weights ``(Q,)``: inverse of the smoothed empirical bin distribution
    mixed with uniform (``mix``), normalized so that their expectation under it is 1."""
    counts = np.zeros(len(bins))
    for img in bank.images:
        ab = img[::4, ::4, 1:].reshape(-1, 2).astype(np.float32)
        d2 = ((ab[:, None, :] - bins[None]) ** 2).sum(-1)
        np.add.at(counts, d2.argmin(1), 1)
    p = counts / counts.sum()
    d2 = ((bins[:, None, :] - bins[None]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2 * sigma**2))
    p = kernel @ p
    p /= p.sum()
    w = 1.0 / ((1 - mix) * p + mix / len(bins))
    w /= (p * w).sum()
    return w.astype(np.float32)


def sample_hints(
    lab: torch.Tensor, rng: np.random.Generator, *, most: int = 400, none_share: float = 0.25
) -> torch.Tensor:
    """Random single-pixel true-color hints for a batch of Lab crops ``(B, 3, H, W)``, as the
    hint network reads them (``(B, 3, H, W)``: a*, b* over ``HINT_SCALE`` times the mask, and the
    mask). A crop gets no hint with probability ``none_share``, else a log-uniform count in
    ``[1, most]`` at uniform positions (like clicks, and like the points protocol)."""
    b, _, h, w = lab.shape
    out = torch.zeros(b, 3, h, w)
    for k in range(b):
        if rng.random() < none_share:
            continue
        n = min(h * w, int(np.exp(rng.uniform(0.0, np.log(most + 1)))))
        flat = torch.from_numpy(rng.choice(h * w, size=n, replace=False))
        ys, xs = flat // w, flat % w
        out[k, :2, ys, xs] = lab[k, 1:, ys, xs] / HINT_SCALE
        out[k, 2, ys, xs] = 1.0
    return out
