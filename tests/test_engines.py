"""Contract tests run over every registered engine: a new engine is tested the moment it exists."""

import numpy as np
import pytest

from polychrome.engines.base import ENGINES, EngineSpec, load_engine, register
from polychrome.errors import EngineUnavailableError, UnknownEngineError, ValueCheckError

AVAILABLE = [name for name, spec in ENGINES.items() if spec.available]
# Engines that run only on weights the user passes as options: their own test files run this
# contract with tiny random models.
USER_WEIGHTS = {"diffusion": "tests/test_diffusion.py::test_contract_and_determinism"}


@pytest.mark.parametrize("name", AVAILABLE)
def test_engine_contract(name):
    if name in USER_WEIGHTS:
        pytest.skip(f"needs weights passed as options; see {USER_WEIGHTS[name]}")
    engine = load_engine(name)
    lum = np.tile(np.linspace(0, 100, 48, dtype=np.float32), (32, 1))
    options = engine.Options.from_mapping({})
    a = engine.propose(lum, options=options, seed=1)
    b = engine.propose(lum, options=options, seed=1)
    if a is None:
        assert b is None
        return
    assert a.ab.shape == (32, 48, 2) and a.ab.dtype == np.float32
    assert a.confidence.shape == (32, 48)
    assert np.all((a.confidence >= 0) & (a.confidence <= 1))
    assert np.array_equal(a.ab, b.ab), "same seed, same proposal"


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_options_refuse_unknown_keys(name):
    spec = ENGINES[name]
    if not spec.available:
        pytest.skip(f"{name} needs {spec.missing()}")
    with pytest.raises(ValueCheckError, match="unknown engine option"):
        load_engine(name).Options.from_mapping({"definitely_not_an_option": 1})


def test_missing_extra_names_the_install_command():
    spec = register(
        EngineSpec(
            name="_test_missing",
            target="nowhere:Nothing",
            summary="test",
            requires=("surely_not_installed_module_xyz",),
            extra="fancy",
        )
    )
    try:
        assert not spec.available
        with pytest.raises(EngineUnavailableError, match=r"pip install 'polychrome\[fancy\]'"):
            load_engine("_test_missing")
    finally:
        del ENGINES["_test_missing"]


def test_unknown_engine():
    with pytest.raises(UnknownEngineError, match="none"):
        load_engine("nope")


def test_engine_context_moves_point_hints_to_working_resolution():
    from polychrome.guidance.hints import Guidance, PointHints
    from polychrome.pipeline import engine_context

    clicks = PointHints(
        yx=np.array([[0, 0], [99, 199], [50, 100]], np.int32),
        ab=np.array([[10, 20], [30, 40], [-5, 5]], np.float32),
        weight=np.array([1.0, 0.5, 1.0], np.float32),
    )
    empty = PointHints(
        np.zeros((0, 2), np.int32), np.zeros((0, 2), np.float32), np.zeros(0, np.float32)
    )
    context = engine_context(Guidance(points=(clicks, empty)), (50, 100), full_shape=(100, 200))
    yx, ab, weight = context.hints
    assert yx.tolist() == [[0, 0], [49, 99], [25, 50]]
    assert np.array_equal(ab, clicks.ab) and np.array_equal(weight, clicks.weight)
    assert engine_context(Guidance(), (50, 100)).hints is None


def test_engine_context_masks_cost_their_bounding_box(monkeypatch):
    # Each instance's mask at working resolution is the area share of its bounding box: 150
    # labelled regions of a 50 MP page were 150 resizes of the page (30 s of 'priors').
    from polychrome import pipeline
    from polychrome.guidance.hints import Guidance, Instance
    from polychrome.ops.filters import area_share, resize

    rng = np.random.default_rng(0)
    for full, shape in (((97, 131), (40, 53)), ((300, 200), (75, 50)), ((64, 5000), (2, 160))):
        mask = np.zeros(full, bool)
        y, x = rng.integers(0, full[0] // 2), rng.integers(0, full[1] // 2)
        mask[y : y + full[0] // 3, x : x + full[1] // 4] = True
        mask &= rng.random(full) < 0.8
        share = area_share(mask, shape)
        assert np.abs(share - resize(mask.astype(np.float32), shape, mode="area")).max() < 1e-5
        monkeypatch.setattr(pipeline, "resize", None)  # no whole-image resize is left
        context = pipeline.engine_context(
            Guidance(instances=(Instance(mask, np.zeros(2), label="thing"),)),
            shape,
            full_shape=full,
        )
        monkeypatch.undo()
        assert np.array_equal(context.instances[0][0], share >= 0.5)


def test_engine_and_solver_place_a_hint_in_the_same_working_pixel():
    """At a non-integer scale, the engine's hint input and the solver's hint cells agree."""
    from polychrome.guidance.hints import Guidance, PointHints
    from polychrome.pipeline import engine_context
    from polychrome.solve.propagate import _rasterize

    full, shape = (97, 131), (40, 53)
    yx = np.stack(np.mgrid[0:97:3, 0:131:5], -1).reshape(-1, 2).astype(np.int32)
    hints = PointHints(yx, np.zeros((len(yx), 2), np.float32), np.ones(len(yx), np.float32))
    engine_yx = engine_context(Guidance(points=(hints,)), shape, full_shape=full).hints[0]
    cells, _, _ = _rasterize([hints], full, shape)
    assert {tuple(p) for p in engine_yx.tolist()} == {tuple(p) for p in cells.tolist()}
    assert np.array_equal(engine_yx, yx.astype(np.int64) * np.array(shape) // np.array(full))


def test_yes_no_options_from_text():
    """``--engine-option hints=false`` means no (``bool("false")`` would be True)."""
    cls = load_engine("cnn").Options
    for text, want in (("false", False), ("0", False), ("No", False), ("true", True), ("on", True)):
        assert cls.from_mapping({"hints": text}).hints is want
    assert cls.from_mapping({"hints": False}).hints is False
    with pytest.raises(ValueCheckError, match="yes/no"):
        cls.from_mapping({"hints": "maybe"})


def test_engine_option_limits_are_declared_checked_and_listed():
    """Ranges and choices live on the fields (``engine_option``): checked when the options are
    made, from Python or from text, and listed by `polychrome engines` / ``/v1/engines``."""
    from polychrome.engines.base import describe_engines

    cnn = load_engine("cnn").Options
    for values, message in (
        ({"vividness": 4.5}, r"vividness must be in \[0, 4\], got 4.5"),
        ({"hint_agreement": "-1"}, "hint_agreement must be >= 0, got -1"),
        ({"net_side": 32}, r"net_side must be in \[64, 2048\]"),
    ):
        with pytest.raises(ValueCheckError, match=message):
            cnn.from_mapping(values)
    assert cnn.from_mapping({"vividness": "4"}).vividness == 4.0  # the bound itself is allowed
    rows = {row["name"]: row for row in describe_engines()}
    options = {o["name"]: o for o in rows["cnn"]["options"]}
    assert (options["vividness"]["min"], options["vividness"]["max"]) == (0, 4)
    assert options["hint_agreement"]["min"] == 0 and "max" not in options["hint_agreement"]
    assert "min" not in options["model"]
    diffusion = {o["name"]: o for o in rows["diffusion"]["options"]}
    assert diffusion["scheduler"]["choices"] == ("ddim", "unipc", "dpm++")


def test_colorize_option_spec_reads_yes_no_text():
    from polychrome.options import OptionSpec

    spec = OptionSpec("flag", bool, False, "", None, None, None, None)
    assert spec.convert("false") is False and spec.convert("Yes") is True
    assert spec.convert(True) is True
    with pytest.raises(ValueCheckError, match="--flag must be bool"):
        spec.convert("maybe")


def test_options_that_name_files_are_marked_so_the_service_refuses_them():
    """The HTTP service refuses engine options marked ``files`` (server paths, models): every
    option whose help speaks of paths, folders, hub ids or pools must be marked."""
    import dataclasses
    import re

    from polychrome.engines.base import ENGINES, load_engine

    for name in ENGINES:
        try:
            options = load_engine(name).Options
        except Exception:  # an engine whose extra is missing here
            continue
        for f in dataclasses.fields(options):
            speaks = re.search(
                r"\b(path|paths|folder|hub id|pool|\.npz|image of)\b", f.metadata["help"], re.I
            )
            assert bool(f.metadata.get("files")) == bool(speaks), (name, f.name)


def test_cnn_model_is_loaded_once_by_threads_that_start_together(monkeypatch):
    """Threads that colorized at the same time each loaded the cnn model (8 threads of a
    script's pool: 8 sessions, the first call of each paying for the load)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import onnxruntime

    from polychrome.engines import cnn

    made = []
    real = onnxruntime.InferenceSession

    def counted(*args, **kwargs):
        made.append(1)
        time.sleep(0.2)  # a load long enough for every thread to ask before it ends
        return real(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counted)
    cnn._load_session.cache_clear()
    start = threading.Barrier(6)

    def session(_):
        start.wait()
        return cnn._session(str(cnn.WEIGHTS))

    try:
        with ThreadPoolExecutor(6) as pool:
            sessions = list(pool.map(session, range(6)))
    finally:
        cnn._load_session.cache_clear()
    assert len(made) == 1
    assert all(s is sessions[0] for s in sessions)
