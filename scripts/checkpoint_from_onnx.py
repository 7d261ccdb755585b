"""Recover a training checkpoint from an exported ``cnn`` ONNX model, to fine-tune it.

The export folds each batch norm into the convolution before it, so the ONNX file holds, per
convolution, a weight and a bias. This script puts them back into :class:`ColorNet`: each
convolution gets its folded weight, and each batch norm is set so that, in evaluation mode, it
adds exactly the folded bias. Its statistics (and matching scale and shift) come from one batch
of training crops, so that in training mode, where batch norm normalizes with the batch's own
statistics, the network also starts out close to the exported one.

    python scripts/checkpoint_from_onnx.py src/polychrome/weights/cnn.onnx runs/shipped.pt \\
        --data ../shared/data/photos-train

It checks that the recovered network gives the ONNX model's probabilities before writing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from polychrome.engines.bins import ab_bins
from polychrome.errors import PolychromeError
from polychrome.train.data import ImageBank
from polychrome.train.loop import TrainConfig
from polychrome.train.model import ColorNet


def recover(model_path: Path, data: Path, *, seed: int = 0) -> dict:
    graph = onnx.load(str(model_path)).graph
    tensors = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    card_path = model_path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    width = int(card.get("config", {}).get("width", 32))
    hints = bool(card.get("hints", False))
    if any(k.startswith("net.hint_spread") for k in tensors):
        raise SystemExit("recovering a network with spread hint inputs is not supported")
    net = ColorNet(len(ab_bins()), width=width, hints=hints)
    # Folded convolutions appear in the graph in the order the modules run; the names of the
    # layers that have their own bias (context, head) survive the export.
    folded = sorted(
        (k for k in tensors if k.startswith("onnx::Conv_")),
        key=lambda k: int(re.findall(r"\d+", k)[-1]),
    )
    convs = []
    for module in net.modules():
        if isinstance(module, nn.Sequential):
            items = list(module)
            for a, b in itertools.pairwise(items):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                    convs.append((a, b))
    order = {id(m): k for k, m in enumerate(net.modules())}
    convs.sort(key=lambda pair: order[id(pair[0])])  # the order the convolutions are defined
    if len(convs) * 2 != len(folded):
        raise SystemExit(f"{len(convs)} conv+BN pairs but {len(folded) // 2} folded convolutions")
    state = net.state_dict()
    # The layers with their own bias (the context, the head and a hint network's hint layers)
    # keep their names in the export.
    for key in state:
        if f"net.{key}" in tensors:
            state[key] = tensors[f"net.{key}"]
    net.load_state_dict(state)
    with torch.no_grad():
        for (conv, bn), (wk, bk) in zip(
            convs, zip(folded[::2], folded[1::2], strict=True), strict=True
        ):
            conv.weight.copy_(tensors[wk])
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
            bn.bias.copy_(tensors[bk])
    # Batch statistics of each convolution's output (without bias) on training crops.
    bank = ImageBank.from_folder(data, max_side=320, limit=256)
    lab = torch.from_numpy(bank.batch(np.random.default_rng(seed), 32, 128))
    stats = {}

    def hook(module, inputs, output):
        x = inputs[0]
        stats[module] = (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))

    handles = [bn.register_forward_hook(hook) for _, bn in convs]
    net.eval()
    with torch.no_grad():
        net(lab[:, :1])  # no hints: BN statistics of the automatic case, as in training
        for h in handles:
            h.remove()
        for _, bn in convs:
            mean, var = stats[bn]
            bias = bn.bias.clone()  # the folded bias
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + bias)
    # Check against ONNX Runtime.
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probe = {"luminance": lab[:1, :1].numpy()}
    if hints:  # two hint pixels, so the hint layers are checked too
        marks = np.zeros((1, 3, *probe["luminance"].shape[2:]), np.float32)
        marks[0, :, 20, 30] = (0.4, -0.2, 1.0)
        marks[0, :, 90, 100] = (-0.3, 0.5, 1.0)
        probe["hints"] = marks
    want = session.run(None, probe)[0]
    with torch.no_grad():
        got = torch.softmax(net(*(torch.from_numpy(v) for v in probe.values())), 1).numpy()
    err = float(np.abs(got - want).max())
    if err > 1e-4:
        raise SystemExit(f"recovered network differs from the ONNX model by {err:.2g}")
    config = TrainConfig(width=width, steps=int(card.get("step", 1)), hints=hints)
    return {
        "model": net.state_dict(),
        "step": int(card.get("step", 0)),
        "elapsed": float(card.get("train_seconds", 0)),
        "config": asdict(config),
        "meta": {"recovered_from": str(model_path), "sha256": card.get("sha256", "")},
        "max_error": err,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="training images (BN statistics)")
    args = parser.parse_args()
    if not args.model.is_file():
        parser.exit(2, f"error: no such ONNX model: {args.model}\n")
    try:
        onnx.checker.check_model(str(args.model))
    except Exception as exc:  # onnx raises protobuf and checker errors of several kinds
        parser.exit(2, f"error: {args.model} is not an ONNX model ({exc})\n")
    inputs = [i.name for i in onnx.load(str(args.model)).graph.input]
    if "luminance" not in inputs:
        names = ", ".join(inputs)
        parser.exit(2, f"error: {args.model} is not a cnn model (its inputs: {names})\n")
    try:
        state = recover(args.model, args.data)
    except PolychromeError as exc:  # e.g. no such --data folder, no usable images in it
        parser.exit(exc.exit_code, f"error: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")  # no partial checkpoint where one was
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} (largest difference from the ONNX model {state['max_error']:.2g})")


if __name__ == "__main__":
    main()
