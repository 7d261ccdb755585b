"""Labelled regions: label maps with legends, click and box segmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from polychrome.errors import EmptyMaskError, InputError, ShapeError, ValueCheckError
from polychrome.guidance.regions import (
    LabelledRegion,
    read_label_map,
    region_from_box,
    region_from_click,
)


@pytest.fixture(scope="module")
def scene():
    """A noisy 600x800 luminance with a bright disk and a mid-gray rectangle."""
    rng = np.random.default_rng(0)
    h, w = 600, 800
    yy, xx = np.mgrid[:h, :w]
    disk = (yy - 250) ** 2 + (xx - 500) ** 2 < 130**2
    rect = (yy > 420) & (yy < 560) & (xx > 60) & (xx < 330)
    lum = np.full((h, w), 40, np.float32)
    lum[disk] = 70
    lum[rect] = 55
    lum += rng.normal(0, 3, lum.shape).astype(np.float32)
    return lum, disk, rect


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_click_finds_the_object_under_it(scene):
    lum, disk, rect = scene
    assert _iou(region_from_click(lum, 500, 250), disk) > 0.95
    assert _iou(region_from_click(lum, 200, 500), rect) > 0.95
    background = region_from_click(lum, 20, 20)
    assert _iou(background, ~(disk | rect)) > 0.95


def test_box_finds_the_object_inside_it(scene):
    lum, disk, rect = scene
    assert _iou(region_from_box(lum, (350, 100, 650, 400)), disk) > 0.95
    mask = region_from_box(lum, (40, 400, 350, 580))
    assert _iou(mask, rect) > 0.95
    assert not mask[:400].any()  # never outside the box


@pytest.mark.parametrize("dark", [True, False], ids=["dark-on-light", "light-on-dark"])
def test_a_box_stops_at_the_objects_outline(dark):
    """A textured object with a dark outline on a plain light background (and the same
    inverted): the segments' 7 x 7 contrast is as high on the background beside the outline as
    on the outline, so the box took a strip of background 8-13 px wide all around the object
    (a colored fringe). The mask must stop within 1 px of the outline and keep the object."""
    import cv2

    rng = np.random.default_rng(0)
    h, w = 480, 640
    yy, xx = np.mgrid[:h, :w]
    obj = ((yy - 240) / 120) ** 2 + ((xx - 320) / 180) ** 2 < 1
    lum = np.full((h, w), 85.0, np.float32)
    lum[obj] = (35 + 8 * np.sign(np.sin((xx + yy) / 6.0)))[obj]  # stripes
    outline = obj & ~cv2.erode(obj.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    lum[outline] = 8.0
    lum += rng.normal(0, 1.5, lum.shape).astype(np.float32)
    if not dark:
        lum = 100 - lum
    mask = region_from_box(lum, (120, 100, 520, 380))
    past = cv2.distanceTransform((~obj).astype(np.uint8), cv2.DIST_L2, 5)[mask & ~obj]
    assert past.size == 0 or past.max() <= 1.5, f"{past.size} px up to {past.max():.1f} px out"
    assert (mask & obj).sum() > 0.99 * obj.sum()


def test_the_edge_snapping_keeps_the_clicked_spot():
    """On astronaut, a click on a thin light piece inside the dark collar: nothing but noise
    lies between that piece and light pixels outside the region, while the region's other
    pieces are behind edges. Unless the click counts as the region's core, the edge snapping
    dropped the clicked spot (99% of the 9 x 9 around it) as background."""
    from skimage import data

    from polychrome.ops.color import luminance_of

    mask = region_from_click(luminance_of(data.astronaut()), 242, 262)
    assert mask[258:267, 238:247].all()


def test_click_and_box_errors(scene):
    lum = scene[0]
    with pytest.raises(ValueCheckError, match="outside"):
        region_from_click(lum, 800, 10)
    with pytest.raises(ValueCheckError, match="outside"):
        region_from_click(lum, -1, 10)
    with pytest.raises(ValueCheckError, match="empty"):
        region_from_box(lum, (900, 10, 950, 40))
    with pytest.raises(ValueCheckError, match="empty"):
        region_from_box(lum, (10, 10, 10, 40))


def test_a_box_may_be_given_by_its_other_two_corners(scene):
    # A box dragged from the bottom right to the top left, or from the bottom left.
    lum = scene[0]
    mask = region_from_box(lum, (350, 100, 650, 400))
    assert np.array_equal(region_from_box(lum, (650, 400, 350, 100)), mask)
    assert np.array_equal(region_from_box(lum, (350, 400, 650, 100)), mask)


def test_small_image_click_contains_the_pixel():
    lum = np.random.default_rng(1).uniform(0, 100, (12, 9)).astype(np.float32)
    mask = region_from_click(lum, 4, 7)
    assert mask.shape == (12, 9) and mask[7, 4]


@pytest.mark.parametrize(
    "legend",
    [
        {"1": "car", "2": "sky"},
        {"car": 1, "sky": 2},
        [{"value": 1, "label": "car"}, {"value": 2, "label": "sky"}],
    ],
    ids=["value-to-label", "label-to-value", "list"],
)
def test_gray_label_map(tmp_path, legend):
    labels = np.zeros((20, 30), np.uint8)
    labels[2:8, 3:9] = 1
    labels[10:, :] = 2
    Image.fromarray(labels).save(tmp_path / "labels.png")
    (tmp_path / "legend.json").write_text(json.dumps(legend))
    regions = read_label_map(tmp_path / "labels.png", tmp_path / "legend.json", shape=(20, 30))
    assert [r.label for r in regions] == ["car", "sky"]
    assert np.array_equal(regions[0].mask, labels == 1)
    assert np.array_equal(regions[1].mask, labels == 2)
    assert regions[0].source == "labels.png=1"


def test_color_label_map(tmp_path):
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:5] = (255, 0, 0)
    rgb[5:, 5:] = (0, 128, 255)
    Image.fromarray(rgb).save(tmp_path / "labels.png")
    legend = {"#ff0000": "roof", "#0080ff": "door"}
    regions = read_label_map(tmp_path / "labels.png", legend, shape=(10, 10))
    assert regions[0].mask.sum() == 50 and regions[1].mask.sum() == 25


def _blob_labels(count: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``shape`` uint8 labels 1..count: blobs (a coarse nearest-seed diagram, enlarged)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = (shape[0] // 8, shape[1] // 8)
    seeds = rng.random((count, 2)) * small
    yx = np.indices(small).reshape(2, -1, 1)
    near = np.argmin(((yx - seeds.T[:, None, :]) ** 2).sum(axis=0), axis=1).reshape(small)
    return cv2.resize((near + 1).astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST)


def test_label_map_memory_grows_with_the_page_not_the_labels(tmp_path):
    # 150 labels once made 150 full-size masks (150 bytes a pixel; 7.5 GB at 50 MP). The
    # regions now share one label image, each mask made on demand within its box.
    import tracemalloc

    labels = _blob_labels(160, (300, 400))
    values = np.unique(labels)
    assert len(values) >= 150
    Image.fromarray(labels).save(tmp_path / "labels.png")
    legend = {str(v): f"part {v}" for v in values}
    tracemalloc.start()
    regions = read_label_map(tmp_path / "labels.png", legend, shape=labels.shape)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held < 10 * labels.size
    for v, region in zip(values, regions, strict=True):
        assert np.array_equal(np.asarray(region.mask), labels == v)
        assert region.mask.sum() == np.count_nonzero(labels == v)


def test_label_map_regions_colorize_as_plain_masks(tmp_path):
    import polychrome
    from polychrome.guidance.binding import bind
    from polychrome.guidance.hints import Instance
    from polychrome.pipeline import engine_context

    labels = _blob_labels(12, (90, 120), seed=3)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    colors = ("red", "green", "blue", "yellow")
    legend = {str(v): f"{colors[v % 4]} part {v}" for v in np.unique(labels)}
    regions = read_label_map(tmp_path / "labels.png", legend, shape=labels.shape)
    bound = bind("", regions)
    plain = [Instance(np.asarray(i.mask), i.ab, i.label, source=i.source) for i in bound.instances]
    gray = np.random.default_rng(0).integers(0, 255, labels.shape, dtype=np.uint8)
    lazy_guidance = polychrome.Guidance(instances=tuple(bound.instances))
    plain_guidance = polychrome.Guidance(instances=tuple(plain))
    assert np.array_equal(lazy_guidance.owner(labels.shape), plain_guidance.owner(labels.shape))
    assert lazy_guidance.describe() == plain_guidance.describe()
    for shape in (labels.shape, (45, 60)):
        lazy = engine_context(lazy_guidance, shape, full_shape=labels.shape).instances
        flat = engine_context(plain_guidance, shape, full_shape=labels.shape).instances
        assert [label for _, label in lazy] == [label for _, label in flat]
        for (a, _), (b, _) in zip(lazy, flat, strict=True):
            assert np.array_equal(a, b)
    a = polychrome.colorize(gray, guidance=lazy_guidance, engine="none").image
    b = polychrome.colorize(gray, guidance=plain_guidance, engine="none").image
    assert np.array_equal(a, b)


def test_16_bit_color_label_map(tmp_path):
    rgb = np.zeros((10, 10, 3), np.uint16)
    rgb[:5] = (255 * 257, 0, 0)
    rgb[5:, :5] = (128 * 257, 0, 0)  # halfway between red and black: no label
    rgb[5:, 5:] = (0, 128 * 257, 65535)
    import cv2

    cv2.imwrite(str(tmp_path / "labels.png"), rgb[..., ::-1])
    legend = {"#ff0000": "roof", "#0080ff": "door"}
    regions = read_label_map(tmp_path / "labels.png", legend, shape=(10, 10))
    assert np.array_equal(np.asarray(regions[0].mask), np.arange(10)[:, None].repeat(10, 1) < 5)
    assert regions[1].mask.sum() == 25 and regions[1].mask.box == (5, 10, 5, 10)


def test_a_jpeg_or_antialiased_color_label_map_keeps_its_regions(tmp_path):
    # Saved as JPEG, or painted with an antialiased brush, a map's colors move (a JPEG red
    # had not one pixel of #ff0000 left, and the green kept 455 scattered pixels of 7381).
    import cv2

    rgb = np.zeros((120, 200, 3), np.uint8)
    rgb[20:60, 20:90] = (255, 0, 0)
    rgb[60:110, 120:190] = (0, 255, 0)
    cv2.circle(rgb, (60, 85), 20, (255, 255, 0), -1, lineType=cv2.LINE_AA)
    truth = [np.all(rgb == c, axis=2) for c in ((255, 0, 0), (0, 255, 0), (255, 255, 0))]
    Image.fromarray(rgb).save(tmp_path / "labels.jpg", quality=85)
    Image.fromarray(rgb).save(tmp_path / "labels.png")
    legend = {"#ff0000": "roof", "#00ff00": "door", "#ffff00": "sun"}
    for name in ("labels.jpg", "labels.png"):
        regions = read_label_map(tmp_path / name, legend, shape=(120, 200))
        for region, true in zip(regions, truth, strict=True):
            mask = np.asarray(region.mask)
            assert (mask & true).sum() > 0.9 * true.sum(), (name, region.label)
            assert not (mask & ~cv2.dilate(true.astype(np.uint8), np.ones((3, 3)))).any()


def test_label_map_errors(tmp_path):
    labels = np.zeros((10, 10), np.uint8)
    labels[:3] = 1
    Image.fromarray(labels).save(tmp_path / "labels.png")
    path = tmp_path / "labels.png"
    with pytest.raises(InputError, match="does not occur"):
        read_label_map(path, {"7": "car"}, shape=(10, 10))
    with pytest.raises(ShapeError, match="10x10"):
        read_label_map(path, {"1": "car"}, shape=(11, 10))
    with pytest.raises(InputError, match="not a label-map value"):
        read_label_map(path, {"car": "sky"}, shape=(10, 10))
    with pytest.raises(InputError, match="is gray"):
        read_label_map(path, {"#ff0000": "car"}, shape=(10, 10))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_label_map(path, tmp_path / "bad.json", shape=(10, 10))
    with pytest.raises(InputError, match="no such legend"):
        read_label_map(path, tmp_path / "missing.json", shape=(10, 10))


def test_labelled_region_checks():
    with pytest.raises(EmptyMaskError):
        LabelledRegion("car", np.zeros((4, 4), bool), "car.png")
    with pytest.raises(ValueCheckError):
        LabelledRegion(" ", np.ones((4, 4), bool), "car.png")


def test_a_click_keeps_the_tone_it_was_made_on():
    """On skimage's coffee, the light table and the dark saucer fall into one segment (a
    gradient joins them); a click on the table must not take the saucer."""
    from skimage import data

    from polychrome.ops.color import luminance_of

    lum = luminance_of(data.coffee())
    table = region_from_click(lum, 560, 60)
    assert table[60, 560] and not table[240, 120]  # the saucer (L* 36 against 66)
    assert table.mean() < 0.25


def test_a_box_that_selects_a_sliver_of_itself_is_reported():
    from polychrome.apps.jobs import guidance_notes

    def notes(source: str, pixels: int) -> list[str]:
        row = {"kind": "instance", "label": "car: red", "source": source, "pixels": pixels}
        return guidance_notes({"input": {"size": [800, 600]}, "guidance": [row]})

    assert notes("box 100,100,300,300", 30_000) == []  # 75 % of the box
    (note,) = notes("box 100,100,300,300", 1_200)  # 3 %
    assert note.startswith("box 100,100,300,300 selected only 3% of the box (1200 pixels)")
    # the part of a box outside the image does not count
    assert notes("box -100,-100,200,200", 4_000) == []  # 4,000 of the 40,000 inside
    assert notes("car.png", 10) == []  # masks are what the user drew


def test_a_click_on_a_smaller_copy_selects_the_same_thing():
    """Segments are sized in working pixels, so a small image is enlarged to the working size
    first: at its own size, a click on the coffee cup's centre at half size took 7% of what it
    took at full size (IoU 0.07)."""
    import cv2
    from skimage import data

    from polychrome.ops.color import luminance_of

    lum = luminance_of(data.coffee())  # 400 x 600
    h, w = lum.shape
    full = region_from_click(lum, w // 2, h // 2)
    half = cv2.resize(lum, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    small = region_from_click(half, w // 4, h // 4)
    back = cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    assert _iou(back, full) > 0.8


def test_pool_references_that_match_nothing_are_reported_in_one_line():
    from polychrome.apps.jobs import guidance_notes

    def row(source: str, count: int) -> dict:
        return {"kind": "points", "source": source, "count": count}

    rows = [
        row("reference cat.png", 0),
        row("reference p1.png, retrieved from refs.npz with similarity 0.91", 0),
        row("reference p2.png, retrieved from refs.npz with similarity 0.88", 0),
        row("reference p3.png, retrieved from refs.npz with similarity 0.85", 12),
    ]
    notes = guidance_notes({"guidance": rows})
    assert notes == [
        "reference cat.png: no confident match, so it colors nothing",
        "2 of the pool's retrieved references matched nothing confidently (reference p1.png, "
        "reference p2.png); the pool's palette colors the page there",
    ]
