"""Hypothesis strategies for fuzzing ``POST /v1/colorize``: malformed images, masks and form fields.

Used by tests/test_serve.py (a few hundred cases) and benchmarks/fuzz_serve.py (10,000 cases).
A case is a multipart body given as ``parts`` (``(field, (filename or None, bytes))``: a filename
makes a file part, None a text field) or, for malformed bodies, raw ``content`` with a content type.
Images are tiny, so that even the cases that reach the solver are fast.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from polychrome.io import encode_image

# Option values: the valid ones first (a "sane" case uses only those), then broken ones.
OPTION_VALUES = {
    "engine": (["none", "none", "none", "cnn"], ["", "nope", "NONE", "none "]),
    "seed": (["0", "1", "7", "99999999999999999999999"], ["-1", "1e3", "x", "", "3.5"]),
    "samples": (["1", "2"], ["0", "17", "-3", "two", "1.0"]),
    "saturation": (["0", "1", "2.5"], ["3.01", "-1", "nan", "inf", "-inf", "1e309", "abc"]),
    "method": (["auto", "fast", "exact"], ["slow", "", "AUTO"]),
    "working_pixels": (["4096", "100000"], ["4095", "4000001", "0", "x"]),
    "upsample": (["guided", "linear"], ["cubic", ""]),
    "max_pixels": (["1000000", "100000000"], ["1", "100", "0", "-5", "1e9", "big"]),
}
ENGINE_OPTIONS = [
    "",
    "{}",
    '{"temperature": 0.5}',
    '{"net_side": 64}',
    '{"net_side": 1e300}',
    '{"net_side": 99999999999999999999999}',
    '{"temperature": "hot"}',
    '{"model": "/etc/passwd"}',
    '{"bogus": 1}',
    '{"temperature": NaN}',
    '{"diversity": Infinity}',
    '{"temperature": [1]}',
    "[1, 2]",
    '"text"',
    "{",
    "null",
    "[" * 5000,
]
COLORS = (["red", "dark green", "#1e90ff", "blurple"], ["car", "zzqx", " ", ""])
LABELS = (["car", "red car", "sky", "red"], ["", "  "])
FORMATS = ["png", "json", "", "gif", "JSON"]


def _encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """Gray ``(H, W)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``, 8 or 16 bit, encoded."""
    if array.ndim == 3 and array.shape[2] == 4:
        return encode_image(array[..., :3], alpha=array[..., 3], format=fmt)
    return encode_image(array, format=fmt)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (the data is a stub)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    stub = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stub) + chunk(b"IEND", b"")


@st.composite
def _array(draw, shape: tuple[int, int], *, channels: int) -> np.ndarray:
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    full = (*shape, channels) if channels > 1 else shape
    return rng.integers(0, 256, size=full, dtype=np.uint8)


@st.composite
def image_bytes(draw, shape: tuple[int, int], *, channels: int = 1) -> bytes:
    """An encoded image of ``shape``, often valid, often broken."""
    kind = draw(
        st.sampled_from(
            [
                "png",
                "png",
                "png",
                "jpeg",
                "png16",
                "truncated",
                "flipped",
                "random",
                "empty",
                "huge",
                "zero",
                "webp",
                "tiff",
            ]
        )
    )
    array = draw(_array(shape, channels=channels))
    if kind == "png":
        return _encode(array)
    if kind == "png16":
        return _encode(array.astype(np.uint16) * 257)
    if kind == "jpeg":
        return _encode(array if channels in (1, 3) else array[..., :3], "JPEG")
    if kind == "webp":
        return _encode(array, "WEBP")
    if kind == "tiff":
        return _encode(array, "TIFF")
    if kind == "truncated":
        data = _encode(array)
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flipped":
        data = bytearray(_encode(array))
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "empty":
        return b""
    if kind == "huge":
        return _png_claiming(draw(st.sampled_from([100_000, 2**31 - 1, 70_000])), 100_000)
    return _png_claiming(0, draw(st.integers(0, 5)))  # "zero": an invalid size


@st.composite
def hint_bytes(draw, shape: tuple[int, int], *, sane: bool = False) -> bytes:
    """An RGBA hint image: strokes on transparency, all transparent, or no alpha at all."""
    kind = "strokes" if sane else draw(st.sampled_from(["strokes", "clear", "opaque", "other"]))
    if kind == "other":
        return draw(image_bytes(shape, channels=draw(st.sampled_from([1, 3, 4]))))
    rgba = draw(_array(shape, channels=4))
    if kind == "clear":
        rgba[..., 3] = 0
    elif kind == "strokes":
        rgba[..., 3] = np.where(rgba[..., 3] > 200, 255, 0).astype(np.uint8)
    else:
        return _encode(rgba[..., :3])
    return _encode(rgba)


@st.composite
def mask_bytes(draw, shape: tuple[int, int], *, sane: bool = False) -> bytes:
    """A mask: a white rectangle on black, all white, all black, or any image."""
    choices = ["blob", "full"] if sane else ["blob", "empty", "full", "other"]
    kind = draw(st.sampled_from(choices))
    if kind == "other":
        return draw(image_bytes(shape, channels=draw(st.sampled_from([1, 3, 4]))))
    mask = np.zeros(shape, np.uint8)
    if kind == "full":
        mask[:] = 255
    elif kind == "blob":
        h, w = shape
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        mask[y0 : y0 + draw(st.integers(1, h)), x0 : x0 + draw(st.integers(1, w))] = 255
    return _encode(mask)


@dataclass
class Case:
    """One request: multipart ``parts``, or a raw body (``content`` with ``content_type``)."""

    parts: list[tuple[str, tuple[str | None, bytes]]]
    content: bytes | None = None
    content_type: str | None = None


@st.composite
def cases(draw) -> Case:
    """A fuzzed request to ``POST /v1/colorize``: half are sane (valid files of the right size,
    valid options) so that the guidance and solver paths run, half are chaos."""
    if draw(st.integers(0, 19)) == 0:
        boundary = draw(st.sampled_from(["zz", "", "a" * 80, "--"]))
        body = draw(st.binary(max_size=300))
        if draw(st.booleans()):
            body = f'--{boundary}\r\nContent-Disposition: form-data; name="image"'.encode() + body
        kind = draw(st.sampled_from(["multipart/form-data", "application/json", "text/plain"]))
        content_type = f"{kind}; boundary={boundary}" if kind.startswith("multipart") else kind
        return Case([], content=body, content_type=content_type)

    sane = draw(st.booleans())

    def pick(choices: tuple[list[str], list[str]]) -> str:
        good, bad = choices
        return draw(st.sampled_from(good if sane else good + bad))

    def near(shape: tuple[int, int]) -> tuple[int, int]:
        if not sane and draw(st.integers(0, 5)) == 0:  # now and then, the wrong size
            return (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
        return shape

    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    parts: list[tuple[str, tuple[str | None, bytes]]] = []
    image_kind = "file" if sane else draw(st.sampled_from(["file", "missing", "twice", "text"]))
    if image_kind != "missing":
        if sane:
            gray = draw(_array(shape, channels=1))
            data = _encode(gray, draw(st.sampled_from(["PNG", "JPEG"])))
        else:
            data = draw(image_bytes(shape, channels=draw(st.sampled_from([1, 1, 3, 4]))))
        name = draw(st.sampled_from(["gray.png", "", "../../etc/x.png", "a\x00b\n.png", "é.jpg"]))
        parts.append(("image", (None if image_kind == "text" else name, data)))
        if image_kind == "twice":
            parts.append(("image", ("again.png", data)))
    if draw(st.booleans()):
        hints = draw(hint_bytes(near(shape), sane=sane))
        parts.append(("hints", ("strokes.png", hints)))
    for mask_field, text_field, words in (
        ("region_mask", "region_color", COLORS),
        ("label_mask", "label", LABELS),
    ):
        masks = draw(st.integers(0, 2))
        texts = masks if sane or draw(st.integers(0, 5)) else draw(st.integers(0, 3))
        for k in range(masks):
            data = draw(mask_bytes(near(shape), sane=sane))
            parts.append((mask_field, (f"mask-{k}.png", data)))
        for _ in range(texts):
            parts.append((text_field, (None, pick(words).encode())))
    if draw(st.booleans()):
        texts = st.sampled_from(["a red car under a blue sky", "sepia", "warm tones", ""])
        if not sane:
            texts = st.one_of(texts, st.text(max_size=60), st.just("x" * 2001))
        parts.append(("description", (None, draw(texts).encode("utf-8", "surrogatepass"))))
    if draw(st.integers(0, 3)) == 0:
        if sane:
            ref = _encode(draw(_array(near(shape), channels=3)))
        else:
            ref = draw(image_bytes(near(shape), channels=draw(st.sampled_from([1, 3]))))
        parts.append(("reference", ("ref.png", ref)))
    chosen = draw(st.sets(st.sampled_from(sorted(OPTION_VALUES)), max_size=4))
    if "engine" not in chosen and draw(st.integers(0, 9)):
        parts.append(("engine", (None, b"none")))  # mostly the fast engine
    values = {name: pick(OPTION_VALUES[name]) for name in sorted(chosen)}
    for name, value in values.items():
        parts.append((name, (None, value.encode())))
    if values.get("samples", "1") != "1" and sane:
        parts.append(("format", (None, b"json")))
    if not sane and draw(st.integers(0, 4)) == 0:
        parts.append(("engine_options", (None, draw(st.sampled_from(ENGINE_OPTIONS)).encode())))
    if not sane and draw(st.integers(0, 3)) == 0:
        parts.append(("format", (None, draw(st.sampled_from(FORMATS)).encode())))
    if not sane and draw(st.integers(0, 9)) == 0:
        field = draw(st.sampled_from(["bogus", "IMAGE", "hints", "label", "seed"]))
        parts.append((field, (draw(st.sampled_from([None, "f.png"])), b"1")))
    return Case(parts)


def post(client, case: Case):
    """Send ``case`` with an httpx-style client (FastAPI's TestClient or httpx.Client)."""
    if case.content is not None:
        return client.post(
            "/v1/colorize", content=case.content, headers={"content-type": case.content_type}
        )
    return client.post("/v1/colorize", files=case.parts or [("engine", (None, b"none"))])


def check(response) -> None:
    """What every answer must be: a result, or a JSON refusal with 413 or 422; never a 500."""
    status = response.status_code
    assert status in (200, 413, 422), (status, response.text[:500])
    if status == 200:
        kind = response.headers["content-type"]
        if kind == "image/png":
            assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            body = response.json()
            assert body["images"] and body["metadata"]["options"]
    else:
        body = response.json()
        assert body["status"] == status and body["detail"], body
        assert "Traceback" not in body["detail"]
