"""The shipped ``cnn`` engine: its weights, its decoding options, samples, and its eval protocol."""

import json
import shutil

import numpy as np
import pytest
from skimage import data

import polychrome
from polychrome.engines.cnn import WEIGHTS, CnnEngine, CnnOptions, read_card, verify_weights
from polychrome.errors import EngineUnavailableError, ValueCheckError
from polychrome.io import file_sha256, write_image
from polychrome.ops.color import luminance_of, rgb_to_lab


@pytest.fixture(scope="module")
def gray():
    return data.astronaut()[::4, ::4].mean(axis=2).astype(np.uint8)


def _chroma(rgb: np.ndarray) -> float:
    return float(np.hypot(*rgb_to_lab(rgb / 255.0)[..., 1:].transpose(2, 0, 1)).mean())


def test_shipped_weights_match_their_card():
    card = read_card()
    assert WEIGHTS.stat().st_size == card["bytes"] <= 20 * 2**20
    assert file_sha256(WEIGHTS) == card["sha256"]
    training = card["training"]
    assert training["commands"] and "photos-train" in training["data"]
    assert training["steps_total"] >= card["step"] and training["train_seconds_total"] > 0
    assert len(card["class_weights"]) == card["bins"]


def test_a_damaged_copy_is_refused(tmp_path, monkeypatch):
    import polychrome.engines.cnn as cnn

    copy = tmp_path / "cnn.onnx"
    shutil.copy(WEIGHTS, copy)
    card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    copy.with_suffix(".json").write_text(json.dumps(card))
    monkeypatch.setattr(cnn, "WEIGHTS", copy)
    with pytest.raises(EngineUnavailableError, match="damaged"):
        verify_weights(copy)
    with pytest.raises(EngineUnavailableError, match="missing"):
        verify_weights(tmp_path / "nowhere.onnx")


def test_vivid_colors_not_brown(gray):
    """The default decoding is colorful: the mean chroma of a portrait is photo-like, and
    ``vividness`` and ``--saturation`` scale it."""
    engine = CnnEngine()
    plain = engine.propose(luminance_of(gray), options=CnnOptions(), seed=0)
    muted = engine.propose(luminance_of(gray), options=CnnOptions(vividness=1.0), seed=0)
    ratio = (
        np.hypot(*plain.ab.reshape(-1, 2).T).mean() / np.hypot(*muted.ab.reshape(-1, 2).T).mean()
    )
    assert ratio == pytest.approx(1.75, rel=0.01)
    assert 0 < plain.confidence.mean() < 1
    full = polychrome.colorize(gray).image
    half = polychrome.colorize(gray, saturation=0.5).image
    assert _chroma(full) > 12 and _chroma(half) < 0.7 * _chroma(full)


def test_samples_are_different_and_seeded(gray):
    result = polychrome.colorize(gray, samples=3, seed=4)
    again = polychrome.colorize(gray, samples=3, seed=4)
    assert len(result.images) == 3
    assert all(np.array_equal(a, b) for a, b in zip(result.images, again.images, strict=True))
    abs_ = [rgb_to_lab(img / 255.0)[..., 1:] for img in result.images]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.hypot(*(abs_[i] - abs_[j]).transpose(2, 0, 1)).mean() > 4
    other = polychrome.colorize(gray, samples=3, seed=5)
    assert not np.array_equal(other.images[0], result.images[0])
    # Luminance is kept in every sample.
    for img in result.images:
        assert np.abs(luminance_of(img) - luminance_of(gray)).max() <= 1.0


def test_bad_options():
    with pytest.raises(ValueCheckError, match="vividness"):
        CnnOptions(vividness=9)
    with pytest.raises(ValueCheckError, match="temperature"):
        CnnOptions(temperature=0)
    with pytest.raises(ValueCheckError, match="prior_correction"):
        CnnOptions(prior_correction=2)


def test_auto_protocol_reports_samples_and_the_gray_baseline(tmp_path):
    from polychrome.eval.protocols import auto_protocol

    for k, image in enumerate((data.astronaut(), data.coffee())):
        write_image(tmp_path / f"{k}.png", image[::8, ::8])
    report = auto_protocol(tmp_path, samples=2, max_side=64, gallery=2)
    methods = [row.method for row in report.rows]
    assert methods == ["gray baseline", "cnn", "cnn x2"]
    sampled = report.rows[2]
    assert sampled.images == 4 and sampled.diversity > 2 and sampled.worst_psnr > 10
    assert report.rows[1].colorfulness > report.rows[0].colorfulness + 5
