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
    assert sampled.images == 2 and sampled.diversity > 2 and sampled.worst_psnr > 10
    assert report.rows[1].colorfulness > report.rows[0].colorfulness + 5


def test_auto_protocol_samples_only_the_engines_that_sample(tmp_path):
    from polychrome.eval.protocols import auto_protocol

    write_image(tmp_path / "a.png", data.coffee()[::8, ::8])
    report = auto_protocol(tmp_path, engines=("none", "cnn"), samples=2, max_side=48)
    assert [row.method for row in report.rows] == ["gray baseline", "none", "cnn", "cnn x2"]


def test_the_shipped_network_reads_hints():
    """The shipped network is a hint network: a few true colors bring its whole proposal closer
    to the original, not only at the clicked pixels; with ``hints=False`` it ignores them."""
    from polychrome.engines.base import EngineContext

    card = read_card()
    assert card["hints"] is True
    rgb = data.coffee()[::2, ::2]
    lab = rgb_to_lab(rgb / 255.0)
    rng = np.random.default_rng(0)
    yx = np.stack([rng.integers(0, s, 20) for s in lab.shape[:2]], axis=1).astype(np.int32)
    hints = (yx, lab[yx[:, 0], yx[:, 1], 1:].copy(), np.ones(len(yx), np.float32))
    engine = CnnEngine()
    opts = CnnOptions(vividness=1.0)

    def error(context):
        ab = engine.propose(lab[..., 0], options=opts, seed=0, context=context).ab
        far = np.ones(lab.shape[:2], bool)
        for y, x in yx:
            far[max(0, y - 20) : y + 21, max(0, x - 20) : x + 21] = False
        return float(np.hypot(*(ab - lab[..., 1:])[far].T).mean())

    bare = error(None)
    told = error(EngineContext(hints=hints))
    assert told < 0.85 * bare, (told, bare)
    ignored = CnnOptions(vividness=1.0, hints=False)
    a = engine.propose(lab[..., 0], options=ignored, seed=0, context=EngineContext(hints=hints))
    b = engine.propose(lab[..., 0], options=ignored, seed=0)
    assert np.array_equal(a.ab, b.ab)


def test_agreement_gate_trusts_the_proposal_less_where_hints_contradict_it():
    from polychrome.engines.cnn import _agreement, _firm

    ab = np.zeros((60, 120, 2), np.float32)
    ab[:, :60] = (40, 20)  # left half: the engine proposes red; right half: gray
    yx = np.array([[30, 10], [30, 110]], np.int32)
    agree_left = np.array([[40, 20], [30, 0]], np.float32)  # left agrees, right contradicts
    gate = _agreement(ab, _firm((yx, agree_left, np.ones(2, np.float32)), 0.5), 8.0)
    assert gate.shape == (60, 120)
    assert gate[30, 5] > 0.9 and gate[30, 115] < 0.1
    weak = _agreement(ab, _firm((yx, agree_left, np.full(2, 0.1, np.float32)), 0.5), 8.0)
    assert np.all(weak == 1.0)  # hints below hint_weight say nothing


def test_hints_change_the_proposal_only_within_their_reach():
    from polychrome.engines.cnn import _firm, _reach

    yx = np.array([[10, 10], [10, 11], [11, 12]], np.int32)  # one short stroke
    firm = _firm((yx, np.zeros((3, 2), np.float32), np.ones(3, np.float32)), 0.5)
    near = _reach(firm, (200, 400), 0.35)  # 140 px of the 400
    assert near.shape == (200, 400)
    assert near[10, 10] > 0.9 and near[10, 100] > 0.5 and near[190, 390] < 0.05
    assert np.all(_reach(firm, (200, 400), 0) == 1)
    assert np.all(_reach(None, (20, 40), 0.35) == 1)


def test_the_firm_hints_are_selected_once_per_proposal(monkeypatch):
    """The hints at least hint_weight firm were selected up to 4 times per proposal (the hint
    input, the reach at two resolutions, the agreement gate): once now, then passed along."""
    from polychrome.engines import cnn
    from polychrome.engines.base import EngineContext

    calls = []
    real = cnn._firm
    monkeypatch.setattr(cnn, "_firm", lambda *a: calls.append(1) or real(*a))
    lum = luminance_of(data.coffee()[::8, ::8])
    yx = np.array([[10, 10], [30, 50]], np.int32)
    hints = (yx, np.array([[40, 20], [-20, 30]], np.float32), np.ones(2, np.float32))
    proposal = CnnEngine().propose(
        lum, options=CnnOptions(), seed=0, context=EngineContext(hints=hints)
    )
    assert proposal.ab.shape == (*lum.shape, 2)
    assert len(calls) == 1


def test_a_hint_changes_the_proposal_near_itself_not_elsewhere():
    """The reach that blends the hinted network's colors into the unhinted ones was computed on
    the probability grid (a quarter of the working size or less) with the hints' working-size
    coordinates, so it lay around another place: a hint at the top left changed the proposal's
    far half by 29 (ab), and its bottom-right corner by 16."""
    from polychrome.engines.base import EngineContext

    lum = luminance_of(data.coffee()[::2, ::2])  # 200 x 300
    engine, options = CnnEngine(), CnnOptions(hint_agreement=0)
    yx = np.array([[y, x] for y in range(20, 26) for x in range(20, 26)], np.int32)
    hints = (yx, np.tile(np.float32([10, -50]), (len(yx), 1)), np.ones(len(yx), np.float32))
    alone = engine.propose(lum, options=options, seed=0)
    hinted = engine.propose(lum, options=options, seed=0, context=EngineContext(hints=hints))
    change = np.hypot(*(hinted.ab - alone.ab).transpose(2, 0, 1))
    assert change[20:26, 20:26].mean() > 10  # the hint did change its own place
    assert change[:, 200:].mean() < 1 and change[-50:, -50:].max() < 0.5


def test_one_stroke_recolors_its_object_not_the_whole_photo():
    """A brick-red stroke across the front of the coffee sample's saucer turned the table red
    too: the hint network's global context takes the mean hint color, and the agreement gate
    spread the stroke's disagreement with the proposal over the whole image, so the solver
    carried the stroke everywhere (83 % of the pixels changed chroma by more than 10)."""
    rgb = data.coffee()
    auto = polychrome.colorize(rgb).image
    stroke = polychrome.PointHints.from_rgb(
        np.array([[340, x] for x in range(260, 280)]), np.tile((0.6, 0.25, 0.2), (20, 1))
    )
    hinted = polychrome.colorize(rgb, guidance=polychrome.Guidance(points=(stroke,))).image

    def ab(image):
        return rgb_to_lab(image / 255.0)[..., 1:]

    changed = np.hypot(*(ab(hinted) - ab(auto)).transpose(2, 0, 1)) > 10
    assert changed.mean() < 0.6, changed.mean()
    assert ab(hinted)[250:300, 300:400, 0].mean() > 12  # the saucer did turn red
    assert changed[40:140, 500:590].mean() < 0.2  # the table at the top right did not


def test_the_hint_input_is_the_mean_hint_color_per_net_pixel():
    """Summed with bincount (np.add.at took seconds for a page painted over): each net pixel
    holds the mean chroma of the firm hints that fall in it, and the mask."""
    from polychrome.engines.bins import HINT_SCALE
    from polychrome.engines.cnn import _firm, _hint_map

    rng = np.random.default_rng(1)
    yx = np.stack([rng.integers(0, 60, 500), rng.integers(0, 80, 500)], 1).astype(np.int32)
    ab = rng.normal(0, 30, (500, 2)).astype(np.float32)
    weight = np.where(rng.random(500) < 0.8, 1.0, 0.1).astype(np.float32)
    got = _hint_map(_firm((yx, ab, weight), 0.5), (60, 80), (15, 20), (16, 32))[0]
    want = np.zeros((3, 16, 32), np.float32)
    for y in range(15):
        for x in range(20):
            at = (np.round((yx + 0.5) * 0.25 - 0.5) == (y, x)).all(axis=1) & (weight >= 0.5)
            if at.any():
                want[:2, y, x] = ab[at].mean(axis=0) / HINT_SCALE
                want[2, y, x] = 1
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_model_that_is_not_a_colorization_network_is_refused_as_input(tmp_path):
    """Another network's ONNX file ended in an internal error ('Required inputs (['image']) are
    missing', exit 1); a junk file was exit 3, as for a broken install."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from polychrome.errors import InputError

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])],
        "other",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    other = tmp_path / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), other)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    lum = luminance_of(data.coffee()[::8, ::8])
    engine = CnnEngine()
    for path, needle in ((other, "not a polychrome colorization network"), (junk, "not an ONNX")):
        with pytest.raises(ValueCheckError, match=needle):
            engine.propose(lum, options=CnnOptions(model=str(path)), seed=0)
    with pytest.raises(InputError, match="no such file"):
        engine.propose(lum, options=CnnOptions(model=str(tmp_path / "none.onnx")), seed=0)
