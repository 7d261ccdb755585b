"""Training loop of the ``cnn`` engine's network: resumable, with progress and a log."""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from polychrome.engines.bins import ab_bins
from polychrome.errors import InputError, ValueCheckError
from polychrome.io import atomic_write_text
from polychrome.train.data import ImageBank, class_weights, sample_hints, soft_encode
from polychrome.train.model import ColorNet

__all__ = ["TrainConfig", "load_checkpoint", "read_checkpoint", "train"]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000
    batch: int = 16
    crop: int = 128
    lr: float = 2e-3
    width: int = 32
    seed: int = 0
    max_side: int = 320
    rebalance: float = 0.5
    checkpoint_every: int = 250
    threads: int = 0
    """Torch threads (0: torch's default)."""
    init: str = ""
    """Checkpoint whose model weights start this run (fine-tuning); empty: random init."""
    hints: bool = False
    """Train a network that also reads sparse true colors (user hints), as in Zhang et al.
    2017: each crop gets a random number of single-pixel hints (none for ``no_hint_share`` of
    the crops, so the network still colorizes on its own)."""
    max_hints: int = 400
    """Most hints in one crop (counts are log-uniform in ``[1, max_hints]``)."""
    no_hint_share: float = 0.25
    spread: bool = False
    """With ``hints``: the network also reads the hints spread densely at three scales
    (:func:`~polychrome.train.model.spread_hints`). Experimental: it made the proposal better
    but the solver's result at 10 points worse (docs/model-card.md)."""

    def __post_init__(self) -> None:
        if self.crop % 16:
            raise ValueCheckError(f"crop must be a multiple of 16, got {self.crop}")
        if self.crop > self.max_side:  # every crop would be an enlargement
            raise ValueCheckError(
                f"crop must be at most {self.max_side} (images are held with their longer side "
                f"at most that), got {self.crop}"
            )
        for name in ("steps", "batch", "width", "checkpoint_every", "max_hints"):
            if getattr(self, name) < 1:
                raise ValueCheckError(f"{name} must be >= 1")
        if self.spread and not self.hints:
            raise ValueCheckError("spread needs hints (--spread with --hints)")
        if not 0 <= self.no_hint_share <= 1:
            raise ValueCheckError(f"no_hint_share must be in [0, 1], got {self.no_hint_share}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueCheckError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.rebalance <= 1:
            raise ValueCheckError(f"rebalance must be in [0, 1], got {self.rebalance}")


def _lr(config: TrainConfig, step: int) -> float:
    warm = min(500, config.steps // 10 + 1)
    if step < warm:
        return config.lr * (step + 1) / warm
    t = (step - warm) / max(1, config.steps - warm)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


_CHECKPOINT_KEYS = ("model", "optimizer", "step", "elapsed", "rng", "torch_rng", "config")


def load_checkpoint(path: str | Path) -> object:
    """The object saved at ``path`` by :func:`torch.save`, read without running code: only
    tensors, numbers, strings and containers (and the numpy scalars that checkpoints made
    before 2026-12-04 hold) are accepted, so a checkpoint from elsewhere (``--init``) cannot
    run code when it is read. Raises what :func:`torch.load` raises."""
    core = np._core if hasattr(np, "_core") else np.core  # numpy 2 / 1.26
    scalar = core.multiarray.scalar  # type: ignore[attr-defined]
    with torch.serialization.safe_globals([scalar, np.dtype, type(np.dtype(np.float64))]):
        return torch.load(path, weights_only=True, map_location="cpu")


def read_checkpoint(path: Path, keys: tuple[str, ...]) -> dict:
    """The checkpoint at ``path``, which must hold ``keys``; anything else (another kind of
    file, a truncated or foreign checkpoint) is an :class:`InputError` that names it."""
    try:
        state = load_checkpoint(path)
    except Exception as exc:  # torch.load raises pickle, zip and OS errors of many kinds
        text = str(exc)
        if "GLOBAL" in text:  # weights_only refused an object whose loading could run code
            why = (
                "it holds Python objects that a checkpoint does not; they were not loaded, as "
                "loading them could run code"
            )
        elif isinstance(exc, pickle.UnpicklingError):  # torch's text is a page on weights_only
            why = "cannot read it: not a file torch.save wrote, or a damaged one"
        else:
            why = f"cannot read it: {text.splitlines()[0].split('. ')[0] if text else exc!r}"
        raise InputError(f"{path} is not a polychrome training checkpoint ({why})") from None
    if not isinstance(state, dict) or any(key not in state for key in keys):
        raise InputError(f"{path} is not a polychrome training checkpoint")
    return state


def _read_init(config: TrainConfig) -> dict:
    """The checkpoint ``config.init`` names, checked before any work (fine-tuning)."""
    init = Path(config.init)
    if init.is_dir():  # said 'no such checkpoint'
        raise InputError(
            f"--init {init} is a folder; name the checkpoint file (a run's is "
            f"{init / 'checkpoint.pt'})"
        )
    if not init.is_file():
        raise InputError(f"no such checkpoint to start from: {init}")
    if init.suffix.lower() == ".onnx":  # said 'invalid load key'
        raise InputError(
            f"--init {init} is an ONNX model, not a training checkpoint; recover one from it with "
            "scripts/checkpoint_from_onnx.py (in the source tree; see docs/model-card.md)"
        )
    state = read_checkpoint(init, ("model", "config"))
    if state["config"].get("width") != config.width:
        raise ValueCheckError(f"{init} has width {state['config'].get('width')}")
    return state


def _load_init(model: ColorNet, config: TrainConfig, start_state: dict | None = None) -> None:
    """Start ``model`` from ``config.init`` (``start_state``: as :func:`_read_init` read it); a
    plain network's weights start a hint network (the hint inputs start at zero, so it starts
    out as the plain network)."""
    init = Path(config.init)
    if start_state is None:
        start_state = _read_init(config)
    weights = dict(start_state["model"])
    own = model.state_dict()
    first = "stage1.0.0.weight"
    if first not in weights:
        raise ValueCheckError(f"{init} does not hold this network's weights")
    if weights[first].shape != own[first].shape:
        if not config.hints:
            raise ValueCheckError(f"{init} is a hint network; pass --hints to fine-tune it")
        padded = torch.zeros_like(own[first])
        padded[:, :1] = weights[first]
        weights[first] = padded
    missing, unexpected = set(own) - set(weights), set(weights) - set(own)
    if any(key.startswith("hint_spread") for key in unexpected):
        raise ValueCheckError(f"{init} reads spread hints; pass --spread to fine-tune it")
    if unexpected or any(not key.startswith("hint") for key in missing):
        raise ValueCheckError(f"{init} does not hold this network's weights")
    weights.update({key: own[key] for key in missing})
    try:
        model.load_state_dict(weights)
    except RuntimeError:  # a layer of another shape (torch's message runs over many lines)
        raise ValueCheckError(f"{init} does not hold this network's weights") from None


def _save_atomic(obj: object, path: Path) -> None:
    """Save ``obj`` to ``path`` whole or not at all: a kill or a full disk during the save
    leaves the previous file as it was (and no temporary file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


class _HeldInterrupt:
    """While active in the main thread, a first Ctrl-C (SIGINT), or a SIGTERM that a Python
    handler turns into a stop (the CLI's), is held until the training step in progress has
    finished (``pending``; :meth:`deliver` then acts on it as its own handler would), so that
    what is saved holds whole steps: cut within a step, the random state had moved on and the
    weights could be part-updated, and the resumed run ended elsewhere. A second signal stops
    at once."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._previous: dict[int, Callable[..., object]] = {}

    def _hold(self, signum: int, frame: object) -> None:
        if self.pending is not None:
            self._previous[signum](signum, frame)
            raise KeyboardInterrupt  # the handler returned: stop all the same
        self.pending = signum

    def deliver(self) -> None:
        """Act on the held signal now (raises, as the signal's own handler does)."""
        if self.pending is not None:
            self._previous[self.pending](self.pending, None)
            raise KeyboardInterrupt

    def __enter__(self) -> _HeldInterrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(signum)
                if callable(previous):  # not the default action (SIGTERM: end the process)
                    self._previous[signum] = previous
                    signal.signal(signum, self._hold)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def train(
    data: str | Path,
    out: str | Path,
    config: TrainConfig,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    say: Callable[[str], None] | None = None,
    command: str = "",
) -> Path:
    """Train (or resume) and return the checkpoint path.

    ``out/checkpoint.pt`` holds the model, optimizer, step and random state; a run started again
    with the same ``out`` continues where it stopped. ``out/log.jsonl`` gets one line per
    checkpoint (step, mean loss, elapsed seconds). ``say`` gets a line when a run resumes and
    when an interrupted run has saved its checkpoint. ``command`` (the command line that started
    this run, if any), the data folder and the versions are kept in ``out/run.json`` and the
    checkpoint, for the model card.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueCheckError(f"--out {out} is a file; a run goes to a folder")
    ckpt_path = out / "checkpoint.pt"
    if config.threads:
        torch.set_num_threads(config.threads)
    bins_np = ab_bins()
    bins = torch.from_numpy(np.array(bins_np))
    bank = ImageBank.from_folder(data, max_side=config.max_side)
    if say and bank.skipped:
        say(f"{data}: {bank.skipped_text()}; training on {len(bank.images)}")
    # Everything that can refuse the run is read before the run folder is made.
    state = read_checkpoint(ckpt_path, _CHECKPOINT_KEYS) if ckpt_path.exists() else None
    if state is not None:
        # Settings added after a run was made read as their defaults.
        saved_config = {**asdict(TrainConfig()), **state["config"]}
        if saved_config != asdict(config):
            changed = sorted(k for k, v in asdict(config).items() if saved_config.get(k) != v)
            further = (
                f"; the steps set the learning-rate schedule, so to train further start "
                f"another --out with --init {ckpt_path}"
                if changed == ["steps"]
                else ""
            )
            raise ValueCheckError(
                f"{ckpt_path} was made with other settings ({', '.join(changed)}); "
                f"use another --out or the same settings to resume{further}"
            )
    init_state = _read_init(config) if config.init and state is None else None
    weights = torch.from_numpy(class_weights(bank, bins_np, mix=config.rebalance))
    torch.manual_seed(config.seed)  # before the model: the seed sets its initial weights too
    model = ColorNet(len(bins_np), width=config.width, hints=config.hints, spread=config.spread)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    rng = np.random.default_rng(config.seed)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if say and step >= config.steps:
            say(f"{ckpt_path} has finished (step {step} of {config.steps}); nothing to train")
        elif say:
            say(f"resuming {ckpt_path} at step {step} of {config.steps}")
            # The data is not a setting (a moved folder resumes), but other images change what
            # the rest of the run learns and its class weights: said, not silent.
            made = state.get("meta", {})
            here = (str(Path(data).resolve()), len(bank.images))
            if "data" in made and (made["data"], made.get("images")) != here:
                say(
                    f"warning: {ckpt_path} was trained on {made['data']} ({made.get('images')} "
                    f"images); it goes on with {here[0]} ({here[1]} images)"
                )
    elif init_state is not None:
        _load_init(model, config, init_state)
    out.mkdir(parents=True, exist_ok=True)  # only once the data and checkpoints are good
    from polychrome import __version__

    meta = {
        "images": len(bank.images),
        "data": str(Path(data).resolve()),
        **({"command": command} if command else {}),
        "versions": {"polychrome": __version__, "torch": str(torch.__version__)},
        "bins": len(bins_np),
        "parameters": sum(p.numel() for p in model.parameters()),
        "class_weights": weights.tolist(),
    }
    atomic_write_text(out / "run.json", json.dumps({"config": asdict(config), **meta}, indent=2))
    model.train()
    losses: list[float] = []
    start = time.perf_counter() - elapsed

    def checkpoint() -> None:
        _save_atomic(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "elapsed": time.perf_counter() - start,
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(config),
                "meta": meta,
            },
            ckpt_path,
        )
        with open(out / "log.jsonl", "a") as log:
            row = {
                "step": step,
                "loss": float(np.mean(losses)) if losses else None,
                "elapsed_s": round(time.perf_counter() - start, 1),
            }
            log.write(json.dumps(row) + "\n")
        losses.clear()

    saved = step
    in_step = False  # an interrupt within a step leaves a state that is not saved
    with _HeldInterrupt() as interrupt:
        try:
            while step < config.steps:
                in_step = True
                lab = torch.from_numpy(bank.batch(rng, config.batch, config.crop))
                lum = lab[:, :1]
                ab = F.avg_pool2d(lab[:, 1:], 4)
                target = soft_encode(ab, bins)
                for group in opt.param_groups:
                    group["lr"] = _lr(config, step)
                hints = (
                    sample_hints(lab, rng, most=config.max_hints, none_share=config.no_hint_share)
                    if config.hints
                    else None
                )
                logits = model(lum, hints)
                logp = F.log_softmax(logits, dim=1)
                pixel_w = weights[target.argmax(1)]
                loss = (-(target * logp).sum(1) * pixel_w).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
                in_step = False
                if progress:
                    progress(step, config.steps, float(np.mean(losses[-50:])))
                if step % config.checkpoint_every == 0 or step == config.steps:
                    checkpoint()
                    saved = step
                interrupt.deliver()
        except KeyboardInterrupt:
            if in_step:  # a second signal within a step: the last checkpoint stands
                if say and ckpt_path.exists():
                    say(
                        f"stopped during step {step + 1}; {ckpt_path} holds step {saved}: run "
                        "the same command to resume from there"
                    )
                elif say:  # it said the checkpoint held step 0, and there was none
                    say(
                        f"stopped during step {step + 1}, before the first checkpoint: nothing "
                        "saved"
                    )
                raise
            if step != saved:
                checkpoint()  # an interrupted run loses nothing
            if say:
                say(f"stopped at step {step}; saved in {ckpt_path}: run the same command to resume")
            raise
    return ckpt_path
