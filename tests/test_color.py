"""ops.color: conversions against scikit-image, round trips, and gamut handling."""

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data as skdata

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.ops import color as C


@pytest.fixture(scope="module")
def random_rgb():
    return np.random.default_rng(0).random((64, 48, 3)).astype(np.float32)


def test_rgb_to_lab_matches_skimage(random_rgb):
    ours = C.rgb_to_lab(random_rgb)
    ref = skcolor.rgb2lab(random_rgb.astype(np.float64))
    assert np.abs(ours - ref).max() < 2e-3


def test_rgb_to_lab_matches_skimage_on_a_photo():
    rgb = skdata.astronaut() / 255.0
    assert np.abs(C.rgb_to_lab(rgb) - skcolor.rgb2lab(rgb)).max() < 2e-3


def test_lab_to_rgb_matches_skimage_inside_gamut(random_rgb):
    lab = skcolor.rgb2lab(random_rgb.astype(np.float64))
    assert np.abs(C.lab_to_rgb(lab) - skcolor.lab2rgb(lab)).max() < 1e-4
    # The fast path's table gamut map keeps chroma reachable from gray; a few colors near the
    # yellow cusp, cut off from gray by the gamut's non-convexity in Lab, lose chroma.
    err = np.abs(C.lab_to_rgb(lab, precise=False) - random_rgb)
    assert err.mean() < 1e-4
    assert np.percentile(err, 99.5) < 1e-3


def test_round_trip(random_rgb):
    assert np.abs(C.lab_to_rgb(C.rgb_to_lab(random_rgb)) - random_rgb).max() < 1e-4


def test_known_values():
    assert np.allclose(C.rgb_to_lab(np.array([1.0, 1.0, 1.0])), [100, 0, 0], atol=1e-2)
    assert np.allclose(C.rgb_to_lab(np.array([0.0, 0.0, 0.0])), [0, 0, 0], atol=1e-3)
    assert np.allclose(C.rgb_to_lab(np.array([1.0, 0.0, 0.0])), [53.24, 80.09, 67.20], atol=0.02)


@pytest.mark.parametrize("method", ["exact", "table"])
def test_gamut_map_keeps_lightness_and_hue(method):
    rng = np.random.default_rng(1)
    lab = np.stack(
        [rng.uniform(1, 99, 5000), rng.uniform(-120, 120, 5000), rng.uniform(-120, 120, 5000)],
        axis=1,
    ).astype(np.float32)
    mapped = C.gamut_map(lab, method=method)
    # lightness kept exactly, hue kept, chroma never increased
    assert np.array_equal(mapped[:, 0], lab[:, 0])
    chroma_in = np.hypot(lab[:, 1], lab[:, 2])
    chroma_out = np.hypot(mapped[:, 1], mapped[:, 2])
    assert np.all(chroma_out <= chroma_in + 1e-3)
    moved = chroma_out > 1
    hue_in = np.arctan2(lab[moved, 2], lab[moved, 1])
    hue_out = np.arctan2(mapped[moved, 2], mapped[moved, 1])
    assert np.abs(np.angle(np.exp(1j * (hue_in - hue_out)))).max() < 1e-3
    # and the result is (nearly) inside: rendering it changes L* by little
    rgb = C.lab_to_rgb(mapped, gamut="clip")
    assert np.abs(C.rgb_to_lab(rgb)[:, 0] - lab[:, 0]).max() < (0.05 if method == "exact" else 0.2)


def test_gamut_map_exact_is_maximal():
    lab = np.array([[50.0, 100.0, -100.0], [60.0, -90.0, 80.0], [30.0, 10.0, -90.0]], np.float32)
    mapped = C.gamut_map(lab)
    assert C.ab_in_gamut(mapped).all()
    slightly_more = mapped.copy()
    slightly_more[:, 1:] *= 1.01
    assert not C.ab_in_gamut(slightly_more, tol=0).any()


def test_gamut_map_stops_at_first_exit_near_the_yellow_cusp():
    # Along this ray of constant L* and hue, the gamut is left at chroma ~42 and re-entered
    # near ~90: the mapped color must be the first exit, reachable from gray.
    hue = np.deg2rad(103.8)
    lab = np.array([[96.8, 150 * np.cos(hue), 150 * np.sin(hue)]], np.float32)
    chroma = float(np.hypot(*C.gamut_map(lab)[0, 1:]))
    assert 35 < chroma < 50
    # The table interpolates across that discontinuity; its promise is only that rendering the
    # result keeps L* (the final RGB clip absorbs what lies outside).
    rendered = C.lab_to_rgb(C.gamut_map(lab, method="table"), gamut="clip")
    assert abs(float(C.rgb_to_lab(rendered)[0, 0]) - 96.8) < 0.2


def test_in_gamut_colors_are_unchanged(random_rgb):
    lab = C.rgb_to_lab(random_rgb)
    assert np.allclose(C.gamut_map(lab), lab, atol=1e-3)


def test_reduce_chroma_matches_table_method():
    rng = np.random.default_rng(2)
    lum = rng.uniform(0, 100, (30, 40)).astype(np.float32)
    a = rng.uniform(-100, 100, (30, 40)).astype(np.float32)
    b = rng.uniform(-100, 100, (30, 40)).astype(np.float32)
    ra, rb = C.reduce_chroma(lum, a, b)
    ref = C.gamut_map(np.dstack([lum, a, b]), method="table")
    assert np.allclose(ra, ref[..., 1], atol=1e-3) and np.allclose(rb, ref[..., 2], atol=1e-3)


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_luminance_of_integer_images(dtype, scale):
    rng = np.random.default_rng(3)
    rgb = (rng.random((20, 30, 3)) * scale).astype(dtype)
    ref = skcolor.rgb2lab(rgb / scale)[..., 0]
    assert np.abs(C.luminance_of(rgb) - ref).max() < 2e-3
    gray = rgb[..., 0]
    ref_gray = skcolor.rgb2lab(np.repeat(gray[..., None] / scale, 3, axis=2))[..., 0]
    assert np.abs(C.luminance_of(gray) - ref_gray).max() < 2e-3


def test_inputs_not_mutated(random_rgb):
    copy = random_rgb.copy()
    lab = C.rgb_to_lab(random_rgb)
    lab_copy = lab.copy()
    C.lab_to_rgb(lab)
    C.gamut_map(lab, method="table")
    assert np.array_equal(random_rgb, copy) and np.array_equal(lab, lab_copy)


def test_shape_and_value_errors():
    with pytest.raises(ShapeError, match=r"\(\.\.\., 3\)"):
        C.rgb_to_lab(np.zeros((4, 4, 2)))
    with pytest.raises(ValueCheckError):
        C.lab_to_rgb(np.zeros((2, 3)), gamut="nope")
    with pytest.raises(ShapeError):
        C.luminance_of(np.zeros((4, 4, 5), np.uint8))


def test_shipped_gamut_table_is_current():
    assert np.array_equal(C.max_chroma_table(), C.compute_max_chroma_table())


def test_exact_gamut_map_refines_the_table_estimate(monkeypatch):
    # The exit along each ray is found from the table's bracket by regula falsi: a handful of
    # evaluations per color (a scan from gray took 30), and the same first exit as the scan.
    rng = np.random.default_rng(4)
    n = 20000
    lab = np.stack(
        [rng.uniform(0, 100, n), rng.uniform(-120, 120, n), rng.uniform(-120, 120, n)], axis=1
    ).astype(np.float32)
    lab = lab[~C.ab_in_gamut(lab, tol=0)]
    evaluated = []
    excess = C._excess
    monkeypatch.setattr(C, "_excess", lambda *a: evaluated.append(len(a[-1])) or excess(*a))
    scale = C._exit_scale(lab)
    assert sum(evaluated) / len(lab) < 12

    def inside(t):
        return C._inside(np.concatenate([lab[:, :1], lab[:, 1:] * t[:, None]], axis=1))

    assert np.abs(scale - C._first_exit(inside, len(lab), 1.0)).max() < 2**-17


def test_precise_lab_to_rgb_works_in_blocks(monkeypatch):
    # A 16-bit result's conversion holds one block's temporaries beside its output, not
    # several copies of the image (a 50 MP result took 5 GB).
    import tracemalloc

    monkeypatch.setattr(C, "_BLOCK", 4096, raising=False)
    rng = np.random.default_rng(5)
    lab = np.dstack([rng.uniform(0, 100, (500, 500)), rng.normal(0, 40, (500, 500, 2))]).astype(
        np.float32
    )
    tracemalloc.start()
    rgb = C.lab_to_rgb(lab)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rgb.shape == lab.shape and rgb.dtype == np.float32
    assert peak < 1.5 * rgb.nbytes
    monkeypatch.setattr(C, "_BLOCK", 1 << 30, raising=False)
    assert np.allclose(rgb, C.lab_to_rgb(lab), rtol=0, atol=1e-6)  # blocks change nothing
