"""The color vocabulary: color names, hex and ``rgb()`` literals, and region phrases.

Vocabulary and precedence
-------------------------
The names ship in ``guidance/colors.json`` (built by ``scripts/build_palette.py``):

1. the 949 names of the XKCD color survey (CC0, Randall Munroe) come first: they record how people
   actually name colors, so ``"red"`` is xkcd red ``#e50000``, ``"navy"`` is ``#01153e``;
2. the 148 CSS Color Module Level 4 names fill in the rest (``"cornflowerblue"``,
   ``"lightslategrey"``, ``"rebeccapurple"``); a CSS name spelled like an XKCD one is shadowed.

Matching is case-insensitive; hyphens, underscores and runs of spaces count as one space;
``gray`` is read as ``grey`` (canonical names use ``grey``). A spaced spelling also finds a CSS
one-word name when XKCD has no such name (``"cornflower blue"`` -> ``cornflowerblue``), and an
apostrophe may be left out (``"robins egg"`` -> ``robin's egg``). Accents do not matter either
(:func:`fold_accents`): ``"écru"`` is ``ecru``, ``"béige"`` is ``beige``.

Modifiers
---------
``light``, ``dark``, ``pale``, ``deep``, ``bright`` may precede any color, optionally intensified
by ``very``. A full name in the vocabulary always wins (``"light blue"``, ``"dark green"``,
``"very dark brown"`` are XKCD colors). Otherwise the modifier is applied to the base color in CIE
Lab, changing lightness ``L*`` and scaling chroma ``C = hypot(a*, b*)`` at constant hue:

============  ============  ================
modifier      ``L*``        chroma
============  ============  ================
``light``     ``+15``       ``x 0.8``
``dark``      ``-15``       unchanged
``pale``      ``+10``       ``x 0.5``
``deep``      ``-10``       ``x 1.15``
``bright``    unchanged     ``x 1.25``
============  ============  ================

``L*`` is clipped to ``[0, 100]`` and the result is brought inside sRGB by lowering chroma at
constant ``L*`` and hue (:func:`polychrome.ops.color.gamut_map`). ``very M X`` is ``M`` applied to
the color ``M X`` (itself looked up first, so ``"very dark teal"`` darkens XKCD ``dark teal``).
Modifiers stack (``"pale light blue"``); the name of a derived color is the normalized text.

A color followed by ``-ish`` (``"beige-ish"``, ``"red ish"``, ``"redish"``; for the basic hues
also ``-y``: ``"orangey"``, ``"greeny"``) is a muted version of it: the same ``L*`` and hue, chroma
``x 0.6`` (:data:`ISH_CHROMA`), named ``"<color>-ish"`` (``"beige-ish"``). Where the vocabulary
has the word itself, it is used: ``"red-ish"`` and ``"redish"`` are XKCD ``reddish``,
``"blue-ish"`` is ``bluish``, ``"orangey"`` is ``orangeish``, ``"pink-y"`` is ``pinky``.

Literals
--------
``#rgb`` and ``#rrggbb`` (the ``#`` is required; the name is ``#rrggbb`` in lowercase) and
``rgb(r, g, b)`` with integers ``0..255`` (the name is ``rgb(r, g, b)``).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from polychrome.errors import ShapeError, UnknownColorError, ValueCheckError
from polychrome.ops.color import lab_to_rgb, rgb_to_lab

__all__ = [
    "BASIC_COLOR_NAMES",
    "ISH_CHROMA",
    "MODIFIERS",
    "Color",
    "ColorPhrase",
    "color_names",
    "fold_accents",
    "is_color_word",
    "lookup_color",
    "nearest_color_name",
    "parse_color",
    "parse_color_phrase",
]

#: Words that change a color: ``(delta L*, chroma factor)``. See the module docstring.
MODIFIERS: dict[str, tuple[float, float]] = {
    "light": (15.0, 0.8),
    "dark": (-15.0, 1.0),
    "pale": (10.0, 0.5),
    "deep": (-10.0, 1.15),
    "bright": (0.0, 1.25),
}
_INTENSIFIER = "very"
#: Chroma factor of a color named with ``-ish`` (``"beige-ish"``), at the same ``L*`` and hue.
ISH_CHROMA = 0.6
# Hues that also take "-y"/"-ey" for "-ish" ("orangey", "greeny"); other words ending in "y" are
# left alone ("sandy", "rosy").
_Y_HUES = frozenset(["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "grey"])

#: The small list :func:`nearest_color_name` picks from with ``basic=True`` (all XKCD names).
BASIC_COLOR_NAMES: tuple[str, ...] = (
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "grey",
    "black",
    "white",
    "beige",
    "teal",
    "navy",
    "cyan",
    "magenta",
    "maroon",
    "olive",
    "lime",
    "violet",
    "lavender",
    "tan",
    "gold",
    "silver",
    "turquoise",
    "indigo",
    "cream",
    "khaki",
    "salmon",
    "burgundy",
)

# Words that are colors first and foremost. Many XKCD names are also nouns ("sky", "grass",
# "sand", "rose", "leaf"); in "a blue sky" the color is "blue" and "sky" is the object.
_CORE_COLOR_WORDS = frozenset(
    [
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "pink",
        "brown",
        "grey",
        "black",
        "white",
        "violet",
        "cyan",
        "magenta",
        "teal",
        "navy",
        "beige",
        "maroon",
        "turquoise",
        "indigo",
        "lavender",
        "gold",
        "silver",
        "crimson",
        "scarlet",
    ]
)
# Dropped from ColorPhrase.words.
_STOPWORDS = frozenset({"a", "an", "the", "color", "colour", "colored", "coloured"})
# Tokens that join two colors ("red and white car"): the phrase names two colors.
_JOINERS = frozenset({"and", "or", "with", "plus", "but", "vs", "versus", "&", "+", ",", ";", "/"})
_PUNCTUATION = frozenset({"&", "+", ",", ";", "/"})
# Valid names never offered as a suggestion for a misspelling.
_NOT_SUGGESTED = frozenset(
    ["shit", "poo", "poop", "puke", "vomit", "barf", "snot", "booger", "piss", "diarrhea"]
)
_EXAMPLES = ('"red"', '"a dark green car"', '"the navy blue coat"', '"#1e90ff"')

_TOKEN_RE = re.compile(r"rgb\s*\([^)]*\)?|#\w*|[a-z0-9']+|[/,&+;]", re.IGNORECASE)
_HEX_RE = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})")
_RGB_RE = re.compile(r"rgb\s*\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)")


@dataclass(frozen=True)
class Color:
    """One color: its canonical name, sRGB and CIE Lab values.

    Attributes:
        name: canonical text, e.g. ``"light blue"``, ``"cornflowerblue"``, ``"#1e90ff"``,
            ``"rgb(30, 144, 255)"``, or the normalized text of a derived color (``"deep teal"``).
        rgb: gamma-encoded sRGB, each in ``[0, 1]``.
        lab: CIE Lab (D65) of ``rgb``, from :func:`polychrome.ops.color.rgb_to_lab`.
    """

    name: str
    rgb: tuple[float, float, float]
    lab: tuple[float, float, float]

    @property
    def ab(self) -> tuple[float, float]:
        """The chroma channels ``(a*, b*)``."""
        return (self.lab[1], self.lab[2])

    @property
    def hex(self) -> str:
        """``#rrggbb`` of :attr:`rgb`, rounded to 8 bits."""
        r, g, b = (round(min(max(c, 0.0), 1.0) * 255) for c in self.rgb)
        return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class ColorPhrase:
    """A region phrase: one color and the words about the object it applies to.

    Attributes:
        text: the phrase as given.
        color: the color it names.
        words: the remaining words, lowercase, in order, without articles (``a``, ``an``,
            ``the``) and ``color``/``colour``/``colored``/``coloured``: ``("car",)`` for
            ``"a dark green car"``.
    """

    text: str
    color: Color
    words: tuple[str, ...]


@dataclass(frozen=True)
class _Vocabulary:
    names: dict[str, str]  # canonical name -> "#rrggbb", XKCD first
    index: dict[str, str]  # lookup key (canonical names and aliases) -> canonical name
    css_compact: dict[str, str]  # CSS one-word names not shadowed by XKCD (spaced lookups)
    suggestable: tuple[str, ...]  # names offered as "did you mean"
    max_words: int


def fold_accents(text: str) -> str:
    """``text`` without diacritics: Unicode NFKD, combining marks dropped.

    >>> fold_accents("Café au lait, béige")
    'Cafe au lait, beige'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _normalize_name(name: str) -> str:
    text = re.sub(r"[\s_-]+", " ", fold_accents(name).strip().lower())
    text = re.sub(r" ?/ ?", "/", text)
    return text.replace("gray", "grey")


@functools.cache
def _vocabulary() -> _Vocabulary:
    raw = resources.files("polychrome.guidance").joinpath("colors.json").read_text("utf-8")
    data = json.loads(raw)
    names: dict[str, str] = {}
    for name, hex_ in data["xkcd"].items():
        names.setdefault(_normalize_name(name), hex_.lower())
    xkcd_names = set(names)
    css_compact: dict[str, str] = {}
    for name, hex_ in data["css"].items():
        key = _normalize_name(name)  # "darkgray" and "darkgrey" both give "darkgrey"
        if key not in xkcd_names:
            names.setdefault(key, hex_.lower())
            css_compact[key] = key
    index = {key: key for key in names}
    for key in names:
        index.setdefault(key.replace("'", ""), key)  # "robins egg" -> "robin's egg"
    suggestable = tuple(
        n for n in names if not any(w in _NOT_SUGGESTED for w in re.split(r"[ /]", n))
    )
    max_words = max(len(_tokenize(n)) for n in names)
    return _Vocabulary(names, index, css_compact, suggestable, max_words)


def color_names() -> list[str]:
    """Every canonical color name in the vocabulary, sorted (XKCD and CSS, ``grey`` spelling)."""
    return sorted(_vocabulary().names)


def _make_color(name: str, rgb: np.ndarray | Sequence[float]) -> Color:
    rgb_arr = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    lab = rgb_to_lab(rgb_arr.astype(np.float32))
    r, g, b = (float(c) for c in rgb_arr)
    lightness, a, bb = (float(c) for c in lab)
    return Color(name=name, rgb=(r, g, b), lab=(lightness, a, bb))


def _hex_to_rgb(hex_: str) -> tuple[float, float, float]:
    return (int(hex_[1:3], 16) / 255.0, int(hex_[3:5], 16) / 255.0, int(hex_[5:7], 16) / 255.0)


@functools.cache
def _named_color(name: str) -> Color:
    return _make_color(name, _hex_to_rgb(_vocabulary().names[name]))


def _parse_literal(token: str) -> Color | None:
    """``#rgb``, ``#rrggbb`` or ``rgb(r, g, b)`` -> Color; None if ``token`` is not one.

    Raises:
        ValueCheckError: it starts like a literal but is malformed or out of range.
    """
    text = token.strip().lower()
    if text.startswith("#"):
        m = _HEX_RE.fullmatch(text)
        if m is None:
            raise ValueCheckError(f"bad hex color {token!r}: use #rgb or #rrggbb, e.g. #1e90ff")
        digits = m.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        hex_ = f"#{digits}"
        return _make_color(hex_, _hex_to_rgb(hex_))
    if re.match(r"rgb\s*\(", text):
        m = _RGB_RE.fullmatch(text)
        if m is None:
            raise ValueCheckError(
                f"bad rgb color {token!r}: use rgb(r, g, b) with integers 0-255, "
                "e.g. rgb(30, 144, 255)"
            )
        values = tuple(int(v) for v in m.groups())
        if max(values) > 255:
            raise ValueCheckError(f"bad rgb color {token!r}: each value must be in 0..255")
        name = f"rgb({values[0]}, {values[1]}, {values[2]})"
        return _make_color(name, [v / 255.0 for v in values])
    return None


def _lookup(key: str) -> str | None:
    vocab = _vocabulary()
    name = vocab.index.get(key)
    if name is None:
        name = vocab.css_compact.get(key.replace(" ", ""))
    return name


def _apply_modifier(base: Color, modifier: str, *, name: str) -> Color:
    delta_l, chroma = MODIFIERS[modifier]
    return _shift_lab(base, delta_l, chroma, name=name)


def _shift_lab(base: Color, delta_l: float, chroma: float, *, name: str) -> Color:
    """``base`` with ``L*`` moved by ``delta_l`` (clipped to 0..100) and chroma scaled by
    ``chroma`` at constant hue."""
    lightness, a, b = base.lab
    lab = np.array(
        [min(max(lightness + delta_l, 0.0), 100.0), a * chroma, b * chroma], dtype=np.float32
    )
    return _make_color(name, lab_to_rgb(lab))  # lab_to_rgb gamut-maps by reducing chroma


@functools.lru_cache(maxsize=4096)
def _resolve(key: str) -> Color | None:
    """Normalized text -> Color (vocabulary, literal, or modifier rule); None if not a color."""
    if not key:
        return None
    if " " not in key and (key.startswith("#") or key.startswith("rgb(")):
        return _parse_literal(key)
    name = _lookup(key)
    if name is not None:
        return _named_color(name)
    ish = _ish_color(key)
    if ish is not None:
        return ish
    first, _, rest = key.partition(" ")
    if not rest:
        return None
    if first in MODIFIERS:
        base = _resolve(rest)
        return None if base is None else _apply_modifier(base, first, name=key)
    if first == _INTENSIFIER:
        modifier = rest.partition(" ")[0]
        if modifier in MODIFIERS:
            base = _resolve(rest)
            return None if base is None else _apply_modifier(base, modifier, name=key)
    return None


def _ish_base(key: str) -> tuple[str, str] | None:
    """``(base, suffix)`` of a ``-ish`` color, ``base`` being the text of the color it mutes:
    ``"red ish"``, ``"redish"`` -> ``("red", "ish")``, ``"orangey"`` -> ``("orange", "ey")``,
    ``"light blue ish"`` -> ``("light blue", "ish")``; None if ``key`` is not one."""
    head, _, last = key.rpartition(" ")
    if head and last in ("ish", "ey", "y"):  # "red-ish", "orange-y"
        return (head, last) if last == "ish" or head.rpartition(" ")[2] in _Y_HUES else None
    prefix = f"{head} " if head else ""
    for suffix in ("ish", "ey", "y"):
        stem = last.removesuffix(suffix)
        if stem == last or len(stem) < 3:
            continue
        words = [stem, stem + "e"]  # "beigeish", "bluish"
        if stem[-1] == stem[-2]:
            words.append(stem[:-1])  # "reddish"
        for word in words:
            if suffix == "ish" and _resolve(prefix + word) is not None:
                return prefix + word, suffix
            if suffix != "ish" and word in _Y_HUES:
                return prefix + word, suffix
    return None


def _ish_color(key: str) -> Color | None:
    """The color a ``-ish`` text names (see the module docstring), or None."""
    found = _ish_base(key)
    if found is None:
        return None
    base_key, suffix = found
    base = _resolve(base_key)
    if base is None:
        return None
    head, _, word = base_key.rpartition(" ")
    prefix = f"{head} " if head else ""
    ish = [word + "ish", word.removesuffix("e") + "ish", word + word[-1] + "ish"]
    ys = [word + "y", word + "ey", word.removesuffix("e") + "y"] if suffix != "ish" else []
    for spelled in dict.fromkeys(ys + ish):  # the user's suffix first: "pink-y" is pinky
        name = _lookup(prefix + spelled)
        if name is not None:
            return _named_color(name)
    return _shift_lab(base, 0.0, ISH_CHROMA, name=f"{base.name}-ish")


def _tokenize(text: str) -> list[str]:
    """Lowercase tokens without accents: words, literals (``rgb(...)`` compacted), and
    ``/ , & + ;``."""
    tokens = []
    for raw in _TOKEN_RE.findall(fold_accents(text).lower()):
        if raw.startswith("rgb"):
            tokens.append(re.sub(r"\s+", "", raw))
        elif raw.startswith("#"):
            tokens.append(raw)
        else:
            word = raw.strip("'")
            if word:
                tokens.append(word.replace("gray", "grey"))
    return tokens


def _join(tokens: Sequence[str]) -> str:
    return re.sub(r" ?/ ?", "/", " ".join(tokens))


def _is_modifier_word(word: str) -> bool:
    return word in MODIFIERS or word == _INTENSIFIER


def _swapped(word: str) -> list[str]:
    """The basic names that ``word`` is with two neighbouring letters swapped (``"rde"``,
    ``"bleu"``): a typo that similarity ratios rate low in short words."""
    return [
        b
        for b in BASIC_COLOR_NAMES
        if len(b) == len(word)
        and any(
            word == b[:i] + b[i + 1] + b[i] + b[i + 2 :]
            for i in range(len(b) - 1)
            if b[i] != b[i + 1]
        )
    ]


def _suggestions(word: str, *, n: int = 5) -> list[str]:
    """Up to ``n`` vocabulary names close to ``word``: basic names first, then all names."""
    vocab = _vocabulary()
    basic = _swapped(word) + difflib.get_close_matches(word, BASIC_COLOR_NAMES, n=n, cutoff=0.7)
    close = difflib.get_close_matches(word, vocab.suggestable, n=n, cutoff=0.6)
    return list(dict.fromkeys(basic + close))[:n]


def _misspelling_score(word: str) -> float:
    """How much ``word`` looks like a misspelled color, ``0..1.1`` (basic names get +0.1)."""
    if _swapped(word):
        return 1.0
    vocab = _vocabulary()
    basic = max(difflib.SequenceMatcher(None, word, b).ratio() for b in BASIC_COLOR_NAMES)
    best = difflib.get_close_matches(word, vocab.suggestable, n=1, cutoff=0.0)
    other = difflib.SequenceMatcher(None, word, best[0]).ratio() if best else 0.0
    return max(basic + 0.1, other)


def _did_you_mean(suggestions: Sequence[str]) -> str:
    if not suggestions:
        return f"; see polychrome.guidance.palette.color_names(), e.g. {', '.join(_EXAMPLES)}"
    return f"; did you mean: {', '.join(suggestions)}?"


def _unknown_in(words: Sequence[str]) -> list[str]:
    """The words that appear in no color name and are not modifiers or literals."""
    vocab_words = _vocabulary_words()
    return [
        w
        for w in words
        if w not in vocab_words and not _is_modifier_word(w) and w not in _PUNCTUATION
    ]


@functools.cache
def _vocabulary_words() -> frozenset[str]:
    words: set[str] = set()
    for key in _vocabulary().index:
        words.update(re.split(r"[ /]", key))
    return frozenset(words)


def parse_color(text: str) -> Color:
    """Parse text that is exactly one color.

    Accepts vocabulary names in any case and spacing (``"red"``, ``"Light Blue"``,
    ``"light-blue"``, ``"darkgreen"``, ``"cornflower blue"``, ``"gray"``), modifiers
    (``"very dark teal"``, see the module docstring), ``#rgb``/``#rrggbb`` and
    ``rgb(r, g, b)``.

    Raises:
        UnknownColorError: the text is not a color; ``word`` is the first unknown word (or the
            whole text) and ``suggestions`` up to 5 close names.
        ValueCheckError: empty text, or a malformed ``#...``/``rgb(...)`` literal.

    >>> parse_color("Light-Blue").name
    'light blue'
    >>> parse_color("#1E90FF").rgb == (30 / 255, 144 / 255, 1.0)
    True
    """
    stripped = text.strip()
    if not stripped:
        raise ValueCheckError("empty color: name a color, e.g. 'red', 'dark green' or '#1e90ff'")
    if stripped.startswith("#") or re.match(r"rgb\s*\(", stripped, re.IGNORECASE):
        literal = _parse_literal(stripped)
        if literal is not None:
            return literal
    folded = fold_accents(stripped)
    tokens = _tokenize(folded)
    leftover = _TOKEN_RE.sub(" ", folded).strip(" \t\n-_.")
    color = _resolve(_join(tokens)) if tokens and not leftover else None
    if color is not None:
        return color
    unknown = _unknown_in(tokens)
    if unknown:
        word = unknown[0]
        where = "" if word == folded.lower() else f" in {stripped!r}"
        suggestions = _suggestions(word)
    else:
        word = stripped
        where = ""
        suggestions = _suggestions(_join(tokens).lower())
    raise UnknownColorError(
        f"unknown color {word!r}{where}{_did_you_mean(suggestions)}",
        word=word,
        suggestions=suggestions,
    )


def _is_strong(color: Color) -> bool:
    """Whether a matched color is a color word first (``"blue"``) rather than a noun (``"sky"``)."""
    for part in re.split(r"[ /]", color.name):
        word = part.removesuffix("-ish")  # "tan-ish" is as strong as "tan"
        if word.startswith(("#", "rgb(")):
            return True
        if _is_modifier_word(word):
            continue
        root = re.sub(r"(ish|y)$", "", word)
        for core in _CORE_COLOR_WORDS:
            if word.startswith(core) or word.endswith(core):
                return True
            if len(root) >= 3 and core.startswith(root):
                return True
    return False


def lookup_color(text: str) -> Color | None:
    """The color that ``text`` names exactly, or None if it names none (see :func:`parse_color`).

    Same rules as :func:`parse_color` (any case and spacing, modifiers, literals), but a text that
    is not a color gives None instead of an error, and no suggestions are computed.

    Raises:
        ValueCheckError: a malformed ``#...``/``rgb(...)`` literal (``"#12"``, ``"rgb(300,0,0)"``).

    >>> lookup_color("navy-blue").name
    'navy blue'
    >>> lookup_color("car") is None
    True
    """
    tokens = _tokenize(text)
    if not tokens or any(t in _PUNCTUATION and t != "/" for t in tokens):
        return None
    return _resolve(_join(tokens))


def is_color_word(color: Color) -> bool:
    """Whether ``color`` is named by a color word first (``"blue"``, ``"navy blue"``, ``"reddish"``,
    a literal) rather than by a noun that is also a color name (``"sky"``, ``"sand"``, ``"rose"``).
    """
    return _is_strong(color)


def _find_matches(tokens: list[str]) -> list[tuple[int, int, Color]]:
    """Greedy longest color spans ``(start, end, color)``, left to right."""
    max_words = _vocabulary().max_words + 3
    matches = []
    i = 0
    while i < len(tokens):
        if tokens[i] in _PUNCTUATION:
            i += 1
            continue
        for j in range(min(len(tokens), i + max_words), i, -1):
            if tokens[j - 1] in _PUNCTUATION:
                continue
            if any(t in _PUNCTUATION and t != "/" for t in tokens[i:j]):
                continue
            color = _resolve(_join(tokens[i:j]))
            if color is not None:
                matches.append((i, j, color))
                i = j
                break
        else:
            i += 1
    return matches


def _no_color_error(text: str, tokens: list[str]) -> UnknownColorError:
    candidates = [
        w
        for w in dict.fromkeys(tokens)
        if w not in _STOPWORDS
        and w not in _PUNCTUATION
        and not _is_modifier_word(w)
        and w not in _JOINERS
    ]
    scores = {w: _misspelling_score(w) for w in candidates}
    likely = [w for w, s in scores.items() if s >= 0.8]
    if not likely:
        examples = ", ".join(_EXAMPLES)
        modifiers = [t for t in tokens if t in MODIFIERS]
        hint = f" ({modifiers[0]!r} must be followed by a color)" if modifiers else ""
        return UnknownColorError(f"{text!r} names no color{hint}; name one, e.g. {examples}")
    top = max(scores[w] for w in likely)
    likely = [w for w in likely if scores[w] >= top - 0.05]
    word = likely[0]
    suggestions = _suggestions(word)
    names = ", ".join(repr(w) for w in likely)
    label = "unknown color" if len(likely) == 1 else "unknown colors"
    where = "" if names == repr(text.strip().lower()) else f" in {text!r}"
    return UnknownColorError(
        f"{label} {names}{where}{_did_you_mean(suggestions)}",
        word=word,
        suggestions=suggestions,
    )


def parse_color_phrase(text: str) -> ColorPhrase:
    """Parse a region phrase: exactly one color plus optional words about the object.

    ``"a dark green car"`` -> color ``dark green``, words ``("car",)``. Colors are found left to
    right, longest span first (``"navy blue coat"`` -> ``navy blue``). Many XKCD names are also
    nouns (``sky``, ``grass``, ``rose``): when a phrase matches several colors and exactly one
    is a color word first (a basic color term or a hex/rgb literal), that one is the color and
    the others stay as words (``"a blue sky"`` -> ``blue``, ``("sky",)``); with no color word,
    the first match is the color (``"a sand castle"`` -> ``sand``).

    Raises:
        UnknownColorError: no color in the phrase (the message names the likely misspelled
            word and close names), or a modifier followed by a misspelled color
            (``"a dark gren car"``).
        ValueCheckError: two different colors (``"red and white car"``): one color per region
            phrase is supported here; an empty phrase; or a malformed ``#...``/``rgb(...)``
            literal.
    """
    if not text.strip():
        raise ValueCheckError("empty color phrase: name a color, e.g. 'red' or 'a dark green car'")
    tokens = _tokenize(text)
    matches = _find_matches(tokens)
    if not matches:
        raise _no_color_error(text.strip(), tokens)

    distinct = list({m[2].name: m[2] for m in matches}.values())
    chosen = distinct[0]
    if len(distinct) > 1:
        strong = [c for c in distinct if _is_strong(c)]
        first, last = matches[0][1], matches[-1][0]
        joined = any(t in _JOINERS for t in tokens[first:last])
        if joined or len(strong) > 1:
            names = " and ".join(repr(c.name) for c in (strong if len(strong) > 1 else distinct))
            raise ValueCheckError(
                f"{text.strip()!r} names more than one color ({names}); only one color per "
                "region phrase is supported here: give each region its own phrase"
            )
        if strong:
            chosen = strong[0]

    used = [m for m in matches if m[2].name == chosen.name]
    in_color = {k for start, end, _ in used for k in range(start, end)}
    # A bare modifier read as a color ("dark") followed by a misspelled color ("gren").
    for start, end, _ in used:
        if all(_is_modifier_word(t) for t in tokens[start:end]) and end < len(tokens):
            following = tokens[end]
            if _unknown_in([following]) and _misspelling_score(following) >= 0.8:
                suggestions = _suggestions(following)
                raise UnknownColorError(
                    f"unknown color {following!r} in {text.strip()!r}{_did_you_mean(suggestions)}",
                    word=following,
                    suggestions=suggestions,
                )
    words = tuple(
        t
        for k, t in enumerate(tokens)
        if k not in in_color and t not in _STOPWORDS and t not in _PUNCTUATION
    )
    return ColorPhrase(text=text, color=chosen, words=words)


@functools.cache
def _vocabulary_lab(basic: bool) -> tuple[tuple[str, ...], np.ndarray]:
    names = BASIC_COLOR_NAMES if basic else tuple(_vocabulary().names)
    hexes = [_vocabulary().names[n] for n in names]
    rgb = np.array([_hex_to_rgb(h) for h in hexes], dtype=np.float32)
    return names, rgb_to_lab(rgb).astype(np.float64)


def nearest_color_name(lab: tuple[float, float, float] | np.ndarray, *, basic: bool = False) -> str:
    """The vocabulary name closest to a Lab color in CIEDE76 (Euclidean Lab distance).

    Args:
        lab: one CIE Lab color, shape ``(3,)``.
        basic: pick only from :data:`BASIC_COLOR_NAMES` (30 everyday names) instead of every
            name in :func:`color_names`.

    Returns:
        A canonical name (``grey`` spelling); ties go to the XKCD name.

    Raises:
        ShapeError: ``lab`` is not three numbers.
        ValueCheckError: ``lab`` is not finite.

    >>> nearest_color_name(parse_color("red").lab)
    'red'
    """
    point = np.asarray(lab, dtype=np.float64)
    if point.shape != (3,):
        raise ShapeError(f"lab must have shape (3,), got {point.shape}")
    if not np.all(np.isfinite(point)):
        raise ValueCheckError(f"lab must be finite, got {point.tolist()}")
    names, table = _vocabulary_lab(basic)
    distance = np.sum((table - point) ** 2, axis=1)
    return names[int(np.argmin(distance))]
