"""Reference colorization: matching a gray target against color references, reference pools with
retrieval (ColorFlow's RAP), and the ``--reference`` / ``--pool`` / ``pool build`` CLI.

Every image is generated here or comes from ``skimage.data``; the CLIP embedder runs on a tiny
random CLIP model saved to a temporary folder (no network, no weights).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import shutil
import socket
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from polychrome.apps.cli import app
from polychrome.engines import base
from polychrome.errors import EngineUnavailableError, InputError, ShapeError, ValueCheckError
from polychrome.io import read_image, read_metadata, write_image
from polychrome.ops.color import lab_to_rgb, luminance_of, rgb_to_lab
from polychrome.reference import (
    BuiltinEmbedder,
    Pool,
    is_color,
    match_reference,
    match_references,
)
from polychrome.reference import match as match_module
from polychrome.reference.pool import DEFAULT_CLIP_MODEL, rap_patches

runner = CliRunner()

COLORS = [
    (0.85, 0.2, 0.2),
    (0.2, 0.65, 0.2),
    (0.2, 0.3, 0.85),
    (0.85, 0.75, 0.2),
    (0.6, 0.2, 0.75),
    (0.2, 0.7, 0.7),
]


# --------------------------------------------------------------------------- helpers


def textured(h: int = 200, w: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six Voronoi regions, each with its own color and its own stripes (frequency and
    direction), so that the gray version tells them apart by texture. Returns the RGB uint8
    image and the ``(h, w)`` region labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0, h, 6), rng.uniform(0, w, 6)
    labels = np.argmin([(yy - a) ** 2 + (xx - b) ** 2 for a, b in zip(cy, cx, strict=True)], 0)
    img = np.zeros((h, w, 3), np.float32)
    for k, color in enumerate(COLORS):
        angle = rng.uniform(0, np.pi)
        freq = [0.12, 0.25, 0.45, 0.33, 0.18, 0.6][k]
        stripes = 0.5 + 0.5 * np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        inside = labels == k
        img[inside] = (np.asarray(color) * (0.55 + 0.45 * stripes[..., None]))[inside]
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8), labels


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """The gray (uint8) image with the luminance of ``rgb``."""
    lab = np.zeros((*rgb.shape[:2], 3), np.float32)
    lab[..., 0] = luminance_of(rgb)
    return np.rint(lab_to_rgb(lab)[..., 0] * 255).astype(np.uint8)


def true_ab(rgb: np.ndarray, yx: np.ndarray) -> np.ndarray:
    return rgb_to_lab(rgb[yx[:, 0], yx[:, 1]] / 255.0)[:, 1:]


def ab_error(hints, rgb: np.ndarray) -> np.ndarray:
    return np.hypot(*(hints.ab - true_ab(rgb, hints.yx)).T)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()[::3, ::3].copy()  # 171 x 171


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# --------------------------------------------------------------------------- matching


def test_gray_of_a_shifted_crop_gets_the_reference_colors():
    ref, _ = textured()
    crop = ref[7:-5, 11:-3]  # the target: shifted and cropped
    target = luminance_of(gray_of(crop))
    before = target.copy()
    hints = match_reference(target, ref, use_network=False, name="ref.png")
    assert np.array_equal(target, before)
    assert len(hints) > 300 and hints.coverage > 0.3
    assert hints.yx.dtype == np.int32 and hints.yx.min() >= 0
    assert (hints.yx < np.asarray(crop.shape[:2])).all()
    assert ((hints.confidence >= 0.5) & (hints.confidence <= 1)).all()
    err = ab_error(hints, crop)
    assert np.median(err) < 5
    assert np.mean(err < 10) > 0.9
    assert hints.source == "reference ref.png" and hints.features == "luminance features"
    # Spread out: every quarter of the image has hints.
    top, left = hints.yx[:, 0] < crop.shape[0] // 2, hints.yx[:, 1] < crop.shape[1] // 2
    for part in (top & left, top & ~left, ~top & left, ~top & ~left):
        assert part.sum() > 30


def test_astronaut_shifted_by_some_pixels(astronaut):
    target_rgb = astronaut[6:, 9:]
    hints = match_reference(luminance_of(gray_of(target_rgb)), astronaut, use_network=False)
    assert hints.coverage > 0.4 and len(hints) > 500
    assert np.median(ab_error(hints, target_rgb)) < 5


def test_unrelated_target_gets_little_confidence(astronaut):
    related = match_reference(luminance_of(astronaut[5:, 5:]), astronaut, use_network=False)
    camera = data.camera()[::3, ::3]  # another photo, same size
    unrelated = match_reference(luminance_of(camera), astronaut, use_network=False, min_coverage=0)
    assert unrelated.coverage < 0.03 < 0.3 < related.coverage
    assert len(unrelated) < len(related) / 5
    # Below 1% coverage, a reference's few chance matches give no hint at all.
    assert unrelated.coverage < 0.01
    gated = match_reference(luminance_of(camera), astronaut, use_network=False)
    assert len(gated) == 0 and gated.coverage == unrelated.coverage
    assert gated.to_point_hints()[0].source.startswith("reference (0 matches, coverage 0.00")


def test_several_references_merge_the_most_confident():
    full, _ = textured(120, 160, seed=3)
    left, right = full[:, :100], full[:, 60:]  # each sees part of the target
    target = luminance_of(gray_of(full))
    merged = match_references(
        target, [left, right], names=["left.png", "right.png"], use_network=False
    )
    only_left = match_reference(target, left, use_network=False)
    assert merged.coverage > only_left.coverage + 0.1
    assert set(np.unique(merged.reference)) == {0, 1}
    x = merged.yx[:, 1]
    assert np.mean(merged.reference[x < 55] == 0) > 0.9  # only the left reference sees there
    assert np.mean(merged.reference[x > 105] == 1) > 0.9
    assert np.median(ab_error(merged, full)) < 5
    assert merged.source == "references left.png, right.png"
    points = merged.to_point_hints()
    assert [p.source.split(" (")[0] for p in points] == [
        "reference left.png",
        "reference right.png",
    ]
    assert sum(len(p) for p in points) == len(merged)
    assert all(
        np.array_equal(p.weight, merged.confidence[merged.reference == k])
        for k, p in enumerate(points)
    )
    # Deterministic.
    again = match_references(
        target, [left, right], names=["left.png", "right.png"], use_network=False
    )
    assert np.array_equal(again.yx, merged.yx) and np.array_equal(again.ab, merged.ab)


def test_a_long_strip_is_matched_window_by_window():
    # A webtoon strip (here six panels of the reference, 200 x 1080) was squeezed whole into
    # the working size: its details gone, it matched nothing.
    ref, _ = textured(160, 200, seed=4)
    strip = np.full((6 * 180, 200, 3), 255, np.uint8)
    for k in range(6):
        strip[k * 180 + 10 : k * 180 + 170] = ref
    hints = match_reference(luminance_of(gray_of(strip)), ref, use_network=False)
    per_panel = np.bincount(hints.yx[:, 0] // 180, minlength=6)
    assert (per_panel > 300).all(), per_panel
    assert hints.yx[:, 0].max() < strip.shape[0] and hints.yx[:, 1].max() < strip.shape[1]
    assert np.median(ab_error(hints, strip)) < 5
    assert 0.2 < hints.coverage <= 1 and hints.coverage == pytest.approx(sum(hints.coverages))
    assert len(np.unique(hints.yx, axis=0)) == len(hints)  # windows' overlaps not doubled
    # The windows' own parts tile the strip, and a page of ordinary shape is one window.
    windows = match_module._windows(strip.shape[:2])
    owned = [own for _, own in windows]
    assert owned[0][0] == 0 and owned[-1][1] == strip.shape[0]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(owned))
    assert match_module._windows((1401, 992)) == [((0, 1401, 0, 992), (0, 1401, 0, 992))]
    assert len(match_module._windows((200, 1080))) == len(windows)  # a wide strip too


def test_luminance_remapping_lets_a_darker_flatter_print_match(monkeypatch):
    ref, _ = textured(100, 120, seed=1)
    crop = ref[3:, 5:]
    target = 0.7 * luminance_of(crop) + 12  # a darker, flatter print of the same picture
    hints = match_reference(target, ref, use_network=False)
    assert hints.coverage > 0.4
    assert np.median(ab_error(hints, crop)) < 5
    monkeypatch.setattr(match_module, "_remap", lambda luminance, target: None)
    assert match_reference(target, ref, use_network=False).coverage < hints.coverage / 2


def test_references_of_any_dtype_and_rgba():
    ref, _ = textured(60, 80)
    target = luminance_of(gray_of(ref))
    as_uint8 = match_reference(target, ref, use_network=False)
    as_float = match_reference(target, ref / 255.0, use_network=False)
    as_16 = match_reference(target, ref.astype(np.uint16) * 257, use_network=False)
    rgba = np.concatenate([ref, np.full((*ref.shape[:2], 1), 255, np.uint8)], axis=2)
    as_rgba = match_reference(target, rgba, use_network=False)
    for other in (as_float, as_16, as_rgba):
        assert abs(len(other) - len(as_uint8)) <= 0.05 * len(as_uint8)


def test_gray_references_and_wrong_shapes_are_refused():
    ref, _ = textured(60, 80)
    target = luminance_of(gray_of(ref))
    gray_rgb = np.repeat(gray_of(ref)[..., None], 3, axis=2)
    assert is_color(ref) and not is_color(gray_rgb)
    with pytest.raises(ValueCheckError, match="no color"):
        match_reference(target, gray_rgb)
    with pytest.raises(ShapeError, match="gray"):
        match_reference(target, gray_of(ref))
    with pytest.raises(ShapeError, match=r"\(H, W\)"):
        match_reference(np.stack([target] * 3, axis=2), ref)
    with pytest.raises(ShapeError, match="at least"):
        match_reference(target[:4], ref)
    with pytest.raises(ValueCheckError, match=r"\[0, 100\]"):
        match_reference(target * 2, ref)
    with pytest.raises(ValueCheckError, match="no reference"):
        match_references(target, [])
    with pytest.raises(ValueCheckError, match="names"):
        match_references(target, [ref], names=["a", "b"])


def test_without_the_cnn_model_luminance_features_are_used_and_said(monkeypatch):
    monkeypatch.setitem(
        base.ENGINES, "cnn", dataclasses.replace(base.ENGINES["cnn"], weights_file="weights/no")
    )
    ref, _ = textured(80, 100)
    target = luminance_of(gray_of(ref))
    hints = match_reference(target, ref, use_network=None)
    assert hints.features == "luminance features, no cnn model"
    assert "no cnn model" in hints.to_point_hints()[0].source
    with pytest.raises(EngineUnavailableError, match="cnn"):
        match_reference(target, ref, use_network=True)


def test_network_features_join_when_the_model_is_there(monkeypatch):
    """The cnn's bin distributions (faked here: a softmax of local brightness) are added."""
    calls = []

    def fake_probabilities(luminance):
        calls.append(luminance.shape)
        small = luminance[::4, ::4]
        centers = np.linspace(0, 100, 262, dtype=np.float32)
        logits = -((small[None] - centers[:, None, None]) ** 2) / 50.0
        p = np.exp(logits - logits.max(axis=0))
        return p / p.sum(axis=0)

    spec = dataclasses.replace(base.ENGINES["cnn"], requires=(), weights_file=None)
    monkeypatch.setitem(base.ENGINES, "cnn", spec)
    monkeypatch.setattr(match_module, "_cnn_probabilities", fake_probabilities)
    ref, _ = textured(100, 120)
    crop = ref[4:, 6:]
    hints = match_reference(luminance_of(gray_of(crop)), ref, use_network=None)
    assert hints.features == "luminance + cnn features"
    assert len(calls) == 2  # the target and the reference
    assert np.median(ab_error(hints, crop)) < 5
    off = match_reference(luminance_of(gray_of(crop)), ref, use_network=False)
    assert off.features == "luminance features" and len(calls) == 2


def test_real_cnn_features_when_shipped(astronaut):
    if not base.ENGINES["cnn"].available:
        pytest.skip("the cnn model is not shipped here")
    target_rgb = astronaut[6:, 4:]
    hints = match_reference(luminance_of(target_rgb), astronaut, use_network=True)
    assert hints.features == "luminance + cnn features"
    assert np.median(ab_error(hints, target_rgb)) < 5


# --------------------------------------------------------------------------- pools


def test_rap_patches_are_three_quarters_and_overlap():
    lum = np.arange(40 * 60, dtype=np.float32).reshape(40, 60)
    tl, tr, bl, br, whole = rap_patches(lum, whole=True)
    assert all(p.shape == (30, 45) for p in (tl, tr, bl, br)) and whole.shape == (40, 60)
    assert tl[0, 0] == lum[0, 0] and br[-1, -1] == lum[-1, -1]
    assert tr[0, -1] == lum[0, -1] and bl[-1, 0] == lum[-1, 0]
    assert len(rap_patches(lum, whole=False)) == 4


@pytest.fixture(scope="module")
def refs_dir(tmp_path_factory) -> Path:
    """Eight color references (half-size skimage photos and textured images) in one folder."""
    folder = tmp_path_factory.mktemp("refs")
    photos = {
        "astronaut": data.astronaut(),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "ihc": data.immunohistochemistry(),
        "motorcycle": data.stereo_motorcycle()[0],
    }
    for name, im in photos.items():
        write_image(folder / f"{name}.png", np.ascontiguousarray(im[::3, ::3]))
    for seed in (1, 2):
        write_image(folder / f"textured{seed}.png", textured(150, 180, seed=seed)[0])
    return folder


def _crop_gray(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return gray_of(rgb[h // 12 : h - h // 20, w // 15 : w - w // 10])


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket", "textured2"])
def test_retrieval_ranks_the_right_reference_first(refs_dir, name):
    pool = Pool.build(refs_dir)
    assert len(pool) == 8 and pool.embedder == BuiltinEmbedder.name
    target = luminance_of(_crop_gray(read_image(refs_dir / f"{name}.png").pixels))
    found = pool.retrieve(target, k=3)
    assert found[0][0].name == f"{name}.png"
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1 + 1e-5
    assert len({p for p, _ in found}) == len(found) <= 12  # deduplicated, top 3 per patch
    assert len(pool.retrieve(target, k=1)) <= 4


def test_a_long_strip_retrieves_the_pages_it_is_made_of(refs_dir):
    # A webtoon strip squeezed whole into the embedding size found the wrong references.
    pool = Pool.build(refs_dir)
    names = ["coffee", "rocket", "chelsea", "textured2"]
    panels = []
    for name in names:
        panel = _crop_gray(read_image(refs_dir / f"{name}.png").pixels)
        height = round(panel.shape[0] * 160 / panel.shape[1])
        panels.append(cv2.resize(panel, (160, height), interpolation=cv2.INTER_AREA))
    strip = luminance_of(np.concatenate(panels))  # 160 wide, about 4 times as tall
    found = [p.stem for p, _ in pool.retrieve(strip, k=2)]
    assert set(names) <= set(found), found  # it found motorcycle, textured1, chelsea, ihc, ...
    assert len(found) <= 8  # 4 k at most, as for a page


def test_builtin_embeddings_are_unit_vectors():
    rng = np.random.default_rng(0)
    patches = [rng.uniform(0, 100, (30, 50)).astype(np.float32), np.full((5, 7), 40.0)]
    emb = BuiltinEmbedder().embed(patches)
    assert emb.shape[0] == 2 and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert np.array_equal(emb, BuiltinEmbedder().embed(patches))
    with pytest.raises(ShapeError):
        BuiltinEmbedder().embed([np.zeros((4, 4, 3))])


def test_pool_save_load_round_trip_with_relative_paths(refs_dir, tmp_path):
    folder = tmp_path / "chapter"
    shutil.copytree(refs_dir, folder / "refs")
    calls: list[tuple[int, int]] = []
    pool = Pool.build(folder / "refs", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (8, 8) and len(calls) == 8
    target = folder / "pool.npz"
    assert pool.save(target) == target
    assert sorted(p.name for p in folder.iterdir()) == ["pool.npz", "refs"]  # no temp file left
    with np.load(target) as stored:
        assert all(not Path(p).is_absolute() for p in stored["paths"])
    # The folder moves as a whole and the pool still finds its references.
    moved = tmp_path / "moved"
    shutil.move(folder, moved)
    loaded = Pool.load(moved / "pool.npz")
    assert [p.name for p in loaded.paths] == [p.name for p in pool.paths]
    assert all(p.is_file() for p in loaded.paths)
    assert np.array_equal(loaded.embeddings, pool.embeddings)
    assert loaded.embedder == pool.embedder
    lum = luminance_of(_crop_gray(read_image(loaded.paths[0]).pixels))
    assert [s for _, s in loaded.retrieve(lum)] == [s for _, s in pool.retrieve(lum)]


def test_pool_errors(tmp_path, refs_dir):
    grays = tmp_path / "grays"
    for k in range(2):
        write_image(grays / f"g{k}.png", gray_of(textured(40, 50, seed=k)[0]))
    with pytest.raises(InputError, match="gray"):
        Pool.build(grays)
    mixed = tmp_path / "mixed"
    shutil.copytree(grays, mixed)
    shutil.copy(refs_dir / "coffee.png", mixed / "coffee.png")
    pool = Pool.build(mixed)
    assert [p.name for p in pool.paths] == ["coffee.png"]
    assert [p.name for p in pool.skipped] == ["g0.png", "g1.png"]
    # One damaged file is left out (with its reason), not the whole pool.
    (mixed / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    pool = Pool.build(mixed)
    assert [p.name for p in pool.paths] == ["coffee.png"]
    assert [(p.name, "damaged.png" in why) for p, why in pool.unreadable] == [("damaged.png", True)]
    # A target too small to search is named by its size, as matching names it.
    with pytest.raises(ShapeError, match=r"target is 7x3; retrieving references needs at least 4"):
        pool.retrieve(np.full((3, 7), 50.0, np.float32))
    (mixed / "coffee.png").unlink()
    with pytest.raises(InputError, match="no readable color image"):
        Pool.build(mixed)
    # A saved pool whose reference is gone says so, naming the pool.
    shutil.copy(refs_dir / "coffee.png", mixed / "coffee.png")
    Pool.build(mixed).save(tmp_path / "p.npz")
    (mixed / "coffee.png").unlink()
    with pytest.raises(InputError, match=r"pool .*p\.npz: its reference .*coffee\.png is gone"):
        Pool.load(tmp_path / "p.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image"):
        Pool.build(tmp_path / "empty")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a polychrome pool"):
        Pool.load(bad)
    with pytest.raises(InputError, match="no such"):
        Pool.load(tmp_path / "missing.npz")
    with pytest.raises(ValueCheckError, match=r"\.npz"):
        pool.save(tmp_path / "pool.txt")


def test_a_reference_changed_after_the_pool_was_built_is_embedded_again_and_named(
    refs_dir, tmp_path
):
    # A scanlator fixes a reference page after `pool build`: the pool searched it with the old
    # page's embedding and said nothing.
    folder = tmp_path / "refs"
    folder.mkdir()
    for name in ("astronaut", "coffee"):
        shutil.copy2(refs_dir / f"{name}.png", folder)
    Pool.build(folder).save(tmp_path / "pool.npz")
    # Copied without its time (cp without -p) or touched: the same content, no warning.
    shutil.copy(refs_dir / "coffee.png", folder / "coffee.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Pool.load(tmp_path / "pool.npz").changed == ()
    # Another image under the same name: embedded again, and said.
    shutil.copy(refs_dir / "rocket.png", folder / "coffee.png")
    with pytest.warns(UserWarning, match=r"1 reference changed since .*\(coffee\.png\)"):
        loaded = Pool.load(tmp_path / "pool.npz")
    assert [p.name for p in loaded.changed] == ["coffee.png"]
    assert np.allclose(loaded.embeddings, Pool.build(folder).embeddings, atol=1e-6)
    rocket = luminance_of(_crop_gray(read_image(refs_dir / "rocket.png").pixels))
    assert loaded.retrieve(rocket)[0][0].name == "coffee.png"
    # Now gray: an error naming it.
    write_image(folder / "coffee.png", gray_of(read_image(refs_dir / "coffee.png").pixels))
    with pytest.raises(InputError, match=r"coffee\.png changed since .* is now gray"):
        Pool.load(tmp_path / "pool.npz")


def test_duplicate_references_are_left_out_and_named(refs_dir, tmp_path):
    folder = tmp_path / "refs"
    folder.mkdir()
    for name in ("astronaut", "coffee"):
        shutil.copy(refs_dir / f"{name}.png", folder)
    shutil.copy(refs_dir / "coffee.png", folder / "zcoffee.png")
    pool = Pool.build(folder)
    assert [p.name for p in pool.paths] == ["astronaut.png", "coffee.png"]
    assert [(p.name, q.name) for p, q in pool.duplicates] == [("zcoffee.png", "coffee.png")]
    result = _invoke("pool", "build", folder, "-o", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert "left out 1 duplicate: zcoffee.png (same as coffee.png)" in result.stderr
    assert "2 references" in result.stdout
    # --quiet hides the progress bar and the summary, not what was left out (it hid both).
    result = _invoke("pool", "build", folder, "-o", tmp_path / "p.npz", "-q")
    assert result.exit_code == 0, result.output
    assert "left out 1 duplicate: zcoffee.png" in result.stderr and not result.stdout


def test_cli_pool_folder_names_the_images_it_leaves_out(page, refs_dir, tmp_path):
    # `colorize --pool DIR` left a gray and a damaged reference out without a word.
    gray, ref, _, _ = page
    folder = tmp_path / "refs"
    folder.mkdir()
    shutil.copy(ref, folder / "ref.png")
    write_image(folder / "gray.png", gray_of(textured(40, 50, seed=1)[0]))
    (folder / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    out = tmp_path / "out.png"
    result = _invoke("colorize", gray, "--pool", folder, "--engine", "none", "-o", out)
    assert result.exit_code == 0, result.output
    assert "left out 1 gray image: gray.png" in result.stderr
    assert "left out damaged.png: " in result.stderr
    assert out.is_file()


# --------------------------------------------------------------------------- CLIP


def _write_tiny_clip(folder: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    config = CLIPConfig(
        text_config=dict(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=24,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=8,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=24,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=12,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)


def test_clip_embedder_with_a_tiny_random_model(tmp_path, refs_dir):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from polychrome.reference import ClipEmbedder

    model_dir = tmp_path / "tiny-clip"
    _write_tiny_clip(model_dir)
    embedder = ClipEmbedder(model_dir)
    assert embedder.name == f"clip:{model_dir.resolve()}"
    rng = np.random.default_rng(0)
    patches = [rng.uniform(0, 100, (40, 60)).astype(np.float32) for _ in range(3)]
    emb = embedder.embed(patches)
    assert emb.shape == (3, 12) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)

    files = sorted(refs_dir.iterdir())[:3]
    pool = Pool.build(files, embedder=embedder)
    target = luminance_of(_crop_gray(read_image(files[0]).pixels))
    found = pool.retrieve(target, embedder=embedder)
    assert 1 <= len(found) <= 3 and {p for p, _ in found} <= set(files)
    pool.save(tmp_path / "clip-pool.npz")
    loaded = Pool.load(tmp_path / "clip-pool.npz")
    assert loaded.embedder == embedder.name
    assert [p for p, _ in loaded.retrieve(target)] == [p for p, _ in found]  # reloads the model
    with pytest.raises(ValueCheckError, match="built with"):
        loaded.retrieve(target, embedder=BuiltinEmbedder())
    with pytest.raises(InputError, match="does not exist"):  # a mistyped path: exit 2
        ClipEmbedder(tmp_path / "nowhere" / "clip")
    with pytest.raises(InputError, match="could not load a CLIP model"):
        ClipEmbedder(tmp_path)  # a folder without a model


def test_clip_without_the_extra_names_the_install_command(monkeypatch):
    from polychrome.reference import ClipEmbedder

    real = importlib.util.find_spec
    monkeypatch.setattr(
        base.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "transformers" else real(name, *a),
    )
    with pytest.raises(EngineUnavailableError, match=r"pip install 'polychrome\[clip\]'"):
        ClipEmbedder("any/model")


# --------------------------------------------------------------------------- CLI


def _invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def page(tmp_path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A gray page (a shifted crop of a textured image) and its color reference."""
    ref, labels = textured(160, 200, seed=4)
    crop, crop_labels = ref[6:, 9:], labels[6:, 9:]
    write_image(tmp_path / "ref.png", ref)
    write_image(tmp_path / "page.png", gray_of(crop))
    return tmp_path / "page.png", tmp_path / "ref.png", crop, crop_labels


def test_cli_reference_colors_the_page(page):
    gray, ref, truth, labels = page
    out = gray.parent / "out" / "page-color.png"
    result = _invoke("colorize", gray, "--reference", ref, "--engine", "none", "-o", out)
    assert result.exit_code == 0, result.output
    colored = read_image(out).pixels
    assert np.abs(luminance_of(colored) - luminance_of(read_image(gray).pixels)).max() <= 1.0
    # Inside each region (away from its border) the colors are the reference's.
    from scipy import ndimage

    inner = np.zeros_like(labels, dtype=bool)
    for k in range(len(COLORS)):
        inner |= ndimage.binary_erosion(labels == k, iterations=4)
    got = rgb_to_lab(colored[inner] / 255.0)[:, 1:]
    want = rgb_to_lab(truth[inner] / 255.0)[:, 1:]
    assert np.median(np.hypot(*(got - want).T)) < 8
    meta = read_metadata(out)
    rows = [r for r in meta["guidance"] if r["source"].startswith("reference ref.png (")]
    assert len(rows) == 1 and rows[0]["count"] > 100
    assert "coverage" in rows[0]["source"]
    assert read_image(ref).pixels.shape == (160, 200, 3)  # the reference is untouched


def test_cli_pool_build_then_colorize_with_the_pool(page, refs_dir, tmp_path):
    gray, ref, _, _ = page
    folder = tmp_path / "pool-refs"
    folder.mkdir()
    for name in ("astronaut", "coffee", "textured1"):
        shutil.copy(refs_dir / f"{name}.png", folder)
    shutil.copy(ref, folder / "the-one.png")
    pool_file = tmp_path / "pool.npz"
    result = _invoke("pool", "build", folder, "-o", pool_file, "--quiet")
    assert result.exit_code == 0, result.output
    assert pool_file.is_file()
    for source in (pool_file, folder):
        out = tmp_path / f"out-{source.suffix or 'dir'}.png"
        result = _invoke("colorize", gray, "--pool", source, "--engine", "none", "-o", out)
        assert result.exit_code == 0, result.output
        rows = read_metadata(out)["guidance"]
        best = [r for r in rows if r["source"].startswith("reference the-one.png, retrieved from")]
        assert len(best) == 1 and best[0]["count"] > 100, rows
        assert f"retrieved from {source.name}" in best[0]["source"]
        # As in `polychrome sequence`, the references' palette fills where matches are sparse.
        assert any(r["source"].startswith("palette of") for r in rows), rows


def test_cli_pool_build_prints_a_summary(refs_dir, tmp_path):
    result = _invoke("pool", "build", refs_dir, "-o", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert "8 references (builtin-v1)" in result.stdout


def test_cli_pool_build_of_a_folder_of_subfolders_says_they_are_not_read(refs_dir, tmp_path):
    # References sorted into chapter subfolders gave "holds no image", which read as wrong.
    shutil.copytree(refs_dir, tmp_path / "refs" / "chapter-1")
    result = _invoke("pool", "build", tmp_path / "refs", "-o", tmp_path / "p.npz")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "subfolders (chapter-1) are not read" in result.stderr
    assert not (tmp_path / "p.npz").exists()
    # One gray image left out is said in the singular.
    write_image(tmp_path / "refs" / "gray.png", gray_of(textured(40, 50, seed=1)[0]))
    shutil.copy(refs_dir / "coffee.png", tmp_path / "refs" / "coffee.png")
    result = _invoke("pool", "build", tmp_path / "refs", "-o", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert "left out 1 gray image: gray.png" in result.stderr


def test_cli_missing_reference_fails_and_writes_nothing(page):
    gray, _, _, _ = page
    out = gray.parent / "out.png"
    result = _invoke("colorize", gray, "--reference", gray.parent / "nope.png", "-o", out)
    assert result.exit_code == 2, result.output
    assert "nope.png" in result.stderr and "Traceback" not in result.output
    assert not out.exists()


def test_cli_gray_pool_folder_fails_and_writes_nothing(page, tmp_path):
    gray, _, _, _ = page
    grays = tmp_path / "grays"
    write_image(grays / "g.png", read_image(gray).pixels)
    pool_file = tmp_path / "gray-pool.npz"
    result = _invoke("pool", "build", grays, "-o", pool_file)
    assert result.exit_code == 2 and "gray" in result.stderr
    assert not pool_file.exists()
    out = tmp_path / "out.png"
    result = _invoke("colorize", gray, "--pool", grays, "-o", out)
    assert result.exit_code == 2 and "gray" in result.stderr
    assert not out.exists()


def test_cli_gray_reference_and_overwrites_are_refused(page, tmp_path):
    gray, ref, _, _ = page
    before = ref.read_bytes()
    result = _invoke("colorize", gray, "--reference", ref, "-o", ref)
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert ref.read_bytes() == before
    out = tmp_path / "out.png"
    result = _invoke("colorize", gray, "--reference", gray, "-o", out)
    assert result.exit_code == 2 and "gray" in result.stderr
    assert not out.exists()
    result = _invoke("pool", "build", tmp_path, "-o", tmp_path / "pool.txt")
    assert result.exit_code == 2 and ".npz" in result.stderr


def test_cli_default_clip_model_is_the_documented_one():
    import inspect

    from polychrome.apps.cli import pool_build_command

    default = inspect.signature(pool_build_command).parameters["clip_model"].default
    assert default == DEFAULT_CLIP_MODEL
