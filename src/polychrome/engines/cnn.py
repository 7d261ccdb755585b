"""The ``cnn`` engine: the project's own small colorization network, run by ONNX Runtime.

The network (``polychrome.train.model``, trained by ``polychrome train``) predicts, for every
pixel at 1/4 of its input resolution, a distribution over quantized ab bins. Training reweights
rare colors (class rebalancing); ``prior_correction`` divides those weights back out, so the
distribution is the plain learned one. The proposal is its annealed mean times ``vividness``
(the mean alone is muted where several colors are possible; the gain restores photo-like
colorfulness; see docs/model-card.md for how the defaults were chosen). Its confidence is one
minus the normalized entropy, and diverse samples perturb the distribution with smooth random
fields (spatially coherent, seeded) before decoding.

A hint network (trained with ``polychrome train --hints``) also reads the user's point hints
(clicks, strokes, reference matches at least ``hint_weight`` firm), as in Zhang et al. 2017, so
a few true colors change its whole proposal: the sky it guessed blue turns to the sunset the
user clicked, and the other objects follow what such scenes look like.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from polychrome.engines.base import EngineContext, EngineOptions, Proposal, engine_option
from polychrome.errors import EngineUnavailableError, InputError, ValueCheckError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["WEIGHTS", "CnnEngine", "CnnOptions", "reads_hints"]

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "cnn.onnx"


@dataclass(frozen=True)
class CnnOptions(EngineOptions):
    """Options of the ``cnn`` engine."""

    temperature: float = engine_option(
        1.0,
        "Annealed-mean temperature: lower is more vivid, higher more muted.",
        min=0.01,
        max=2,
    )
    vividness: float = engine_option(
        1.75,
        "Chroma gain on the decoded colors: the mean of the predicted distribution is muted "
        "(brownish) where several colors are possible; this restores photo-like colorfulness.",
        min=0,
        max=4,
    )
    net_side: int = engine_option(
        256, "Longer side (pixels) of the image the network sees.", min=64, max=2048
    )
    diversity: float = engine_option(
        2.0, "Strength of the random fields used for --samples.", min=0
    )
    prior_correction: float = engine_option(
        1.0,
        "How much of the training's class rebalancing to undo (0: vivid, rare colors "
        "favoured; 1: the plain learned distribution).",
        min=0,
        max=1,
    )
    hints: bool = engine_option(True, "Show the point hints to the network (hint networks only).")
    hint_weight: float = engine_option(
        0.5,
        "Hints less firm than this (weak reference matches) are not shown.",
        min=0,
        max=1,
    )
    hint_vividness: float = engine_option(
        1.0,
        "Chroma gain instead of vividness when the network saw hints (they make its "
        "distribution sharp, so its mean is no longer muted).",
        min=0,
        max=4,
    )
    hint_agreement: float = engine_option(
        8.0,
        "Trust the proposal less where it disagrees with nearby hints: its confidence is "
        "scaled by exp(-d^2 / 2 t^2), d the (distance-weighted) ab error at the hints, t this "
        "value (0: off).",
        min=0,
    )
    hint_reach: float = engine_option(
        0.35,
        "How far the hints change the proposal, as a share of the longer side: beyond about "
        "this distance from every hint, the network's own colors and confidence are kept "
        "(0: the hints change them everywhere).",
        min=0,
        max=4,
    )
    model: str = engine_option(
        "", "Path of another ONNX model (default: the shipped one).", files=True
    )


_SESSION_LOCK = threading.Lock()


def _session(path: str):
    """The ONNX session of the model at ``path``, loaded once per process and shared (its
    ``run`` is thread-safe). The lock keeps threads that start together (the HTTP service's,
    a script's pool) from each loading the model."""
    with _SESSION_LOCK:
        return _load_session(path)


@functools.lru_cache(maxsize=4)
def _load_session(path: str):
    import onnxruntime as ort

    from polychrome.engines.bins import ab_bins

    # A model the user names is input (a bad one is exit 2); the shipped one is an install.
    user = Path(path) != WEIGHTS
    bad = ValueCheckError if user else EngineUnavailableError
    if user and not Path(path).is_file():
        raise InputError(f"cnn model={path}: no such file")
    verify_weights(Path(path))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    threads = os.environ.get("POLYCHROME_THREADS", "")
    if threads.isdigit() and int(threads) > 0:  # set by batch workers: one thread each
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise bad(f"cannot load the cnn model {path}: not an ONNX model ({first})") from None
    inputs = {i.name for i in session.get_inputs()}
    outputs = session.get_outputs()
    bins = outputs[0].shape[1] if outputs and len(outputs[0].shape) == 4 else None
    if "luminance" not in inputs or not inputs <= {"luminance", "hints"} or bins != len(ab_bins()):
        raise bad(
            f"the cnn model {path} is not a polychrome colorization network (inputs "
            f"{', '.join(sorted(inputs)) or 'none'}; one is wanted with a 'luminance' input, an "
            f"optional 'hints' input and {len(ab_bins())} ab bins out): export one with "
            "`polychrome train`"
        )
    return session


@functools.lru_cache(maxsize=4)
def reads_hints(path: str) -> bool:
    """Whether the ONNX model at ``path`` is a hint network (has a ``hints`` input)."""
    return any(i.name == "hints" for i in _session(path).get_inputs())


@functools.lru_cache(maxsize=4)
def _class_weights(path: str) -> np.ndarray | None:
    """The rebalancing weights recorded in the model's card, or None (no card, or none there)."""
    import numpy as np

    card = Path(path).with_suffix(".json")
    if not card.is_file():
        return None
    weights = json.loads(card.read_text()).get("class_weights") or None
    return None if weights is None else np.asarray(weights, np.float32)


def _smooth_fields(rng, count: int, shape: tuple[int, int], cells: int = 4):
    """``count`` smooth standard-normal random fields of ``shape`` (bilinear from a coarse grid)."""
    import cv2
    import numpy as np

    coarse = rng.standard_normal((cells, cells, count)).astype(np.float32)
    out = np.empty((count, *shape), np.float32)
    for start in range(0, count, 4):  # cv2.resize handles at most 4 channels well
        chunk = coarse[..., start : start + 4]
        up = cv2.resize(chunk, shape[::-1], interpolation=cv2.INTER_LINEAR)
        out[start : start + chunk.shape[2]] = up.reshape(*shape, -1).transpose(2, 0, 1)
    return out


def _firm(hints, min_weight: float):
    """The ``(yx, ab)`` of the hints at least ``min_weight`` firm; None when there are none.
    :meth:`CnnEngine.propose` selects them once and passes them to the helpers below."""
    if hints is None:
        return None
    yx, ab, weight = hints
    keep = weight >= min_weight
    return (yx[keep], ab[keep]) if keep.any() else None


def _hint_map(firm, shape, net_shape, padded):
    """The network's ``(1, 3, H, W)`` hint input: mean hint chroma (over ``HINT_SCALE``) at each
    net pixel that holds one of the ``firm`` hints (:func:`_firm`), times the mask, and the
    mask. None when there are none."""
    import numpy as np

    from polychrome.engines.bins import HINT_SCALE

    if firm is None:
        return None
    yx, ab = firm
    scale = np.array(net_shape) / np.array(shape)
    at = np.round((yx + 0.5) * scale - 0.5).astype(np.int64)
    at = np.clip(at, 0, np.array(net_shape) - 1)
    # Summed per net pixel with bincount (np.add.at took seconds for a page painted over).
    flat = at[:, 0] * padded[1] + at[:, 1]
    size = padded[0] * padded[1]
    count = np.bincount(flat, minlength=size).reshape(padded)
    out = np.zeros((3, *padded), np.float32)
    held = count > 0
    for c in range(2):
        total = np.bincount(flat, weights=ab[:, c] / HINT_SCALE, minlength=size)
        out[c][held] = total.reshape(padded)[held] / count[held]
    out[2] = held
    return out[None]


def _reach(firm, shape, reach: float):
    """``shape`` in ``[0, 1]``: how much the ``firm`` hints (:func:`_firm`) speak for each pixel
    (:func:`~polychrome.ops.filters.hint_reach` at ``reach``); all ones without them. Without
    it a single stroke changed the proposal everywhere: the network's global context takes the
    mean hint color, and the agreement gate extrapolated the stroke's disagreement to the whole
    image."""
    import numpy as np

    from polychrome.ops.filters import hint_reach

    if firm is None:
        return np.ones(shape, np.float32)
    return hint_reach(firm[0], shape, reach)


def _agreement(ab, firm, tolerance: float):
    """``(h, w)`` in ``(0, 1]``: how well the proposal ``ab`` agrees with the hints near each
    pixel. The squared ab errors at the ``firm`` hints (:func:`_firm`) are spread with a broad
    Gaussian (a quarter of the longer side), normalized, and mapped through
    ``exp(-d^2 / 2 tolerance^2)`` (``tolerance``: the ``hint_agreement`` option): where the
    engine's colors contradict what the user gave, the solver follows the user's colors
    instead."""
    import cv2
    import numpy as np

    from polychrome.ops.filters import hint_cells

    h, w = ab.shape[:2]
    if firm is None:
        return np.ones((h, w), np.float32)
    yx, target = firm
    err2 = ((ab[yx[:, 0], yx[:, 1]] - target) ** 2).sum(axis=1)
    # On a coarse grid: the spread is broad, so 64 cells on the longer side are plenty.
    (gh, gw), at = hint_cells(yx, (h, w))
    flat = at[:, 0] * gw + at[:, 1]
    total = (
        np.stack(
            [
                np.bincount(flat, weights=err2, minlength=gh * gw),
                np.bincount(flat, minlength=gh * gw),
            ]
        )
        .reshape(2, gh, gw)
        .astype(np.float32)
    )
    sigma = 0.25 * max(gh, gw)
    spread = [cv2.GaussianBlur(t, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT) for t in total]
    d2 = spread[0] / np.maximum(spread[1], 1e-12)
    gate = np.exp(-d2 / (2 * tolerance**2)).astype(np.float32)
    return cv2.resize(gate, (w, h), interpolation=cv2.INTER_LINEAR)


class CnnEngine:
    name: ClassVar[str] = "cnn"
    Options: ClassVar[type[EngineOptions]] = CnnOptions
    wants_context: ClassVar[bool] = True

    def probabilities(
        self,
        luminance: np.ndarray,
        options: CnnOptions,
        hints: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``(Q, h4, w4)`` bin probabilities for ``luminance`` (any size; resized to
        ``net_side`` and padded to a multiple of 16 for the network). ``hints`` (``yx`` in
        ``luminance``'s coordinates, ``ab``, ``weight``) reach a hint network only."""
        return self._run(luminance, options, _firm(hints, options.hint_weight))[0]

    def _run(self, luminance, options, firm):
        """The probabilities, and whether the network saw any of the ``firm`` hints."""
        import cv2
        import numpy as np

        path = options.model or str(WEIGHTS)
        session = _session(path)
        h, w = luminance.shape
        scale = min(1.0, options.net_side / max(h, w))
        nh, nw = max(16, round(h * scale)), max(16, round(w * scale))
        lum = cv2.resize(luminance.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
        ph, pw = -nh % 16, -nw % 16
        lum = np.pad(lum, ((0, ph), (0, pw)), mode="reflect" if min(nh, nw) > 16 else "edge")
        feed = {"luminance": lum[None, None]}
        marks = None
        if reads_hints(path):
            if options.hints:
                marks = _hint_map(firm, (h, w), (nh, nw), lum.shape)
            feed["hints"] = marks if marks is not None else np.zeros((1, 3, *lum.shape), np.float32)
        probs = session.run(None, feed)[0][0]
        probs = probs[:, : -(-nh // 4), : -(-nw // 4)]
        weights = _class_weights(path)
        if weights is not None and options.prior_correction > 0:
            probs = probs * (weights**-options.prior_correction)[:, None, None]
            probs /= probs.sum(axis=0, keepdims=True)
        return probs, marks is not None

    def propose(
        self,
        luminance: np.ndarray,
        *,
        options: EngineOptions,
        seed: int,
        sample: int | None = None,
        context: EngineContext | None = None,
    ) -> Proposal:
        import cv2
        import numpy as np

        assert isinstance(options, CnnOptions)
        h, w = luminance.shape
        firm = _firm(context.hints if context else None, options.hint_weight)
        # How much the hints speak for each pixel, once, at the luminance's size (the hints'
        # coordinates); both uses below take it from here.
        reach = _reach(firm, (h, w), options.hint_reach)
        probs, hinted = self._run(luminance, options, firm)
        ab, confidence = self._decode(probs, hinted, options, seed, sample)
        if hinted and options.hint_reach > 0:
            # Away from the hints, the network's colors without them (its global context
            # would carry one stroke's color over the whole image).
            alone, _ = self._run(luminance, options, None)
            ab_alone, confidence_alone = self._decode(alone, False, options, seed, sample)
            near = cv2.resize(reach, ab.shape[1::-1], interpolation=cv2.INTER_AREA)
            ab = ab_alone + near[..., None] * (ab - ab_alone)
            confidence = confidence_alone + near * (confidence - confidence_alone)
        ab = cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR)
        confidence = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        if firm is not None and options.hint_agreement > 0:  # without firm hints: a gate of 1
            disagree = 1.0 - _agreement(ab, firm, options.hint_agreement)
            confidence = confidence * (1.0 - reach * disagree)
        return Proposal(ab.astype(np.float32), np.clip(confidence, 0, 1).astype(np.float32))

    def _decode(self, probs, hinted: bool, options: CnnOptions, seed: int, sample: int | None):
        """``(ab, confidence)`` at the probabilities' resolution: the annealed mean times the
        chroma gain, perturbed by the seeded fields of ``sample``."""
        import numpy as np

        from polychrome.engines.bins import annealed_mean, entropy_confidence

        confidence = entropy_confidence(probs)
        gain = np.float32(options.hint_vividness if hinted else options.vividness)
        ab = annealed_mean(probs, options.temperature) * gain
        if sample is not None and options.diversity > 0:
            rng = np.random.default_rng([seed, sample])
            noise = _smooth_fields(rng, probs.shape[0], probs.shape[1:])
            logp = np.log(np.maximum(probs, 1e-12)) + options.diversity * noise
            logp -= logp.max(axis=0, keepdims=True)
            perturbed = np.exp(logp)
            perturbed /= perturbed.sum(axis=0, keepdims=True)
            varied = annealed_mean(perturbed, options.temperature) * gain
            # Samples differ in which colors they pick, not in how saturated they are overall:
            # the noise sharpens distributions, so bring the mean chroma back to the plain one.
            plain = float(np.hypot(ab[..., 0], ab[..., 1]).mean())
            now = float(np.hypot(varied[..., 0], varied[..., 1]).mean())
            ab = varied * np.float32(min(1.0, plain / max(now, 1e-6)))
        return ab, confidence


def read_card(path: Path = WEIGHTS) -> dict:
    """The model card data (``cnn.json`` beside the model)."""
    return json.loads(path.with_suffix(".json").read_text())


def verify_weights(path: Path) -> None:
    """Refuse a missing model, and a shipped model whose sha256 differs from its card."""
    from polychrome.io import file_sha256

    if not path.is_file():
        raise EngineUnavailableError(
            f"the cnn model {path} is missing; reinstall polychrome, or train one with "
            "`polychrome train` and pass --engine-option model=PATH"
        )
    card = path.with_suffix(".json")
    if path == WEIGHTS and card.is_file():
        expected = read_card(path)["sha256"]
        if file_sha256(path) != expected:
            raise EngineUnavailableError(
                f"the cnn model {path} does not match its recorded sha256 ({expected[:12]}...): "
                "the file is damaged; reinstall polychrome"
            )
