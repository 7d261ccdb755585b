"""The solver: propagation along luminance, instance isolation, exact vs multiscale."""

import numpy as np
import pytest

from polychrome.errors import EmptyMaskError, ShapeError, ValueCheckError
from polychrome.guidance.hints import Guidance, Instance, PointHints
from polychrome.solve.propagate import Prior, SolveSettings, solve_chroma

RED = np.array([60.0, 40.0], np.float32)
BLUE = np.array([10.0, -50.0], np.float32)


def points(yx, ab, weight=1.0):
    yx = np.asarray(yx, np.int32).reshape(-1, 2)
    ab = np.broadcast_to(np.asarray(ab, np.float32), (len(yx), 2)).copy()
    return PointHints(yx, ab, np.full(len(yx), weight, np.float32))


def two_halves(h=40, w=60):
    """Dark left half, bright right half, with mild noise."""
    lum = np.full((h, w), 30.0, np.float32)
    lum[:, w // 2 :] = 70.0
    lum += np.random.default_rng(0).normal(0, 0.5, lum.shape).astype(np.float32)
    return lum


def test_nothing_known_gives_gray():
    sol = solve_chroma(two_halves(), Guidance())
    assert np.abs(sol.background).max() < 1e-6


def test_one_hint_colors_its_flat_region():
    lum = np.full((30, 40), 50.0, np.float32)
    sol = solve_chroma(lum, Guidance(points=(points([[15, 20]], RED),)))
    assert np.allclose(sol.background, RED, atol=1.0)


def test_luminance_edges_stop_colors():
    lum = two_halves()
    g = Guidance(points=(points([[20, 5]], RED), points([[20, 55]], BLUE)))
    ab = solve_chroma(lum, g).background
    assert np.abs(ab[:, :27] - RED).max() < 5
    assert np.abs(ab[:, 33:] - BLUE).max() < 5


@pytest.mark.parametrize("method", ["direct", "multiscale"])
def test_instance_does_not_change_anything_outside(method):
    lum = two_halves(64, 96)
    hints = (points([[10, 10], [50, 80]], RED),)
    mask = np.zeros(lum.shape, bool)
    mask[20:40, 30:70] = True
    base = solve_chroma(lum, Guidance(points=hints), method=method)
    inst = Instance(mask, BLUE, label="blue")
    with_region = solve_chroma(lum, Guidance(points=hints, instances=(inst,)), method=method)
    assert np.array_equal(base.background, with_region.background)
    field = with_region.instances[0].expand(lum.shape)
    assert np.abs(field[mask] - BLUE).max() < 1e-3


def test_hints_inside_an_instance_stay_inside():
    lum = np.full((40, 40), 50.0, np.float32)
    mask = np.zeros(lum.shape, bool)
    mask[10:30, 10:30] = True
    inside = points([[20, 20]], BLUE)
    g = Guidance(points=(inside,), instances=(Instance(mask, RED, label="red", strength=0.5),))
    sol = solve_chroma(lum, g)
    assert np.abs(sol.background).max() < 1e-6  # nothing outside the instance knows about it
    field = sol.instances[0].expand(lum.shape)
    assert np.linalg.norm(field[20, 20] - BLUE) < 5  # the hint wins where it is


def test_overlapping_instances_later_one_owns():
    lum = np.full((40, 40), 50.0, np.float32)
    a = np.zeros(lum.shape, bool)
    a[5:30, 5:30] = True
    b = np.zeros(lum.shape, bool)
    b[20:35, 20:35] = True
    g = Guidance(instances=(Instance(a, RED, label="a"), Instance(b, BLUE, label="b")))
    owner = g.owner(lum.shape)
    assert (owner[25, 25], owner[10, 10], owner[32, 32], owner[0, 0]) == (2, 1, 2, 0)
    sol = solve_chroma(lum, g)
    assert np.abs(sol.instances[0].expand(lum.shape)[a & ~b] - RED).max() < 1e-3
    assert np.abs(sol.instances[1].expand(lum.shape)[b] - BLUE).max() < 1e-3


def test_instances_are_solved_on_their_own_box():
    # 100 small regions on a large image: each problem is the region's box (plus the margin
    # that upsampling reads), not the whole image, so the cost is their size, not 100 images.
    full = np.full((1200, 1600), 50.0, np.float32)
    lum = full[::4, ::4].copy()  # working resolution 300 x 400
    masks = []
    for k in range(100):
        mask = np.zeros(full.shape, bool)
        y, x = 100 * (k // 10) + 10, 150 * (k % 10) + 10
        mask[y : y + 40, x : x + 60] = True
        masks.append(mask)
    g = Guidance(instances=tuple(Instance(m, RED, label=str(k)) for k, m in enumerate(masks)))
    sol = solve_chroma(lum, g, full_shape=full.shape)
    for field, mask in zip(sol.instances, masks, strict=True):
        ys, xs = np.nonzero(mask[::4, ::4])
        y0, y1, x0, x1 = field.box
        assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1
        assert field.ab.shape == (y1 - y0, x1 - x0, 2)
        assert (y1 - y0) * (x1 - x0) <= (10 + 6) * (15 + 6)
        assert np.abs(field.expand(lum.shape)[ys, xs] - RED).max() < 1e-3


def test_prior_is_followed_where_no_hint():
    lum = two_halves()
    prior = Prior(np.broadcast_to(BLUE, (*lum.shape, 2)).copy(), np.ones(lum.shape, np.float32))
    ab = solve_chroma(lum, Guidance(), priors=(prior,)).background
    assert np.abs(ab - BLUE).max() < 0.5


def test_hint_recolors_its_region_and_fades_across_an_edge():
    lum = two_halves(80, 120)
    prior = Prior(np.broadcast_to(BLUE, (*lum.shape, 2)).copy(), np.ones(lum.shape, np.float32))
    hint = Guidance(points=(points([[40, 10]], RED),))
    ab = solve_chroma(lum, hint, priors=(prior,)).background
    # The hint's whole (dark) half takes its color, not just a halo around it ...
    assert np.linalg.norm(ab[:, :60].reshape(-1, 2).mean(0) - RED) < 4
    # ... and the other half, beyond a strong edge, keeps more of the prior than of the hint.
    right = ab[:, 60:].reshape(-1, 2).mean(0)
    assert np.linalg.norm(right - BLUE) < 0.5 * np.linalg.norm(right - RED)
    firm = SolveSettings(residual_pull=1e-2)
    right = solve_chroma(lum, hint, priors=(prior,), settings=firm).background[:, 60:]
    assert np.linalg.norm(right.reshape(-1, 2).mean(0) - BLUE) < 5


def test_stroke_does_not_recolor_same_gray_areas_the_engine_sees_differently():
    # Two areas of the same gray split by a thin dark line; the engine proposes blue on the left
    # and yellow on the right. A red stroke on the left recolors the left, not the right.
    rng = np.random.default_rng(0)
    lum = np.full((60, 120), 50.0, np.float32)
    lum[:, 58:62] = 30.0
    lum += rng.normal(0, 0.5, lum.shape).astype(np.float32)
    ab = np.zeros((*lum.shape, 2), np.float32)
    ab[:, :60], ab[:, 60:] = BLUE, (10.0, 60.0)
    prior = Prior(ab, np.ones(lum.shape, np.float32))
    stroke = Guidance(points=(points([[30, 20], [31, 20], [32, 20]], RED),))
    auto = solve_chroma(lum, Guidance(), priors=(prior,)).background

    def change(settings):
        out = solve_chroma(lum, stroke, priors=(prior,), settings=settings).background
        d = np.linalg.norm(out - auto, axis=-1)
        return d[:, :55].mean(), d[:, 65:].mean()

    left, right = change(SolveSettings())
    assert left > 0.8 * np.linalg.norm(RED - BLUE) and right < 5
    # Without the proposal-similarity gate, the non-local term carries the stroke across.
    _, right_ungated = change(SolveSettings(residual_similarity=0))
    assert right_ungated > 20


def test_edge_weights_fall_off_exponentially_with_luminance_steps():
    from polychrome.ops.affinity import edge_weights

    lum = np.array([[50.0, 50.0, 51.0, 61.0]])
    _, _, w = edge_weights(lum, scale=0.83)
    # Flat pairs pass color fully, a 1-L* step (texture) still passes a third of it, and a
    # 10-L* edge stops it; the weights do not depend on the rest of the image.
    np.testing.assert_allclose(w, [1.0, np.exp(-1 / 0.83), np.exp(-10 / 0.83)], rtol=1e-6)
    _, _, w2 = edge_weights(np.array([[50.0, 50.0, 51.0, 90.0]]), scale=0.83)
    np.testing.assert_allclose(w2[:2], w[:2], rtol=1e-6)


def test_hint_on_texture_reaches_less_far():
    # Left: flat gray; right: a fine checkerboard. One point in each, both far from the middle:
    # the flat hint's color reaches the middle column more than the textured one's.
    lum = np.full((40, 80), 50.0, np.float32)
    lum[:, 40:] += 6.0 * (np.indices((40, 40)).sum(0) % 2)
    lum[:, 37:43] = 52.0  # a strip linking both halves
    g = Guidance(points=(points([[20, 5]], RED), points([[20, 75]], BLUE)))
    ab = solve_chroma(lum, g).background
    mid = ab[:, 39:41].reshape(-1, 2).mean(0)
    assert np.linalg.norm(mid - RED) < np.linalg.norm(mid - BLUE)
    plain = solve_chroma(lum, g, settings=SolveSettings(hint_texture=0)).background
    mid_plain = plain[:, 39:41].reshape(-1, 2).mean(0)
    assert np.linalg.norm(mid - RED) < np.linalg.norm(mid_plain - RED)
    # The hints' own pixels are held as firmly either way.
    assert np.abs(ab[20, 75] - BLUE).max() < 1.0


def test_multiscale_close_to_direct():
    from skimage import data

    from polychrome.ops.color import luminance_of

    lum = luminance_of(data.coffee())[::2, ::2].copy()
    rng = np.random.default_rng(1)
    h, w = lum.shape
    yx = np.stack([rng.integers(0, h, 300), rng.integers(0, w, 300)], 1)
    ab = rng.uniform(-40, 40, (300, 2))
    g = Guidance(
        points=(PointHints(yx.astype(np.int32), ab.astype(np.float32), np.ones(300, np.float32)),)
    )
    direct = solve_chroma(lum, g, method="direct").background
    multi = solve_chroma(lum, g, method="multiscale").background
    assert np.sqrt(np.mean((direct - multi) ** 2)) < 3.0


def test_errors():
    lum = np.full((10, 10), 50.0, np.float32)
    with pytest.raises(ShapeError):
        solve_chroma(lum[None], Guidance())
    with pytest.raises(ValueCheckError):
        solve_chroma(lum, Guidance(), method="fancy")
    with pytest.raises(ShapeError, match="outside the image"):
        solve_chroma(lum, Guidance(points=(points([[10, 3]], RED),)))
    with pytest.raises(ShapeError, match="mask"):
        solve_chroma(lum, Guidance(instances=(Instance(np.ones((5, 5), bool), RED, label="x"),)))
    with pytest.raises(EmptyMaskError):
        Instance(np.zeros((10, 10), bool), RED, label="nothing")
    with pytest.raises(ShapeError):
        solve_chroma(lum, Guidance(), priors=(Prior(np.zeros((5, 5, 2)), np.zeros((5, 5))),))
    with pytest.raises(ValueCheckError):
        SolveSettings(edge_scale=0)
    with pytest.raises(ValueCheckError):
        SolveSettings(hint_texture_floor=1.5)
    with pytest.raises(ValueCheckError):
        SolveSettings(residual_footprint_range=0)
    with pytest.raises(ValueCheckError):
        SolveSettings(residual_similarity=-1)


def test_settings_are_finite_numbers_in_range():
    """A NaN setting made the exact solve report 'out of memory'; an infinite hint_weight gave a
    gray image; negative weights or counts and shading_offset <= 0 were taken as they came."""
    for bad in (
        {"edge_scale": np.nan},
        {"neutral": np.nan},
        {"hint_weight": np.inf},
        {"edge_scale": "1"},
        {"cg_iterations": 2.5},
        {"coarse_levels": True},
        {"instance_weight": -1.0},
        {"coarse_levels": -1},
        {"direct_limit": -1},
        {"prior_in_instances": 2.0},
        {"shading_offset": 0.0},
    ):
        with pytest.raises(ValueCheckError, match=next(iter(bad))):
            SolveSettings(**bad)
    settings = SolveSettings(edge_scale=np.float32(0.5), cg_iterations=np.int64(7))
    assert type(settings.edge_scale) is float and type(settings.cg_iterations) is int
    assert SolveSettings(shading_offset=None).shading_offset is None


def test_hints_are_gathered_per_cell_without_sorting(monkeypatch):
    # A hint image colored over half of a 12 MP page gives millions of hints: they are summed
    # per working cell in one pass (np.unique sorted them, 2.4 s of the solve).
    from polychrome.solve import propagate

    rng = np.random.default_rng(0)
    yx = np.stack([rng.integers(0, 300, 5000), rng.integers(0, 400, 5000)], 1)
    hints = PointHints(yx, rng.uniform(-30, 30, (5000, 2)), rng.uniform(0.1, 1, 5000))

    def no_sort(*args, **kwargs):
        raise AssertionError("hints were sorted")

    with monkeypatch.context() as m:
        for name in ("unique", "sort", "argsort", "lexsort"):
            m.setattr(np, name, no_sort)
        at, mean, wmax = propagate._rasterize([hints], (300, 400), (30, 40))
    cells = {}
    for (y, x), ab, w in zip(yx // 10, hints.ab, hints.weight, strict=True):
        cells.setdefault((int(y), int(x)), []).append((ab, w))
    assert sorted(map(tuple, at.tolist())) == sorted(cells) == list(map(tuple, at.tolist()))
    for (y, x), m_ab, w_max in zip(at.tolist(), mean, wmax, strict=True):
        ab, w = zip(*cells[(y, x)], strict=True)
        assert np.allclose(m_ab, np.average(ab, axis=0, weights=w), atol=1e-4)
        assert w_max == max(w)


def test_exact_solve_factorizes_half_the_pixels_and_matches_the_whole_system(monkeypatch):
    # The exact method eliminates one color of the pixels' checkerboard first (their
    # neighbours are all of the other color) and factorizes the rest in single precision,
    # refined: half the unknowns, 1.7x faster at 250,000 pixels, the same solution.
    import scipy.sparse.linalg as spl

    from polychrome.solve import propagate

    rng = np.random.default_rng(2)
    lum = np.clip(
        50 + 30 * np.sign(np.sin(np.arange(60) / 6))[:, None] + rng.normal(0, 2, (60, 70)), 0, 100
    )
    yx = rng.integers(0, 60, (12, 2))
    hints = PointHints(yx, rng.uniform(-40, 40, (12, 2)), np.ones(12), "test")
    mask = np.zeros(lum.shape, bool)
    mask[10:30, 20:50] = True
    guidance = Guidance(
        points=(hints,), instances=(Instance(mask, np.array([30.0, -20.0]), "box"),)
    )
    sizes = []
    splu = spl.splu

    def recording(a, **kwargs):
        sizes.append(a.shape[0])
        return splu(a, **kwargs)

    monkeypatch.setattr(spl, "splu", recording)
    now = solve_chroma(lum, guidance, method="direct")
    assert sizes and max(sizes) <= (lum.size + 1) // 2
    whole = lambda a, rhs, red, what: splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)  # noqa: E731
    monkeypatch.setattr(propagate, "_direct_solve", whole)
    before = solve_chroma(lum, guidance, method="direct")
    assert np.abs(now.background - before.background).max() < 1e-4
    assert np.abs(now.instances[0].ab - before.instances[0].ab).max() < 1e-4


def test_direct_solve_of_a_system_off_the_grid():
    # A system whose red pixels are coupled to each other cannot be reduced: solved whole.
    import scipy.sparse as sp

    from polychrome.solve.propagate import _direct_solve

    a = sp.csr_matrix(np.array([[4.0, 1, 1], [1, 4, 1], [1, 1, 4]]))
    rhs = np.array([[1.0, 0], [2, 1], [3, 2]])
    x = _direct_solve(a, rhs, np.array([True, False, True]), "3 pixels")
    assert np.allclose(a @ x, rhs)
