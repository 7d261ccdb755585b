"""Loading the diffusion engine's models: a Stable Diffusion 1.5-compatible base model, a
luminance ControlNet and, for anti-color guidance, a CLIP model.

Each model is a local folder or a hub id. A folder is read as it is; a hub id goes through the
Hugging Face cache, so it is downloaded only when it is not cached and the machine is online
(``HF_HUB_OFFLINE=1`` forbids that).

Errors say what to pass. A model that is not given, or a hub id that cannot be had here (not
cached, offline), is missing weights: :class:`~polychrome.errors.EngineUnavailableError` (exit 3),
as for a missing extra. A local path that does not exist, or names a file or a folder that holds
no model of the kind the option wants, is a mistake in the call: an
:class:`~polychrome.errors.InputError` (exit 2), as for the cnn engine's ``model=`` file; so is a
hub-id-shaped value (``modles/sd15``) that is not cached here when a folder with a similar name
exists (the message asks "did you mean ./models/sd15?").
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polychrome.errors import EngineUnavailableError, InputError, ValueCheckError
from polychrome.hub import check_hub_id, similar_folder

__all__ = [
    "ClipPack",
    "Components",
    "load_clip",
    "load_components",
    "make_scheduler",
    "model_source",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BASE_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class Components:
    """The loaded models of one base model + ControlNet, on one device, in one dtype."""

    unet: Any
    controlnet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict
    device: Any
    dtype: Any

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (VAE factor times the UNet's downsampling)."""
        return self.vae_scale * 2 ** (len(self.unet.config.block_out_channels) - 1)


@dataclass
class ClipPack:
    """A CLIP model and its tokenizer, for anti-color guidance."""

    model: Any
    tokenizer: Any
    image_size: int


_MODELS = {
    "base_model": ("a Stable Diffusion 1.5 model", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
    "controlnet": (
        "a ControlNet that conditions on luminance",
        "a grayscale or brightness ControlNet for SD 1.5",
    ),
    "clip_model": ("a CLIP model", "openai/clip-vit-base-patch32"),
}
"""For each model option: what it names and an example, for the error when it is missing."""


def model_source(value: str, option: str) -> tuple[str, bool]:
    """``(value, is_local)`` for the model option ``option`` (a key of ``_MODELS``), checked
    without importing torch: an empty value is missing weights
    (:class:`~polychrome.errors.EngineUnavailableError`); a local path that does not exist, is a
    file, or is a folder without the layout of the model ``option`` wants is an
    :class:`~polychrome.errors.InputError`. A value shaped like a hub id (``org/name``) that is
    no folder here is returned as a hub id when it is cached or can be downloaded; otherwise it
    is a mistyped folder when a similar one exists (exit 2, "did you mean"), and missing
    weights when none does (:func:`polychrome.hub.check_hub_id`)."""
    what, example = _MODELS[option]
    if not value:
        raise EngineUnavailableError(
            f"the diffusion engine needs {what}: pass --engine-option {option}=FOLDER_OR_HUB_ID "
            f"(e.g. {example}); nothing is downloaded unless you pass a hub id"
        )
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueCheckError(
                f"{option}={value} is a file: {what} is needed, as a diffusers-format model "
                "folder (save_pretrained layout) or a hub id; single-file checkpoints are not read"
            )
        _check_layout(path, value, option)
        return str(path), True
    if _HUB_ID.match(value) and not value.startswith((".", "~")):
        check_hub_id(value, label=f"{option}={value}", what=what)  # typo or not cached here
        return value, False
    similar = similar_folder(value)
    raise InputError(
        f"{option}={value}: no such folder (and not a hub id): {what} is needed, as a local "
        f"diffusers-format model folder or a hub id (e.g. {example})"
        + (f"; did you mean {similar}?" if similar else "")
    )


def _check_layout(path: Path, value: str, option: str) -> None:
    """Refuse a folder that cannot hold the model ``option`` wants (checked on its files, before
    anything loads: loading the others first takes minutes on a CPU)."""
    if option == "base_model":
        missing = [p for p in _BASE_PARTS if not (path / p).is_dir()]
        if missing:
            raise ValueCheckError(
                f"base_model={value}: the folder lacks {'/, '.join(missing)}/; a diffusers-"
                "format Stable Diffusion folder holds unet/, vae/, text_encoder/, tokenizer/ and "
                "scheduler/"
            )
        return
    if option == "controlnet" and all((path / p).is_dir() for p in ("unet", "vae")):
        raise ValueCheckError(
            f"controlnet={value}: this folder holds a Stable Diffusion base model (unet/, "
            "vae/...), not a ControlNet; pass it as base_model= and the ControlNet's own folder "
            "as controlnet="
        )
    config = path / "config.json"
    if not config.is_file():
        raise ValueCheckError(
            f"{option}={value}: the folder has no config.json, so it holds no diffusers-format "
            f"model: {_MODELS[option][0]} is needed there (a save_pretrained folder)"
        )
    if option == "controlnet":
        try:
            found = json.loads(config.read_text(encoding="utf-8")).get("_class_name")
        except (OSError, ValueError, AttributeError) as exc:
            message = f"controlnet={value}: its config.json is not a JSON object ({exc})"
            raise ValueCheckError(message) from None
        if found and found != "ControlNetModel":
            raise ValueCheckError(
                f"controlnet={value} holds a {found}, not a ControlNetModel: "
                f"{_MODELS[option][0]} is needed there"
            )


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers' and diffusers' loading bars ('Loading weights 36/36') off while loading:
    polychrome's own progress is the CLI's (and --quiet silences it)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    shown = [m for m in (diffusers_logging, transformers_logging) if m.is_progress_bar_enabled()]
    for module in shown:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module in shown:
            module.enable_progress_bar()


def _load(cls, source: str, *, option: str, local: bool, how: str = "from_pretrained", **kwargs):
    """``cls.from_pretrained`` (or another loader of ``cls``, ``how``) with the errors of missing
    files and of the network turned into one message that says what to do."""
    if not local:
        from polychrome.guidance.textseg import _cache_only

        kwargs.setdefault("local_files_only", _cache_only())
    part = f" ({kwargs['subfolder']})" if kwargs.get("subfolder") else ""
    from diffusers import ModelMixin

    if how == "from_pretrained" and issubclass(cls, ModelMixin):
        # A diffusers model: another model's folder would load with random weights, or fail
        # inside diffusers; its config names its class.
        common = {k: v for k, v in kwargs.items() if k in ("subfolder", "local_files_only")}
        config = _load(cls, source, option=option, local=local, how="load_config", **common)
        found = config.get("_class_name")
        if found and found != cls.__name__:
            raise ValueCheckError(
                f"{option}={source}{part} holds a {found}, not a {cls.__name__}: "
                f"{_MODELS[option][0]} is needed there"
            )
    try:
        with warnings.catch_warnings(), _no_progress_bars():
            # The hub client's deprecation notices (which diffusers triggers, not the user)
            # would be printed before our own message.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"huggingface_hub\.")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"huggingface_hub\.")
            return getattr(cls, how)(source, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if local:  # the user's folder: a mistake in the call
            raise ValueCheckError(
                f"cannot load {option}={source}{part}: the folder must hold a diffusers-format "
                f"model (save_pretrained layout) ({first})"
            ) from None
        raise EngineUnavailableError(
            f"cannot load {option}={source}{part}: there is no such folder here, and the hub id "
            "is not in the local Hugging Face cache and could not be downloaded (offline, or "
            "HF_HUB_OFFLINE=1); download it once on a machine with a network, or pass a local "
            f"folder ({first})"
        ) from None


def resolve_device(device: str, dtype: str):
    """``(torch.device, torch.dtype)`` for the ``device`` and ``dtype`` options."""
    import torch

    if device == "auto":
        device = (
            "cuda"
            if torch.cuda.is_available()
            else "mps"
            if torch.backends.mps.is_available()
            else "cpu"
        )
    elif device == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailableError(
            "device=cuda was asked for but torch sees no CUDA GPU here (a CPU build of torch, or "
            "no driver); use device=cpu"
        )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise EngineUnavailableError("device=mps was asked for but MPS is not available here")
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "float16"
    return torch.device(device), getattr(torch, dtype)


@functools.lru_cache(maxsize=1)
def load_components(base_model: str, controlnet: str, device: str, dtype: str) -> Components:
    """Load (once per process and argument set) the base model's parts and the ControlNet."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    base, base_local = model_source(base_model, "base_model")  # folders' layouts checked
    control, control_local = model_source(controlnet, "controlnet")
    torch_device, torch_dtype = resolve_device(device, dtype)
    common = {"option": "base_model", "local": base_local}
    unet = _load(UNet2DConditionModel, base, subfolder="unet", torch_dtype=torch_dtype, **common)
    vae_dtype = torch_dtype
    if torch_dtype == torch.float16:
        # A VAE that overflows in float16 says so (force_upcast); it runs in float32 from the
        # start, for every image alike (diffusers' pipelines upcast it when decoding).
        config = _load(AutoencoderKL, base, subfolder="vae", how="load_config", **common)
        if config.get("force_upcast", True):
            vae_dtype = torch.float32
    vae = _load(AutoencoderKL, base, subfolder="vae", torch_dtype=vae_dtype, **common)
    text_encoder = _load(CLIPTextModel, base, subfolder="text_encoder", dtype=torch_dtype, **common)
    tokenizer = _load(CLIPTokenizer, base, subfolder="tokenizer", **common)
    scheduler_config = dict(_load(DDIMScheduler, base, subfolder="scheduler", **common).config)
    control_net = _load(
        ControlNetModel,
        control,
        option="controlnet",
        local=control_local,
        torch_dtype=torch_dtype,
    )
    for model in (unet, vae, text_encoder, control_net):
        model.to(torch_device).eval().requires_grad_(False)
    return Components(
        unet, control_net, vae, text_encoder, tokenizer, scheduler_config, torch_device, torch_dtype
    )


@functools.lru_cache(maxsize=1)
def load_clip(clip_model: str, device: str, dtype: str) -> ClipPack:
    """A transformers ``CLIPModel`` and tokenizer for anti-color guidance."""
    from transformers import CLIPModel, CLIPTokenizer

    source, local = model_source(clip_model, "clip_model")
    torch_device, torch_dtype = resolve_device(device, dtype)
    model = _load(CLIPModel, source, option="clip_model", local=local, dtype=torch_dtype)
    tokenizer = _load(CLIPTokenizer, source, option="clip_model", local=local)
    model.to(torch_device).eval().requires_grad_(False)
    return ClipPack(model, tokenizer, int(model.config.vision_config.image_size))


def make_scheduler(name: str, config: dict):
    """A fresh scheduler (they keep per-run state) of kind ``name`` from the model's config."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "unipc":
        return UniPCMultistepScheduler.from_config(config)
    return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++")
