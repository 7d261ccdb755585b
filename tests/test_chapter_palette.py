"""A chapter's palette (:mod:`polychrome.reference.chapter`: mean chroma per lightness) and its
fallback hints, on drawn pages: two inks of different lightness, a dark blue and a light orange,
in shapes that differ from page to page."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from polychrome.errors import ShapeError, ValueCheckError
from polychrome.guidance.hints import Guidance, PointHints
from polychrome.ops.color import lab_to_rgb, luminance_of, rgb_to_lab
from polychrome.pipeline import colorize
from polychrome.reference.chapter import chapter_palette, palette_chroma, palette_hints
from polychrome.reference.pool import BuiltinEmbedder, Pool, rap_patches
from polychrome.reference.sequence import pool_hints

BLUE = (30, 50, 150)  # L* about 25
ORANGE = (250, 180, 90)  # L* about 78


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    return rgb_to_lab(np.array([[rgb]], np.float32) / 255.0)[0, 0]


def _page(seed: int, side: int = 160) -> np.ndarray:
    """White paper with blue discs and orange bars placed at random."""
    rng = np.random.default_rng(seed)
    page = np.full((side, side, 3), 250, np.uint8)
    for _ in range(6):
        x, y = rng.integers(0, side, 2)
        cv2.circle(page, (int(x), int(y)), int(rng.integers(8, 24)), BLUE, -1)
        x, y = rng.integers(0, side - 30, 2)
        cv2.rectangle(page, (int(x), int(y)), (int(x) + 30, int(y) + 10), ORANGE, -1)
    return page


def test_palette_holds_the_mean_chroma_of_each_lightness():
    palette = chapter_palette([_page(0), _page(1)])
    assert palette.shape == (51, 2) and palette.dtype == np.float32
    for rgb in (BLUE, ORANGE):
        lab = _lab(rgb)
        got = palette_chroma(palette, np.array([lab[0]]))[0]
        assert np.linalg.norm(got - lab[1:]) < 3, rgb
    # Paper is near white and neutral; bins no pixel falls in are interpolated, never 0-filled.
    assert np.linalg.norm(palette_chroma(palette, np.array([98.0]))[0]) < 3
    dark = palette_chroma(palette, np.array([2.0]))[0]
    assert np.linalg.norm(dark - _lab(BLUE)[1:]) < 3  # below blue: blue's chroma, held


def test_palette_refuses_nothing_and_non_images():
    with pytest.raises(ValueCheckError, match="at least one"):
        chapter_palette([])
    with pytest.raises(ShapeError, match="RGB"):
        chapter_palette([np.zeros((16, 16), np.uint8)])
    with pytest.raises(ShapeError, match=r"\(51, 2\)"):
        palette_chroma(np.zeros((10, 2)), np.zeros((4, 4)))
    with pytest.raises(ShapeError, match=r"\(H, W\)"):
        palette_hints(np.zeros((4, 4, 3)), np.zeros((51, 2)))


def test_palette_hints_cover_the_page_and_step_aside_for_dense_matches():
    lum = np.full((300, 400), 50.0, np.float32)
    palette = np.tile(np.array([[10.0, -20.0]], np.float32), (51, 1))
    alone = palette_hints(lum, palette)
    assert 15_000 <= len(alone) <= 40_000
    assert np.allclose(alone.weight, 0.05) and np.allclose(alone.ab, [10.0, -20.0])
    # Matches on every cell of the left quarter: no palette there, full weight far right.
    ys, xs = np.mgrid[0:300:4, 0:100:4]
    yx = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.int32)
    matches = PointHints(yx, np.zeros((len(yx), 2), np.float32), np.ones(len(yx), np.float32))
    thinned = palette_hints(lum, palette, matches=[matches])
    assert not (thinned.yx[:, 1] < 90).any()
    far = thinned.yx[:, 1] > 300
    assert far.sum() > 0.2 * len(alone) and thinned.weight[far].min() > 0.049
    assert len(thinned) < len(alone)


def _gray(lum: np.ndarray) -> np.ndarray:
    return lab_to_rgb(np.dstack([lum, 0 * lum, 0 * lum]))[..., 0]


def test_palette_hints_alone_bring_back_each_inks_color():
    target = _page(3)
    lum = luminance_of(target)
    truth = rgb_to_lab(target / 255.0)[..., 1:]
    inked = np.linalg.norm(truth, axis=2) > 20
    fill = palette_hints(lum, chapter_palette([_page(1), _page(2)]))
    image = colorize(_gray(lum), guidance=Guidance(points=(fill,)), engine="none").image
    error = np.linalg.norm(rgb_to_lab(image / 255.0)[..., 1:] - truth, axis=2)[inked]
    assert float(error.mean()) < 0.2 * float(np.linalg.norm(truth, axis=2)[inked].mean())


def test_pool_hints_put_the_palette_after_the_matches():
    refs = [_page(1), _page(2)]
    lum = luminance_of(_page(3))
    embedder = BuiltinEmbedder()
    rows = np.stack([embedder.embed(rap_patches(luminance_of(r), whole=True)) for r in refs])
    pool = Pool(tuple(Path(f"r{k}.png") for k in range(2)), rows, embedder.name)

    def load(path: Path) -> np.ndarray:
        return refs[int(path.stem[1])]

    with_palette = pool_hints(lum, pool, load)
    without = pool_hints(lum, pool, load, palette=False)
    assert with_palette[-1].source == "palette of 2 references"
    assert not any(p.source.startswith("palette") for p in without)
    assert [p.source for p in with_palette[:-1]] == [p.source for p in without]
    # Thinned where the matches are: fewer than the palette alone would give.
    assert 0 < len(with_palette[-1]) < len(palette_hints(lum, chapter_palette(refs)))
