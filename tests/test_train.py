"""Training, resuming and exporting the cnn network, on tiny generated data (needs [train])."""

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from polychrome.engines.bins import ab_bins, annealed_mean, entropy_confidence  # noqa: E402
from polychrome.engines.cnn import CnnEngine, CnnOptions  # noqa: E402
from polychrome.errors import InputError, ValueCheckError  # noqa: E402
from polychrome.io import write_image  # noqa: E402
from polychrome.train.data import ImageBank, class_weights, soft_encode  # noqa: E402
from polychrome.train.export import export_onnx  # noqa: E402
from polychrome.train.loop import TrainConfig, train  # noqa: E402

TINY = {"batch": 2, "crop": 32, "width": 4, "max_side": 64, "lr": 1e-3}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    for k in range(6):
        h, w = 72, 96
        _, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = rng.uniform(0, 1, 3)
        img = np.stack([base[c] * (0.5 + 0.5 * np.sin(3 * xx + c + k)) for c in range(3)], -1)
        img[20:40, 30:60] = rng.uniform(0, 1, 3)
        write_image(folder / f"img{k}.png", np.round(img * 255).astype(np.uint8))
    write_image(folder / "gray.png", np.zeros((70, 70), np.uint8))  # skipped: no color
    return folder


def test_bins_and_decoding():
    bins = ab_bins()
    assert 200 < len(bins) < 330
    probs = np.zeros((len(bins), 2, 3), np.float32)
    red = np.argmin(((bins - [60, 50]) ** 2).sum(1))
    probs[red] = 1.0
    assert np.allclose(annealed_mean(probs, 0.38), bins[red], atol=1e-3)
    assert np.allclose(entropy_confidence(probs), 1.0)
    uniform = np.full((len(bins), 2, 2), 1 / len(bins), np.float32)
    assert np.allclose(entropy_confidence(uniform), 0.0, atol=1e-5)


def test_soft_encode_and_class_weights(data_dir):
    bins = torch.from_numpy(np.array(ab_bins()))
    ab = torch.tensor([[[[60.0]], [[50.0]]]])
    target = soft_encode(ab, bins)
    assert target.shape == (1, len(bins), 1, 1)
    assert torch.isclose(target.sum(), torch.tensor(1.0))
    nearest = torch.cdist(ab.reshape(1, 2), bins).argmin()
    assert target[0, :, 0, 0].argmax() == nearest
    bank = ImageBank.from_folder(data_dir, max_side=64)
    assert len(bank.images) == 6  # the gray image is left out
    w = class_weights(bank, np.array(ab_bins()))
    assert w.shape == (len(ab_bins()),) and np.all(w > 0)


def test_train_resumes_and_exports(data_dir, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(steps=6, checkpoint_every=2, **TINY)

    def stop_at_4(step, total, loss):
        if step == 4:
            raise KeyboardInterrupt

    said = []
    with pytest.raises(KeyboardInterrupt):
        train(data_dir, out, config, progress=stop_at_4, say=said.append)
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4
    assert said[0] == f"{data_dir}: 1 image left out (1 gray); training on 6"
    assert said[-1] == f"stopped at step 4; saved in {out / 'checkpoint.pt'}: run the same " \
                       "command to resume"  # fmt: skip
    seen = []
    train(data_dir, out, config, progress=lambda s, t, loss: seen.append(s), say=said.append)
    assert seen == [5, 6]  # resumed, not restarted
    assert said[-1] == f"resuming {out / 'checkpoint.pt'} at step 4 of 6"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4, 6]
    with pytest.raises(Exception, match="other settings"):
        train(data_dir, out, TrainConfig(steps=9, checkpoint_every=2, **TINY))
    # A run made before a setting existed resumes: the missing setting reads as its default.
    del state["config"]["spread"]
    state["step"] = 6
    torch.save(state, out / "checkpoint.pt")
    train(data_dir, out, config)

    card = export_onnx(out / "checkpoint.pt", out / "model.onnx")
    assert card["step"] == 6 and len(card["sha256"]) == 64
    engine = CnnEngine()
    opts = CnnOptions(model=str(out / "model.onnx"), net_side=64)
    lum = np.tile(np.linspace(0, 100, 56, dtype=np.float32), (40, 1))
    probs = engine.probabilities(lum, opts)
    assert probs.shape == (len(ab_bins()), 10, 14)
    assert np.allclose(probs.sum(0), 1.0, atol=1e-4)
    a = engine.propose(lum, options=opts, seed=0)
    assert a.ab.shape == (40, 56, 2) and a.confidence.shape == (40, 56)
    s1 = engine.propose(lum, options=opts, seed=0, sample=1)
    s1_again = engine.propose(lum, options=opts, seed=0, sample=1)
    s2 = engine.propose(lum, options=opts, seed=0, sample=2)
    assert np.array_equal(s1.ab, s1_again.ab)
    assert np.abs(s1.ab - s2.ab).mean() > 0.1


def test_cli_train(data_dir, tmp_path):
    from typer.testing import CliRunner

    from polychrome.apps.cli import app

    out = tmp_path / "cli-run"
    args = ["train", "--data", str(data_dir), "--out", str(out), "--steps", "2", "--crop", "32"]
    result = CliRunner().invoke(app, [*args, "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
    # The card said how many images, not which data nor the command that made it.
    card = json.loads((out / "model.json").read_text())
    assert card["data"] == str(data_dir.resolve())
    assert card["command"] == (
        f"polychrome train --data {data_dir} --out {out} --steps 2 --batch 2 --crop 32 --lr 0.002 "
        "--seed 0 --rebalance 0.5 --no-hints --no-spread"
    )
    assert card["versions"]["torch"] == torch.__version__ and card["versions"]["polychrome"]
    bad = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such folder" in bad.output
    # Bad data leaves no empty run folder behind; a file as --out is refused.
    fresh = tmp_path / "fresh"
    bad = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope"), "--out", str(fresh)])
    assert bad.exit_code == 2 and not fresh.exists()
    (tmp_path / "file").write_text("x")
    bad = CliRunner().invoke(app, [*args[:3], "--out", str(tmp_path / "file"), "--steps", "1"])
    assert bad.exit_code == 2 and "is a file" in bad.output, bad.output


def _train_cli(*args):
    from typer.testing import CliRunner

    from polychrome.apps.cli import app

    return CliRunner().invoke(app, ["train", "--batch", "2", "--crop", "32", *map(str, args)])


def _clean_failure(result, needle):
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.stderr.count("error:") == 1 and needle in result.stderr, result.stderr


def test_seed_sets_the_initial_weights_and_a_resumed_run_is_exact(data_dir, tmp_path):
    # --seed said it seeds the init, but the model was built before torch was seeded: two runs
    # with one seed started from different weights, and a resumed run ended elsewhere.
    config = TrainConfig(steps=4, checkpoint_every=2, **TINY)
    torch.rand(3)  # other work in the process before the run
    train(data_dir, tmp_path / "whole", config)

    def stop_at_3(step, total, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(data_dir, tmp_path / "split", config, progress=stop_at_3)
    said = []
    train(data_dir, tmp_path / "split", config, say=said.append)
    whole, split = (
        torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"]
        for name in ("whole", "split")
    )
    assert all(torch.equal(whole[key], split[key]) for key in whole)
    assert said[-1] == f"resuming {tmp_path / 'split' / 'checkpoint.pt'} at step 3 of 4"
    # A finished run started again says so (it said 'resuming ... at step 4 of 4').
    train(data_dir, tmp_path / "split", config, say=said.append)
    assert said[-1] == (
        f"{tmp_path / 'split' / 'checkpoint.pt'} has finished (step 4 of 4); nothing to train"
    )
    with pytest.raises(ValueCheckError, match="to train further start another --out with --init"):
        train(data_dir, tmp_path / "split", TrainConfig(steps=8, checkpoint_every=2, **TINY))


def test_cli_train_refuses_bad_lr_init_and_checkpoints_before_making_the_run(data_dir, tmp_path):
    # Each was an 'internal error' (exit 1) that left an empty run folder, or (--lr 0) trained.
    out = tmp_path / "run"
    for lr in ("0", "-1", "nan"):
        _clean_failure(_train_cli("--data", data_dir, "--out", out, "--lr", lr), "lr must be")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x08onnx")
    torch.save({"a": 1}, tmp_path / "foreign.pt")
    torch.save({"model": {"x": torch.zeros(1)}, "config": {"width": 32}}, tmp_path / "other.pt")
    for init, needle in (
        ("junk.pt", "is not a polychrome training checkpoint (cannot read it"),
        ("foreign.pt", "is not a polychrome training checkpoint"),
        ("other.pt", "does not hold this network's weights"),
        # A run folder said 'no such checkpoint', an ONNX model 'invalid load key'.
        (".", f"--init {tmp_path / '.'} is a folder; name the checkpoint file"),
        ("model.onnx", "is an ONNX model, not a training checkpoint; recover one"),
    ):
        result = _train_cli("--data", data_dir, "--out", out, "--init", tmp_path / init)
        _clean_failure(result, needle)
    # A file as --data said 'no such folder'; a crop above the images' stored side was
    # trained on, every crop an enlargement.
    _clean_failure(_train_cli("--data", data_dir / "img0.png", "--out", out), "is a file")
    result = _train_cli("--data", data_dir, "--out", out, "--crop", "336")
    _clean_failure(result, "crop must be at most 320")
    # A network with spread hint inputs said 'Unexpected key(s) in state_dict' (exit 1).
    spread = tmp_path / "spread"
    train(data_dir, spread, TrainConfig(steps=1, hints=True, spread=True, batch=2, crop=32))
    with warnings.catch_warnings(record=True) as caught:  # its export printed a TracerWarning
        warnings.simplefilter("always")
        export_onnx(spread / "checkpoint.pt", spread / "model.onnx")
    assert not [w for w in caught if "Tracer" in w.category.__name__], caught
    result = _train_cli(
        "--data", data_dir, "--out", out, "--hints", "--init", spread / "checkpoint.pt"
    )
    _clean_failure(result, "reads spread hints; pass --spread to fine-tune it")
    assert not out.exists()
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"truncated")
    result = _train_cli("--data", data_dir, "--out", out, "--steps", "1")
    _clean_failure(result, f"{out / 'checkpoint.pt'} is not a polychrome training checkpoint")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]


def test_training_data_says_what_it_left_out_and_why(data_dir, tmp_path):
    # Unreadable, gray and small files were left out without a word, and a folder of only such
    # files said 'no usable color images'; RGB files of gray content were trained on.
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    write_image(folder / "small.png", np.full((20, 90, 3), (200, 30, 30), np.uint8))
    gray = np.tile(np.arange(80, dtype=np.uint8), (80, 1))
    write_image(folder / "gray-rgb.png", np.repeat(gray[..., None], 3, axis=2))
    with pytest.raises(InputError) as info:
        ImageBank.from_folder(folder)
    assert str(info.value) == (
        f"no usable color images under {folder}: 3 images left out (1 unreadable, 1 gray, 1 "
        "smaller than 64 x 64 px); training needs color images of at least 64 x 64 pixels"
    )
    for src in sorted(data_dir.glob("img*.png"))[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    result = _train_cli("--data", folder, "--out", tmp_path / "run", "--steps", "1", "--no-export")
    assert result.exit_code == 0, result.output
    assert f"{folder}: 3 images left out (1 unreadable, 1 gray, 1 smaller than 64 x 64 px); " \
        "training on 2" in result.stderr  # fmt: skip


def test_sample_hints_are_true_colors():
    from polychrome.train.data import sample_hints

    rng = np.random.default_rng(3)
    lab = torch.rand(64, 3, 32, 32) * 100 - 20
    hints = sample_hints(lab, rng, most=50, none_share=0.25)
    counts = hints[:, 2].sum(dim=(1, 2))
    assert 5 <= int((counts == 0).sum()) <= 30  # about a quarter get none
    assert counts.max() <= 50 and counts.min() >= 0
    held = hints[:, 2] > 0
    for c in range(2):
        assert torch.allclose(hints[:, c][held], lab[:, c + 1][held] / 100.0)
        assert torch.all(hints[:, c][~held] == 0)


def test_hint_network_starts_as_the_plain_one_and_learns_to_read_hints(data_dir, tmp_path):
    from polychrome.train.model import ColorNet

    plain = tmp_path / "plain"
    train(data_dir, plain, TrainConfig(steps=2, checkpoint_every=2, **TINY))
    hinted = tmp_path / "hinted"
    fast = {**TINY, "lr": 3e-2}
    config = TrainConfig(
        steps=4, checkpoint_every=4, hints=True, init=str(plain / "checkpoint.pt"), **fast
    )
    # Fine-tuning starts from the plain network: the hint paths start at zero.
    bins = len(ab_bins())
    net_plain = ColorNet(bins, width=4)
    net_plain.load_state_dict(torch.load(plain / "checkpoint.pt", weights_only=False)["model"])
    from polychrome.train.loop import _load_init

    net_hint = ColorNet(bins, width=4, hints=True)
    _load_init(net_hint, config)
    lum = torch.rand(1, 1, 32, 48) * 100
    marks = torch.zeros(1, 3, 32, 48)
    marks[0, :, 10, 20] = torch.tensor([0.5, -0.3, 1.0])
    net_plain.eval()
    net_hint.eval()
    with torch.no_grad():
        assert torch.allclose(net_plain(lum), net_hint(lum, marks), atol=1e-5)
    # A plain network cannot start from a hint network's weights.
    train(data_dir, hinted, config)
    with pytest.raises(Exception, match="--hints"):
        train(
            data_dir,
            tmp_path / "x",
            TrainConfig(steps=1, init=str(hinted / "checkpoint.pt"), **TINY),
        )

    # Exported with a second input; the engine shows it the hints, or not (option `hints`).
    card = export_onnx(hinted / "checkpoint.pt", hinted / "model.onnx")
    assert card["hints"] is True
    from polychrome.engines.base import EngineContext

    engine = CnnEngine()
    opts = CnnOptions(model=str(hinted / "model.onnx"), net_side=64)
    lum = np.tile(np.linspace(0, 100, 56, dtype=np.float32), (40, 1))
    yx = np.array([[5, 5], [30, 40], [30, 40]], np.int32)
    ab = np.array([[60, 40], [-40, 30], [-20, 10]], np.float32)
    hints = (yx, ab, np.ones(3, np.float32))
    bare = engine.probabilities(lum, opts)
    told = engine.probabilities(lum, opts, hints)
    assert told.shape == bare.shape and np.abs(told - bare).max() > 1e-4
    ignored = engine.probabilities(
        lum, CnnOptions(model=opts.model, net_side=64, hints=False), hints
    )
    assert np.array_equal(ignored, bare)
    weak = (yx, ab, np.full(3, 0.2, np.float32))
    assert np.array_equal(engine.probabilities(lum, opts, weak), bare)  # below hint_weight
    proposal = engine.propose(lum, options=opts, seed=0, context=EngineContext(hints=hints))
    assert proposal.ab.shape == (40, 56, 2)


def test_hint_map_averages_hints_on_one_net_pixel():
    from polychrome.engines.cnn import _firm, _hint_map

    yx = np.array([[0, 0], [1, 1], [9, 9]], np.int32)
    ab = np.array([[10, 20], [30, 40], [-50, 0]], np.float32)
    marks = _hint_map(_firm((yx, ab, np.ones(3, np.float32)), 0.5), (10, 10), (5, 5), (16, 16))
    assert marks.shape == (1, 3, 16, 16)
    assert np.allclose(marks[0, :, 0, 0], [0.2, 0.3, 1.0])  # the two hints averaged
    assert np.allclose(marks[0, :, 4, 4], [-0.5, 0.0, 1.0])
    assert marks[0, 2].sum() == 2
    assert (
        _hint_map(_firm((yx, ab, np.zeros(3, np.float32)), 0.5), (10, 10), (5, 5), (16, 16)) is None
    )


def test_spread_hints_carry_hint_colors_far_and_say_how_far():
    from polychrome.train.model import SPREAD_SIGMAS, ColorNet

    net = ColorNet(len(ab_bins()), width=4, hints=True, spread=True)
    marks = torch.zeros(1, 3, 256, 256)
    marks[0, :, 40, 40] = torch.tensor([0.5, -0.25, 1.0])
    from polychrome.train.model import spread_hints

    kernels = [getattr(net, f"_kernel{k}") for k in range(len(SPREAD_SIGMAS))]
    feat = spread_hints(marks, kernels)
    assert feat.shape == (1, 9, 64, 64)
    near, far = feat[0, :, 10, 10], feat[0, :, 60, 60]
    for scale in range(3):
        ab, conf = near[3 * scale : 3 * scale + 2], near[3 * scale + 2]
        assert torch.allclose(ab, torch.tensor([0.5, -0.25]), atol=0.02)
        assert conf > far[3 * scale + 2] + 0.5  # the weight falls with the distance
    # Only the widest scale still knows the color 140 pixels away; the finest forgets it.
    assert abs(float(feat[0, 6, 45, 45]) - 0.5) < 0.1
    assert abs(float(feat[0, 0, 45, 45])) < 0.01


def test_hint_network_without_spread_inputs_still_exports_and_fine_tunes(data_dir, tmp_path):
    """Hint networks made before the spread inputs (like v4) still export, and start a spread
    network that computes what they compute."""
    from polychrome.train.loop import _load_init
    from polychrome.train.model import ColorNet

    bins = len(ab_bins())
    old = ColorNet(bins, width=4, hints=True, spread=False)
    with torch.no_grad():
        for p in old.parameters():
            p.normal_(0, 0.1)
    config = TrainConfig(steps=1, hints=True, **TINY)
    state = {"model": old.state_dict(), "config": {**config.__dict__}, "step": 1, "elapsed": 1.0}
    state["meta"] = {"parameters": 1, "images": 1}
    torch.save(state, tmp_path / "old.pt")
    card = export_onnx(tmp_path / "old.pt", tmp_path / "old.onnx")
    assert card["hints"] is True
    new = ColorNet(bins, width=4, hints=True, spread=True)
    spread = TrainConfig(steps=1, hints=True, spread=True, init=str(tmp_path / "old.pt"), **TINY)
    _load_init(new, spread)
    old.eval()
    new.eval()
    lum = torch.rand(1, 1, 32, 48) * 100
    marks = torch.zeros(1, 3, 32, 48)
    marks[0, :, 10, 20] = torch.tensor([0.5, -0.3, 1.0])
    with torch.no_grad():
        assert torch.allclose(old(lum, marks), new(lum, marks), atol=1e-5)
    # A spread network trains, exports (ONNX matches torch) and runs in the engine.
    train(data_dir, tmp_path / "spread", spread)
    export_onnx(tmp_path / "spread" / "checkpoint.pt", tmp_path / "spread.onnx")
    lum2 = np.tile(np.linspace(0, 100, 56, dtype=np.float32), (40, 1))
    hints = (np.array([[5, 5]], np.int32), np.array([[60, 40]], np.float32), np.ones(1, np.float32))
    opts = CnnOptions(model=str(tmp_path / "spread.onnx"), net_side=64)
    assert CnnEngine().probabilities(lum2, opts, hints).shape == (len(ab_bins()), 10, 14)
    with pytest.raises(Exception, match="spread needs hints"):
        TrainConfig(spread=True)


@pytest.mark.parametrize("hints", [False, True])
def test_checkpoint_recovered_from_onnx_computes_what_the_onnx_model_does(
    data_dir, tmp_path, hints
):
    """scripts/checkpoint_from_onnx.py (a shipped model's checkpoint is not kept): plain and
    hint networks; the recovered checkpoint starts a fine-tuning run."""
    import importlib.util
    from pathlib import Path

    from polychrome.train.export import write_card

    script = Path(__file__).parents[1] / "scripts" / "checkpoint_from_onnx.py"
    spec = importlib.util.spec_from_file_location("checkpoint_from_onnx", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    run = tmp_path / "run"
    train(data_dir, run, TrainConfig(steps=3, checkpoint_every=3, hints=hints, **TINY))
    write_card(export_onnx(run / "checkpoint.pt", run / "model.onnx"), run / "model.json")
    state = module.recover(run / "model.onnx", data_dir)  # exits if it differs from ONNX
    assert state["max_error"] < 1e-4
    assert state["config"]["hints"] is hints and state["config"]["width"] == TINY["width"]
    torch.save(state, tmp_path / "recovered.pt")
    config = TrainConfig(steps=1, hints=hints, init=str(tmp_path / "recovered.pt"), **TINY)
    train(data_dir, tmp_path / "tuned", config)
    assert (tmp_path / "tuned" / "checkpoint.pt").is_file()


def test_scripts_fail_with_one_error_line_without_data_or_with_a_foreign_model(
    data_dir, tmp_path, capsys, monkeypatch
):
    # They ended in tracebacks (no such folder, an ONNX file that does not parse), or in an
    # unexplained '16 conv+BN pairs but 0 folded convolutions' for another network's ONNX file.
    import runpy
    import sys
    from pathlib import Path

    scripts = Path(__file__).parents[1] / "scripts"
    junk, foreign = tmp_path / "junk.onnx", tmp_path / "foreign.onnx"
    junk.write_bytes(b"not a model")
    torch.onnx.export(
        torch.nn.Identity(), (torch.zeros(1, 3, 8, 8),), str(foreign), input_names=["image"],
        dynamo=False,
    )  # fmt: skip
    shipped = str(Path(__file__).parents[1] / "src/polychrome/weights/cnn.onnx")
    out = tmp_path / "out.pt"
    for script, args, needle in (
        ("checkpoint_from_onnx.py", [shipped, out, "--data", tmp_path / "nope"], "no such folder"),
        ("checkpoint_from_onnx.py", [junk, out, "--data", data_dir], "is not an ONNX model"),
        ("checkpoint_from_onnx.py", [foreign, out, "--data", data_dir], "is not a cnn model"),
        ("tune_cnn_decoding.py", [tmp_path / "nope"], "no such folder"),
    ):
        monkeypatch.setattr(sys, "argv", [script, *map(str, args)])
        with pytest.raises(SystemExit) as info:
            runpy.run_path(str(scripts / script), run_name="__main__")
        assert info.value.code == 2, (script, needle)
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_within_a_step_saves_whole_steps_and_the_resumed_run_is_exact(
    data_dir, tmp_path, monkeypatch, signame
):
    # A real Ctrl-C (or the CLI's SIGTERM) lands within a step: the checkpoint saved the step
    # before with the random state of the step cut short (and the weights possibly
    # part-updated), so the resumed run ended elsewhere than an uninterrupted one (weights 2.5
    # apart after 30 steps).
    import os
    import signal

    from polychrome.train import loop

    signum = getattr(signal, signame)
    seen = []

    def like_the_cli(got, frame):  # the CLI's handler: note the signal, stop as Ctrl-C does
        seen.append(got)
        raise KeyboardInterrupt

    config = TrainConfig(steps=5, checkpoint_every=10, **TINY)
    train(data_dir, tmp_path / "whole", config)
    calls = []

    def encode_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # within step 3, after its crops were drawn
            os.kill(os.getpid(), signum)
        return soft_encode(*args, **kwargs)

    monkeypatch.setattr(loop, "soft_encode", encode_then_ctrl_c)
    said = []
    previous = signal.signal(signum, like_the_cli)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(data_dir, tmp_path / "split", config, say=said.append)
        assert signal.getsignal(signum) is like_the_cli  # handler given back
    finally:
        signal.signal(signum, previous)
    assert seen == [signum]  # its own handler acted on it, at the end of the step
    assert torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["step"] == 3
    assert said[-1].startswith("stopped at step 3; saved in")
    monkeypatch.setattr(loop, "soft_encode", soft_encode)
    train(data_dir, tmp_path / "split", config)
    whole, split = (
        torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"]
        for name in ("whole", "split")
    )
    assert all(torch.equal(whole[key], split[key]) for key in whole)
    assert not list((tmp_path / "split").glob(".*.tmp"))


def test_an_image_over_the_pixel_limit_is_left_out_as_such_not_as_unreadable(tmp_path):
    # A 400 MP scan was counted 'unreadable': it is readable, but over read_image's limit.
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)  # 20000 x 20000 RGB
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "scan.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 99))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    with pytest.raises(InputError, match=r"1 image left out \(1 over 100 MP\)"):
        ImageBank.from_folder(folder)
    write_image(folder / "color.png", np.full((70, 70, 3), (200, 30, 30), np.uint8))
    assert ImageBank.from_folder(folder).skipped_text() == "1 image left out (1 over 100 MP)"


def test_a_checkpoint_that_would_run_code_is_refused_unloaded(data_dir, tmp_path):
    # --init and the run's checkpoint were read with weights_only=False: a checkpoint from
    # elsewhere ran the code it named (here it would make a folder).
    import os

    class RunsCode:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "ran"),))

    torch.save({"model": RunsCode(), "config": {"width": 4}}, tmp_path / "given.pt")
    config = TrainConfig(steps=1, init=str(tmp_path / "given.pt"), **TINY)
    with pytest.raises(InputError, match="holds Python objects that a checkpoint does not"):
        train(data_dir, tmp_path / "run", config)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run").exists()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes((tmp_path / "given.pt").read_bytes())
    with pytest.raises(InputError, match="holds Python objects"):
        train(data_dir, tmp_path / "run", TrainConfig(steps=1, **TINY))
    with pytest.raises(InputError, match="holds Python objects"):
        export_onnx(tmp_path / "given.pt", tmp_path / "model.onnx")
    assert not (tmp_path / "ran").exists()


def test_a_run_resumed_on_other_data_says_so(data_dir, tmp_path):
    # A run resumed with another --data (other images, other class weights) went on silently.
    config = TrainConfig(steps=3, checkpoint_every=10, **TINY)

    def stop_at_1(step, total, loss):
        if step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(data_dir, tmp_path / "run", config, progress=stop_at_1)
    other = tmp_path / "other"
    other.mkdir()
    for src in sorted(data_dir.glob("img*.png"))[:2]:
        (other / src.name).write_bytes(src.read_bytes())
    said = []
    train(other, tmp_path / "run", config, say=said.append)
    assert said[-1] == (
        f"warning: {tmp_path / 'run' / 'checkpoint.pt'} was trained on {data_dir.resolve()} (6 "
        f"images); it goes on with {other.resolve()} (2 images)"
    )


def test_an_export_cut_short_leaves_no_temporary_file(data_dir, tmp_path, monkeypatch):
    # Ctrl-C during the export left .model.onnx.tmp (a partial model) in the run folder.
    run = tmp_path / "run"
    train(data_dir, run, TrainConfig(steps=1, **TINY))

    def cut_short(model, args, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", cut_short)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(run / "checkpoint.pt", run / "model.onnx")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "log.jsonl", "run.json"]


@pytest.mark.parametrize("every", [2, 10])
def test_a_second_ctrl_c_stops_within_the_step_and_keeps_the_last_checkpoint(
    data_dir, tmp_path, monkeypatch, every
):
    import os
    import signal

    from polychrome.train import loop

    calls = []

    def encode_then_two_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # within step 3: the first is held, the second stops at once
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return soft_encode(*args, **kwargs)

    monkeypatch.setattr(loop, "soft_encode", encode_then_two_ctrl_c)
    said = []
    with pytest.raises(KeyboardInterrupt):
        train(
            data_dir,
            tmp_path,
            TrainConfig(steps=5, checkpoint_every=every, **TINY),
            say=said.append,
        )
    if every == 2:
        assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 2
        assert said[-1].startswith("stopped during step 3; ") and "holds step 2" in said[-1]
    else:  # it said the checkpoint held step 0
        assert not (tmp_path / "checkpoint.pt").exists()
        assert said[-1] == "stopped during step 3, before the first checkpoint: nothing saved"
