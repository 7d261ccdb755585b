"""Export a trained checkpoint to ONNX (what the ``cnn`` engine runs, without torch)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from polychrome.engines.bins import ab_bins
from polychrome.io import atomic_write_text, file_sha256
from polychrome.train.loop import read_checkpoint
from polychrome.train.model import ColorNet

__all__ = ["export_onnx", "write_card"]


class _WithSoftmax(torch.nn.Module):
    def __init__(self, net: ColorNet):
        super().__init__()
        self.net = net

    def forward(self, luminance: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        return torch.softmax(self.net(luminance, hints), dim=1)


def export_onnx(checkpoint: str | Path, out: str | Path) -> dict:
    """Write ``out`` (``.onnx``): input ``luminance`` ``(1, 1, H, W)`` float32 L* (``H, W``
    multiples of 16) and, for a hint network, ``hints`` ``(1, 3, H, W)`` (see
    :class:`~polychrome.train.model.ColorNet`); output ``probs`` ``(1, Q, H/4, W/4)`` bin
    probabilities. Returns a description (sha256, size, step, parameters) for the model card."""
    state = read_checkpoint(Path(checkpoint), ("model", "config", "step", "elapsed", "meta"))
    hints = bool(state["config"].get("hints", False))
    # Hint networks trained before the spread inputs existed have no ``hint_spread`` weights.
    spread = any(key.startswith("hint_spread") for key in state["model"])
    net = ColorNet(len(ab_bins()), width=state["config"]["width"], hints=hints, spread=spread)
    net.load_state_dict(state["model"])
    net.eval()
    model = _WithSoftmax(net)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    probe = {"luminance": np.linspace(0, 100, 192 * 224, dtype=np.float32).reshape(1, 1, 192, 224)}
    example: tuple[torch.Tensor, ...] = (torch.full((1, 1, 128, 160), 50.0),)
    axes = {"luminance": {2: "height", 3: "width"}, "probs": {2: "h4", 3: "w4"}}
    if hints:
        marks = np.zeros((1, 3, 192, 224), np.float32)
        marks[0, :, 40, 50] = (0.4, -0.2, 1.0)
        marks[0, :, 150, 200] = (-0.3, 0.5, 1.0)
        probe["hints"] = marks
        example = (*example, torch.zeros(1, 3, 128, 160))
        axes["hints"] = {2: "height", 3: "width"}
    with torch.no_grad():
        want = model(*(torch.from_numpy(v) for v in probe.values())).numpy()
    try:  # cut short (Ctrl-C, a full disk, a failed check): no temporary file is left
        with warnings.catch_warnings():
            # The tracer warns that a shape-dependent Python value (the spread hints' kernel
            # sizes) is taken as a constant; the check below, at another size than the example's,
            # refuses an export where that changed anything.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                example,
                str(tmp),
                input_names=list(probe),
                output_names=["probs"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        # Check that ONNX Runtime gives what torch gives before replacing anything.
        import onnxruntime as ort

        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, probe)[0]
        if not np.allclose(got, want, atol=1e-4):
            raise RuntimeError("the ONNX export disagrees with torch; not written")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "file": out.name,
        "sha256": file_sha256(out),
        "bytes": out.stat().st_size,
        "step": state["step"],
        "train_seconds": round(state["elapsed"]),
        "parameters": state["meta"]["parameters"],
        "images": state["meta"]["images"],
        # What made it: the data folder, the command and the versions (runs made before these
        # were recorded have none).
        **{
            key: state["meta"][key]
            for key in ("data", "command", "versions")
            if key in state["meta"]
        },
        "bins": len(ab_bins()),
        "config": state["config"],
        "hints": hints,
        # The rebalancing weights the loss used: the engine divides them back out (its
        # ``prior_correction`` option) to trade vividness against accuracy.
        "class_weights": [round(float(w), 6) for w in state["meta"].get("class_weights", [])],
    }


def write_card(description: dict, path: str | Path) -> None:
    """Write the machine-readable part of the model card (JSON next to the ONNX file)."""
    atomic_write_text(path, json.dumps(description, indent=2) + "\n")
