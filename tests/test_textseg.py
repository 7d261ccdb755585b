"""The CLIPSeg referring segmenter, on a tiny random CLIPSeg built here (no network, no weights)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from polychrome.errors import EngineUnavailableError, InputError, ShapeError, ValueCheckError
from polychrome.guidance.textseg import TextSegmenter

H, W = 50, 70  # non-square, and not the model's 64 x 64 input


def _offline(mp: pytest.MonkeyPatch) -> None:
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    _offline(monkeypatch)


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of byte-level BPE (GPT-2, CLIP)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _write_tiny_clipseg(folder) -> None:
    import torch
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
    )
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    # Tokenizer: every byte, alone and word-final, a few merges, and the two special tokens.
    # (CLIPTokenizer(vocab_file=..., merges_file=...) ignores its files: load from the folder.)
    chars = list(_bytes_to_unicode().values())
    merges = ["c a", "ca t</w>", "d o", "do g</w>", "s k", "sk y</w>"]
    tokens = chars + [c + "</w>" for c in chars] + [m.replace(" ", "") for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=16)
    assert len(tokenizer) == len(vocab)

    special = {
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"],
    }
    config = CLIPSegConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            **special,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
        projection_dim=16,
        reduce_dim=16,
        extract_layers=[0, 1],
        conditional_layer=0,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
    )
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(config).save_pretrained(folder)
    image_processor = ViTImageProcessorPil(
        size={"height": 64, "width": 64},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-clipseg")
    with pytest.MonkeyPatch.context() as mp:
        _offline(mp)
        _write_tiny_clipseg(folder)
    return folder


@pytest.fixture(scope="module")
def segmenter(model_dir):
    with pytest.MonkeyPatch.context() as mp:
        _offline(mp)
        return TextSegmenter.load(model_dir)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    gray = rng.random((H, W))
    gray[:, : W // 2] *= 0.3  # some structure, so that the maps vary over the image
    rgb = np.stack([gray, gray**2, 1 - gray], axis=2)
    return {"gray": gray, "rgb": rgb, "uint8": np.rint(rgb * 255).astype(np.uint8)}


def test_load_from_folder(model_dir):
    seg = TextSegmenter.load(str(model_dir), device="cpu")
    assert seg.device == "cpu"
    assert seg.source == str(model_dir)


@pytest.mark.parametrize("kind", ["gray", "rgb", "uint8"])
def test_segment_gives_one_full_size_mask_per_phrase(segmenter, images, kind):
    image = images[kind]
    before = image.copy()
    masks = segmenter.segment(image, ["a cat", "the sky", "dog"])
    assert len(masks) == 3
    for mask in masks:
        assert mask.shape == (H, W)
        assert mask.dtype == bool
    np.testing.assert_array_equal(image, before)  # not modified


def test_probabilities_are_full_size_maps_in_unit_range(segmenter, images):
    maps = segmenter.probabilities(images["rgb"], ["a cat", "dog"])
    assert len(maps) == 2
    for p in maps:
        assert p.shape == (H, W)
        assert p.dtype == np.float32
        assert p.min() >= 0.0 and p.max() <= 1.0
        assert p.std() > 0  # a map over the image, not one number
    assert not np.allclose(maps[0], maps[1])  # the phrase conditions the map
    masks = segmenter.segment(images["rgb"], ["a cat", "dog"], threshold=0.5)
    for p, m in zip(maps, masks, strict=True):
        np.testing.assert_array_equal(m, p > 0.5)


def test_deterministic(segmenter, images):
    a = segmenter.probabilities(images["gray"], ["a cat", "dog"])
    b = segmenter.probabilities(images["gray"], ["a cat", "dog"])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_batched_phrases_match_one_at_a_time(segmenter, images):
    # Phrases of different lengths are padded in the batch; padding must not change a map.
    both = segmenter.probabilities(images["rgb"], ["a cat", "the sky is blue"])
    alone = [segmenter.probabilities(images["rgb"], [p])[0] for p in ["a cat", "the sky is blue"]]
    for x, y in zip(both, alone, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_threshold_extremes(segmenter, images):
    assert all(m.all() for m in segmenter.segment(images["rgb"], ["a cat"], threshold=0.0))
    assert not any(m.any() for m in segmenter.segment(images["rgb"], ["a cat"], threshold=1.0))
    with pytest.raises(ValueCheckError, match="threshold"):
        segmenter.segment(images["rgb"], ["a cat"], threshold=1.5)


def test_finder_for_binding(segmenter, images):
    find = segmenter.finder(images["rgb"], threshold=0.0)
    mask = find("a cat")
    assert mask is not None and mask.shape == (H, W) and mask.all()
    assert segmenter.finder(images["rgb"], threshold=1.0)("a cat") is None


def test_input_checks(segmenter, images):
    assert segmenter.segment(images["rgb"], []) == []
    assert segmenter.probabilities(images["rgb"], []) == []
    with pytest.raises(ValueCheckError, match="empty"):
        segmenter.segment(images["rgb"], ["a cat", "  "])
    with pytest.raises(ValueCheckError, match="list"):
        segmenter.segment(images["rgb"], "a cat")
    with pytest.raises(ShapeError, match=r"\(H, W, 3\)"):
        segmenter.segment(np.zeros((H, W, 4)), ["a cat"])
    with pytest.raises(ShapeError):
        segmenter.segment(np.zeros((2, H, W, 3)), ["a cat"])
    with pytest.raises(ValueCheckError, match=r"\[0, 1\]"):
        segmenter.segment(images["rgb"] * 255, ["a cat"])
    with pytest.raises(ValueCheckError, match="dtype"):
        segmenter.segment(np.zeros((H, W), dtype=np.int32), ["a cat"])


def test_missing_folder_says_what_to_pass(tmp_path):
    # A mistyped local path is a mistake in the call (exit 2), as cnn's and diffusion's models.
    with pytest.raises(InputError, match="does not exist") as info:
        TextSegmenter.load(tmp_path / "no-such-folder")
    assert "local folder" in str(info.value)


def test_folder_without_weights(tmp_path):
    with pytest.raises(InputError, match="could not load a CLIPSeg model"):
        TextSegmenter.load(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(InputError, match="is a file"):
        TextSegmenter.load(tmp_path / "weights.bin")


def test_folder_with_another_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(InputError, match="not CLIPSeg"):
        TextSegmenter.load(tmp_path)


def test_hub_id_offline_and_not_cached():
    # Offline (and the socket refuses): the error must say what to pass instead.
    with pytest.raises(EngineUnavailableError) as info:
        TextSegmenter.load("polychrome-tests/no-such-clipseg")
    message = str(info.value)
    assert "local folder" in message
    assert "network access" in message
    assert "HF_HUB_OFFLINE" in message


def test_device_checks(model_dir):
    import torch

    with pytest.raises(ValueCheckError, match="device"):
        TextSegmenter.load(model_dir, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EngineUnavailableError, match="CUDA"):
            TextSegmenter.load(model_dir, device="cuda")


def test_missing_extra_names_the_install_command(model_dir, monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "transformers" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(EngineUnavailableError, match=r"pip install 'polychrome\[segment\]'"):
        TextSegmenter.load(model_dir)


def test_import_does_not_need_torch():
    code = (
        "import sys, polychrome.guidance.textseg; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_describe_with_segmenter(model_dir, tmp_path):
    """`--describe` + `--segmenter`: objects with no labelled region are looked up by text, and
    the metadata says what each phrase bound to."""
    from PIL import Image
    from typer.testing import CliRunner

    from polychrome.apps.cli import app
    from polychrome.io import read_metadata

    gray = (np.arange(40 * 60).reshape(40, 60) % 251).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "in.png")
    result = CliRunner().invoke(
        app,
        [
            "colorize",
            str(tmp_path / "in.png"),
            "-o",
            str(tmp_path / "out.png"),
            "--engine",
            "none",
            "--describe",
            "a red car on a road",
            "--segmenter",
            str(model_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_metadata(tmp_path / "out.png")["description"]["phrases"]
    car = next(r for r in rows if r["object"] == "car")
    # A random model finds something or nothing; either way the row says which, never silence.
    assert car["status"] in ("bound", "ignored")
    assert car.get("bound_to") == ["text 'car'"] or "found no" in car["reason"]
    road = next(r for r in rows if r["object"] == "road")
    assert road["status"] == "automatic"


def test_hub_ids_come_from_the_cache_when_the_hub_cannot_be_reached(monkeypatch):
    """An offline machine is told at once (no half minute of retries): the endpoint is probed
    once, and the answer is remembered."""
    from polychrome.guidance import textseg

    calls = []

    def unreachable(address, timeout):
        calls.append(address)
        raise OSError("no route")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(textseg, "_REACH", {})
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org:8443")
    assert textseg._cache_only() and textseg._cache_only()
    assert calls == [("hub.example.org", 8443)]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(textseg, "_REACH", {})
    assert textseg._cache_only() and len(calls) == 1  # no probe when the hub is switched off
