"""colorize(): luminance kept, alpha carried, metadata, paths, determinism, errors."""

import numpy as np
import pytest
from skimage import data

from polychrome.errors import ImageTooLargeError, ShapeError, UnknownEngineError, ValueCheckError
from polychrome.guidance.hints import Guidance, Instance, PointHints
from polychrome.guidance.palette import parse_color
from polychrome.io import read_image, read_metadata
from polychrome.ops.color import luminance_of, rgb_to_lab
from polychrome.pipeline import colorize


def vivid_hints(rgb: np.ndarray, n: int, seed: int = 0) -> Guidance:
    """n points whose colors are the original's, made more saturated (to exercise the gamut)."""
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    yx = np.stack([rng.integers(0, h, n), rng.integers(0, w, n)], 1)
    hints = PointHints.from_rgb(yx, rgb[yx[:, 0], yx[:, 1]] / 255.0)
    return Guidance(points=(PointHints(hints.yx, hints.ab * 2.5, hints.weight),))


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()[::2, ::2].copy()  # 256 x 256 RGB uint8


def test_luminance_kept_8bit(astronaut):
    gray = np.round(luminance_of(astronaut) * 2.55).astype(np.uint8)  # any gray image
    result = colorize(gray, guidance=vivid_hints(astronaut, 200))
    assert result.image.dtype == np.uint8 and result.image.shape == (*gray.shape, 3)
    assert np.abs(luminance_of(result.image) - luminance_of(gray)).max() <= 1.0
    assert np.hypot(*rgb_to_lab(result.image / 255.0)[..., 1:].transpose(2, 0, 1)).mean() > 10


@pytest.mark.parametrize("method", ["exact", "fast"])
def test_luminance_kept_16bit(astronaut, method):
    lum = luminance_of(astronaut)
    gray16 = np.clip(np.round(lum / 100 * 65535), 0, 65535).astype(np.uint16)
    result = colorize(
        gray16, guidance=vivid_hints(astronaut, 200), method=method, working_pixels=10_000
    )
    assert result.image.dtype == np.uint16
    assert np.abs(luminance_of(result.image) - luminance_of(gray16)).max() <= 0.1


def test_fast_path_keeps_luminance_and_is_close_to_exact(astronaut):
    gray = astronaut.mean(axis=2).astype(np.uint8)
    g = vivid_hints(astronaut, 300)
    exact = colorize(gray, guidance=g, method="exact", engine="none")
    fast = colorize(gray, guidance=g, method="fast", working_pixels=16_384, engine="none")
    assert fast.metadata["path"] == "fast" and exact.metadata["path"] == "exact"
    assert fast.metadata["working_size"] == [128, 128]
    assert np.abs(luminance_of(fast.image) - luminance_of(gray)).max() <= 1.0
    mse = np.mean((fast.image.astype(float) - exact.image.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30


def test_exact_is_refused_above_its_size_and_its_memory_failure_is_typed(monkeypatch):
    import polychrome.pipeline as pipeline
    import polychrome.solve.propagate as propagate
    from polychrome.errors import ValueCheckError

    gray = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (48, 1)).astype(np.uint8)
    monkeypatch.setattr(pipeline, "EXACT_MAX_PIXELS", 1000)
    with pytest.raises(ValueCheckError, match="use method 'auto' or 'fast'"):
        colorize(gray, method="exact", engine="none")
    assert colorize(gray, method="fast", engine="none").image.shape == (48, 64, 3)
    monkeypatch.setattr(pipeline, "EXACT_MAX_PIXELS", 10_000)

    def no_memory(*args, **kwargs):
        raise RuntimeError("SUPERLU_MALLOC fails for buf in intMalloc()")

    monkeypatch.setattr(propagate.spl, "splu", no_memory)
    with pytest.raises(MemoryError, match=r"exact solve of \d+x\d+ pixels ran out of memory"):
        colorize(gray, method="exact", engine="none")


def test_alpha_is_carried():
    gray = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    alpha = np.tile(np.linspace(255, 0, 48, dtype=np.uint8)[:, None], (1, 64))
    rgba = np.dstack([gray, gray, gray, alpha])
    result = colorize(rgba)
    assert np.array_equal(result.alpha, alpha)


def test_region_fills_with_its_color_and_nothing_leaks(astronaut):
    gray = astronaut.mean(axis=2).astype(np.uint8)
    mask = np.zeros(gray.shape, bool)
    mask[60:200, 80:180] = True
    hints = vivid_hints(astronaut, 50)
    hints = Guidance(
        points=(
            PointHints(
                *(
                    getattr(hints.points[0], k)[~mask[tuple(hints.points[0].yx.T)]]
                    for k in ("yx", "ab", "weight")
                )
            ),
        )
    )
    red = parse_color("red")
    region = Instance(mask, np.asarray(red.ab, np.float32), label="red")
    for method in ("exact", "fast"):
        kw = {"method": method, "working_pixels": 16_384}
        without = colorize(gray, guidance=hints, **kw)
        with_region = colorize(
            gray, guidance=Guidance(points=hints.points, instances=(region,)), **kw
        )
        assert np.array_equal(without.image[~mask], with_region.image[~mask]), method
        lab = rgb_to_lab(with_region.image[mask] / 255.0)
        mid = (lab[:, 0] > 25) & (lab[:, 0] < 75)
        hue = np.degrees(np.arctan2(lab[mid, 2], lab[mid, 1]))
        red_hue = np.degrees(np.arctan2(red.lab[2], red.lab[1]))
        assert np.abs(np.median(hue) - red_hue) < 10, method


def test_metadata_and_save(tmp_path, astronaut):
    result = colorize(astronaut.mean(axis=2).astype(np.uint8), seed=7)
    meta = result.metadata
    assert meta["engine"] == "cnn" and meta["seed"] == 7 and meta["options"]["seed"] == 7
    assert set(meta["timings"]) == {"prepare", "guidance", "priors", "solve", "upsample", "output"}
    result.save(tmp_path / "out.png")
    assert read_metadata(tmp_path / "out.png")["seed"] == 7
    assert np.array_equal(read_image(tmp_path / "out.png").pixels, result.image)


def test_deterministic_and_inputs_untouched(astronaut):
    gray = astronaut.mean(axis=2).astype(np.uint8)
    copy = gray.copy()
    g = vivid_hints(astronaut, 100)
    a = colorize(gray, guidance=g).image
    b = colorize(gray, guidance=g).image
    assert np.array_equal(a, b) and np.array_equal(gray, copy)


def test_color_input_is_recolored_from_its_luminance(astronaut):
    result = colorize(astronaut, engine="none")  # no hints, no engine: no chroma
    lab = rgb_to_lab(result.image / 255.0)
    assert np.abs(lab[..., 1:]).max() < 1.5
    assert np.abs(lab[..., 0] - luminance_of(astronaut)).max() <= 1.0


def test_bad_arguments():
    gray = np.zeros((20, 20), np.uint8)
    with pytest.raises(UnknownEngineError, match="known engines"):
        colorize(gray, engine="nope")
    with pytest.raises(ValueCheckError, match="unknown option"):
        colorize(gray, sharpness=3)
    with pytest.raises(ValueCheckError, match="--method"):
        colorize(gray, method="quick")
    with pytest.raises(ImageTooLargeError, match="max_pixels"):  # as a file over the limit
        colorize(gray, max_pixels=100)
    with pytest.raises(ValueCheckError, match=r"\[0, 1\]"):
        colorize(np.full((8, 8), 2.0))


@pytest.mark.parametrize("image", [None, 3, 2.5, {"a": 1}, [[0, 1], [2]]])
def test_non_images_are_refused_by_their_type(image):
    """None or a number was refused as 'image must be (H, W) ... got ()', a ragged list with
    numpy's bare ValueError."""
    with pytest.raises(ValueCheckError, match=f"image must be a path.*got {type(image).__name__}"):
        colorize(image, engine="none")


def test_encoded_image_as_memoryview(tmp_path):
    """A memoryview of a PNG file was read as a 1-D array of its bytes (a ShapeError)."""
    from polychrome.samples import sample_path

    data = sample_path("coffee-gray.png").read_bytes()
    result = colorize(memoryview(data), engine="none")
    assert np.array_equal(result.image, colorize(data, engine="none").image)


def test_float_image_out_of_range_says_what_it_holds():
    """The refusal of a float image in 0..255 did not say what was wrong with it."""
    with pytest.raises(ValueCheckError, match=r"got values in \[0, 255\]; divide 8-bit values"):
        colorize(np.linspace(0, 255, 64, dtype=np.float32).reshape(8, 8), engine="none")
    with pytest.raises(ValueCheckError, match="got NaN or inf"):
        colorize(np.full((8, 8), np.nan, np.float32), engine="none")


def test_engine_options_not_a_mapping():
    """engine_options=[...] failed with a bare TypeError or ValueError from dict()."""
    with pytest.raises(ValueCheckError, match="engine_options must be a mapping, got list"):
        colorize(np.zeros((8, 8), np.uint8), engine="none", engine_options=["hints"])


def test_bad_colors_are_refused_where_guidance_is_made():
    """A NaN color used to whiten its region (luminance lost) or surface later as a
    misleading 'out of memory'; 8-bit values where [0, 1] is meant gave a*, b* in the thousands."""
    from polychrome.errors import ValueCheckError
    from polychrome.guidance.hints import Instance, PointHints

    mask = np.ones((4, 4), bool)
    for ab in ([np.nan, 0.0], [np.inf, 0.0], [500.0, 0.0]):
        with pytest.raises(ValueCheckError, match="finite"):
            Instance(mask, np.array(ab), label="x")
    for rgb in ([[np.nan, 0, 0]], [[255, 0, 0]]):
        with pytest.raises(ValueCheckError, match=r"\[0, 1\]"):
            PointHints.from_rgb([[1, 1]], rgb)
    with pytest.raises(ValueCheckError, match="weights"):
        PointHints(
            np.zeros((1, 2), np.int32), np.zeros((1, 2), np.float32), np.zeros(1, np.float32)
        )
    assert len(PointHints.from_rgb([[1, 1]], [[1.0, 0.2, 0.2]])) == 1


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_empty_arrays_are_a_shape_error(shape, dtype):
    """An image without pixels failed deep inside OpenCV (or numpy's min, for floats)."""
    with pytest.raises(ShapeError, match="at least one pixel"):
        colorize(np.zeros(shape, dtype), engine="none")


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 600), (600, 1)])
def test_tiny_and_thin_images(shape):
    gray = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    hint = PointHints.from_rgb([[shape[0] - 1, shape[1] - 1]], [[0.9, 0.2, 0.1]])
    result = colorize(gray, guidance=Guidance(points=(hint,)), engine="none")
    assert result.image.shape == (*shape, 3)
    assert np.abs(luminance_of(result.image) - luminance_of(gray)).max() <= 1.0


def test_options_as_dataclass_dict_or_keywords():
    """options={...} raised AttributeError; an unknown keyword next to options= a TypeError."""
    from polychrome.options import ColorizeOptions

    gray = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))
    as_keywords = colorize(gray, engine="none", method="fast", seed=4)
    as_dict = colorize(gray, options={"engine": "none", "method": "fast", "seed": 4})
    as_class = colorize(gray, options=ColorizeOptions(engine="none", method="fast", seed=4))
    mixed = colorize(gray, options={"engine": "none", "method": "exact"}, method="fast", seed=4)
    for result in (as_dict, as_class, mixed):
        assert result.metadata["options"] == as_keywords.metadata["options"]
        assert np.array_equal(result.image, as_keywords.image)
    kept = colorize(gray, options={"engine": "none", "seed": 4}, seed=None)
    assert kept.metadata["seed"] == 4
    with pytest.raises(ValueCheckError, match=r"unknown option.*sharpness"):
        colorize(gray, options=ColorizeOptions(engine="none"), sharpness=3)
    with pytest.raises(ValueCheckError, match=r"unknown option.*sharpness"):
        colorize(gray, options={"engine": "none", "sharpness": 3})
    with pytest.raises(ValueCheckError, match="--seed must be an integer"):
        colorize(gray, options=ColorizeOptions(engine="none"), seed=1.5)
    with pytest.raises(ValueCheckError, match="options must be a ColorizeOptions or a mapping"):
        colorize(gray, options=["none"])


def test_guidance_is_checked_and_kept_as_tuples():
    """Guidance(points=<generator>) lost its hints silently (the bounds check used the
    generator up); a single PointHints, or a list in its place, failed as TypeError or
    AttributeError deep inside colorize."""
    gray = np.full((12, 16), 128, np.uint8)

    def red_hint():
        return PointHints.from_rgb([[5, 5]], [[1.0, 0.0, 0.0]])

    from_generator = Guidance(points=(h for h in [red_hint()]))
    assert isinstance(from_generator.points, tuple) and len(from_generator.points) == 1
    result = colorize(gray, guidance=from_generator, engine="none")
    assert result.image[5, 5, 0] > result.image[5, 5, 2] + 50
    with pytest.raises(ValueCheckError, match=r"points=\(item,\)"):
        Guidance(points=red_hint())
    with pytest.raises(ValueCheckError, match="must hold PointHints"):
        Guidance(points=([[5, 5]],))
    with pytest.raises(ValueCheckError, match="sequence of Instance"):
        Guidance(instances=3)


def test_hints_from_plain_python_values_or_typed_errors():
    hints = PointHints([[1, 2], [3.7, 0.2]], [[10, 10], [0, 5]], [1.0, 0.5])
    assert hints.yx.dtype == np.int32 and hints.yx.tolist() == [[1, 2], [3, 0]]
    assert hints.ab.dtype == np.float32 and hints.weight.dtype == np.float32
    with pytest.raises(ShapeError, match="outside any image"):
        PointHints.from_rgb([[2**40, 1]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueCheckError, match="finite"):
        PointHints([[np.nan, 1]], [[0, 0]], [1.0])
    for yx, rgb, weight in (
        ([[1, 1]], [[1.0, 0.0, 0.0, 1.0]], 1.0),  # RGBA
        ([1, 1, 1], [[1.0, 0.0, 0.0]], 1.0),
        ([[1, 1]], [[1.0, 0.0, 0.0]], [0.5, 0.5]),  # two weights, one hint
    ):
        with pytest.raises(ShapeError):
            PointHints.from_rgb(yx, rgb, weight=weight)
    with pytest.raises(ValueCheckError, match="must be numbers"):
        PointHints.from_rgb([["a", "b"]], [[1.0, 0.0, 0.0]])
    mask = [[True, False], [False, False]]
    region = Instance(mask, [20, 30], label="x")
    assert region.mask.dtype == bool and region.ab.dtype == np.float32
    with pytest.raises(ValueCheckError, match="mask > 0"):
        Instance(np.uint8(mask), [20, 30], label="x")
    with pytest.raises(ValueCheckError, match="strength"):
        Instance(mask, [20, 30], label="x", strength="1")
    with pytest.raises(ValueCheckError, match="must be numbers"):
        Instance(mask, "red", label="x")


def test_guidance_and_solver_arguments_are_typed():
    """guidance={...} or solver={...} failed with AttributeError deep inside colorize."""
    from polychrome.solve.propagate import SolveSettings

    gray = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))
    g = Guidance(points=(PointHints.from_rgb([[3, 3]], [[0.9, 0.2, 0.1]]),))
    by_class = colorize(gray, guidance=g, engine="none", solver=SolveSettings(edge_scale=2.0))
    by_dict = colorize(gray, guidance=g, engine="none", solver={"edge_scale": 2.0})
    assert np.array_equal(by_class.image, by_dict.image)
    assert not np.array_equal(by_dict.image, colorize(gray, guidance=g, engine="none").image)
    with pytest.raises(ValueCheckError, match=r"unknown solver setting.*sharpness"):
        colorize(gray, engine="none", solver={"sharpness": 1.0})
    with pytest.raises(ValueCheckError, match="solver must be a SolveSettings"):
        colorize(gray, engine="none", solver=2.0)
    with pytest.raises(ValueCheckError, match="guidance must be a Guidance"):
        colorize(gray, engine="none", guidance={"points": []})


def test_big_endian_arrays_are_read_by_value():
    """A big-endian uint16 array (as FITS readers give) was refused as dtype '>u2'."""
    gray = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (12, 1))
    big = gray.astype(">u2")
    result = colorize(big, engine="none")
    assert result.image.dtype == np.uint16
    assert np.array_equal(result.image, colorize(gray, engine="none").image)


def test_pil_images_are_read_as_their_colors():
    """np.asarray of a PIL image read a palette image's indices as gray levels and a CMYK
    image's K channel as alpha; gray+alpha and 1-bit images were refused; EXIF orientation
    was ignored (a path to the same file is turned upright)."""
    import io

    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    base = Image.fromarray(rgb)
    for mode in ("P", "CMYK", "LA", "1", "YCbCr"):
        image = base.convert(mode)
        result = colorize(image, engine="none")
        expected = luminance_of(np.asarray(image.convert("RGB")))
        assert np.abs(luminance_of(result.image) - expected).max() <= 1.0, mode
        assert (result.alpha is not None) == (mode == "LA"), mode
    assert colorize(base.convert("I;16"), engine="none").image.dtype == np.uint16
    with pytest.raises(ValueCheckError, match="mode 'F'"):
        colorize(base.convert("F"), engine="none")
    with pytest.raises(ImageTooLargeError):
        colorize(base, engine="none", max_pixels=100)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    encoded = io.BytesIO()
    base.save(encoded, "PNG", exif=exif)
    from_pil = colorize(Image.open(io.BytesIO(encoded.getvalue())), engine="none")
    from_bytes = colorize(bytearray(encoded.getvalue()), engine="none")
    assert from_pil.image.shape == from_bytes.image.shape == (16, 12, 3)
    assert np.array_equal(from_pil.image, from_bytes.image)


def test_working_resolution_of_a_thin_image_stays_within_working_pixels():
    """A side scaled below one pixel was kept at one and the other side scaled as if it
    had shrunk too: a 2 x 20,000 strip was worked at 6,400 pixels with working_pixels=4096
    (at 1 x 300,000, 35,054)."""
    gray = np.random.default_rng(0).integers(0, 256, (2, 20_000), dtype=np.uint8)
    result = colorize(gray, engine="none", method="fast", working_pixels=4096)
    assert result.metadata["working_size"] == [4096, 1]
    assert result.image.shape == (2, 20_000, 3)
    assert np.abs(luminance_of(result.image) - luminance_of(gray)).max() <= 1.0


def test_metadata_records_engine_options_as_read_and_saves(tmp_path):
    """The metadata kept engine_options as given: a numpy number made save() fail after the
    whole colorization ('not JSON serializable'), and text such as "2" was recorded as text."""
    gray = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))
    result = colorize(gray, engine_options={"vividness": np.float32(2), "temperature": "0.5"})
    assert result.metadata["engine_options"] == {"vividness": 2.0, "temperature": 0.5}
    result.save(tmp_path / "out.png")
    assert read_metadata(tmp_path / "out.png")["engine_options"]["vividness"] == 2.0


def test_samples_from_an_engine_that_does_not_sample_are_refused():
    """The none engine gives the same result every time: N samples would be N copies."""
    gray = np.tile(np.linspace(0, 255, 32), (16, 1)).astype(np.uint8)
    with pytest.raises(ValueCheckError, match="the none engine would give identical copies"):
        colorize(gray, engine="none", samples=2)
    assert len(colorize(gray, engine="none", samples=1).images) == 1


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_render_and_upsample_hold_no_image_sized_temporaries(monkeypatch, bit_depth):
    # Rendering works in strips of rows, and the guided upsampling brings one chroma channel's
    # coefficients to full resolution at a time: at 50 MP the peak went 2.41 -> 1.24 GB.
    import tracemalloc

    from polychrome import pipeline
    from polychrome.ops.filters import guided_upsample

    monkeypatch.setattr(pipeline, "_STRIP_PIXELS", 1 << 14)
    rng = np.random.default_rng(0)
    lum = rng.uniform(0, 100, (600, 800)).astype(np.float32)
    ab = rng.normal(0, 30, (600, 800, 2)).astype(np.float32)
    prepared = pipeline.Prepared(lum, lum, None, bit_depth)
    tracemalloc.start()
    rgb = pipeline.render(prepared, ab)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The result and one strip's temporaries (the whole image's took 12x the 8-bit result).
    assert peak < rgb.nbytes + 200 * (1 << 14)
    monkeypatch.setattr(pipeline, "_STRIP_PIXELS", 1 << 30)
    assert np.abs(pipeline.render(prepared, ab).astype(int) - rgb).max() <= 1

    low = lum[::4, ::4].copy()
    tracemalloc.start()
    up = guided_upsample(ab[::4, ::4].copy(), low, lum)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert up.shape == ab.shape
    assert peak < 2.5 * up.nbytes  # the result and one channel's coefficients (it was 3x)


def test_inputs_are_never_modified():
    """The README promises it: arrays of every kind, their alpha and a PIL image are as before."""
    import PIL.Image

    gray = np.tile(np.linspace(0, 255, 24, dtype=np.uint8), (16, 1))
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 200)])
    inputs = [gray, gray.astype(np.uint16) * 257, gray / np.float32(255), rgba, rgba / 255.0]
    hint = Guidance(points=(PointHints.from_rgb([[3, 4]], [[0.9, 0.2, 0.1]]),))
    for image in inputs:
        before = image.copy()
        result = colorize(image, guidance=hint)
        assert np.array_equal(image, before) and not np.shares_memory(result.image, image)
    pil = PIL.Image.fromarray(rgba)
    before = pil.tobytes()
    colorize(pil, engine="none")
    assert pil.tobytes() == before and pil.mode == "RGBA"
