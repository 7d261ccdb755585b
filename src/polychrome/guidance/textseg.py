"""Referring segmentation: find the object a phrase names (optional, extra ``[segment]``).

A description such as ``--text "a red car on a green lawn"`` names objects ("car", "lawn") and
their colors. Labelled regions (``--label``, ``--label-map``, ``--click``, ``--box``) say where
those objects are; when none is given for an object, a referring segmenter can find it from the
phrase alone, so ``--text "..."`` by itself is enough to color the objects it describes (see
:mod:`polychrome.guidance.binding`).

:class:`TextSegmenter` wraps CLIPSeg (Lüddecke & Ecker, 2022) through transformers'
``CLIPSegForImageSegmentation``: one forward pass gives a low-resolution logit map per phrase
(352 x 352 for ``CIDAS/clipseg-rd64-refined``), which is turned into a probability
(sigmoid), resized bilinearly to the image's full resolution and thresholded.

polychrome never downloads anything on its own. :meth:`TextSegmenter.load` takes either

- a local folder holding a CLIPSeg model and its processor saved with ``save_pretrained``
  (``config.json``, ``model.safetensors``, the tokenizer and image-processor files), read with
  ``local_files_only=True``; make one on a machine with network access with
  ``hf download CIDAS/clipseg-rd64-refined --local-dir DIR``; or
- a Hugging Face hub id (:data:`DEFAULT_MODEL`), which is read from the local cache, and
  downloaded into it only when the machine has network access and ``HF_HUB_OFFLINE`` /
  ``TRANSFORMERS_OFFLINE`` are not set.

Needs torch and transformers: ``pip install 'polychrome[segment]'``. Importing this module
does not import them; :meth:`TextSegmenter.load` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from polychrome.engines.base import require_modules
from polychrome.errors import (
    EngineUnavailableError,
    InputError,
    PolychromeError,
    ShapeError,
    ValueCheckError,
)

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_MODEL", "DEVICES", "TextSegmenter"]

DEFAULT_MODEL = "CIDAS/clipseg-rd64-refined"
"""The hub id of the CLIPSeg weights polychrome is documented with."""

DEVICES = ("cpu", "cuda", "mps")
"""Devices :meth:`TextSegmenter.load` accepts."""

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _offline() -> bool:
    """True when the environment forbids the hub (read now, not when huggingface_hub was
    imported)."""
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in _OFFLINE_VARS
    )


_REACH: dict[str, tuple[float, bool]] = {}  # endpoint -> (when probed, reachable)


def _cache_only() -> bool:
    """True when a hub id must be read from the local Hugging Face cache: the environment
    forbids the hub, or its endpoint (``HF_ENDPOINT``, default huggingface.co) cannot be reached
    within 2 s. Without this, an offline machine spends half a minute in the hub client's
    retries, printing each, before the same error. The probe is remembered for a minute."""
    if _offline():
        return True
    import socket
    import time
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    when, reachable = _REACH.get(endpoint, (-1e9, False))
    if time.monotonic() - when > 60:
        url = urlsplit(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname or "", port), timeout=2).close()
            reachable = True
        except OSError:
            reachable = False
        _REACH[endpoint] = (time.monotonic(), reachable)
    return not reachable


def _looks_like_path(model: str) -> bool:
    """A string that can only be a filesystem path (a hub id is ``name`` or ``owner/name``)."""
    return (
        os.path.isabs(model)
        or model.startswith((".", "~"))
        or "\\" in model
        or model.count("/") > 1
    )


def _check_device(device: str) -> None:
    import torch

    if device not in DEVICES:
        raise ValueCheckError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailableError(
            "device 'cuda' was asked for but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}); use device='cpu'"
        )
    if device == "mps" and not torch.backends.mps.is_available():
        raise EngineUnavailableError(
            "device 'mps' was asked for but torch has no MPS backend here; use device='cpu'"
        )


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check ``image`` and return it as ``(H, W, 3)`` uint8 RGB (a new array)."""
    image = np.asarray(image)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ShapeError(
            f"image must be (H, W) gray or (H, W, 3) RGB, got shape {tuple(image.shape)}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ShapeError(f"image must not be empty, got shape {tuple(image.shape)}")
    if image.dtype == np.uint8:
        rgb = image
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueCheckError("image holds NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueCheckError(
                f"a float image must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]"
            )
        rgb = np.rint(image * 255.0).astype(np.uint8)
    else:
        raise ValueCheckError(f"image must be float in [0, 1] or uint8, got dtype {image.dtype}")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb)


def _check_phrases(phrases: Sequence[str]) -> list[str]:
    if isinstance(phrases, str):
        raise ValueCheckError(f"phrases must be a list of strings, got the string {phrases!r}")
    out = []
    for i, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            raise ValueCheckError(f"phrase {i} must be a string, got {type(phrase).__name__}")
        if not phrase.strip():
            raise ValueCheckError(f"phrase {i} is empty")
        out.append(phrase.strip())
    return out


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueCheckError(f"threshold must be in [0, 1], got {threshold}")
    return threshold


class TextSegmenter:
    """A CLIPSeg referring segmenter: one full-resolution mask per phrase.

    Make one with :meth:`load`; then :meth:`segment` (bool masks) or :meth:`probabilities`
    (float maps). Deterministic: the model runs in eval mode under ``torch.inference_mode``.
    """

    def __init__(self, model: Any, processor: Any, *, device: str, source: str) -> None:
        self._model = model
        self._processor = processor
        self.device = device
        self.source = source
        """What was loaded: the folder or hub id given to :meth:`load`."""
        self._max_tokens = int(model.config.text_config.max_position_embeddings)

    def __repr__(self) -> str:
        return f"TextSegmenter(source={self.source!r}, device={self.device!r})"

    @classmethod
    def load(cls, model: str | os.PathLike[str], *, device: str = "cpu") -> TextSegmenter:
        """Load CLIPSeg weights and their processor.

        Args:
            model: a local folder with a CLIPSeg model and processor saved with
                ``save_pretrained`` (read with ``local_files_only=True``), or a hub id such as
                :data:`DEFAULT_MODEL` (read from the cache; downloaded only with network access
                and no ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``).
            device: ``"cpu"``, ``"cuda"`` or ``"mps"``.

        Raises:
            EngineUnavailableError: torch or transformers is missing (names the install
                command), the weights cannot be found here, or the device is not available.
            ValueCheckError: an unknown device.
        """
        # 1. Check the environment and arguments.
        require_modules(
            ("torch", "transformers"), extra="segment", what="text segmentation (CLIPSeg)"
        )
        _check_device(device)
        source = os.fspath(model)
        if not source.strip():
            raise ValueCheckError("model must be a folder or a hub id, got an empty string")

        # 2. Decide where the weights come from.
        from polychrome.hub import check_hub_id, similar_folder

        path = Path(source).expanduser()
        if path.exists():
            if not path.is_dir():
                raise InputError(
                    f"CLIPSeg model {source!r} is a file; pass the folder that holds "
                    "config.json, model.safetensors and the processor files"
                )
            location, local_only = str(path), True
        elif _looks_like_path(source):
            similar = similar_folder(source)
            raise InputError(
                f"CLIPSeg weights folder {source!r} does not exist; pass a local folder with "
                "the CLIPSeg weights and processor (make one with: hf download "
                f"{DEFAULT_MODEL} --local-dir DIR)"
                + (f"; did you mean {similar}?" if similar else "")
            )
        else:
            # A typo of a folder (exit 2), or a hub id neither cached nor downloadable (exit 3),
            # is told before transformers tries.
            check_hub_id(source, label=f"CLIPSeg model {source}", what="a CLIPSeg model")
            location, local_only = source, _cache_only()

        # 3. Load the config, the model and the processor.
        from transformers import AutoConfig, CLIPSegForImageSegmentation, CLIPSegProcessor

        try:
            config = AutoConfig.from_pretrained(location, local_files_only=local_only)
            if config.model_type != "clipseg":
                raise InputError(
                    f"{source!r} holds a {config.model_type!r} model, not CLIPSeg; pass a "
                    f"CLIPSeg model such as {DEFAULT_MODEL}"
                )
            net = CLIPSegForImageSegmentation.from_pretrained(
                location, config=config, local_files_only=local_only
            )
            processor = CLIPSegProcessor.from_pretrained(location, local_files_only=local_only)
        except PolychromeError:  # ours, above: already says what is wrong
            raise
        except (OSError, ValueError) as exc:
            # The user's folder is a mistake in the call (exit 2); a hub id not had is missing
            # weights (exit 3).
            local = path.is_dir()
            error = InputError if local else EngineUnavailableError
            raise error(_load_failure(source, local_folder=local)) from exc
        if getattr(processor.image_processor, "do_center_crop", False):
            raise InputError(
                f"the image processor of {source!r} center-crops, so its masks would not cover "
                "the whole image; CLIPSeg needs one that resizes the whole image "
                f"(ViTImageProcessor, as in {DEFAULT_MODEL})"
            )
        net.eval().to(device)
        return cls(net, processor, device=device, source=source)

    def probabilities(self, image: np.ndarray, phrases: Sequence[str]) -> list[np.ndarray]:
        """Probability that each pixel belongs to what each phrase names.

        Args:
            image: ``(H, W)`` gray or ``(H, W, 3)`` RGB, float in ``[0, 1]`` or uint8. Not
                modified.
            phrases: what to find (``["the car", "the lawn"]``); all in one forward pass.

        Returns:
            One ``(H, W)`` float32 map in ``[0, 1]`` per phrase, at the image's full
            resolution (``[]`` for no phrase).

        Raises:
            ShapeError: the image is not ``(H, W)`` or ``(H, W, 3)``.
            ValueCheckError: an empty phrase, a string instead of a list, or a float image
                outside ``[0, 1]``.
        """
        # 1. Check inputs.
        rgb = _to_rgb_uint8(image)
        texts = _check_phrases(phrases)
        if not texts:
            return []
        # 2. Encode the phrases and the image; 3. one forward pass; 4. back to full size.
        maps = self._forward(rgb, texts)
        return [m for m in maps.cpu().numpy().astype(np.float32, copy=False)]

    def segment(
        self, image: np.ndarray, phrases: Sequence[str], *, threshold: float = 0.4
    ) -> list[np.ndarray]:
        """One full-resolution mask per phrase: where :meth:`probabilities` exceeds
        ``threshold``.

        Args:
            image: ``(H, W)`` gray or ``(H, W, 3)`` RGB, float in ``[0, 1]`` or uint8.
            phrases: what to find; all in one forward pass.
            threshold: in ``[0, 1]``; a pixel is in the mask when its probability is strictly
                greater (so ``0`` selects everything and ``1`` nothing).

        Returns:
            One ``(H, W)`` bool mask per phrase (``[]`` for no phrase).
        """
        threshold = _check_threshold(threshold)
        return [p > threshold for p in self.probabilities(image, phrases)]

    def finder(
        self, image: np.ndarray, *, threshold: float = 0.4
    ) -> Callable[[str], np.ndarray | None]:
        """A ``find`` for :func:`polychrome.guidance.binding.bind`: phrase -> mask of
        ``image``, or None when the mask is empty."""
        threshold = _check_threshold(threshold)
        rgb = _to_rgb_uint8(image)

        def find(phrase: str) -> np.ndarray | None:
            (mask,) = self.segment(rgb, [phrase], threshold=threshold)
            return mask if mask.any() else None

        return find

    def _forward(self, rgb: np.ndarray, texts: list[str]) -> torch.Tensor:
        """``(n, H, W)`` float probabilities for ``rgb`` ``(H, W, 3)`` uint8 and ``n`` texts."""
        import torch
        import torch.nn.functional as F

        height, width = rgb.shape[:2]
        tokens = self._processor.tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_tokens, return_tensors="pt"
        )
        pixels = self._processor.image_processor(images=rgb, return_tensors="pt")["pixel_values"]
        n = len(texts)
        with torch.inference_mode():
            out = self._model(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
                # The same image for every phrase: a view, not n copies.
                pixel_values=pixels.to(self.device).expand(n, -1, -1, -1),
            )
            logits = out.logits.reshape(n, 1, *out.logits.shape[-2:]).float()
            probs = torch.sigmoid(logits)
            probs = F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=False)
            return probs[:, 0].clamp_(0.0, 1.0)


def _load_failure(source: str, *, local_folder: bool) -> str:
    if local_folder:
        return (
            f"could not load a CLIPSeg model from the folder {source!r}; it must hold a CLIPSeg "
            "model and its processor saved with save_pretrained (config.json, "
            "model.safetensors, tokenizer and image-processor files), e.g. made with: "
            f"hf download {DEFAULT_MODEL} --local-dir DIR"
        )
    if _offline():
        why = (
            "it is not in the local Hugging Face cache and downloads are off "
            "(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)"
        )
        online = "or unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE on a machine with network access"
    else:
        why = "it is not in the local Hugging Face cache and could not be downloaded"
        online = "or run once with network access"
    return (
        f"could not load the CLIPSeg model {source!r}: {why}. Pass a local folder with the "
        f"CLIPSeg weights (make one where there is network access with: hf download "
        f"{source} --local-dir DIR), {online} so that the hub id is downloaded into the cache"
    )
