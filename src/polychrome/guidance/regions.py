"""Labelled regions: where a description's objects are.

A :class:`LabelledRegion` is a full-resolution mask with a name (``"car"``). Regions come from
mask files (``--label car=car.png``), from one label-map image with a JSON legend
(``--label-map labels.png --legend legend.json``), or interactively from a click or a box grown
with classical segmentation (no network, no weights). Both use Felzenszwalb-Huttenlocher
segments of the luminance and its local contrast at a reduced working size (so textured areas
such as hair or foliage hold together), bring the mask back to full resolution with a
luminance-guided upsampling, and snap its boundary to the luminance edges
(:func:`_snap_to_edges`):

- :func:`region_from_click`: the segment under the clicked pixel, joined with a flood fill
  from it at the largest tolerance that does not leak across an edge.
- :func:`region_from_box`: the flood from the box's centre when it stays inside the box and
  fills a fifth of it; otherwise the segments lying mostly (75 %) inside the box.

(GrabCut was tried and left out: on luminance alone its color models cannot tell object from
background and it often took the whole box or nothing.)

The snapping is needed because the local contrast is measured in 7 x 7 windows: it is as high
on the background beside a dark outline as on the outline, so a segment took a strip of light
background a few working pixels wide (5-10 px on a 512 x 512 image) along dark object edges,
and of dark background along light ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from polychrome.errors import EmptyMaskError, InputError, ShapeError, ValueCheckError
from polychrome.guidance.hints import LabelMask

__all__ = [
    "LabelledRegion",
    "read_label_map",
    "region_from_box",
    "region_from_click",
]

WORK_PIXELS = 100_000
"""Working size of the interactive segmentation (pixels)."""


@dataclass(frozen=True)
class LabelledRegion:
    """A named full-resolution region.

    Attributes:
        label: the name a description binds to (``"car"``).
        mask: ``(H, W)`` bool, or a :class:`~polychrome.guidance.hints.LabelMask` (regions of
            a label map share one label image).
        source: where it came from (``"car.png"``, ``"click 120,80"``, ``"labels.png=3"``).
    """

    label: str
    mask: np.ndarray | LabelMask
    source: str

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.dtype != bool:
            raise ShapeError(f"region mask must be a (H, W) bool array, got {self.mask.shape}")
        if not self.label.strip():
            raise ValueCheckError(f"region from {self.source} has an empty label")
        if not self.mask.any():
            raise EmptyMaskError(f"the region {self.label!r} ({self.source}) selects no pixel")


# --------------------------------------------------------------------------- label maps


def _legend_entries(legend: object, source: str) -> list[tuple[str, str]]:
    """``(key, label)`` pairs from a legend: ``{"1": "car"}``, ``{"car": 1}``, ``{"#ff0000":
    "car"}`` or ``[{"value": 1, "label": "car"}, ...]``; keys are label-map values (integers
    for a gray map, ``#rrggbb`` for a color map)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(legend, list):
        for item in legend:
            if not isinstance(item, dict) or "value" not in item or "label" not in item:
                raise InputError(
                    f"legend {source}: list items must look like {{'value': 1, 'label': 'car'}}"
                )
            pairs.append((str(item["value"]), str(item["label"])))
    elif isinstance(legend, dict):
        for k, v in legend.items():
            key, label = (str(k), str(v))
            if not _is_key(key) and _is_key(str(v)):  # {"car": 1}
                key, label = str(v), str(k)
            pairs.append((key, label))
    else:
        raise InputError(f"legend {source} must be a JSON object or list")
    if not pairs:
        raise InputError(f"legend {source} names no label")
    for key, _ in pairs:
        if not _is_key(key):
            raise InputError(
                f"legend {source}: {key!r} is not a label-map value (an integer, or #rrggbb)"
            )
    return pairs


def _is_key(text: str) -> bool:
    text = text.strip().lower()
    if text.isdigit():
        return True
    return len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdef" for c in text[1:])


def read_label_map(
    path: str | Path,
    legend: str | Path | dict | list,
    *,
    shape: tuple[int, int],
    max_pixels: int | None = None,
) -> list[LabelledRegion]:
    """Regions of a label-map image, in the legend's order (later ones lie on top).

    Args:
        path: a gray (8 or 16 bit) image whose pixel values are label numbers, or an RGB image
            whose colors are labels.
        legend: a JSON file (or the parsed JSON) mapping values to labels (see
            :func:`_legend_entries`); value 0 may be listed too, it is not special.
        shape: ``(H, W)`` of the image the labels apply to.

    Raises:
        InputError: unreadable legend, a legend value absent from the map.
        ShapeError: the map's size differs from ``shape``.
    """
    from polychrome.io import DEFAULT_MAX_PIXELS, read_image

    source = Path(path).name
    if isinstance(legend, str | Path):
        try:
            legend_data = json.loads(Path(legend).read_text())
        except FileNotFoundError:
            raise InputError(f"no such legend file: {legend}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"legend {legend} is not valid JSON: {exc}") from None
        legend_name = Path(legend).name
    else:
        legend_data, legend_name = legend, "legend"
    entries = _legend_entries(legend_data, legend_name)
    image = read_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    if image.shape != shape:
        raise ShapeError(
            f"label map {source} is {image.shape[1]}x{image.shape[0]} but the image is "
            f"{shape[1]}x{shape[0]}"
        )
    pixels = image.pixels
    # 1. Each legend key as a number of the map: a gray level, or a color packed in 24 bits.
    numbers = []
    for key, _ in entries:
        if key.startswith("#"):
            if pixels.ndim != 3:
                raise InputError(f"legend uses color {key} but label map {source} is gray")
            numbers.append(int(key[1:], 16))
        else:
            if pixels.ndim != 2:
                raise InputError(
                    f"legend uses number {key} but label map {source} is a color image; "
                    "use #rrggbb keys or save the map as gray"
                )
            numbers.append(int(key))
    # 2. One label image for all of them: where each key occurs, its bounding box and count.
    values = list(dict.fromkeys(numbers))  # distinct keys, in the legend's order; 1, 2, ...
    labels, boxes, counts = _label_image(pixels, values, image.max_value)
    regions = []
    for (key, label), number in zip(entries, numbers, strict=True):
        value = values.index(number) + 1
        if not counts[value]:
            raise InputError(f"label {label!r} ({key}) does not occur in label map {source}")
        mask = LabelMask(labels, value, boxes[value], counts[value])
        regions.append(LabelledRegion(label=label, mask=mask, source=f"{source}={key}"))
    return regions


_STRIP_PIXELS = 1 << 20
"""Pixels per strip of rows in :func:`_label_image`."""


def _label_image(
    pixels: np.ndarray, values: list[int], max_value: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], np.ndarray]:
    """Which of ``values`` each pixel holds, by a lookup table, strip by strip.

    Args:
        pixels: ``(H, W)`` gray levels, compared with ``values`` exactly, or ``(H, W, 3)``
            colors (``uint8`` or ``uint16``, rounded to 8 bits), compared with ``values`` as
            8-bit colors ``0xrrggbb``: a pixel takes the nearest key within
            :data:`COLOR_TOLERANCE` levels in every channel (a JPEG or an antialiased brush
            moves colors), none when no key is that close.
        values: the distinct keys.

    Returns:
        ``labels`` ``(H, W)`` (``uint8`` up to 255 keys): ``k + 1`` where the pixel holds
        ``values[k]``, 0 elsewhere; for each label number, its box ``(y0, y1, x0, x1)`` and
        pixel count (0: absent).
    """
    count = len(values) + 1
    kind = np.uint8 if count <= 256 else np.uint16 if count <= 1 << 16 else np.uint32
    h, w = pixels.shape[:2]
    factor = max(1, max_value // 255)
    if pixels.ndim == 2:
        table = np.zeros(int(max_value) + 1, kind)
        for k, v in enumerate(values):
            if v <= max_value:
                table[v] = k + 1
    else:
        table = np.zeros(1 << 24, kind)
        decided = np.zeros(1 << 24, bool)  # colors whose nearest key has been looked up
        for k, v in enumerate(values):
            if v < 1 << 24:
                table[v] = k + 1
                decided[v] = True
    labels = np.empty((h, w), kind)
    rows_seen = np.zeros((h, count), bool)
    cols_seen = np.zeros((w, count), bool)
    counts = np.zeros(count, np.int64)
    step = max(1, _STRIP_PIXELS // w)
    for y0 in range(0, h, step):
        strip = pixels[y0 : y0 + step]
        if strip.ndim == 3:
            rgb = strip[..., :3].astype(np.uint32)
            if factor > 1:
                rgb = (rgb + factor // 2) // factor
            index = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            new = ~decided[index]
            if new.any():  # colors no key names exactly, each looked up once
                fresh = np.unique(index[new])
                table[fresh] = _nearest_keys(fresh, values, kind)
                decided[fresh] = True
            strip = index
        found = table[strip]
        labels[y0 : y0 + step] = found
        n = len(found)
        # Counts per (row, label) and per (column, label) in two bincounts.
        by_row = np.bincount(
            (found + count * np.arange(n)[:, None]).ravel(), minlength=n * count
        ).reshape(n, count)
        by_col = np.bincount(
            (found + count * np.arange(w)[None, :]).ravel(), minlength=w * count
        ).reshape(w, count)
        rows_seen[y0 : y0 + n] = by_row > 0
        cols_seen |= by_col > 0
        counts += by_row.sum(axis=0)
    boxes = []
    for k in range(count):
        rows, cols = np.flatnonzero(rows_seen[:, k]), np.flatnonzero(cols_seen[:, k])
        if len(rows):
            boxes.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
        else:
            boxes.append((0, 0, 0, 0))
    return labels, boxes, counts


COLOR_TOLERANCE = 32
"""A color label map's pixel within this many 8-bit levels of a legend color, in every channel,
is that label (the nearest one): a JPEG or an antialiased brush moves the colors of a map,
mostly at edges. Pixels halfway between two colors (the edges' blend) belong to neither."""


def _nearest_keys(colors: np.ndarray, values: list[int], kind: type) -> np.ndarray:
    """For packed 8-bit colors ``colors`` (N,), the label number (``k + 1``) of the nearest of
    ``values`` within :data:`COLOR_TOLERANCE` in every channel, 0 where none is."""

    def channels(packed: np.ndarray) -> np.ndarray:
        return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1)

    keys = np.asarray([v for v in values if v < 1 << 24], np.int64)
    numbers = np.asarray([k + 1 for k, v in enumerate(values) if v < 1 << 24], np.int64)
    out = np.zeros(len(colors), kind)
    if not len(keys):
        return out
    key_rgb = channels(keys).astype(np.int16)
    step = max(1, (1 << 22) // len(keys))
    for i in range(0, len(colors), step):
        rgb = channels(colors[i : i + step].astype(np.int64)).astype(np.int16)
        distance = np.abs(rgb[:, None, :] - key_rgb[None]).max(axis=2)
        best = distance.argmin(axis=1)
        near = distance[np.arange(len(best)), best] <= COLOR_TOLERANCE
        out[i : i + step] = np.where(near, numbers[best], 0)
    return out


# --------------------------------------------------------------------------- interactive


_MAX_UPSCALE = 4.0
"""Images smaller than the working size are enlarged to it, by at most this factor."""


def _work_scale(shape: tuple[int, int], work_pixels: int) -> float:
    """Scale to the working size, in both directions: segments, floods and the click's
    neighbourhood are sized in working pixels, so a small image enlarged to the working size
    splits the way the same picture at a larger size does (at its own size, a 400 x 300 scan
    was segmented much more coarsely relative to its objects)."""
    return min(_MAX_UPSCALE, float(np.sqrt(work_pixels / (shape[0] * shape[1]))))


def _to_work(luminance: np.ndarray, work_pixels: int) -> tuple[np.ndarray, float]:
    luminance = np.asarray(luminance, np.float32)
    if luminance.ndim != 2:
        raise ShapeError(f"luminance must be (H, W), got {luminance.shape}")
    s = _work_scale(luminance.shape, work_pixels)
    h, w = luminance.shape
    small = luminance
    if abs(s - 1) > 0.05:
        size = (max(8, round(w * s)), max(8, round(h * s)))
        how = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        small = cv2.resize(luminance, size, interpolation=how)
    else:
        s = 1.0
    lum8 = np.clip(small * 2.55, 0, 255).astype(np.uint8)
    return lum8, s


def _to_full(
    fg: np.ndarray,
    luminance: np.ndarray,
    *,
    keep: np.ndarray | None = None,
    point: tuple[int, int] | None = None,
) -> np.ndarray:
    """Upsample a working-resolution foreground mask to full resolution, edges guided by
    luminance, and snap it to the luminance edges; ``keep`` (full-res bool) bounds the result,
    ``point`` (x, y: the click) is inside it."""
    from polychrome.ops.filters import guided_upsample

    h, w = luminance.shape
    if fg.shape == (h, w):
        mask = fg.copy()
    elif fg.size > h * w:  # worked on an enlarged image: reduce (area share over a half)
        mask = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.5
    else:
        low = cv2.resize(luminance, fg.shape[::-1], interpolation=cv2.INTER_AREA)
        soft = np.repeat(fg.astype(np.float32)[..., None] * 100.0, 2, axis=2)
        up = guided_upsample(soft, low, luminance, radius=2, eps=4.0, max_gain=20.0)
        mask = up[..., 0] > 50.0
    # The working-size windows reach 3 working pixels across an edge, the upsampling 2 more.
    depth = int(np.ceil(3 * w / fg.shape[1])) + 2
    mask = _snap_to_edges(mask, luminance, depth=depth, point=point)
    if keep is not None:
        mask &= keep
    return mask


_EDGE_STEP = 10.0
"""Lightness change (L*, summed along a path) that counts as crossing an edge in
:func:`_snap_to_edges`."""

_NOISE_STEPS = 3.0
"""Steps between neighbouring pixels up to this many times the median step near the boundary
(the image's noise), and at most 2 L*, cost nothing in :func:`_snap_to_edges`."""


def _snap_to_edges(
    mask: np.ndarray,
    luminance: np.ndarray,
    *,
    depth: int,
    point: tuple[int, int] | None = None,
) -> np.ndarray:
    """``mask`` without the strip of background it took along an object's outline.

    Distances here are geodesic: the least lightness change summed along a path (Dijkstra on
    the 4-connected grid; steps of the image's noise, see :data:`_NOISE_STEPS`, are free)
    through the pixels near the boundary. The outside is the image more than ``depth`` outside
    the mask. The core is ``point``, the mask more than ``2 * depth`` inside, and the mask's
    pixels at least twice :data:`_EDGE_STEP` from the outside (behind an edge); a wide strip
    of background is not core, as it reaches the outside freely. A mask pixel that reaches the
    outside with :data:`_EDGE_STEP` less change than the core lies past an edge; these pixels
    are dropped where they form a strip at most ``2 * depth`` wide (a thicker piece is
    something the segmentation chose, not a fringe). Where no edge separates mask and outside
    (a box cutting a uniform area) nothing changes, and parts of the mask with no core are
    left as they are.

    Args:
        mask: ``(H, W)`` bool.
        luminance: ``(H, W)`` float, L* 0..100.
        depth: how far (pixels) the mask may have run past an edge; the outside may stop short
            of an edge by as much.
        point: ``(x, y)`` of a pixel known to be inside (a click), or None.

    Returns:
        ``(H, W)`` bool, a subset of ``mask``.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    depth_in = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    depth_out = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    outside = depth_out > depth
    band = (mask & (depth_in <= 2 * depth)) | (~mask & ~outside)
    if not band.any() or not outside.any():
        return mask
    # Paths run through the band (and the pixels around it), within its bounding box.
    ys, xs = np.nonzero(band)
    y0, y1 = max(0, ys.min() - 1), min(mask.shape[0], ys.max() + 2)
    x0, x1 = max(0, xs.min() - 1), min(mask.shape[1], xs.max() + 2)
    crop = np.s_[y0:y1, x0:x1]
    near = cv2.dilate(band[crop].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lum = cv2.GaussianBlur(np.asarray(luminance[crop], np.float32), (0, 0), 0.8)[near]
    node = np.full(near.shape, -1, np.int64)
    node[near] = np.arange(lum.size)
    i = np.concatenate([node[:, :-1][near[:, :-1] & near[:, 1:]], node[:-1][near[:-1] & near[1:]]])
    j = np.concatenate([node[:, 1:][near[:, :-1] & near[:, 1:]], node[1:][near[:-1] & near[1:]]])
    step = np.abs(lum[i] - lum[j])
    noise = float(np.clip(_NOISE_STEPS * np.median(step), 0.25, 2.0))
    change = np.maximum(step - noise, 0.0) + 1e-3
    graph = sp.csr_matrix((change, (i, j)), shape=(lum.size, lum.size))

    def distance(seeds: np.ndarray) -> np.ndarray:
        found = np.full(near.shape, np.inf)
        start = node[seeds & near]
        if start.size:
            found[near] = dijkstra(graph, directed=False, indices=start, min_only=True)
        return found

    inside = mask[crop]
    to_outside = distance(outside[crop])
    core = inside & ((depth_in[crop] > 2 * depth) | (to_outside >= 2 * _EDGE_STEP))
    if point is not None and y0 <= point[1] < y1 and x0 <= point[0] < x1:
        core[point[1] - y0, point[0] - x0] = inside[point[1] - y0, point[0] - x0]
    to_core = distance(core)
    drop = inside & band[crop] & (to_outside + _EDGE_STEP < to_core)
    # Only thin strips go: a piece more than ``2 * depth`` wide anywhere stays whole.
    n, pieces = cv2.connectedComponents(drop.astype(np.uint8), connectivity=8)
    width = cv2.distanceTransform(drop.astype(np.uint8), cv2.DIST_L2, 3)
    widest = np.zeros(n, np.float32)
    np.maximum.at(widest, pieces[drop], width[drop])
    drop &= (widest <= depth + 1)[pieces]
    # Parts of the mask with no core (no edge to tell them by) stay whole.
    n, parts = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    cored = np.zeros(n, bool)
    cored[parts[crop][core]] = True
    cored[parts[depth_in > 2 * depth]] = True
    snapped = mask.copy()
    snapped[crop] &= ~(drop & cored[parts[crop]])
    return snapped


def _check_point(x: float, y: float, shape: tuple[int, int]) -> None:
    h, w = shape
    if not (0 <= x < w and 0 <= y < h):
        raise ValueCheckError(f"click {x:g},{y:g} is outside the {w}x{h} image")


def region_from_box(
    luminance: np.ndarray,
    box: Sequence[float],
    *,
    work_pixels: int = WORK_PIXELS,
) -> np.ndarray:
    """The object inside ``box`` (``x0, y0, x1, y1`` in full-resolution pixels, inclusive of
    ``x0, y0``, exclusive of ``x1, y1``; any two opposite corners, in either order); ``(H, W)``
    bool, never outside the box.

    Raises:
        ValueCheckError: a box that is empty or outside the image.
    """
    h, w = np.shape(luminance)[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    given = f"{x0:g},{y0:g},{x1:g},{y1:g}"
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(w), x1), min(float(h), y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueCheckError(f"box {given} is empty or outside the {w}x{h} image")
    lum8, s = _to_work(luminance, work_pixels)
    sh, sw = lum8.shape
    rx0, ry0 = int(np.floor(x0 * s)), int(np.floor(y0 * s))
    rx1, ry1 = min(sw, int(np.ceil(x1 * s))), min(sh, int(np.ceil(y1 * s)))
    keep = np.zeros((h, w), bool)
    keep[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    if rx1 - rx0 < 3 or ry1 - ry0 < 3:  # too small to segment at working size: the box itself
        return keep
    # The segments lying mostly inside the box are the object; the ones the box cuts through
    # belong to what surrounds it.
    segments = _segments(lum8)
    inside = np.zeros(lum8.shape, bool)
    inside[ry0:ry1, rx0:rx1] = True
    counts = np.maximum(np.bincount(segments.ravel()), 1)
    share = np.bincount(segments[inside], minlength=len(counts)) / counts
    fg = (share[segments] > 0.75) & inside
    flood = _stable_flood(lum8, ((rx0 + rx1) // 2, (ry0 + ry1) // 2))
    if (flood & inside).sum() > 0.9 * flood.sum() and flood.sum() > 0.2 * inside.sum():
        # A clean object around the box's centre: it, and the segments it mostly covers.
        covered = np.bincount(segments[flood], minlength=len(counts)) / counts
        fg = flood | ((covered[segments] > 0.5) & inside)
    if not fg.any():
        return keep
    mask = _to_full(fg, np.asarray(luminance, np.float32), keep=keep)
    return mask if mask.any() else keep


def _segments(lum8: np.ndarray) -> np.ndarray:
    """Felzenszwalb-Huttenlocher segments of luminance and local contrast (so that a
    textured area such as hair or foliage stays one segment)."""
    from skimage.segmentation import felzenszwalb

    f = lum8.astype(np.float32)
    mean = cv2.blur(f, (7, 7))
    std = np.sqrt(np.maximum(cv2.blur(f * f, (7, 7)) - mean * mean, 0))
    features = np.dstack([f, 2 * std]) / 255.0
    min_size = max(20, lum8.size // 2000)
    return felzenszwalb(features, scale=300, sigma=0.8, min_size=min_size, channel_axis=-1)


def _stable_flood(lum8: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """Flood fill from ``seed`` (x, y) at the largest tolerance before it leaks: growth that
    adds pixels whose mean luminance differs from the region's is a leak across an edge.
    (Segments split smooth but noisy areas; the flood keeps them whole.)"""
    smooth = cv2.GaussianBlur(lum8, (5, 5), 0)
    values = smooth.astype(np.float32)
    best = np.zeros(smooth.shape, bool)
    best[seed[1], seed[0]] = True
    for tol in (1, 2, 3, 4, 6, 8, 11, 15):
        mask = np.zeros((smooth.shape[0] + 2, smooth.shape[1] + 2), np.uint8)
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
        cv2.floodFill(smooth.copy(), mask, seed, 0, tol, tol, flags)
        region = mask[1:-1, 1:-1].astype(bool)
        added = region & ~best
        if added.sum() > 0.05 * best.sum():
            shift = abs(float(values[added].mean()) - float(values[best].mean()))
            if shift > max(4.0, 1.5 * tol):
                break
        best = region
    return best


_CLICK_TONE = 36.0
"""How far (8-bit working levels, about 14 L*) the local mean lightness of a clicked region's
pixels may lie from the clicked spot's."""


def _near_the_click(lum8: np.ndarray, seed: tuple[int, int], fg: np.ndarray) -> np.ndarray:
    """The part of ``fg`` connected to the clicked ``seed`` (x, y) through pixels whose local
    mean lightness (7 x 7) is within :data:`_CLICK_TONE` of the clicked spot's, small gaps
    closed. A segment can reach across an edge where a gradient joins two tones (a light table
    and a dark saucer, a face under dark hair); this keeps the tone that was clicked."""
    local = cv2.blur(lum8.astype(np.float32), (7, 7))
    near = fg & (np.abs(local - local[seed[1], seed[0]]) < _CLICK_TONE)
    _, labels = cv2.connectedComponents(near.astype(np.uint8), connectivity=8)
    part = (labels == labels[seed[1], seed[0]]).astype(np.uint8)
    part = cv2.morphologyEx(part, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)
    return part & fg


def region_from_click(
    luminance: np.ndarray,
    x: float,
    y: float,
    *,
    work_pixels: int = WORK_PIXELS,
) -> np.ndarray:
    """The region around the clicked pixel ``(x, y)`` (full-resolution column, row);
    ``(H, W)`` bool, always containing the clicked pixel.

    Raises:
        ValueCheckError: a click outside the image.
    """
    luminance = np.asarray(luminance, np.float32)
    _check_point(x, y, luminance.shape)
    lum8, s = _to_work(luminance, work_pixels)
    sh, sw = lum8.shape
    seed = (min(sw - 1, int(x * s)), min(sh - 1, int(y * s)))
    segments = _segments(lum8)
    fg = (segments == segments[seed[1], seed[0]]) | _stable_flood(lum8, seed)
    yi = min(luminance.shape[0] - 1, int(y))
    xi = min(luminance.shape[1] - 1, int(x))
    mask = _to_full(_near_the_click(lum8, seed, fg), luminance, point=(xi, yi))
    mask[yi, xi] = True
    return mask
