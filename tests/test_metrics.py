"""Tests of polychrome.ops.metrics against scikit-image (test-only dependency) and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data as skdata
from skimage import metrics as skmetrics

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.ops.metrics import ciede2000, colorfulness, deltae_image, psnr, ssim

# Sharma, Wu, Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data and mathematical observations", Table 1: L1, a1, b1, L2, a2, b2, dE00.
SHARMA_PAIRS = np.array(
    [
        (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),  # 1
        (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),  # 2
        (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),  # 3
        (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),  # 4
        (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),  # 5
        (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),  # 6
        (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),  # 7
        (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),  # 8
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),  # 9
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),  # 10
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),  # 11
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),  # 12
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),  # 13
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),  # 14
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),  # 15
        (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),  # 16
        (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),  # 17
        (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),  # 18
        (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),  # 19
        (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),  # 20
        (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),  # 21
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),  # 22
        (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),  # 23
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),  # 24
        (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),  # 25
        (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),  # 26
        (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),  # 27
        (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),  # 28
        (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),  # 29
        (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),  # 30
        (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),  # 31
        (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),  # 32
        (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),  # 33
        (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),  # 34
    ]
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[::2, ::2] / 255.0  # (256, 256, 3) float64


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return skdata.coffee()[::2, ::2] / 255.0  # (200, 300, 3) float64


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0.0, 1.0)


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    return skmetrics.structural_similarity(
        a,
        b,
        data_range=data_range,
        channel_axis=-1 if a.ndim == 3 else None,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


def _random_lab(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.uniform(0, 100, n), rng.uniform(-128, 127, n), rng.uniform(-128, 127, n)], axis=-1
    )


# ---------------------------------------------------------------------------------------- psnr


def test_psnr_matches_skimage_on_photos(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    for image in (astronaut, coffee):
        noisy = _noisy(image, 0.05)
        expected = skmetrics.peak_signal_noise_ratio(image, noisy, data_range=1.0)
        assert psnr(noisy, image) == pytest.approx(expected, abs=1e-9)


def test_psnr_matches_skimage_on_uint8() -> None:
    camera = skdata.camera()
    rng = np.random.default_rng(3)
    noisy = np.clip(camera + rng.normal(0, 20, camera.shape), 0, 255).astype(np.uint8)
    expected = skmetrics.peak_signal_noise_ratio(camera, noisy, data_range=255)
    assert psnr(noisy, camera, data_range=255) == pytest.approx(expected, abs=1e-9)


def test_psnr_known_values() -> None:
    zeros = np.zeros((8, 8))
    assert psnr(zeros, zeros) == math.inf
    assert psnr(zeros + 0.1, zeros) == pytest.approx(20.0)
    assert psnr(zeros + 0.01, zeros) == pytest.approx(40.0)
    # uint8 differences must not wrap around: 0 vs 255 is the largest error, 0 dB.
    black = np.zeros((4, 4), np.uint8)
    white = np.full((4, 4), 255, np.uint8)
    assert psnr(black, white, data_range=255) == pytest.approx(0.0)
    assert psnr(white, black, data_range=255) == pytest.approx(0.0)


def test_psnr_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(4, 4\).*\(4, 5\)"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueCheckError):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), data_range=0)
    with pytest.raises(ValueCheckError):
        psnr(np.zeros((0, 4)), np.zeros((0, 4)))


# ---------------------------------------------------------------------------------------- ssim


def test_ssim_matches_skimage_on_photos(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    for image in (astronaut, coffee):
        for sigma in (0.02, 0.2):
            noisy = _noisy(image, sigma)
            assert ssim(noisy, image) == pytest.approx(_sk_ssim(noisy, image), abs=1e-6)
        gray = image.mean(axis=-1)
        blurred = (gray + np.roll(gray, 1, axis=0) + np.roll(gray, 1, axis=1)) / 3
        assert ssim(blurred, gray) == pytest.approx(_sk_ssim(blurred, gray), abs=1e-6)


def test_ssim_matches_skimage_on_random_and_odd_shapes() -> None:
    rng = np.random.default_rng(7)
    for shape in [(11, 11), (13, 29), (40, 17, 1), (32, 32, 2), (24, 20, 5)]:
        a = rng.random(shape)
        b = np.clip(a + rng.normal(0, 0.3, shape), 0, 1)
        assert ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-6), shape


def test_ssim_matches_skimage_on_uint8_and_float32(astronaut: np.ndarray) -> None:
    a8 = (astronaut * 255).round().astype(np.uint8)
    b8 = (_noisy(astronaut, 0.1) * 255).round().astype(np.uint8)
    assert ssim(a8, b8, data_range=255) == pytest.approx(_sk_ssim(a8, b8, 255), abs=1e-6)
    a32 = astronaut.astype(np.float32)
    b32 = _noisy(astronaut, 0.1).astype(np.float32)
    assert ssim(a32, b32) == pytest.approx(_sk_ssim(a32, b32), abs=1e-4)


def test_ssim_known_values(astronaut: np.ndarray) -> None:
    assert ssim(astronaut, astronaut) == pytest.approx(1.0, abs=1e-12)
    gray = astronaut[..., 0]
    assert ssim(gray, 1.0 - gray) < 0  # inverted contrast
    noisy = _noisy(astronaut, 0.1)
    assert ssim(noisy, astronaut) == pytest.approx(ssim(astronaut, noisy), abs=1e-12)
    assert ssim(_noisy(astronaut, 0.02), astronaut) > ssim(noisy, astronaut)


def test_ssim_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(16, 16\).*\(16, 17\)"):
        ssim(np.zeros((16, 16)), np.zeros((16, 17)))
    with pytest.raises(ShapeError, match=r"\(16,\)"):
        ssim(np.zeros(16), np.zeros(16))
    with pytest.raises(ShapeError):
        ssim(np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 16, 3)))
    for shape in [(6, 6), (6, 32), (32, 10, 3)]:
        with pytest.raises(ValueCheckError, match="at least"):
            ssim(np.zeros(shape), np.zeros(shape))
    with pytest.raises(ValueCheckError):
        ssim(np.zeros((16, 16)), np.zeros((16, 16)), data_range=-1)


# ----------------------------------------------------------------------------------- ciede2000


def test_ciede2000_sharma_table() -> None:
    lab1, lab2, expected = SHARMA_PAIRS[:, :3], SHARMA_PAIRS[:, 3:6], SHARMA_PAIRS[:, 6]
    result = ciede2000(lab1, lab2)
    assert result.shape == (34,)
    # Published values have 4 decimals.
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(result, skcolor.deltaE_ciede2000(lab1, lab2), rtol=0, atol=1e-8)
    # The table is symmetric.
    np.testing.assert_allclose(ciede2000(lab2, lab1), expected, rtol=0, atol=1e-4)


def test_ciede2000_spot_values() -> None:
    assert float(ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485])) == pytest.approx(
        2.0425, abs=1e-4
    )
    assert float(ciede2000([50, 2.5, 0], [73, 25, -18])) == pytest.approx(27.1492, abs=1e-4)
    assert float(ciede2000([2.0776, 0.0795, -1.135], [0.9033, -0.0636, -0.5514])) == (
        pytest.approx(0.9082, abs=1e-4)
    )


def test_ciede2000_matches_skimage_on_random_lab() -> None:
    lab1 = _random_lab(20_000, seed=1).reshape(100, 200, 3)
    lab2 = _random_lab(20_000, seed=2).reshape(100, 200, 3)
    result = ciede2000(lab1, lab2)
    assert result.shape == (100, 200)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, skcolor.deltaE_ciede2000(lab1, lab2), rtol=0, atol=1e-8)
    # Near pairs (small differences, where the hue terms matter most) and neutral colors.
    near = lab1 + np.random.default_rng(3).normal(0, 1.0, lab1.shape)
    np.testing.assert_allclose(
        ciede2000(lab1, near), skcolor.deltaE_ciede2000(lab1, near), rtol=0, atol=1e-8
    )
    gray = lab1.copy()
    gray[..., 1:] = 0.0
    np.testing.assert_allclose(
        ciede2000(gray, lab2), skcolor.deltaE_ciede2000(gray, lab2), rtol=0, atol=1e-8
    )


def test_ciede2000_weights_match_skimage() -> None:
    lab1, lab2 = _random_lab(2000, seed=4), _random_lab(2000, seed=5)
    expected = skcolor.deltaE_ciede2000(lab1, lab2, kL=2.0, kC=0.5, kH=3.0)
    np.testing.assert_allclose(
        ciede2000(lab1, lab2, kL=2.0, kC=0.5, kH=3.0), expected, rtol=0, atol=1e-8
    )


def test_ciede2000_properties() -> None:
    lab1, lab2 = _random_lab(5000, seed=6), _random_lab(5000, seed=7)
    np.testing.assert_allclose(ciede2000(lab1, lab2), ciede2000(lab2, lab1), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ciede2000(lab1, lab1), 0.0)
    assert np.all(ciede2000(lab1, lab2) >= 0)
    # Broadcasting one color against many.
    one = np.array([60.0, 10.0, -20.0])
    np.testing.assert_allclose(
        ciede2000(lab1, one), ciede2000(lab1, np.tile(one, (5000, 1))), rtol=0, atol=0
    )
    assert ciede2000(np.zeros((2, 1, 3)), np.zeros((5, 3))).shape == (2, 5)
    assert ciede2000([50.0, 0.0, 0.0], [60.0, 0.0, 0.0]).shape == ()
    # Integer input is accepted.
    assert float(ciede2000(np.array([50, 0, 0]), np.array([60, 0, 0]))) > 0


def test_ciede2000_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(4, 2\)"):
        ciede2000(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"\(4, 3\).*\(5, 3\)"):
        ciede2000(np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueCheckError):
        ciede2000(np.zeros(3), np.zeros(3), kL=0)


# -------------------------------------------------------------------------------- colorfulness


def test_colorfulness_gray_is_zero(coffee: np.ndarray) -> None:
    assert colorfulness(np.full((8, 8, 3), 0.3)) == 0.0
    gray = np.repeat(coffee.mean(axis=-1, keepdims=True), 3, axis=-1)
    assert colorfulness(gray) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_known_values() -> None:
    # Red/green checkerboard on 0..255: rg = +-255 (std 255, mean 0), yb = 127.5 (std 0).
    checker = np.indices((8, 8)).sum(axis=0) % 2 == 0
    board = np.where(checker[..., None], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    assert colorfulness(board) == pytest.approx(255.0 + 0.3 * 127.5)
    # Uniform pure red: only the mean term, 0.3 * |(255, 127.5)|.
    red = np.tile([1.0, 0.0, 0.0], (4, 4, 1))
    assert colorfulness(red) == pytest.approx(0.3 * math.hypot(255.0, 127.5))


def test_colorfulness_orders_photos(coffee: np.ndarray) -> None:
    gray = coffee.mean(axis=-1, keepdims=True)
    half = gray + 0.5 * (coffee - gray)
    full = colorfulness(coffee)
    assert 10.0 < full < 200.0
    assert colorfulness(half) == pytest.approx(0.5 * full)  # M is linear in chroma


def test_colorfulness_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(8, 8, 4\)"):
        colorfulness(np.zeros((8, 8, 4)))
    with pytest.raises(ValueCheckError, match="255"):
        colorfulness(np.full((8, 8, 3), 200.0))
    with pytest.raises(ValueCheckError):
        colorfulness(np.zeros((0, 8, 3)))


# -------------------------------------------------------------------------------- deltae_image


def test_deltae_image_matches_skimage(coffee: np.ndarray, astronaut: np.ndarray) -> None:
    for image in (coffee, astronaut):
        noisy = _noisy(image, 0.05)
        expected = skcolor.deltaE_ciede2000(skcolor.rgb2lab(image), skcolor.rgb2lab(noisy)).mean()
        assert deltae_image(image, noisy) == pytest.approx(expected, abs=1e-4)


def test_deltae_image_known_values(coffee: np.ndarray) -> None:
    assert deltae_image(coffee, coffee) == 0.0
    gray = np.repeat(coffee.mean(axis=-1, keepdims=True), 3, axis=-1)
    assert deltae_image(coffee, gray) > deltae_image(coffee, _noisy(coffee, 0.01))


def test_deltae_image_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(4, 4, 3\).*\(4, 5, 3\)"):
        deltae_image(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ShapeError, match=r"\(4, 4\)"):
        deltae_image(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueCheckError):
        deltae_image(np.full((4, 4, 3), 255.0), np.zeros((4, 4, 3)))


# ------------------------------------------------------------------------------------- purity


def test_inputs_not_mutated(astronaut: np.ndarray) -> None:
    a = astronaut.copy()
    b = _noisy(astronaut, 0.1)
    a0, b0 = a.copy(), b.copy()
    lab1, lab2 = _random_lab(100, 8), _random_lab(100, 9)
    lab1_0, lab2_0 = lab1.copy(), lab2.copy()
    psnr(a, b)
    ssim(a, b)
    colorfulness(a)
    deltae_image(a, b)
    ciede2000(lab1, lab2)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(lab1, lab1_0)
    np.testing.assert_array_equal(lab2, lab2_0)
