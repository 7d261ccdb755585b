"""The diffusion engine with tiny random models (UNet, ControlNet, VAE, CLIP text and image
encoders built from configs, a tokenizer written from a vocabulary): two steps, seeded, no
network."""

import importlib.util
import json
import os
import warnings

import numpy as np
import pytest

from polychrome.engines.base import ENGINES, EngineContext, load_engine
from polychrome.errors import (
    EngineUnavailableError,
    InputError,
    ShapeError,
    ValueCheckError,
)

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "diffusers", "transformers")),
    reason="needs the [diffusion] extra",
)


@pytest.fixture(scope="module", autouse=True)
def offline():
    """Never a download, whatever a test passes (the hub reads its offline flag at import, so
    the flag itself is set too)."""
    import huggingface_hub.constants as hub

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(hub, "HF_HUB_OFFLINE", True)
        yield


# ----------------------------------------------------------------------------- tiny models


def _byte_chars():
    """The 256 printable characters byte-level BPE uses for bytes (GPT-2's table)."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return list(chars.values())


def _write_tokenizer(folder):
    """A byte-level BPE vocabulary (every byte, alone and word-final) with a few merges. (The
    constructor ignores vocab_file/merges_file here: it is loaded from the folder.)"""
    chars = _byte_chars()
    vocab = {}
    for token in [*chars, *(c + "</w>" for c in chars)]:
        vocab[token] = len(vocab)
    merges = ["r e", "re d</w>", "c a", "ca r</w>", "b l", "bl u", "blu e</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )
    return len(vocab)


def _text_config(vocab_size):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=16,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )


def build_tiny(root):
    """Write a tiny SD-layout base model, a ControlNet and a CLIP model under ``root``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPConfig, CLIPModel, CLIPTextModel

    torch.manual_seed(0)
    base = root / "base"
    vocab_size = _write_tokenizer(base / "tokenizer")
    blocks = {
        "block_out_channels": (8, 16),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "cross_attention_dim": 32,
        "norm_num_groups": 2,
        "attention_head_dim": 2,
    }
    UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **blocks,
    ).save_pretrained(base / "unet")
    ControlNetModel(
        in_channels=4, conditioning_embedding_out_channels=(8, 16), **blocks
    ).save_pretrained(root / "controlnet")
    AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=2,
    ).save_pretrained(base / "vae")
    CLIPTextModel(_text_config(vocab_size)).save_pretrained(base / "text_encoder")
    DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False
    ).save_pretrained(base / "scheduler")
    clip = root / "clip"
    _write_tokenizer(clip)
    config = CLIPConfig(
        text_config=_text_config(vocab_size).to_dict(),
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "projection_dim": 16,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(clip)
    return {"base_model": str(base), "controlnet": str(root / "controlnet")}, str(clip)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    # Tiny models: one thread is several times faster than two on a shared 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    models, clip = build_tiny(tmp_path_factory.mktemp("tiny-diffusion"))
    base = {**models, "steps": 2, "resolution": 32, "device": "cpu"}
    yield base, clip
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine():
    return load_engine("diffusion")


def _lum(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (20 + 60 * x / w + 10 * np.sin(y / 3)).astype(np.float32)


def _opts(engine, tiny, **extra):
    base, _ = tiny
    return engine.Options.from_mapping({**base, **extra})


def _context(lum, labels):
    h, w = lum.shape
    left = np.zeros((h, w), bool)
    left[:, : w // 2] = True
    right = ~left
    masks = [left, right][: len(labels)]
    return EngineContext(
        description="a red car beside a blue house",
        instances=tuple(zip(masks, labels, strict=True)),
    )


# ----------------------------------------------------------------------------- the engine


def test_registered_with_its_extra():
    spec = ENGINES["diffusion"]
    assert spec.extra == "diffusion"
    assert set(spec.requires) == {"torch", "diffusers", "transformers"}
    assert not spec.default


def test_contract_and_determinism(engine, tiny):
    lum = _lum()
    opts = _opts(engine, tiny)
    a = engine.propose(lum, options=opts, seed=3)
    b = engine.propose(lum, options=opts, seed=3)
    assert a.ab.shape == (24, 32, 2) and a.ab.dtype == np.float32
    assert a.confidence.shape == (24, 32) and a.confidence.dtype == np.float32
    assert np.all((a.confidence >= 0) & (a.confidence <= opts.confidence + 1e-6))
    assert np.array_equal(a.ab, b.ab), "same seed, same proposal"
    c = engine.propose(lum, options=opts, seed=4)
    assert not np.allclose(a.ab, c.ab), "another seed, another proposal"


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_schedulers(engine, tiny, scheduler):
    a = engine.propose(_lum(), options=_opts(engine, tiny, scheduler=scheduler), seed=1)
    assert np.isfinite(a.ab).all()


def test_samples_differ_by_seed(engine, tiny):
    lum, opts = _lum(), _opts(engine, tiny)
    first = engine.propose(lum, options=opts, seed=0, sample=0)
    second = engine.propose(lum, options=opts, seed=0, sample=1)
    again = engine.propose(lum, options=opts, seed=0, sample=1)
    assert not np.allclose(first.ab, second.ab)
    assert np.array_equal(second.ab, again.ab)


def test_description_is_the_prompt(engine, tiny):
    lum, opts = _lum(), _opts(engine, tiny, guidance_scale=4.0)
    plain = engine.propose(lum, options=opts, seed=0)
    described = engine.propose(
        lum, options=opts, seed=0, context=EngineContext(description="a red car")
    )
    assert not np.allclose(plain.ab, described.ab)


def test_instances_branches_and_attention_change_the_result(engine, tiny):
    lum = _lum()
    context = _context(lum, ["car: red", "house: blue"])
    off = _opts(engine, tiny, instance_fraction=0.0, attention_strength=0.0)
    base = engine.propose(lum, options=off, seed=0, context=context)
    branches = _opts(engine, tiny, instance_fraction=0.5, attention_strength=0.0)
    fused = engine.propose(lum, options=branches, seed=0, context=context)
    attention = _opts(engine, tiny, instance_fraction=0.0, attention_strength=5.0)
    guided = engine.propose(lum, options=attention, seed=0, context=context)
    assert not np.allclose(base.ab, fused.ab)
    assert not np.allclose(base.ab, guided.ab)
    again = engine.propose(lum, options=branches, seed=0, context=context)
    assert np.array_equal(fused.ab, again.ab)


def test_attention_processors_are_restored(engine, tiny):
    from polychrome.engines.diffusion.loading import load_components

    base, _ = tiny
    comps = load_components(base["base_model"], base["controlnet"], "cpu", "auto")
    before = {k: type(v) for k, v in comps.unet.attn_processors.items()}
    lum = _lum()
    opts = _opts(engine, tiny, attention_strength=2.0)
    engine.propose(lum, options=opts, seed=0, context=_context(lum, ["car: red"]))
    assert {k: type(v) for k, v in comps.unet.attn_processors.items()} == before


def test_anticolor_guidance(engine, tiny):
    _, clip = tiny
    lum = _lum()
    plain = engine.propose(lum, options=_opts(engine, tiny), seed=0)
    opts = _opts(engine, tiny, clip_model=clip, anticolor_strength=2.0, anticolor_every=1)
    guided = engine.propose(lum, options=opts, seed=0)
    again = engine.propose(lum, options=opts, seed=0)
    assert not np.allclose(plain.ab, guided.ab)
    assert np.array_equal(guided.ab, again.ab)


def _write_color(path, rgb):
    from polychrome.io import write_image

    write_image(path, (np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return str(path)


def test_in_context_reference(engine, tiny, tmp_path):
    lum = _lum()
    ref = np.zeros((24, 32, 3), np.float32)
    ref[..., 0] = 0.9
    ref[..., 2] = np.linspace(0, 1, 32)
    one = _write_color(tmp_path / "ref.png", ref)
    two = _write_color(tmp_path / "ref2.png", ref[:, ::-1])
    plain = engine.propose(lum, options=_opts(engine, tiny), seed=0)
    single = engine.propose(lum, options=_opts(engine, tiny, references=one), seed=0)
    double = engine.propose(lum, options=_opts(engine, tiny, references=f"{one},{two}"), seed=0)
    assert single.ab.shape == double.ab.shape == (24, 32, 2)
    assert not np.allclose(plain.ab, single.ab)
    assert not np.allclose(single.ab, double.ab)
    gray = tmp_path / "gray.png"
    from polychrome.io import write_image

    write_image(gray, np.full((8, 8), 128, np.uint8))
    with pytest.raises(ValueCheckError, match="gray image"):
        engine.propose(lum, options=_opts(engine, tiny, references=str(gray)), seed=0)
    # A gray picture saved as RGB has no colors to give either (it was used as a reference).
    gray_rgb = _write_color(tmp_path / "gray-rgb.png", np.dstack([_lum() / 100] * 3))
    for key in ("references", "recolor"):
        with pytest.raises(ValueCheckError, match="no color"):
            engine.propose(lum, options=_opts(engine, tiny, **{key: gray_rgb}), seed=0)


def test_recolor_changes_only_inside_the_masks(engine, tiny, tmp_path):
    from polychrome.ops.color import rgb_to_lab

    lum = _lum()
    rgb = np.zeros((24, 32, 3), np.float32)
    rgb[..., 1] = 0.6
    rgb[..., 0] = np.linspace(0.1, 0.8, 32)
    source = _write_color(tmp_path / "color.png", rgb)
    stored = (rgb * 255).astype(np.uint8).astype(np.float32) / 255  # as _write_color stores it
    original_ab = rgb_to_lab(stored)[..., 1:]
    context = _context(lum, ["bench: purple"])
    context = EngineContext(description="the bench is purple", instances=context.instances)
    opts = _opts(engine, tiny, recolor=source, recolor_strength=1.0)
    out = engine.propose(lum, options=opts, seed=0, context=context)
    left = context.instances[0][0]
    assert np.allclose(out.ab[~left], original_ab[~left], atol=1e-3)
    assert np.all(out.confidence[~left] == 1.0)
    assert not np.allclose(out.ab[left], original_ab[left], atol=1.0)
    # strength 0 redoes nothing: the image's own chroma everywhere (up to the VAE round trip)
    kept = engine.propose(lum, options=_opts(engine, tiny, recolor=source, recolor_strength=0.0),
                          seed=0)  # fmt: skip
    assert kept.ab.shape == (24, 32, 2)
    with pytest.raises(ShapeError, match="aspect"):
        wide = _write_color(tmp_path / "wide.png", np.full((10, 40, 3), (0.6, 0.3, 0.2)))
        engine.propose(lum, options=_opts(engine, tiny, recolor=wide), seed=0)


def test_colorize_keeps_luminance_and_passes_the_context(tiny, monkeypatch):
    """Through the pipeline: instances reach the engine, and the result's L* is the input's."""
    from polychrome.engines.diffusion import DiffusionEngine
    from polychrome.engines.diffusion.progress import reporting
    from polychrome.guidance.hints import Guidance, Instance
    from polychrome.ops.color import rgb_to_lab
    from polychrome.pipeline import colorize

    base, _ = tiny
    seen = []
    original = DiffusionEngine.propose

    def spy(self, luminance, **kwargs):
        seen.append(kwargs.get("context"))
        return original(self, luminance, **kwargs)

    monkeypatch.setattr(DiffusionEngine, "propose", spy)
    gray = (np.clip(_lum(40, 56), 0, 100) * 2.55).astype(np.uint8)
    mask = np.zeros(gray.shape, bool)
    mask[:20] = True
    guidance = Guidance(instances=(Instance(mask, np.array([50, 40], np.float32), "car: red"),))
    steps = []
    with reporting(steps.append):  # the documented library route to the steps
        result = colorize(
            gray,
            guidance=guidance,
            engine="diffusion",
            engine_options={k: v for k, v in base.items()},
        )
    assert [(s.step, s.phase) for s in steps] == [(1, "global"), (2, "global"), (2, "decode")]
    assert seen and seen[0].instances[0][1] == "car: red"
    lab = rgb_to_lab(result.image.astype(np.float32) / 255)
    expected = rgb_to_lab(np.repeat(gray[..., None], 3, axis=2).astype(np.float32) / 255)
    assert np.abs(lab[..., 0] - expected[..., 0]).max() < 1.0


# ----------------------------------------------------------------------------- fusion


def test_fusion_on_known_latents():
    import torch

    from polychrome.engines.diffusion.fusion import fuse_instance_latents, latent_masks

    full = np.zeros((8, 8), bool)
    full[:, :4] = True  # instance 0: left half
    top = np.zeros((8, 8), bool)
    top[:4] = True  # instance 1: top half, on top of instance 0
    masks = latent_masks([full, top], (4, 4))
    assert np.allclose(masks.sum(0) <= 1, True)
    assert masks[1, :2].min() == 1.0 and masks[0, :2].max() == 0.0  # the later one owns
    assert masks[0, 2:, :2].min() == 1.0
    g = torch.full((1, 2, 4, 4), 10.0)
    inst = torch.stack([torch.full((2, 4, 4), 1.0), torch.full((2, 4, 4), 2.0)])
    fused = fuse_instance_latents(g, inst, torch.from_numpy(masks), 0.25)
    assert fused.shape == (1, 2, 4, 4)
    assert torch.all(fused[0, :, :2] == 2.0)  # top: instance 1
    assert torch.all(fused[0, :, 2:, :2] == 1.0)  # bottom left: instance 0
    assert torch.all(fused[0, :, 2:, 2:] == 2.5)  # background: b * global
    # A shared boundary cell mixes in proportion.
    half = np.zeros((8, 8), bool)
    half[:, :3] = True
    m = latent_masks([half], (4, 4))
    assert m[0, 0, 1] == pytest.approx(0.5)
    out = fuse_instance_latents(g, inst[:1], torch.from_numpy(m), 1.0)
    assert out[0, 0, 0, 1] == pytest.approx(0.5 * 1.0 + 0.5 * 10.0)
    with pytest.raises(ShapeError):
        fuse_instance_latents(g, inst, torch.from_numpy(m), 0.2)


def test_fusion_reaches_the_sampler_history():
    import torch
    from diffusers import DPMSolverMultistepScheduler

    from polychrome.engines.diffusion.fusion import fuse_instance_latents, fuse_scheduler_state

    scheduler = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")
    scheduler.set_timesteps(4)
    latents = torch.stack([torch.full((4, 2, 2), v) for v in (4.0, 1.0)])
    masks = torch.zeros((1, 2, 2))
    masks[0, 0] = 1
    scheduler.step(torch.zeros_like(latents), scheduler.timesteps[0], latents)
    assert scheduler.model_outputs[-1].shape[0] == 2

    def fuse(x):
        return fuse_instance_latents(x[:1], x[1:], masks, 0.5)

    before = scheduler.model_outputs[-1].clone()
    fuse_scheduler_state(scheduler, 2, fuse)
    after = scheduler.model_outputs[-1]
    assert after.shape[0] == 1
    assert torch.allclose(after, fuse(before))


def test_layer_masks_follow_the_unet_grid():
    import torch

    from polychrome.engines.diffusion.attention import AttentionGuide

    masks = torch.zeros((1, 6, 10))
    masks[0, :, :5] = 1
    guide = AttentionGuide(masks=masks, tokens=[[1]], rows=[0], strength=1.0)
    assert guide.layer_masks(60).shape == (1, 60)
    assert guide.layer_masks(15).shape == (1, 15)  # 3 x 5
    assert guide.layer_masks(6).shape == (1, 6)  # 2 x 3 (sides rounded up)
    assert guide.layer_masks(7) is None
    scores = torch.zeros((2 * 1, 60, 4))  # batch 2, one head
    out = guide.refine(scores, 2, 1)
    grid = out.view(2, 60, 4)
    assert torch.all(grid[0, :, [0, 2, 3]] == 0)  # other tokens untouched
    inside = grid[0, :, 1].view(6, 10)[:, :5]
    outside = grid[0, :, 1].view(6, 10)[:, 5:]
    assert torch.all(inside > 0) and torch.all(outside < 0)
    assert torch.all(grid[1] == 0)  # unguided row


def test_instance_text_and_word_tokens(tiny):
    from transformers import CLIPTokenizer

    from polychrome.engines.diffusion.attention import word_tokens
    from polychrome.engines.diffusion.strategies import instance_text, model_shape

    assert instance_text("car: dark red") == ("a dark red car", ["dark", "red"])
    assert instance_text("light blue") == ("light blue", ["light", "blue"])
    base, _ = tiny
    tok = CLIPTokenizer.from_pretrained(os.path.join(base["base_model"], "tokenizer"))
    positions = word_tokens(tok, "a red car", ["red"])
    ids = tok("a red car").input_ids
    assert len(positions) == 1 and tok.convert_ids_to_tokens(ids[positions[0]]) == "red</w>"
    assert word_tokens(tok, "a blue car", ["red"]) == []
    assert model_shape((300, 400), 512, 64) == (384, 512)
    assert model_shape((10, 400), 512, 64) == (64, 512)


# ----------------------------------------------------------------------------- errors


def test_missing_weights_say_what_to_pass(engine):
    lum = _lum()
    with pytest.raises(EngineUnavailableError, match="base_model=FOLDER_OR_HUB_ID"):
        engine.propose(lum, options=engine.Options.from_mapping({}), seed=0)


def test_a_mistyped_model_path_is_an_input_error(engine, tiny, tmp_path):
    """A local path that does not exist, or holds no model of the kind wanted, is a mistake in
    the call (exit 2, as the cnn engine's model= file), not missing weights (it was exit 3)."""
    _, clip = tiny
    (tmp_path / "weights.safetensors").write_bytes(b"\0")
    (tmp_path / "empty").mkdir()
    for option, value, message in [
        ("base_model", "/no/such/folder", "base_model=/no/such/folder: no such folder"),
        ("base_model", "~/no/such/folder", "no such folder .*Stable Diffusion 1.5 model"),
        ("controlnet", "./cn/brightness", "controlnet=./cn/brightness: no such folder"),
        ("base_model", str(tmp_path / "weights.safetensors"), "is a file: .* model folder"),
        ("controlnet", str(tmp_path / "empty"), "no config.json.*a ControlNet"),
        ("clip_model", str(tmp_path / "gone"), "clip_model=.*gone: no such folder"),
    ]:
        opts = _opts(engine, tiny, **{"clip_model": clip, option: value})
        with pytest.raises(InputError, match=message) as caught:
            engine.propose(_lum(), options=opts, seed=0)
        assert caught.value.exit_code == 2


def test_missing_input_files_are_found_before_the_models_load(engine, tiny, tmp_path, monkeypatch):
    from polychrome.engines.diffusion import loading
    from polychrome.errors import InputError

    def never(*args, **kwargs):
        raise AssertionError("the models were loaded before the missing file was found")

    monkeypatch.setattr(loading, "load_components", never)
    base, _ = tiny
    for key in ("references", "recolor", "pool"):
        opts = engine.Options.from_mapping({**base, key: str(tmp_path / "gone.png")})
        with pytest.raises(InputError, match=f"{key}=.*gone.png: no such file"):
            engine.propose(_lum(), options=opts, seed=0)


def test_wrong_input_images_are_found_before_the_models_load(engine, tiny, tmp_path, monkeypatch):
    """A gray or misshapen recolor image, a gray reference and a pool that is no pool were
    found after the models had loaded (minutes on a CPU)."""
    from polychrome.engines.diffusion import loading

    def never(*args, **kwargs):
        raise AssertionError("the models were loaded before the wrong image was found")

    monkeypatch.setattr(loading, "load_components", never)
    base, _ = tiny
    gray = _write_color(tmp_path / "gray.png", np.full((24, 32, 3), 0.5))
    square = _write_color(tmp_path / "square.png", np.random.default_rng(0).random((32, 32, 3)))
    for key, path, error, message in (
        ("recolor", gray, ValueCheckError, "recolor image .* has no color"),
        ("recolor", square, ShapeError, "same aspect ratio"),
        ("references", gray, ValueCheckError, "reference .* has no color"),
        ("pool", gray, InputError, "not a polychrome pool"),
    ):
        opts = engine.Options.from_mapping({**base, key: path})
        with pytest.raises(error, match=message):
            engine.propose(_lum(), options=opts, seed=0)


def test_incomplete_folder_and_offline_hub_id(engine, tiny, tmp_path, monkeypatch):
    base, _ = tiny
    (tmp_path / "unet").mkdir()
    opts = engine.Options.from_mapping({"base_model": str(tmp_path), "controlnet": "x/y"})
    with pytest.raises(ValueCheckError, match=r"lacks vae/, text_encoder/"):
        engine.propose(_lum(), options=opts, seed=0)
    opts = engine.Options.from_mapping(
        {"base_model": base["base_model"], "controlnet": "polychrome-test/not-cached-anywhere"}
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(EngineUnavailableError, match=r"no hub model .* in the cache at .*hub"):
        engine.propose(_lum(), options=opts, seed=0)  # found before anything loads
    # A snapshot the cache lists but that holds no model fails when it loads.
    (tmp_path / "hub/models--polychrome-test--not-cached-anywhere/snapshots/0").mkdir(parents=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(EngineUnavailableError, match="not in the local Hugging Face cache"):
            engine.propose(_lum(), options=opts, seed=0)
    # the hub client's deprecation notices are not printed before our message
    assert not [w for w in seen if "huggingface_hub" in w.filename], [str(w) for w in seen]


def test_missing_extra_names_the_install_command(monkeypatch):
    import importlib.util as util

    from polychrome.engines import base

    real = util.find_spec
    monkeypatch.setattr(
        util, "find_spec", lambda name, *a: None if name == "diffusers" else real(name, *a)
    )
    monkeypatch.setattr(base, "_LOADED", {})
    assert not ENGINES["diffusion"].available
    with pytest.raises(EngineUnavailableError, match=r"pip install 'polychrome\[diffusion\]'"):
        load_engine("diffusion")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("scheduler", "euler", "scheduler must be one of"),
        ("steps", "0", "steps must be in"),
        ("instance_fraction", "1.5", "instance_fraction must be in"),
        ("device", "tpu", "device must be one of"),
        ("references", "a.png,b.png,c.png,d.png", "at most 3"),
        ("steps", "many", "engine option steps"),
    ],
)
def test_bad_options(engine, key, value, message):
    with pytest.raises(ValueCheckError, match=message):
        engine.Options.from_mapping({key: value})


@pytest.mark.parametrize(("key", "value"), [("steps", 2.5), ("steps", True), ("confidence", True)])
def test_python_values_of_the_wrong_type(engine, key, value):
    """From Python (or JSON), steps=2.5 ran 2 steps and steps=True ran 1, without a word."""
    with pytest.raises(ValueCheckError, match=f"engine option {key}={value}: not a"):
        engine.Options.from_mapping({key: value})
    assert engine.Options.from_mapping({"steps": 3.0}).steps == 3


@pytest.mark.parametrize("key", ["references", "pool"])
def test_recolor_takes_no_references(engine, key):
    """They were ignored without a word."""
    with pytest.raises(ValueCheckError, match=f"takes no {key}"):
        engine.Options.from_mapping({"recolor": "a.png", key: "b.png"})


@pytest.mark.parametrize(
    ("knob", "strategy"),
    [
        ("recolor_strength=0.3", "recolor"),
        ("anticolor_strength=1", "clip_model"),
        ("anticolor_every=1", "clip_model"),
        ("anticolor_texts=a sepia photo", "clip_model"),
    ],
)
def test_a_strategy_knob_without_its_strategy(engine, knob, strategy):
    """They changed nothing, without a word (the option that turns the strategy on forgotten)."""
    key, value = knob.split("=")
    with pytest.raises(ValueCheckError, match=f"{key}=.* has no effect without {strategy}="):
        engine.Options.from_mapping({key: value})
    engine.Options.from_mapping({key: value, strategy: "x"})  # with it: fine


def test_anticolor_without_texts(engine):
    """An empty anticolor_texts made anti-color guidance cost a decode per step and do nothing
    (the contrastive loss over the description alone is 0)."""
    with pytest.raises(ValueCheckError, match=r"anticolor_texts=' \| ' holds no text"):
        engine.Options.from_mapping({"clip_model": "x", "anticolor_texts": " | "})
    engine.Options.from_mapping(
        {"clip_model": "x", "anticolor_texts": "|", "anticolor_strength": 0}
    )


def test_cli_missing_weights_exit_code(tmp_path):
    from typer.testing import CliRunner

    from polychrome.apps.cli import app
    from polychrome.io import write_image

    src = tmp_path / "in.png"
    write_image(src, np.full((16, 16), 100, np.uint8))
    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        app, ["colorize", str(src), "-o", str(out), "--engine", "diffusion"]
    )
    assert result.exit_code == 3, result.output
    assert "base_model=" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_cli_model_paths_exit_codes(tiny, tmp_path, monkeypatch):
    """A mistyped local model folder exits 2 (the call is wrong), naming the option and path;
    so does a hub-id-shaped typo of a folder that exists ("did you mean", it was exit 3); a hub
    id that is not cached on an offline machine exits 3 (weights are missing here), saying
    where it looked. Each error comes alone: the start line of a run is not printed above it
    (it was)."""
    from typer.testing import CliRunner

    from polychrome.apps.cli import app
    from polychrome.io import write_image

    base, clip = tiny
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "models/sd15").mkdir(parents=True)
    (tmp_path / "models/clip").mkdir()
    write_image(tmp_path / "in.png", np.full((16, 16), 100, np.uint8))
    nowhere = "no folder ./polychrome-test/not-cached and no hub model polychrome-test/not-cached"
    for option, value, code, message in [
        ("base_model", "./modles/sd15", 2, "base_model=./modles/sd15: no such folder"),
        ("base_model", "./modles/sd15", 2, "; did you mean ./models/sd15?"),
        ("base_model", "./models/nonexistent", 2, "./models/nonexistent: no such folder"),
        ("controlnet", base["base_model"], 2, "holds a Stable Diffusion base model"),
        ("base_model", "modles/sd15", 2, "base_model=modles/sd15: no folder ./modles/sd15 and"),
        ("base_model", "modles/sd15", 2, "; did you mean ./models/sd15?"),
        ("clip_model", "modles/clip", 2, "clip_model=modles/clip: no folder ./modles/clip"),
        ("clip_model", "modles/clip", 2, "; did you mean ./models/clip?"),
        ("base_model", "polychrome-test/not-cached", 3, f"{nowhere} in the cache at {tmp_path}"),
        ("base_model", "polychrome-test/not-cached", 3, "hf download polychrome-test/not-cached"),
    ]:
        args = ["colorize", "in.png", "-o", "out.png", "--engine", "diffusion"]
        for key, given in {**base, "clip_model": clip, option: value}.items():
            args += ["--engine-option", f"{key}={given}"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == code, result.output
        assert message in result.stderr and "Traceback" not in result.output
        assert result.stderr.startswith("error: "), result.stderr  # no "colorizing ..." above
        assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_cli_device_not_here_before_the_start_line(tiny, tmp_path, monkeypatch, device):
    """device=cuda on a machine without CUDA said so only after 'colorizing ... minutes'."""
    import torch
    from typer.testing import CliRunner

    from polychrome.apps.cli import app
    from polychrome.io import write_image

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    write_image(tmp_path / "in.png", np.full((16, 16), 100, np.uint8))
    args = ["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]
    args += ["--engine", "diffusion"]
    for key, given in {**tiny[0], "device": device}.items():
        args += ["--engine-option", f"{key}={given}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"error: device={device} was asked for"), result.stderr
    assert not (tmp_path / "out.png").exists()


def test_similar_folder(tmp_path, monkeypatch):
    """The folder a mistyped path (one or more parts) most likely meant, or None."""
    from polychrome.hub import similar_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models/sd15").mkdir(parents=True)
    assert similar_folder("modles/sd15") == "./models/sd15"
    assert similar_folder("./models/sd16") == "./models/sd15"
    assert similar_folder(str(tmp_path / "modles/sd15")) == str(tmp_path / "models/sd15")
    assert similar_folder("openai/clip-vit-base-patch32") is None
    assert similar_folder("models/something-else") is None


def test_a_cached_hub_id_is_no_typo(tmp_path, monkeypatch):
    """A hub id in the cache is the hub's model, even with a similar folder here."""
    from polychrome.engines.diffusion.loading import model_source

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "modles/sd16").mkdir(parents=True)
    (tmp_path / "hub/models--models--sd15/snapshots/abc").mkdir(parents=True)
    assert model_source("models/sd15", "base_model") == ("models/sd15", False)


def _steps(reports):
    return [(r.step, r.steps, r.phase, r.sample) for r in reports]


def test_progress_reports_each_step(engine, tiny):
    """Each denoising step reaches the callback, with its phase (the multi-instance branches,
    then the global prompt) and sample, then the decode."""
    from polychrome.engines.diffusion.progress import reporting

    lum = _lum()
    seen = []
    engine.propose(lum, options=_opts(engine, tiny), seed=0, progress=seen.append)
    assert _steps(seen) == [(1, 2, "global", None), (2, 2, "global", None), (2, 2, "decode", None)]
    seen.clear()
    branches = _opts(engine, tiny, instance_fraction=0.5)
    context = _context(lum, ["car: red"])
    with reporting(seen.append):  # the library route through colorize(): no argument to pass
        engine.propose(lum, options=branches, seed=0, sample=1, context=context)
    assert _steps(seen) == [(1, 2, "instances", 1), (2, 2, "global", 1), (2, 2, "decode", 1)]
    seen.clear()
    engine.propose(lum, options=branches, seed=0)  # outside the block: no one is told
    assert seen == []


def test_cli_progress_on_a_terminal(monkeypatch):
    """On a terminal the steps drive the CLI's bar, labelled with the sample and phase."""
    from polychrome.apps import cli
    from polychrome.engines.diffusion.progress import DiffusionStep, current

    shown = []

    class Bar:
        def __init__(self, label, **kwargs):
            shown.append(label)

        def __enter__(self):
            return lambda done, total, *value, label="": shown.append((done, total, label))

        def __exit__(self, *exc):
            shown.append("closed")

    monkeypatch.setattr(cli, "_progress_bar", Bar)
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True, raising=False)
    with cli._diffusion_steps(2, enabled=True):
        current()(DiffusionStep(1, 4, "instances", 0))
        current()(DiffusionStep(4, 4, "decode", 1))
    assert shown == [
        "diffusion",
        (1, 4, "diffusion sample 1/2 (instances)"),
        (4, 4, "diffusion sample 2/2 decoding"),
        "closed",
    ]
    assert current() is None
    with cli._diffusion_steps(2, enabled=False):  # --quiet
        assert current() is None


def test_cli_description_and_label_reach_the_engine(tiny, tmp_path, monkeypatch):
    """The user's path: colorize --engine diffusion with a description and a labelled region."""
    from typer.testing import CliRunner

    from polychrome.apps.cli import app
    from polychrome.engines.diffusion import DiffusionEngine
    from polychrome.io import read_image, write_image

    base, _ = tiny
    seen = []
    original = DiffusionEngine.propose

    def spy(self, luminance, **kwargs):
        seen.append(kwargs["context"])
        return original(self, luminance, **kwargs)

    monkeypatch.setattr(DiffusionEngine, "propose", spy)
    src, mask, out = tmp_path / "in.png", tmp_path / "car.png", tmp_path / "out.png"
    gray = (np.clip(_lum(24, 32), 0, 100) * 2.55).astype(np.uint8)
    write_image(src, gray)
    car = np.zeros((24, 32), np.uint8)
    car[:, :12] = 255
    write_image(mask, car)
    args = ["colorize", str(src), "-o", str(out), "--engine", "diffusion"]
    for key, value in base.items():
        args += ["--engine-option", f"{key}={value}"]
    args += ["--describe", "a red car", "--label", f"car={mask}"]
    args += ["--engine-option", "instance_fraction=0.5", "--samples", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "colorizing in.png with the diffusion engine" in result.stderr  # no silent minutes
    # ... and each step, one line each when stderr is no terminal (it said nothing more)
    steps = [line for line in result.stderr.splitlines() if line.startswith("diffusion")]
    assert steps == [
        f"diffusion sample {k}/2{line}"
        for k in (1, 2)
        for line in (" (instances): step 1/2", ": step 2/2", " decoding")
    ]
    quiet = CliRunner().invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
    assert seen[0].description == "a red car"
    assert [label for _, label in seen[0].instances] == ["car: red"]
    assert seen[0].instances[0][0][:, :12].all() and not seen[0].instances[0][0][:, 12:].any()
    assert read_image(tmp_path / "out-1.png").pixels.shape == (24, 32, 3)


def test_proposal_is_the_chroma_trusted_where_luminance_agrees():
    from polychrome.engines.diffusion.options import DiffusionOptions
    from polychrome.engines.diffusion.strategies import Layout, to_proposal
    from polychrome.ops.color import rgb_to_lab

    rgb = np.empty((24, 32, 3), np.float32)
    rgb[:] = (0.8, 0.3, 0.2)
    lab = rgb_to_lab(rgb)
    lum = lab[..., 0].copy()
    lum[:, 16:] = np.clip(lum[:, 16:] + 40, 0, 100)  # the model redrew the right half
    rgb[:4, :4] = np.nan
    opts = DiffusionOptions(confidence=0.8)
    ab, confidence = to_proposal(rgb, Layout((24, 32), (0, 0, 24, 32)), lum, opts)
    assert np.isfinite(ab).all()
    assert np.allclose(ab[8:, :10], lab[8:, :10, 1:], atol=1e-3)
    assert np.allclose(confidence[8:, 4:12], 0.8, atol=1e-3)
    assert confidence[:, 20:].max() < 0.8 * np.exp(-3)
    assert np.all(confidence[:4, :4] == 0)


def test_in_context_reference_from_a_pool(engine, tiny, tmp_path):
    """ColorFlow's retrieval: a folder of color images is searched, the best are stitched."""
    folder = tmp_path / "pool"
    folder.mkdir()
    for k, color in enumerate([(0.9, 0.2, 0.1), (0.1, 0.3, 0.9)]):
        rgb = np.empty((24, 32, 3), np.float32)
        rgb[:] = color
        rgb[..., 1] = np.linspace(0.1, 0.9, 32)
        _write_color(folder / f"ref{k}.png", rgb)
    lum = _lum()
    plain = engine.propose(lum, options=_opts(engine, tiny), seed=0)
    pooled = engine.propose(lum, options=_opts(engine, tiny, pool=str(folder)), seed=0)
    assert pooled.ab.shape == (24, 32, 2)
    assert not np.allclose(plain.ab, pooled.ab)


def test_float16_first_image_like_the_next(engine, tiny, tmp_path):
    """dtype=float16 (the GPU default): the VAE that asks for float32 runs in it from the start,
    so the first image of a process equals the same image later (it was upcast at the first
    decode, after the references had been encoded in float16)."""
    import torch

    from polychrome.engines.diffusion.loading import load_components

    ref = _write_color(
        tmp_path / "ref.png", np.dstack([np.full((24, 32), 0.8)] * 2 + [_lum() / 100])
    )
    opts = _opts(engine, tiny, dtype="float16", references=ref)
    load_components.cache_clear()
    first = engine.propose(_lum(), options=opts, seed=0)
    again = engine.propose(_lum(), options=opts, seed=0)
    assert np.array_equal(first.ab, again.ab)
    base, _ = tiny
    comps = load_components(base["base_model"], base["controlnet"], "cpu", "float16")
    assert comps.vae.dtype == torch.float32 and comps.unet.dtype == torch.float16


def test_runs_in_threads_do_not_mix(engine, tiny):
    """The HTTP service colorizes in threads: a run with attention guidance (which swaps the
    shared UNet's processors) beside one without gives each its own result (the other run
    crashed with an IndexError, or was guided with the first one's masks)."""
    import threading

    lum = _lum()
    guided = {
        "options": _opts(engine, tiny, attention_strength=20.0, instance_fraction=0.5, steps=4),
        "seed": 0,
        "context": _context(lum, ["car: red"]),
    }
    plain = {"options": _opts(engine, tiny, steps=4), "seed": 1}
    expected = [engine.propose(lum, **guided).ab, engine.propose(lum, **plain).ab]
    problems = []

    def work(kwargs, want):
        for _ in range(3):
            try:
                if not np.array_equal(engine.propose(lum, **kwargs).ab, want):
                    problems.append("another result")
            except Exception as exc:  # any failure in a thread is the finding
                problems.append(repr(exc))

    threads = [
        threading.Thread(target=work, args=(kw, want))
        for kw, want in zip([guided, plain], expected, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems


def test_image_options_take_a_home_path(engine, tiny, tmp_path, monkeypatch):
    """references, recolor and pool accept ~/ as the model options do (they said 'no such
    file: ~/...')."""
    monkeypatch.setenv("HOME", str(tmp_path))
    rgb = np.dstack([np.full((24, 32), 0.7), _lum() / 100, np.full((24, 32), 0.2)])
    (tmp_path / "pool").mkdir()
    _write_color(tmp_path / "pool" / "color.png", rgb)
    lum, path = _lum(), "~/pool/color.png"
    for key, value in [("references", path), ("recolor", path), ("pool", "~/pool")]:
        out = engine.propose(lum, options=_opts(engine, tiny, **{key: value}), seed=0)
        assert out.ab.shape == (24, 32, 2)


def test_a_controlnet_folder_that_holds_another_model(engine, tiny, monkeypatch):
    """controlnet= given the base model, or its unet/, says so (the unet/ was an internal error,
    exit 1, after loading it with random ControlNet weights), before any model loads (the
    unet/ was found after loading the base model, minutes on a CPU)."""
    from polychrome.engines.diffusion import loading

    def never(*args, **kwargs):
        raise AssertionError("the models were loaded before the wrong folder was found")

    monkeypatch.setattr(loading, "load_components", never)
    base, _ = tiny
    folder = base["base_model"]
    for value, message in [
        (folder, "holds a Stable Diffusion base model"),
        (os.path.join(folder, "unet"), "holds a UNet2DConditionModel, not a ControlNetModel"),
    ]:
        opts = _opts(engine, tiny, controlnet=value)
        with pytest.raises(ValueCheckError, match=message):  # the call's mistake: exit 2
            engine.propose(_lum(), options=opts, seed=0)


def test_loading_prints_no_progress_bar(tiny, capfd):
    """transformers' 'Loading weights' bar was printed on every run, --quiet or not."""
    from polychrome.engines.diffusion.loading import load_clip, load_components

    base, clip = tiny
    load_components.cache_clear()
    load_clip.cache_clear()
    load_components(base["base_model"], base["controlnet"], "cpu", "auto")
    load_clip(clip, "cpu", "auto")
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s" not in err, err
