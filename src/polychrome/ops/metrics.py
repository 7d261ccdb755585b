"""Image quality and color metrics: PSNR, SSIM, CIEDE2000, colorfulness.

Pure numpy / OpenCV, no scikit-image at run time; the results match scikit-image's
``peak_signal_noise_ratio``, ``structural_similarity`` (Gaussian-weighted, population covariance)
and ``deltaE_ciede2000`` (the tests check this). Computations run in float64 (except the float32
sRGB -> Lab step of :func:`deltae_image`, which is :func:`polychrome.ops.color.rgb_to_lab`) and
inputs are never modified.

Conventions (see :mod:`polychrome.ops.color`): ``rgb`` is gamma-encoded sRGB ``(..., 3)`` in
``[0, 1]``; ``lab`` is CIE Lab ``(..., 3)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.ops.color import rgb_to_lab

__all__ = [
    "SSIM_WIN_SIZE",
    "ciede2000",
    "colorfulness",
    "deltae_image",
    "psnr",
    "ssim",
]

# SSIM: Gaussian window of sigma 1.5 truncated at 3.5 sigma, i.e. 11 x 11 (as scikit-image).
_SSIM_SIGMA = 1.5
SSIM_WIN_SIZE = 11
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03

_25_POW_7 = 25.0**7
_COS_30, _SIN_30 = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
_COS_6, _SIN_6 = math.cos(math.radians(6.0)), math.sin(math.radians(6.0))
_COS_63, _SIN_63 = math.cos(math.radians(63.0)), math.sin(math.radians(63.0))
_RGB_TOLERANCE = 1e-6


def _check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}"
        )


def _check_last_axis(x: np.ndarray, n: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != n:
        raise ShapeError(f"{name} must have shape (..., {n}), got {x.shape}")


def _check_data_range(data_range: float) -> float:
    value = float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueCheckError(f"data_range must be a finite number > 0, got {data_range!r}")
    return value


def _check_numeric(x: np.ndarray, name: str) -> None:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueCheckError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if np.iscomplexobj(x):
        raise ValueCheckError(f"{name} must be real, got dtype {x.dtype}")


def _check_rgb_range(rgb: np.ndarray, name: str) -> None:
    if rgb.size and not (
        np.all(np.isfinite(rgb))
        and rgb.min() >= -_RGB_TOLERANCE
        and rgb.max() <= 1 + _RGB_TOLERANCE
    ):
        raise ValueCheckError(
            f"{name} must hold values in [0, 1], got range [{rgb.min()}, {rgb.max()}] "
            "(divide 8-bit images by 255)"
        )


def psnr(image: np.ndarray, reference: np.ndarray, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / MSE)``.

    Args:
        image: array of any shape, float or integer.
        reference: array of the same shape as ``image``.
        data_range: distance between the smallest and largest possible value, ``1.0`` for images in
            ``[0, 1]``, ``255`` for 8-bit images.

    Returns:
        PSNR in dB (a Python float); ``inf`` when the arrays are identical.

    Raises:
        ShapeError: the shapes differ.
        ValueCheckError: ``data_range`` is not > 0, or the arrays are empty or not numeric.

    >>> a = np.zeros((4, 4))
    >>> round(psnr(a + 0.1, a), 2)
    20.0
    >>> psnr(a, a)
    inf
    """
    image = np.asarray(image)
    reference = np.asarray(reference)
    _check_same_shape(image, reference, ("image", "reference"))
    _check_numeric(image, "image")
    _check_numeric(reference, "reference")
    if image.size == 0:
        raise ValueCheckError(f"image must not be empty, got shape {image.shape}")
    data_range = _check_data_range(data_range)

    diff = image.astype(np.float64) - reference.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _gaussian_blur(x: np.ndarray) -> np.ndarray:
    """Gaussian-filter ``(H, W)`` float64 (11 x 11 window, sigma 1.5, reflected border)."""
    ksize = (SSIM_WIN_SIZE, SSIM_WIN_SIZE)
    return cv2.GaussianBlur(
        x, ksize, _SSIM_SIGMA, sigmaY=_SSIM_SIGMA, borderType=cv2.BORDER_REFLECT
    )


def _ssim_channel(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> float:
    """Mean SSIM of two ``(H, W)`` float64 arrays, border of half a window left out."""
    mu_x = _gaussian_blur(x)
    mu_y = _gaussian_blur(y)
    e_xx = _gaussian_blur(x * x)
    e_yy = _gaussian_blur(y * y)
    e_xy = _gaussian_blur(x * y)
    pad = (SSIM_WIN_SIZE - 1) // 2
    inner = (slice(pad, x.shape[0] - pad), slice(pad, x.shape[1] - pad))
    mu_x, mu_y, e_xx, e_yy, e_xy = (a[inner] for a in (mu_x, mu_y, e_xx, e_yy, e_xy))

    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    mu_xy = mu_x * mu_y
    var_sum = (e_xx - mu_xx) + (e_yy - mu_yy)  # population variances
    cov_xy = e_xy - mu_xy
    numerator = (2.0 * mu_xy + c1) * (2.0 * cov_xy + c2)
    denominator = (mu_xx + mu_yy + c1) * (var_sum + c2)
    return float(np.mean(numerator / denominator))


def ssim(image: np.ndarray, reference: np.ndarray, *, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004), averaged over pixels and channels.

    Uses an 11 x 11 Gaussian window of sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03`` and population
    (not sample) covariances. As scikit-image does, a border of 5 pixels (half the window) is
    left out of the mean, so the result matches ``skimage.metrics.structural_similarity(image,
    reference, data_range=data_range, channel_axis=-1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, float or integer, with ``H, W >= 11``.
        reference: same shape as ``image``.
        data_range: distance between the smallest and largest possible value, ``1.0`` for images in
            ``[0, 1]``, ``255`` for 8-bit images.

    Returns:
        Mean SSIM (a Python float) in ``[-1, 1]``; ``1.0`` for identical images.

    Raises:
        ShapeError: the shapes differ, or are not ``(H, W)`` / ``(H, W, C)``.
        ValueCheckError: ``H`` or ``W`` is smaller than the 11-pixel window (the cropped area
            would be empty), ``data_range`` is not > 0, or the arrays are not numeric.

    >>> a = np.linspace(0, 1, 16 * 16).reshape(16, 16)
    >>> ssim(a, a)
    1.0
    >>> ssim(a, 1 - a) < 0
    True
    """
    image = np.asarray(image)
    reference = np.asarray(reference)
    _check_same_shape(image, reference, ("image", "reference"))
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] == 0):
        raise ShapeError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    _check_numeric(image, "image")
    _check_numeric(reference, "reference")
    height, width = image.shape[:2]
    if height < SSIM_WIN_SIZE or width < SSIM_WIN_SIZE:
        raise ValueCheckError(
            f"image must be at least {SSIM_WIN_SIZE} x {SSIM_WIN_SIZE} pixels (the SSIM window), "
            f"got shape {image.shape}"
        )
    data_range = _check_data_range(data_range)

    planes_x = image.reshape(height, width, -1)
    planes_y = reference.reshape(height, width, -1)
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    # Channel by channel: OpenCV filters a contiguous (H, W) float64 plane fastest.
    scores = [
        _ssim_channel(
            np.ascontiguousarray(planes_x[..., c], dtype=np.float64),
            np.ascontiguousarray(planes_y[..., c], dtype=np.float64),
            c1,
            c2,
        )
        for c in range(planes_x.shape[-1])
    ]
    return float(np.mean(scores))


def _pow7(x: np.ndarray) -> np.ndarray:
    x2 = x * x
    return x2 * x2 * x2 * x


def ciede2000(
    lab1: np.ndarray,
    lab2: np.ndarray,
    *,
    kL: float = 1.0,
    kC: float = 1.0,
    kH: float = 1.0,
) -> np.ndarray:
    """CIEDE2000 color difference (Sharma, Wu, Dalal 2005), vectorized.

    Args:
        lab1: ``(..., 3)`` Lab colors.
        lab2: ``(..., 3)`` Lab colors; its shape must equal ``lab1``'s or broadcast with it
            (e.g. ``(3,)`` to compare every color with one color).
        kL, kC, kH: parametric weights of lightness, chroma and hue (1 for reference conditions).

    Returns:
        ``(...)`` float64 array of non-negative differences (a 0-d array for single colors).
        Symmetric: ``ciede2000(a, b) == ciede2000(b, a)``.

    Raises:
        ShapeError: a last axis is not 3, or the shapes do not broadcast.
        ValueCheckError: a weight is not > 0.

    >>> float(ciede2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])).round(4))
    2.0425
    """
    lab1 = np.asarray(lab1)
    lab2 = np.asarray(lab2)
    _check_last_axis(lab1, 3, "lab1")
    _check_last_axis(lab2, 3, "lab2")
    try:
        out_shape = np.broadcast_shapes(lab1.shape, lab2.shape)[:-1]
    except ValueError:
        raise ShapeError(
            f"lab1 and lab2 must have the same (or broadcastable) shapes, "
            f"got {lab1.shape} and {lab2.shape}"
        ) from None
    _check_numeric(lab1, "lab1")
    _check_numeric(lab2, "lab2")
    for name, k in (("kL", kL), ("kC", kC), ("kH", kH)):
        if not (math.isfinite(float(k)) and float(k) > 0):
            raise ValueCheckError(f"{name} must be a finite number > 0, got {k!r}")

    # Contiguous float64 planes, at least 1-d (copies: the in-place steps below never touch the
    # inputs).
    l1, a1, b1 = np.ascontiguousarray(np.moveaxis(np.atleast_2d(lab1), -1, 0), dtype=np.float64)
    l2, a2, b2 = np.ascontiguousarray(np.moveaxis(np.atleast_2d(lab2), -1, 0), dtype=np.float64)
    two_pi = 2.0 * np.pi

    # 1. a' (a stretched by the mean chroma), C' and h' (in [0, 2 pi)).
    c_mean7 = _pow7(0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2)))
    scale = 1.5 - 0.5 * np.sqrt(c_mean7 / (c_mean7 + _25_POW_7))  # 1 + G
    a1p = scale * a1
    a2p = scale * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.arctan2(b1, a1p)
    h2p = np.arctan2(b2, a2p)
    np.add(h1p, two_pi, out=h1p, where=h1p < 0)
    np.add(h2p, two_pi, out=h2p, where=h2p < 0)

    # 2. Differences dL', dC', dH'. Sharma sets dh' = 0 when either chroma is 0; dH' is 0 then
    # anyway, through the factor sqrt(C1' C2').
    chroma_product = c1p * c2p
    dhp = h2p - h1p
    far = np.abs(dhp) > np.pi  # hues more than half a turn apart
    np.subtract(dhp, two_pi, out=dhp, where=dhp > np.pi)
    np.add(dhp, two_pi, out=dhp, where=dhp < -np.pi)
    d_hue = 2.0 * np.sqrt(chroma_product) * np.sin(0.5 * dhp)

    # 3. Means L', C', h'. Hues more than pi apart average across 0: (h1' + h2') / 2 + pi,
    # wrapped into [0, 2 pi) (Sharma's +-2 pi cases in one). The mean hue is the sum when either
    # chroma is 0.
    h_sum = h1p + h2p
    hp_mean = 0.5 * h_sum
    np.add(hp_mean, np.pi, out=hp_mean, where=far)
    np.subtract(hp_mean, two_pi, out=hp_mean, where=hp_mean >= two_pi)
    np.copyto(hp_mean, h_sum, where=chroma_product == 0)
    lp_mean = 0.5 * (l1 + l2)
    cp_mean = 0.5 * (c1p + c2p)

    # 4. Weighting functions and the rotation term. T from cos/sin of multiples of the mean hue.
    cos1, sin1 = np.cos(hp_mean), np.sin(hp_mean)
    cos2, sin2 = cos1 * cos1 - sin1 * sin1, 2.0 * sin1 * cos1
    cos3, sin3 = cos2 * cos1 - sin2 * sin1, sin2 * cos1 + cos2 * sin1
    cos4, sin4 = cos2 * cos2 - sin2 * sin2, 2.0 * sin2 * cos2
    t = (
        1.0
        - 0.17 * (cos1 * _COS_30 + sin1 * _SIN_30)  # cos(h - 30 deg)
        + 0.24 * cos2
        + 0.32 * (cos3 * _COS_6 - sin3 * _SIN_6)  # cos(3h + 6 deg)
        - 0.20 * (cos4 * _COS_63 + sin4 * _SIN_63)  # cos(4h - 63 deg)
    )
    lp50 = (lp_mean - 50.0) ** 2
    s_l = 1.0 + 0.015 * lp50 / np.sqrt(20.0 + lp50)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    d_theta = np.deg2rad(30.0) * np.exp(-(((np.rad2deg(hp_mean) - 275.0) / 25.0) ** 2))
    cp_mean7 = _pow7(cp_mean)
    r_t = -2.0 * np.sqrt(cp_mean7 / (cp_mean7 + _25_POW_7)) * np.sin(2.0 * d_theta)

    term_l = (l2 - l1) / (kL * s_l)
    term_c = (c2p - c1p) / (kC * s_c)
    term_h = d_hue / (kH * s_h)
    de2 = term_l * term_l + term_c * term_c + term_h * term_h + r_t * term_c * term_h
    return np.sqrt(np.maximum(de2, 0.0)).reshape(out_shape)


def colorfulness(rgb: np.ndarray) -> float:
    """Colorfulness ``M`` of Hasler & Suesstrunk (2003), computed on the 0..255 scale.

    With ``rg = R - G`` and ``yb = (R + G) / 2 - B`` over all pixels,
    ``M = sqrt(std(rg)**2 + std(yb)**2) + 0.3 * sqrt(mean(rg)**2 + mean(yb)**2)``
    (population standard deviations). Gray images give ``0``; the authors rate ``M`` of about
    33 "moderately", 59 "quite" and 82 "highly" colorful.

    Args:
        rgb: ``(H, W, 3)`` (any ``(..., 3)`` works: all pixels count) sRGB in ``[0, 1]``.

    Returns:
        ``M`` (a Python float, >= 0).

    Raises:
        ShapeError: the last axis is not 3.
        ValueCheckError: values outside ``[0, 1]``, or an empty image.

    >>> colorfulness(np.full((4, 4, 3), 0.5))
    0.0
    >>> round(colorfulness(np.tile([1.0, 0.0, 0.0], (4, 4, 1))), 1)
    85.5
    """
    rgb = np.asarray(rgb)
    _check_last_axis(rgb, 3, "rgb")
    _check_numeric(rgb, "rgb")
    if rgb.size == 0:
        raise ValueCheckError(f"rgb must not be empty, got shape {rgb.shape}")
    _check_rgb_range(rgb, "rgb")

    pixels = rgb.reshape(-1, 3).astype(np.float64) * 255.0
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = math.hypot(float(rg.std()), float(yb.std()))
    offset = math.hypot(float(rg.mean()), float(yb.mean()))
    return spread + 0.3 * offset


def deltae_image(rgb1: np.ndarray, rgb2: np.ndarray) -> float:
    """Mean CIEDE2000 difference between two sRGB images, pixel by pixel.

    Both images go through :func:`polychrome.ops.color.rgb_to_lab` (D65), then :func:`ciede2000`.

    Args:
        rgb1: ``(H, W, 3)`` (any ``(..., 3)``) sRGB in ``[0, 1]``.
        rgb2: same shape as ``rgb1``.

    Returns:
        Mean Delta E 2000 (a Python float, >= 0); about 1 is a just noticeable difference.

    Raises:
        ShapeError: the shapes differ or the last axis is not 3.
        ValueCheckError: values outside ``[0, 1]``, or empty images.

    >>> a = np.full((2, 2, 3), 0.5)
    >>> deltae_image(a, a)
    0.0
    """
    rgb1 = np.asarray(rgb1)
    rgb2 = np.asarray(rgb2)
    _check_same_shape(rgb1, rgb2, ("rgb1", "rgb2"))
    _check_last_axis(rgb1, 3, "rgb1")
    _check_numeric(rgb1, "rgb1")
    _check_numeric(rgb2, "rgb2")
    if rgb1.size == 0:
        raise ValueCheckError(f"rgb1 must not be empty, got shape {rgb1.shape}")
    _check_rgb_range(rgb1, "rgb1")
    _check_rgb_range(rgb2, "rgb2")
    return float(ciede2000(rgb_to_lab(rgb1), rgb_to_lab(rgb2)).mean())
