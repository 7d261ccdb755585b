"""Tests of the color vocabulary and color-phrase parsing (polychrome.guidance.palette)."""

from __future__ import annotations

import json
import math
import re
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from polychrome.errors import ShapeError, UnknownColorError, ValueCheckError
from polychrome.guidance import palette
from polychrome.guidance.palette import (
    BASIC_COLOR_NAMES,
    Color,
    ColorPhrase,
    color_names,
    nearest_color_name,
    parse_color,
    parse_color_phrase,
)
from polychrome.ops.color import rgb_to_lab


def _chroma(color: Color) -> float:
    return math.hypot(*color.ab)


def _hue(color: Color) -> float:
    """Lab hue angle in degrees, ``[0, 360)``."""
    return math.degrees(math.atan2(color.lab[2], color.lab[1])) % 360.0


def _hue_diff(a: Color, b: Color) -> float:
    d = abs(_hue(a) - _hue(b)) % 360.0
    return min(d, 360.0 - d)


# --- the shipped data -------------------------------------------------------------------------


def _data() -> dict:
    text = resources.files("polychrome.guidance").joinpath("colors.json").read_text("utf-8")
    return json.loads(text)


def test_colors_json_shape_and_credit() -> None:
    data = _data()
    assert set(data) == {"_source", "css", "xkcd"}
    assert len(data["css"]) == 148
    assert len(data["xkcd"]) == 949
    assert "CC0" in data["_source"] and "W3C" in data["_source"]
    hex_re = re.compile(r"#[0-9a-f]{6}")
    for table in ("css", "xkcd"):
        assert all(hex_re.fullmatch(v) for v in data[table].values())
    assert data["xkcd"]["red"] == "#e50000"
    assert data["css"]["cornflowerblue"] == "#6495ed"


def test_palette_does_not_import_matplotlib() -> None:
    source = Path(palette.__file__).read_text("utf-8")
    assert "matplotlib" not in source


def test_index_builds_fast() -> None:
    best = math.inf
    for _ in range(3):
        palette._vocabulary.cache_clear()
        start = time.perf_counter()
        palette._vocabulary()
        best = min(best, time.perf_counter() - start)
    assert best < 0.05


# --- parse_color: exact values ----------------------------------------------------------------

EXACT = [
    # (text, canonical name, hex)
    ("red", "red", "#e50000"),  # XKCD wins over CSS red #ff0000
    ("Red", "red", "#e50000"),
    ("  RED ", "red", "#e50000"),
    ("navy", "navy", "#01153e"),
    ("blue", "blue", "#0343df"),
    ("green", "green", "#15b01a"),
    ("light blue", "light blue", "#95d0fc"),  # full XKCD name, not a derived color
    ("Light Blue", "light blue", "#95d0fc"),
    ("light-blue", "light blue", "#95d0fc"),
    ("LIGHT_BLUE", "light blue", "#95d0fc"),
    ("light    blue", "light blue", "#95d0fc"),
    ("dark green", "dark green", "#033500"),
    ("Dark-Green", "dark green", "#033500"),
    ("darkgreen", "darkgreen", "#054907"),  # XKCD has the one-word name too
    ("very dark brown", "very dark brown", "#1d0200"),
    ("navy blue", "navy blue", "#001146"),
    ("grey", "grey", "#929591"),
    ("gray", "grey", "#929591"),
    ("Slate Gray", "slate grey", "#59656d"),
    ("cornflowerblue", "cornflowerblue", "#6495ed"),  # CSS fills in
    ("dodgerblue", "dodgerblue", "#1e90ff"),
    ("rebecca purple", "rebeccapurple", "#663399"),  # spaced form finds a CSS one-word name
    ("medium-sea-green", "mediumseagreen", "#3cb371"),
    ("light slate gray", "lightslategrey", "#778899"),
    ("lightslategray", "lightslategrey", "#778899"),
    ("robin's egg", "robin's egg", "#6dedfd"),
    ("robins egg", "robin's egg", "#6dedfd"),
    ("green/yellow", "green/yellow", "#b5ce08"),
    ("#1e90ff", "#1e90ff", "#1e90ff"),
    ("#1E90FF", "#1e90ff", "#1e90ff"),
    ("#abc", "#aabbcc", "#aabbcc"),
    ("rgb(30, 144, 255)", "rgb(30, 144, 255)", "#1e90ff"),
    ("rgb(30,144,255)", "rgb(30, 144, 255)", "#1e90ff"),
    ("RGB( 0 , 0 , 0 )", "rgb(0, 0, 0)", "#000000"),
]


@pytest.mark.parametrize(("text", "name", "hex_"), EXACT)
def test_parse_color_exact(text: str, name: str, hex_: str) -> None:
    color = parse_color(text)
    assert color.name == name
    assert color.hex == hex_


def test_hex_is_exact_and_lab_matches_ops() -> None:
    color = parse_color("#1e90ff")
    assert color.rgb == (30 / 255, 144 / 255, 255 / 255)
    expected = rgb_to_lab(np.array(color.rgb, dtype=np.float32))
    np.testing.assert_allclose(color.lab, expected, atol=1e-4)
    assert color.ab == (color.lab[1], color.lab[2])
    assert parse_color("rgb(30, 144, 255)").rgb == color.rgb


def test_color_is_frozen() -> None:
    color = parse_color("red")
    with pytest.raises(AttributeError):
        color.name = "blue"  # type: ignore[misc]


# --- parse_color: properties ------------------------------------------------------------------


def test_light_blue_lighter_than_blue() -> None:
    assert parse_color("light blue").lab[0] > parse_color("blue").lab[0] + 10


def test_dark_green_darker_than_green() -> None:
    assert parse_color("dark green").lab[0] < parse_color("green").lab[0] - 10


@pytest.mark.parametrize("text", ["navy", "navy blue", "blue", "dodgerblue"])
def test_blues_have_blue_hue(text: str) -> None:
    assert 250.0 < _hue(parse_color(text)) < 320.0


def test_red_hue_and_grey_is_neutral() -> None:
    assert _hue(parse_color("red")) < 60.0
    assert _chroma(parse_color("grey")) < 3.0
    assert parse_color("white").lab[0] == pytest.approx(100.0, abs=0.01)
    assert parse_color("black").lab[0] == pytest.approx(0.0, abs=0.01)


# (derived text, base text, check on (derived, base))
MODIFIED = [
    ("light crimson", "crimson", lambda d, b: d.lab[0] > b.lab[0] + 10 and _chroma(d) < _chroma(b)),
    ("dark crimson", "crimson", lambda d, b: d.lab[0] < b.lab[0] - 5),
    ("pale crimson", "crimson", lambda d, b: d.lab[0] > b.lab[0] and _chroma(d) < 0.6 * _chroma(b)),
    ("deep tomato", "tomato", lambda d, b: d.lab[0] < b.lab[0] - 5),
    ("bright tomato", "tomato", lambda d, b: _chroma(d) >= _chroma(b) - 0.5),
    ("light cornflowerblue", "cornflowerblue", lambda d, b: d.lab[0] > b.lab[0] + 10),
    ("dark dodger blue", "dodger blue", lambda d, b: d.lab[0] < b.lab[0] - 10),
    ("pale tomato", "tomato", lambda d, b: _chroma(d) < 0.6 * _chroma(b)),
    ("very pale crimson", "pale crimson", lambda d, b: _chroma(d) < _chroma(b)),
    ("very dark teal", "dark teal", lambda d, b: d.lab[0] < b.lab[0]),
    ("dark #1e90ff", "#1e90ff", lambda d, b: d.lab[0] < b.lab[0] - 10),
]


@pytest.mark.parametrize(("text", "base", "check"), MODIFIED)
def test_modifiers_derive_from_base(text: str, base: str, check) -> None:
    assert text not in color_names()  # really derived, not a vocabulary name
    derived, base_color = parse_color(text), parse_color(base)
    assert derived.name == text
    assert check(derived, base_color)
    assert all(0.0 <= c <= 1.0 for c in derived.rgb)
    if _chroma(derived) > 5 and _chroma(base_color) > 5:
        assert _hue_diff(derived, base_color) < 6.0


def test_derived_name_is_normalized_text() -> None:
    assert parse_color("Light-Crimson").name == "light crimson"
    assert parse_color("DEEP  tomato") == parse_color("deep tomato")


def test_derived_light_matches_documented_rule() -> None:
    base, derived = parse_color("crimson"), parse_color("light crimson")
    # light: L* + 15 and chroma x 0.8 (inside sRGB here, so no gamut reduction)
    assert derived.lab[0] == pytest.approx(base.lab[0] + 15.0, abs=0.5)
    assert _chroma(derived) == pytest.approx(0.8 * _chroma(base), abs=0.8)


# --- parse_color: errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word", "suggestion"),
    [
        ("gren", "gren", "green"),
        ("bluw", "bluw", "blue"),
        ("purpel", "purpel", "purple"),
        ("dark gren", "gren", "green"),
    ],
)
def test_parse_color_unknown_word(text: str, word: str, suggestion: str) -> None:
    with pytest.raises(UnknownColorError) as info:
        parse_color(text)
    assert info.value.word == word
    assert suggestion in info.value.suggestions
    assert len(info.value.suggestions) <= 5
    assert repr(word) in str(info.value) and suggestion in str(info.value)


@pytest.mark.parametrize("text", ["1e90ff", "car", "red!", "a red", "blue dark"])
def test_parse_color_rejects_non_colors(text: str) -> None:
    with pytest.raises(UnknownColorError):
        parse_color(text)


@pytest.mark.parametrize("text", ["#12", "#ggg", "#1e90ff0", "rgb(300, 0, 0)", "rgb(1, 2)", ""])
def test_parse_color_malformed_literals(text: str) -> None:
    with pytest.raises(ValueCheckError):
        parse_color(text)


# --- parse_color_phrase -----------------------------------------------------------------------

PHRASES = [
    # (phrase, color name, words)
    ("a dark green car", "dark green", ("car",)),
    ("the navy coat", "navy", ("coat",)),
    ("red", "red", ()),
    ("navy blue coat", "navy blue", ("coat",)),  # longest match wins
    ("The Light-Blue Colored Car", "light blue", ("car",)),
    ("a green-coloured bottle", "green", ("bottle",)),
    ("an orange cat", "orange", ("cat",)),
    ("a very dark green car", "very dark green", ("car",)),
    ("a bright red sports car", "bright red", ("sports", "car")),
    ("a sky blue dress", "sky blue", ("dress",)),
    ("a blue sky", "blue", ("sky",)),  # "sky" is a color name too, but a noun here
    ("green grass", "green", ("grass",)),
    ("the deep blue sea", "deep blue", ("sea",)),
    ("a red brick wall", "red", ("brick", "wall")),
    ("a sand castle", "sand", ("castle",)),
    ("a grey cat", "grey", ("cat",)),
    ("a gray cat", "grey", ("cat",)),
    ("a car painted #1e90ff", "#1e90ff", ("car", "painted")),
    ("a car in rgb(30, 144, 255)", "rgb(30, 144, 255)", ("car", "in")),
    ("blue-green water", "blue green", ("water",)),
    ("a cornflower blue vase", "cornflower blue", ("vase",)),
    ("a light crimson scarf", "light crimson", ("scarf",)),
    ("a robin's egg blue wall", "robin's egg blue", ("wall",)),
    ("red red car", "red", ("car",)),
]


@pytest.mark.parametrize(("text", "name", "words"), PHRASES)
def test_parse_color_phrase(text: str, name: str, words: tuple[str, ...]) -> None:
    phrase = parse_color_phrase(text)
    assert isinstance(phrase, ColorPhrase)
    assert phrase.text == text
    assert phrase.color.name == name
    assert phrase.words == words
    assert phrase.color == parse_color(name)


@pytest.mark.parametrize(
    ("text", "word", "suggestion"),
    [
        ("a gren car", "gren", "green"),
        ("a bluw car", "bluw", "blue"),
        ("purpel dress", "purpel", "purple"),
        ("a dark gren car", "gren", "green"),  # "dark" alone is a color; "gren" is the typo
        ("a rde car", "rde", "red"),  # two letters swapped: short words rated too low
    ],
)
def test_phrase_misspelled_color(text: str, word: str, suggestion: str) -> None:
    with pytest.raises(UnknownColorError) as info:
        parse_color_phrase(text)
    assert info.value.word == word
    assert suggestion in info.value.suggestions
    message = str(info.value)
    assert f"unknown color {word!r} in {text!r}" in message
    assert "did you mean:" in message and suggestion in message


def test_gren_message_lists_green_and_grey() -> None:
    with pytest.raises(UnknownColorError) as info:
        parse_color_phrase("a gren car")
    assert info.value.suggestions[:2] == ["green", "grey"]


@pytest.mark.parametrize("text", ["a car", "a shirt", "the light car"])
def test_phrase_without_color(text: str) -> None:
    with pytest.raises(UnknownColorError) as info:
        parse_color_phrase(text)
    message = str(info.value)
    assert "names no color" in message
    assert "a dark green car" in message  # example phrases
    assert info.value.suggestions == []


@pytest.mark.parametrize(
    "text",
    [
        "red and white car",
        "a red car with white stripes",
        "red, blue",
        "black & white",
        "sand and sky",
        "a blue sky with white clouds",
    ],
)
def test_phrase_with_two_colors(text: str) -> None:
    with pytest.raises(ValueCheckError, match="only one color per region phrase"):
        parse_color_phrase(text)


def test_phrase_empty() -> None:
    with pytest.raises(ValueCheckError):
        parse_color_phrase("   ")


# --- vocabulary and nearest name --------------------------------------------------------------


def test_color_names() -> None:
    names = color_names()
    assert len(names) == len(set(names)) > 1000
    assert {"red", "light blue", "cornflowerblue", "lightslategrey"} <= set(names)
    assert not any("gray" in n for n in names)  # one spelling
    assert set(BASIC_COLOR_NAMES) <= set(names)
    assert 25 <= len(BASIC_COLOR_NAMES) <= 35


def test_every_name_parses_back_to_itself() -> None:
    for name in color_names():
        assert parse_color(name).name == name, name


def test_nearest_color_name_of_xkcd_red() -> None:
    red_lab = rgb_to_lab(np.array([0xE5, 0x00, 0x00], dtype=np.float32) / 255)
    assert nearest_color_name(red_lab) == "red"
    assert nearest_color_name(tuple(float(v) for v in red_lab), basic=True) == "red"


@pytest.mark.parametrize("name", BASIC_COLOR_NAMES)
def test_nearest_basic_name_of_each_basic_color(name: str) -> None:
    assert nearest_color_name(parse_color(name).lab, basic=True) == name


def test_nearest_color_name_basic_restricts() -> None:
    lab = parse_color("cornflowerblue").lab
    assert nearest_color_name(lab) == "cornflowerblue"
    assert nearest_color_name(lab, basic=True) in BASIC_COLOR_NAMES
    assert nearest_color_name(parse_color("very dark green").lab, basic=True) == "black"


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((1, 3)), (1.0, 2.0, 3.0, 4.0)])
def test_nearest_color_name_shape(bad) -> None:
    with pytest.raises(ShapeError):
        nearest_color_name(bad)
