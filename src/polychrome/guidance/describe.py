"""Natural-language descriptions: which object has which color, and the tone of the whole picture.

:func:`parse_description` reads free text such as ``"a red car parked beside a light-blue house
under a grey sky at sunset"`` and returns a :class:`Description`: the objects with their colors
(``car``: red, ``house``: light blue, ``sky``: grey), the tone presets (``sunset``), colors that
name no object, and every word it could not use, with the reason. It never raises on text: words
it does not know are read as nouns or reported in :attr:`Description.ignored`.

Grammar
-------
The text is split into noun groups at punctuation and at function words (articles, numbers and
quantifiers, prepositions, conjunctions, pronouns, verbs). In a group:

* **colors** are vocabulary names (:mod:`polychrome.guidance.palette`), longest first
  (``"navy blue"``, ``"light sky blue"``, ``"light-blue"``, ``"very dark brown"``), and the
  literals ``#rgb``/``#rrggbb``/``rgb(r, g, b)``; ``-ish`` mutes a color (``"beige-ish"``,
  ``"red-ish"`` is ``reddish``, see the palette). Before a noun, only a color word counts: a name
  whose last word is a color word first (``blue``, ``navy``, ``reddish``, ``tan``...); names that
  are mostly nouns (``sky``, ``sand``, ``rose``, ``olive``, ``cream``) are read as nouns there.
  Colors joined by ``and``, ``or``, ``,``, ``&``, ``/`` give an object several colors
  (``"a red and white bus"``); pattern words between them and the noun (``striped``,
  ``checked``, ``plaid``, ``spotted``...) are reported as ignored;
* the **head** is the last noun of the group (``"an old wooden brown door"`` -> ``door``), or a
  known compound (``"traffic light"``, ``"fire hydrant"``, ``"t-shirt"``, ``"tennis ball"``). It
  is normalized to the singular (``"taxis"`` -> ``taxi``, ``"leaves"`` -> ``leaf``,
  ``"people"`` -> ``person``). The other words of the group (``old``, ``wooden``) are reported
  as ignored;
* a color **after** the object binds to it: after a linking verb (``"the car is red"``,
  ``"a house painted blue"``, ``"sky that is grey"``, ``"her dress was dark green"``,
  ``"a woman wearing red"``), after ``in`` (``"a shirt in navy"``), or at the end of the group
  (``"paint the car blue"``). Here any color name counts (``"the dress was cream"``). Objects
  joined by ``and`` share it (``"the dog and the cat are brown"``) unless they already have a
  color (``"a red car and a house painted blue"``). Other words after a linking verb
  (``"the sky is clear"``) are reported as ignored;
* **tone words** (:data:`TONES`: ``sunset``, ``sepia``, ``in winter``, ``golden hour``...) set a
  tone for the whole picture wherever they appear. Used before a noun (``"a sunset sky"``), the
  tone word still sets the tone, and the object gets no explicit color: ``sky`` is then left to
  the engine's prior, which the tone shifts. A longer color name wins over a tone word
  (``"a spring green dress"`` is a color), and ``fall`` right after a noun is the verb;
* a group with colors and no noun (``"red"``, ``"make it blue"``, ``"everything green"``) gives
  :attr:`Description.global_colors`;
* **negated** colors are not applied: the colors and tones of the group right after ``not``,
  ``no``, ``never``, ``isn't``, ``don't``... (``"the car is not red"``, ``"no red on the car"``,
  ``"don't make the car red"``) are dropped and reported as ignored (``"not red"``); the object
  stays, with no color. ``but`` then gives it the color meant (``"the car is not red but
  blue"``);
* the picture itself (``photo``, ``photograph``, ``picture``, ``image``, ``scene``...) and
  times (``day``, ``morning``...) are not objects: they are reported as ignored, with any
  colors given to them (``"a black and white photo"``); so are patterns used as nouns
  (``"white stripes"``) and malformed literals (``"#zz"``).

Accents do not matter in color and tone names (``"béige"`` is ``beige``, see
:func:`~polychrome.guidance.palette.fold_accents`); objects keep their spelling. Emoji and other
symbols (Unicode categories ``S*``: ``🚗``, ``$``, ``°``) separate groups like punctuation and
are reported as ignored, each distinct run once.

:attr:`Description.ignored` lists content words, negated colors and symbols, in text order;
articles, numbers, prepositions and verbs are read silently.

Limits: this is a small rule-based reader, not a parser. A verb it does not know may be read as a
noun (``"the sun glows"`` names a ``glow``); a strong color word is a color before any noun
(``"a gold ring"`` is gold; ``"an orange"`` alone is the fruit); ``"a red and a white car"``
gives ``red`` to no object. A color name whose first word is a noun is split into noun and color
at the end of a group after an article or ``make``/``paint`` (``"make the sky blue"`` is sky:
blue, while ``"a sky blue car"`` is car: sky blue, and ``"sky blue"`` alone is a color).

Object names
------------
:func:`object_matches` binds an object of a description to a region label: case, spaces,
hyphens and underscores do not matter (``"T-Shirt"`` = ``"t shirt"`` = ``"tshirt"``), plurals
are singularized, a one-word side matches the other side's head (``"fire truck"`` ~ ``"truck"``),
and these synonyms hold (a word on the left matches any word of its row, and the row's kinds;
kinds match the row's words but not each other):

==============  =============================================  ==============================
object          synonyms                                       kinds
==============  =============================================  ==============================
car             automobile, auto                               taxi, cab, sedan, suv
person          people, human                                  man, woman, boy, girl, child,
                                                               kid, baby, lady, guy
grass           lawn, turf
house           home
building                                                       house, home, skyscraper
water                                                          sea, ocean, lake, river, pond
sea             ocean
road            street, roadway                                highway
shirt           top                                            t-shirt, tee, blouse, polo
hair            hairstyle
bike            bicycle, cycle
motorbike       motorcycle
plane           airplane, aeroplane, aircraft, jet
dog             hound                                          puppy, pup
cat                                                            kitten, kitty
boat                                                           ship, sailboat, yacht, canoe
flower                                                         rose, tulip, daisy, sunflower,
                                                               lily
sofa            couch
jacket          coat
pants           trousers                                       jeans
cup             mug
phone           cellphone, smartphone, mobile
tv              television
hat                                                            cap
bag                                                            handbag, backpack, purse
==============  =============================================  ==============================

Tones
-----
:func:`apply_tone` shifts the engine's prior: ``ab' = ab * saturation + ab_shift`` for each
tone, in order. The presets (values in CIE Lab units):

===============  ================  ==========  ===========================================
preset           ``ab_shift``      saturation  aliases
===============  ================  ==========  ===========================================
``sunset``       ``(12, 22)``      ``1.15``    ``dusk``
``sunrise``      ``(10, 12)``      ``1.05``    ``dawn``
``golden hour``  ``(4, 20)``       ``1.10``
``autumn``       ``(8, 16)``       ``1.10``    ``fall``, ``autumnal``
``winter``       ``(-2, -8)``      ``0.85``    ``wintry``, ``wintertime``
``spring``       ``(-6, 8)``       ``1.10``    ``springtime``
``summer``       ``(2, 6)``        ``1.15``    ``summertime``
``sepia``        ``(5, 18)``       ``0``
``vintage``      ``(3, 8)``        ``0.70``    ``retro``
``night``        ``(0, -12)``      ``0.60``    ``nighttime``
``underwater``   ``(-14, -8)``     ``0.75``
===============  ================  ==========  ===========================================
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from polychrome.errors import InputError, ShapeError, ValueCheckError
from polychrome.guidance.palette import Color, fold_accents, is_color_word, lookup_color

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "REASON_SYMBOLS",
    "TONES",
    "Description",
    "Ignored",
    "ObjectColor",
    "Tone",
    "apply_tone",
    "object_matches",
    "parse_description",
]

#: The longest description :func:`parse_description` accepts, in characters.
MAX_DESCRIPTION_CHARS = 2000


@dataclass(frozen=True)
class ObjectColor:
    """An object named in a description, with the colors given to it.

    Attributes:
        object: the head noun, lowercase and singular: ``"car"``, ``"traffic light"``.
        words: the object's words as written: ``"cars"``, ``"Traffic Lights"``.
        colors: its colors in order; ``()`` when none is given (``"a dog on the grass"``), two
            for ``"a red and white bus"``.
        phrase: the color words as written (``"light-blue"``, ``"red and white"``), ``""`` if
            none.
        span: ``(start, end)`` character offsets in the text covering the colors and the object.
        qualifiers: the group's other words, lowercase (``("left",)`` in ``"the left car"``,
            ``("big",)`` in ``"a big red truck"``); they are also reported as ignored, but
            binding uses them to tell apart regions of the same object (a region labelled
            ``"left car"`` takes ``"the left car"``, not ``"the right car"``).
    """

    object: str
    words: str
    colors: tuple[Color, ...]
    phrase: str
    span: tuple[int, int]
    qualifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tone:
    """A tone preset: a global shift of the automatic prior's chroma (see :func:`apply_tone`).

    Attributes:
        name: the preset's name, e.g. ``"sunset"``.
        ab_shift: ``(a*, b*)`` added to the prior's chroma, in CIE Lab units.
        saturation: factor on the prior's chroma (applied before the shift), ``>= 0``.
        description: one line for documentation and metadata.
    """

    name: str
    ab_shift: tuple[float, float]
    saturation: float
    description: str


@dataclass(frozen=True)
class Ignored:
    """Words of a description that bind to nothing, and why."""

    words: str
    reason: str


@dataclass(frozen=True)
class Description:
    """A parsed description (see the module docstring).

    Attributes:
        text: the text as given.
        objects: the objects in order of appearance, with or without colors.
        tones: tone presets named anywhere in the text, each once, in order.
        ignored: words that are neither a color, an object nor a tone, with the reason.
        global_colors: colors that name no object (``"red"``, ``"make it blue"``).
    """

    text: str
    objects: tuple[ObjectColor, ...]
    tones: tuple[Tone, ...]
    ignored: tuple[Ignored, ...]
    global_colors: tuple[Color, ...]

    @property
    def level(self) -> str:
        """How much color the text gives its objects.

        ``"scarce"``: no object has a color (including no object at all); ``"partial"``: some
        objects have colors and some do not; ``"complete"``: every object has a color.
        """
        colored = sum(1 for o in self.objects if o.colors)
        if colored == 0:
            return "scarce"
        return "complete" if colored == len(self.objects) else "partial"


_SUNSET = Tone("sunset", (12.0, 22.0), 1.15, "warm orange light, slightly richer colors")
_SUNRISE = Tone("sunrise", (10.0, 12.0), 1.05, "soft warm pink-orange light")
_GOLDEN_HOUR = Tone("golden hour", (4.0, 20.0), 1.10, "golden yellow light, richer colors")
_AUTUMN = Tone("autumn", (8.0, 16.0), 1.10, "warm orange-brown cast, richer colors")
_WINTER = Tone("winter", (-2.0, -8.0), 0.85, "cool blue cast, muted colors")
_SPRING = Tone("spring", (-6.0, 8.0), 1.10, "fresh yellow-green cast, richer colors")
_SUMMER = Tone("summer", (2.0, 6.0), 1.15, "bright, slightly warm, saturated colors")
_SEPIA = Tone("sepia", (5.0, 18.0), 0.0, "all color removed, then one warm brown everywhere")
_VINTAGE = Tone("vintage", (3.0, 8.0), 0.70, "faded colors with a faint warm cast")
_NIGHT = Tone("night", (0.0, -12.0), 0.60, "dim blue moonlight, muted colors")
_UNDERWATER = Tone("underwater", (-14.0, -8.0), 0.75, "blue-green cast, muted colors")

#: Tone presets by the words that name them (aliases share one :class:`Tone`). Read-only.
TONES: Mapping[str, Tone] = MappingProxyType(
    {
        "sunset": _SUNSET,
        "dusk": _SUNSET,
        "sunrise": _SUNRISE,
        "dawn": _SUNRISE,
        "golden hour": _GOLDEN_HOUR,
        "autumn": _AUTUMN,
        "autumnal": _AUTUMN,
        "fall": _AUTUMN,
        "winter": _WINTER,
        "wintry": _WINTER,
        "wintertime": _WINTER,
        "spring": _SPRING,
        "springtime": _SPRING,
        "summer": _SUMMER,
        "summertime": _SUMMER,
        "sepia": _SEPIA,
        "vintage": _VINTAGE,
        "retro": _VINTAGE,
        "night": _NIGHT,
        "nighttime": _NIGHT,
        "underwater": _UNDERWATER,
    }
)
_TONE_MAX_WORDS = max(len(k.split()) for k in TONES)

# --- Word lists -----------------------------------------------------------------------------

_REASON_UNBOUND = "not a color or object we can bind"
_REASON_PATTERN = "a pattern: the object gets its colors, not the pattern"
_REASON_PICTURE = "the picture itself, not an object in it"
_REASON_TIME = "a time, not an object"
_REASON_LITERAL = "not a valid color literal: use #rgb, #rrggbb or rgb(r, g, b) with 0-255"
_REASON_NEGATED = "negated colors are not supported; say which color you want instead"
_REASON_NEGATED_TONE = "negated tones are not supported; leave the tone out instead"
#: The reason given for emoji and other symbols (``binding`` reports them all in one line).
REASON_SYMBOLS = "emoji and other symbols are not read; say it in words"


def _words(text: str) -> frozenset[str]:
    """The space-separated words of ``text`` (keeps the word lists below readable)."""
    return frozenset(text.split())


_DETERMINERS = _words(
    "a an the this these those my your his her its our their "
    "some any each every both no another other many several few various numerous "
    "lots lot plenty couple pair pairs bunch group number most more much "
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty hundred hundreds thousand "
    "thousands dozen dozens half"
)
# Words that negate the colors (and tones) of the group after them: "the car is not red", "no red
# on the car", "don't make the car red". "no" is read as a determiner too.
_NEGATORS = _words(
    "not no never isn't aren't wasn't weren't ain't isnt arent wasnt werent don't doesn't didn't "
    "dont doesnt didnt won't can't cannot shouldn't wouldn't mustn't"
)
# Negators that also link a color to the object before them ("the car isn't red").
_NEGATED_LINKERS = _words("isn't aren't wasn't weren't ain't isnt arent wasnt werent")
# Verbs and pronouns between a negator and its group that keep the negation ("don't make the
# car red", "don't make it red").
_NEGATION_KEEPERS = _words(
    "make makes made do does did want wants need needs let keep keeps give gives get gets got "
    "add render show shows will would should shall can could may might must it them"
)
# Words after which a color describes the object before them ("the car is red").
_LINKERS = _words(
    "is are was were be been being am looks look looked seems seem seemed appears appear "
    "appeared becomes become became turned turns turn stays stay remains remain painted "
    "paint dyed tinted wearing wears wear wore dressed that which who"
)
# Words that end a group and any link to the object before: prepositions, conjunctions,
# pronouns, and common verbs (an -ing/-ed word after a noun is a verb too, see _mark_verbs).
_BREAKS = _words(
    "about above across after against along alongside amid among around at atop before "
    "behind below beneath beside besides between beyond by down during for from in inside "
    "into like near next of off on onto opposite out outside over past through throughout "
    "to toward towards under underneath until up upon via with within without than "
    "but nor so yet while whereas as then because if when where though although "
    "it they them he she him we us i me you everything something anything nothing everyone "
    "someone anyone there here it's they're there's what whose today now tonight yesterday "
    "has have had having sits sit sitting stands stand standing lies lie lying runs run "
    "walks walk swims plays holds hold holding carries carry rides ride drives drive eats "
    "sleeps waits leans rests floats hangs grows covers fills shines shine make makes made "
    "show shows showing give gives keep keeps leave want wants need needs let can could "
    "should would will may might must do does did get gets got add render shall "
    "reflects reflect falls"
)
# Joiners: inside a group they join colors ("red and white").
_JOINERS = frozenset({"and", "or", "&", "/", "+", ",", "n", "plus"})
# Words that neither end a group nor mean anything here.
_ADVERBS = _words(
    "mostly mainly entirely completely fully totally partly partially quite really also too "
    "still all just slightly somewhat rather almost nearly always usually often "
    "please"
)
_SKIPPED = _words("color colour colors colours colored coloured shade shades hue hues tint")
# Color words that are not core color terms but are used as colors before nouns.
_EXTRA_COLOR_WORDS = _words(
    "tan auburn khaki ivory amber aqua aquamarine azure bronze copper fuchsia lilac mauve "
    "ochre burgundy cerulean cobalt taupe chartreuse periwinkle ecru puce hazel"
)
# Strong color words that are also things: alone after an article they are the thing.
_COLOR_NOUNS = _words("orange gold silver bronze copper amber ivory")
_PATTERNS = _words(
    "striped stripy stripey checked checkered chequered plaid tartan spotted spotty dotted "
    "polka polka-dot patterned floral flowered flowery paisley speckled camouflage camo "
    "houndstooth gingham herringbone zigzag tie-dye two-tone multicolored multicoloured "
    "print printed"
)
_PATTERN_NOUNS = _words("stripe stripes spot spots dot dots check checks pattern patterns")
# Nouns that are not objects in the picture, with the reason.
_NOT_OBJECTS = {
    **dict.fromkeys(
        _words(
            "photo photograph picture image scene shot snapshot pic frame painting drawing "
            "portrait view illustration render style look feel mood tone"
        ),
        _REASON_PICTURE,
    ),
    **dict.fromkeys(
        _words("day time morning afternoon evening hour moment season year"), _REASON_TIME
    ),
}
# Two-word objects; words are written with "_" for the space.
_COMPOUNDS = frozenset(
    w.replace("_", " ")
    for w in _words(
        "traffic_light fire_hydrant stop_sign street_light street_lamp fire_truck fire_engine "
        "police_car teddy_bear ice_cream swimming_pool baseball_cap baseball_bat bus_stop "
        "parking_meter parking_lot polar_bear tennis_ball tennis_racket golf_ball soccer_ball "
        "cell_phone mobile_phone traffic_cone sports_car race_car hot_dog mail_box phone_booth "
        "park_bench water_bottle front_door picnic_table christmas_tree palm_tree sea_shell "
        "t_shirt"
    )
)
_COMPOUND_MAX_WORDS = max(len(c.split()) for c in _COMPOUNDS)
# -ing / -ed words that are nouns, never verbs.
_NOT_VERBS = _words(
    "building ceiling painting clothing evening morning wedding pudding earring railing "
    "awning bedding icing frosting filling landing crossing sibling duckling seedling "
    "sapling stocking lightning dumpling viking sledding seabed flowerbed bobsled"
)
# The longest color name, in tokens ("blue with a hint of purple"), plus modifiers.
_COLOR_MAX_TOKENS = 8
_MODIFIER_WORDS = frozenset({"light", "dark", "pale", "deep", "bright", "very"})
# Suffixes that still name the color before them ("red-colored"); "-ish" is the palette's
# muted color ("beige-ish").
_COLOR_SUFFIX_RE = re.compile(r"[-\s](?:colou?red|toned|tinted)$")

_IRREGULAR = {
    "people": "person",
    "persons": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "geese": "goose",
    "mice": "mouse",
    "lice": "louse",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "knives": "knife",
    "leaves": "leaf",
    "wolves": "wolf",
    "wives": "wife",
    "lives": "life",
    "shelves": "shelf",
    "halves": "half",
    "loaves": "loaf",
    "calves": "calf",
    "scarves": "scarf",
    "thieves": "thief",
    "elves": "elf",
    "cacti": "cactus",
    "fungi": "fungus",
    "tomatoes": "tomato",
    "potatoes": "potato",
    "heroes": "hero",
    "mangoes": "mango",
    "volcanoes": "volcano",
    "cookies": "cookie",
    "movies": "movie",
    "pies": "pie",
    "ties": "tie",
    "brownies": "brownie",
    "zombies": "zombie",
    "buses": "bus",
    "busses": "bus",
    "viruses": "virus",
    "campuses": "campus",
    "octopuses": "octopus",
    "menus": "menu",
}
_INVARIANT = _words(
    "sheep fish deer moose bison glasses sunglasses eyeglasses pants trousers jeans shorts "
    "scissors clothes goggles tights leggings pajamas pyjamas headphones binoculars overalls "
    "news series species aircraft canvas gas atlas bias lens chaos cosmos christmas texas "
    "tennis iris axis chassis oasis crisis basis analysis this"
)

# A word: letters and digits, with the combining accents of decomposed text ("cafe\u0301").
_LETTERS = r"[^\W_](?:[^\W_]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\ufe20-\ufe2f])*"
_TOKEN_RE = re.compile(
    rf"rgb\s*\([^)]*\)?|#[^\W_]*|{_LETTERS}(?:['’-]{_LETTERS})*|[^\w\s]", re.IGNORECASE
)

# Item kinds.
_COLOR, _TONE, _WORD, _PATTERN, _BADLIT = "color", "tone", "word", "pattern", "badlit"
_DET, _LINK, _BREAK, _JOIN, _SKIP, _NEG = "det", "link", "break", "join", "skip", "neg"
_CONTENT = frozenset({_COLOR, _TONE, _WORD, _PATTERN, _BADLIT})


@dataclass
class _Item:
    """A token, or a run of tokens read as one color, tone or compound noun."""

    kind: str
    text: str  # as written
    start: int
    end: int
    norm: str  # lowercase, possessive removed
    color: Color | None = None  # the color it names; for a _WORD, a noun that is a color name
    tone: Tone | None = None
    noun: bool = False  # a pattern noun ("stripes")


@dataclass
class _Object:
    """An object being read: its head noun, and the colors found for it so far."""

    head: _Item
    colors: list[Color] = field(default_factory=list)
    runs: list[tuple[int, int]] = field(default_factory=list)  # spans of color runs
    start: int = 0
    end: int = 0
    qualifiers: list[str] = field(default_factory=list)  # the group's other words, lowercase

    def add_colors(self, colors: Sequence[Color], runs: Sequence[tuple[int, int]]) -> None:
        for color in colors:
            if all(c.name != color.name for c in self.colors):
                self.colors.append(color)
        self.runs.extend(runs)
        for start, end in runs:
            self.start, self.end = min(self.start, start), max(self.end, end)


# --- Words ----------------------------------------------------------------------------------


def _singular(word: str) -> str:
    """The singular of a lowercase noun (``"taxis"`` -> ``"taxi"``); the last hyphen part only."""
    head, sep, last = word.rpartition("-")
    if last in _IRREGULAR:
        return head + sep + _IRREGULAR[last]
    if last in _INVARIANT or len(last) <= 3 or not last.endswith("s"):
        return word
    if last.endswith(("ss", "us")):
        return word
    if last.endswith("ies") and len(last) > 4:
        return head + sep + last[:-3] + "y"
    if last.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return head + sep + last[:-2]
    return head + sep + last[:-1]


def _object_key(text: str) -> str:
    """Normalized object name: lowercase, singular last word, single spaces."""
    words = re.sub(r"[\s_]+", " ", text.strip().lower()).split(" ")
    words[-1] = _singular(words[-1])
    return " ".join(words)


def _compact(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text)


def _safe_color(text: str) -> Color | Exception | None:
    """The color ``text`` names, None, or the error for a malformed literal."""
    try:
        return lookup_color(text)
    except ValueCheckError as err:
        return err


def _is_color_before_noun(color: Color) -> bool:
    """A color read as a color before a noun: its last word is a color word."""
    last = re.split(r"[ /]", color.name)[-1].removesuffix("-ish")
    if last.startswith(("#", "rgb(")):
        return True
    if last in _EXTRA_COLOR_WORDS:
        return True
    alone = _safe_color(last)
    return isinstance(alone, Color) and is_color_word(alone)


def _color_of_token(norm: str) -> Color | Exception | None:
    """The color one token names, allowing ``-colored``/``-toned``/``-tinted`` suffixes
    (``-ish`` is read by the palette: ``"red-ish"`` is ``reddish``)."""
    found = _safe_color(norm)
    if found is None and "-" in norm:
        stripped = _COLOR_SUFFIX_RE.sub("", norm)
        if stripped != norm:
            found = _safe_color(stripped)
    return found


# --- Tokens and items -----------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)``; ``"black-and-white"`` is split at its joiners."""
    out = []
    for m in _TOKEN_RE.finditer(text):
        tok = m.group(0).replace("’", "'")
        parts = tok.split("-")
        if len(parts) > 2 and any(p.lower() in ("and", "or", "n") for p in parts[1:-1]):
            pos = m.start()
            for part in parts:
                out.append((part, pos, pos + len(part)))
                pos += len(part) + 1
        else:
            out.append((tok, m.start(), m.end()))
    return out


def _word_kind(norm: str) -> str:
    if norm in _DETERMINERS or norm.isdigit():
        return _DET
    if norm in _NEGATORS:
        return _NEG
    if norm in _JOINERS:
        return _JOIN
    if norm in _LINKERS:
        return _LINK
    if norm in _ADVERBS or norm in _SKIPPED:
        return _SKIP
    if norm in _BREAKS or not re.search(r"\w", norm):
        return _BREAK
    if norm in _PATTERNS or norm in _PATTERN_NOUNS:
        return _PATTERN
    return _WORD


def _after_article_or_verb(items: list[_Item]) -> bool:
    """Whether the last item is an article or ``make``/``paint``/``color``/``turn``/``keep``."""
    if not items:
        return False
    prev = items[-1]
    return prev.kind == _DET or prev.norm in {"make", "paint", "color", "colour", "turn", "keep"}


def _read_items(text: str) -> list[_Item]:
    """Tokens -> items: colors, tones and compounds merged, each token classified."""
    tokens = _tokens(text)
    lowered = [t.lower() for t, _, _ in tokens]
    folded = [fold_accents(t) for t in lowered]  # for tone names; colors fold in the palette
    items: list[_Item] = []
    k = 0
    n = len(tokens)
    while k < n:
        tok, start, end = tokens[k]
        low = lowered[k]
        color = _read_color(text, tokens, lowered, k, items)
        strong = color is not None and color[2]
        # 1. Tone phrases ("golden hour", "sunset"), unless a longer color name starts here
        #    ("spring green"); "fall" after a noun is a verb.
        tone_len = 0
        for m in range(min(n, k + _TONE_MAX_WORDS), k, -1):
            if " ".join(folded[k:m]) in TONES:
                tone_len = m - k
                break
        if low == "fall" and items and items[-1].kind == _WORD:
            items.append(_Item(_BREAK, tok, start, end, low))  # "the leaves fall"
            k += 1
            continue
        if tone_len and not (color is not None and strong and color[1] > tone_len):
            last = k + tone_len - 1
            phrase = " ".join(folded[k : last + 1])
            end = tokens[last][2]
            items.append(_Item(_TONE, text[start:end], start, end, phrase, tone=TONES[phrase]))
            k += tone_len
            continue
        # 2. Color words and literals.
        if color is not None and strong:
            items.extend(color[0])
            k += color[1]
            continue
        # 3. Compound nouns ("traffic lights").
        compound_len = 0
        for m in range(min(n, k + _COMPOUND_MAX_WORDS), k + 1, -1):
            words = [w.replace("-", " ") for w in lowered[k:m]]
            if _object_key(" ".join(words)) in _COMPOUNDS:
                compound_len = m - k
                break
        if compound_len:
            end = tokens[k + compound_len - 1][2]
            norm = " ".join(lowered[k : k + compound_len])
            items.append(_Item(_WORD, text[start:end], start, end, norm))
            k += compound_len
            continue
        # 4. Nouns that are also color names ("sky", "sand").
        if color is not None:
            items.extend(color[0])
            k += color[1]
            continue
        # 5. One token.
        norm = re.sub(r"'s$", "", low)
        kind = _word_kind(norm)
        if norm in {"colored", "coloured"} and not (items and items[-1].kind == _COLOR):
            kind = _LINK  # "a house colored blue"; after a color it is skipped ("red colored")
        items.append(_Item(kind, tok, start, end, norm, noun=norm in _PATTERN_NOUNS))
        k += 1
    _mark_verbs(items)
    return items


def _read_color(
    text: str,
    tokens: list[tuple[str, int, int]],
    lowered: list[str],
    k: int,
    items: list[_Item],
) -> tuple[list[_Item], int, bool] | None:
    """The item(s) for a color starting at token ``k``: ``(items, tokens used, strong)``, where
    ``strong`` is False for a noun that is also a color name (``"sky"``); None if no color."""
    n = len(tokens)
    low = lowered[k]
    if low.startswith("#") or re.match(r"rgb\s*\(", low):
        found = _color_of_token(low)
        _, start, end = tokens[k]
        if isinstance(found, Color):
            return [_Item(_COLOR, tokens[k][0], start, end, low, color=found)], 1, True
        return [_Item(_BADLIT, tokens[k][0], start, end, low)], 1, True
    if _word_kind(low) in {_DET, _JOIN, _BREAK, _LINK, _NEG} and low != "off":
        return None
    weak: tuple[int, Color] | None = None
    for m in range(min(n, k + _COLOR_MAX_TOKENS), k, -1):
        if any(not re.search(r"\w", w) for w in lowered[k:m]):
            continue
        found = _color_of_token(low) if m == k + 1 else _safe_color(" ".join(lowered[k:m]))
        if not isinstance(found, Color):
            continue
        if not _is_color_before_noun(found):
            weak = weak or (m, found)
            continue
        last = m - 1
        start, end = tokens[k][1], tokens[last][2]
        following = lowered[m] if m < n else ""
        ends_group = following == "" or _word_kind(following) not in {_WORD, _PATTERN}
        first = low.split("-")[0]
        first_alone = _safe_color(first)
        first_is_color = first in _MODIFIER_WORDS or (
            isinstance(first_alone, Color) and _is_color_before_noun(first_alone)
        )
        if m - k > 1 and ends_group and not first_is_color and _after_article_or_verb(items):
            # "make the sky blue": the noun, then the color named by the last word.
            color = _color_of_token(lowered[last])
            if isinstance(color, Color):
                head_end = tokens[last - 1][2]
                norm = " ".join(lowered[k:last])
                noun = _Item(_WORD, text[start:head_end], start, head_end, norm)
                tail = _Item(_COLOR, tokens[last][0], tokens[last][1], end, lowered[last])
                tail.color = color
                return [noun, tail], m - k, True
        norm = " ".join(lowered[k:m])
        return [_Item(_COLOR, text[start:end], start, end, norm, color=found)], m - k, True
    if weak is None:
        return None
    m, found = weak
    predicate = bool(items) and (items[-1].kind == _LINK or items[-1].norm == "in")
    if m - k > 1 and not predicate:
        # Only after "is"/"in" is a weak name of several words one color ("was dark cream");
        # elsewhere its words are nouns ("a pale sky").
        alone = _color_of_token(low)
        if not isinstance(alone, Color):
            return None
        m, found = k + 1, alone
    norm = re.sub(r"'s$", "", " ".join(lowered[k:m]))
    if _word_kind(norm) != _WORD:
        return None
    start, end = tokens[k][1], tokens[m - 1][2]
    return [_Item(_WORD, text[start:end], start, end, norm, color=found)], m - k, False


def _symbol_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of emoji and other symbols: Unicode categories ``S*`` (but
    ``+``, which joins colors), with the joiners and selectors that build one emoji."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for k, char in enumerate(text):
        category = unicodedata.category(char)
        symbol = category.startswith("S") and char not in _JOINERS
        if symbol or (start is not None and category in ("Mn", "Me", "Cf")):
            start = k if start is None else start
        elif start is not None:
            spans.append((start, k))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _mark_verbs(items: list[_Item]) -> None:
    """An -ing/-ed word right after a noun and not before another noun is a verb
    (``"a red car parked beside"``); before a noun it is an adjective (``"a parked car"``)."""
    for k in range(1, len(items)):
        item = items[k]
        if item.kind != _WORD or item.color is not None or not _verbish(item.norm):
            continue
        nxt = items[k + 1].kind if k + 1 < len(items) else None
        if items[k - 1].kind == _WORD and nxt != _WORD:
            item.kind = _BREAK


def _verbish(norm: str) -> bool:
    """Whether a word looks like a participle: ``parked``, ``running`` (not ``bed``, ``ring``)."""
    if " " in norm or norm in _NOT_VERBS or norm.endswith("eed"):
        return False
    return (norm.endswith("ing") and len(norm) > 5) or (norm.endswith("ed") and len(norm) >= 5)


# --- Groups ---------------------------------------------------------------------------------


@dataclass
class _Reader:
    """Reads items group by group (see the module docstring) and collects the results."""

    text: str
    items: list[_Item]
    objects: list[_Object] = field(default_factory=list)
    tones: list[Tone] = field(default_factory=list)
    ignored: list[tuple[int, Ignored]] = field(default_factory=list)  # (start, ...)
    global_colors: list[Color] = field(default_factory=list)

    def run(self) -> None:
        items = self.items
        # The objects a following color may describe: the last one, and those joined to it by
        # "and" ("the car and the house are red").
        last: list[_Object] = []
        joined: list[_Object] = []
        link: str | None = None  # "copula" after "is"/"painted"..., "in" after "in"
        negation: _Item | None = None  # "not", "no", "isn't": the next group's colors are dropped
        contrast: list[_Object] = []  # objects a negation left uncolored, for "but blue"
        i = 0
        while i < len(items):
            item = items[i]
            if item.kind == _SKIP:
                i += 1
                continue
            if item.kind == _NEG:
                negation = item
                if item.norm in _NEGATED_LINKERS:
                    link = "copula" if last else None
                i += 1
                continue
            if item.kind == _LINK:
                link = "copula" if last else None
                i += 1
                continue
            if item.kind == _BREAK and item.norm == "in" and last:
                link = link or "in"
                i += 1
                continue
            if item.kind in (_BREAK, _JOIN):
                if item.norm == "but" and contrast:  # "the car is not red but blue"
                    last, link, contrast = contrast, "copula", []
                    i += 1
                    continue
                joined = last if item.norm in ("and", "&") else []
                last, link = [], None
                if item.norm not in _NEGATION_KEEPERS:
                    negation = None
                i += 1
                continue
            determiner: _Item | None = None
            while i < len(items) and items[i].kind in (_DET, _SKIP):
                if items[i].kind == _DET:
                    determiner = items[i]
                    negation = determiner if determiner.norm in _NEGATORS else negation
                i += 1
            if i >= len(items) or items[i].kind not in _CONTENT:
                link = None
                continue
            predicate = link is not None and bool(last) and determiner is None
            parts, i = self._read_group(i, predicate=predicate)
            if predicate and self._is_predicate(parts, link):
                kept = self._drop_negated(parts, negation, predicate=True)
                for obj in last:  # an object that has colors keeps them, except the last
                    if obj is last[-1] or not obj.colors:
                        self._bind_predicate(obj, kept, report=obj is last[-1])
                # Described: "and" does not give it the next object's color ("the sky is clear
                # and the car is red").
                contrast = last if len(kept) < len(parts) else []
                last = []
            else:
                kept = self._drop_negated(parts, negation, predicate=False)
                obj = self._finish_group(kept, determiner)
                last = [*joined, obj] if obj is not None else []
                joined, contrast = [], []
            link = negation = None
        self._ignore_symbols()

    def _drop_negated(
        self, parts: list[_Item], negation: _Item | None, *, predicate: bool
    ) -> list[_Item]:
        """``parts`` without the colors and tones that ``negation`` negates (``"not red"``),
        which are reported; after a linking word any color name counts (``"isn't cream"``)."""
        if negation is None:
            return parts

        def negated(p: _Item) -> bool:
            return p.kind in (_COLOR, _TONE) or (predicate and p.color is not None)

        dropped = [p for p in parts if negated(p)]
        if not dropped:
            return parts
        colors = any(p.kind != _TONE for p in dropped)
        self._ignore([negation, dropped[-1]], _REASON_NEGATED if colors else _REASON_NEGATED_TONE)
        return [p for p in parts if not negated(p)]

    def _ignore_symbols(self) -> None:
        """Report each distinct run of emoji and other symbols once (they are read as breaks)."""
        seen: set[str] = set()
        for start, end in _symbol_spans(self.text):
            symbols = self.text[start:end]
            if symbols not in seen:
                seen.add(symbols)
                self.ignored.append((start, Ignored(symbols, REASON_SYMBOLS)))

    def _read_group(self, i: int, *, predicate: bool) -> tuple[list[_Item], int]:
        """The content items of the group starting at ``i`` (joiners kept), and where it ends."""
        items = self.items
        parts: list[_Item] = []
        while i < len(items):
            item = items[i]
            if item.kind == _SKIP:
                i += 1
                continue
            if item.kind in _CONTENT:
                if not predicate and item.kind == _COLOR and self._starts_new_group(parts, i):
                    break
                parts.append(item)
                i += 1
                continue
            if item.kind == _JOIN and parts:
                j = i
                while j < len(items) and items[j].kind in (_JOIN, _SKIP):
                    j += 1
                if self._continues(parts, j, predicate=predicate):
                    parts.extend(x for x in items[i:j] if x.kind == _JOIN)
                    i = j
                    continue
            break
        return parts, i

    def _starts_new_group(self, parts: list[_Item], i: int) -> bool:
        """A color after "color ... noun" that comes before another noun starts a new group
        (``"red car blue house"``); at the end it describes the noun (``"paint the car blue"``).
        """
        seen_color = False
        colored_noun = False
        for p in parts:
            seen_color = seen_color or p.kind == _COLOR
            colored_noun = colored_noun or (seen_color and p.kind == _WORD)
        if not colored_noun:
            return False
        j = i
        while j < len(self.items) and self.items[j].kind in (_COLOR, _JOIN, _PATTERN, _SKIP):
            j += 1
        return j < len(self.items) and self.items[j].kind == _WORD

    def _continues(self, parts: list[_Item], j: int, *, predicate: bool) -> bool:
        """Whether the group goes on across the joiners before ``j``."""
        items = self.items
        if j >= len(items):
            return False
        nxt = items[j]
        if predicate:
            if nxt.kind in (_COLOR, _TONE) or nxt.color is not None:
                return True
            # "the sky is blue and clear", not "the sky is blue and clouds are white".
            after = items[j + 1].kind if j + 1 < len(items) else None
            return nxt.kind in (_WORD, _PATTERN) and after in (None, _JOIN, _BREAK)
        if parts[-1].kind != _COLOR:
            return False
        if nxt.kind in (_COLOR, _PATTERN):
            return True
        # "red and shiny car": an adjective followed by the noun.
        return nxt.kind == _WORD and j + 1 < len(items) and items[j + 1].kind == _WORD

    @staticmethod
    def _is_predicate(parts: list[_Item], link: str | None) -> bool:
        """After a linking word, colors describe the object before, unless a color is followed
        directly by a noun (``"the dogs are brown puppies"``). After ``in``, only colors do."""
        colors = [k for k, p in enumerate(parts) if p.color is not None]
        if not colors:
            return link == "copula"
        after = parts[colors[-1] + 1 :]
        return not (after and after[0].kind == _WORD and after[0].color is None)

    def _bind_predicate(self, obj: _Object, parts: list[_Item], *, report: bool) -> None:
        """Give ``obj`` the colors after a linking word; ``report`` the other words once."""
        colors = [p.color for p in parts if p.color is not None]
        obj.add_colors(colors, self._runs(parts, colored=True))
        if not report:
            return
        for p in parts:
            if p.kind == _TONE:
                self._add_tone(p)
            elif p.kind == _BADLIT:
                self._ignore([p], _REASON_LITERAL)
        rest = [p for p in parts if p.color is None and p.kind in (_WORD, _PATTERN)]
        for run in self._word_runs(parts, rest):
            if not all(_verbish(p.norm) for p in run):
                self._ignore(run, _REASON_UNBOUND)

    def _finish_group(self, parts: list[_Item], determiner: _Item | None) -> _Object | None:
        """Record what a group names; return its object, if any."""
        for p in parts:
            if p.kind == _TONE:
                self._add_tone(p)
            elif p.kind == _BADLIT:
                self._ignore([p], _REASON_LITERAL)
        heads = [
            k for k, p in enumerate(parts) if p.kind == _WORD or (p.kind == _PATTERN and p.noun)
        ]
        colors = [p for p in parts if p.kind == _COLOR]
        if not heads:
            only = [p for p in parts if p.kind != _JOIN]
            if (
                determiner is not None
                and len(only) == 1
                and only[0].kind == _COLOR
                and only[0].norm in _COLOR_NOUNS
            ):
                return self._add_object(only[0], [], [])  # "an orange"
            self._add_global([p.color for p in colors if p.color])
            self._ignore_patterns(parts)
            return None
        head = parts[heads[-1]]
        content = [p for p in parts if p.kind not in (_TONE, _BADLIT, _JOIN)]
        if head.kind == _PATTERN or head.norm in _PATTERN_NOUNS:
            self._ignore(content, _REASON_PATTERN, upto=head)
            return None
        key = _object_key(head.norm)
        if key in _NOT_OBJECTS:
            self._ignore(content, _NOT_OBJECTS[key], upto=head)
            return None
        others = [p for p in parts if p.kind == _WORD and p is not head]
        for run in self._word_runs(parts, others):
            self._ignore(run, _REASON_UNBOUND)
        self._ignore_patterns(parts)
        obj = self._add_object(head, [p.color for p in colors if p.color], self._runs(parts))
        obj.qualifiers = [p.norm for p in others]
        return obj

    def _add_object(
        self, head: _Item, colors: Sequence[Color], runs: Sequence[tuple[int, int]]
    ) -> _Object:
        obj = _Object(head=head, start=head.start, end=head.end)
        obj.add_colors(colors, runs)
        self.objects.append(obj)
        return obj

    def _add_tone(self, item: _Item) -> None:
        if item.tone is not None and item.tone not in self.tones:
            self.tones.append(item.tone)

    def _add_global(self, colors: Sequence[Color]) -> None:
        for color in colors:
            if all(c.name != color.name for c in self.global_colors):
                self.global_colors.append(color)

    @staticmethod
    def _runs(parts: list[_Item], *, colored: bool = False) -> list[tuple[int, int]]:
        """Character spans of runs of colors (joined by joiners) in ``parts``."""
        runs: list[tuple[int, int]] = []
        current: tuple[int, int] | None = None
        for p in parts:
            is_color = p.kind == _COLOR or (colored and p.color is not None)
            if is_color:
                current = (current[0], p.end) if current else (p.start, p.end)
            elif p.kind != _JOIN and current:
                runs.append(current)
                current = None
        if current:
            runs.append(current)
        return runs

    @staticmethod
    def _word_runs(parts: list[_Item], chosen: list[_Item]) -> list[list[_Item]]:
        """``chosen`` items of ``parts`` grouped into runs of neighbours."""
        runs: list[list[_Item]] = []
        previous = False
        for p in parts:
            if any(p is c for c in chosen):
                if previous:
                    runs[-1].append(p)
                else:
                    runs.append([p])
                previous = True
            else:
                previous = False
        return runs

    def _ignore(self, run: list[_Item], reason: str, *, upto: _Item | None = None) -> None:
        """Report the text from the first item of ``run`` to its last (or ``upto``)."""
        end = upto.end if upto is not None else run[-1].end
        self.ignored.append((run[0].start, Ignored(self.text[run[0].start : end], reason)))

    def _ignore_patterns(self, parts: list[_Item]) -> None:
        patterns = [p for p in parts if p.kind == _PATTERN]
        for run in self._word_runs(parts, patterns):
            self._ignore(run, _REASON_PATTERN)

    def description(self) -> Description:
        objects = tuple(
            ObjectColor(
                object=_object_key(o.head.norm),
                words=o.head.text,
                colors=tuple(o.colors),
                phrase=" ".join(self.text[s:e] for s, e in o.runs),
                span=(o.start, o.end),
                qualifiers=tuple(o.qualifiers),
            )
            for o in self.objects
        )
        return Description(
            text=self.text,
            objects=objects,
            tones=tuple(self.tones),
            ignored=tuple(ignored for _, ignored in sorted(self.ignored, key=lambda x: x[0])),
            global_colors=tuple(self.global_colors),
        )


# --- Public functions -----------------------------------------------------------------------


def parse_description(text: str) -> Description:
    """Read which object has which color, and the tone, from free text.

    See the module docstring for the grammar. Never raises on text: unknown words are read as
    nouns or reported in :attr:`Description.ignored`.

    Args:
        text: the description, at most :data:`MAX_DESCRIPTION_CHARS` characters.

    Raises:
        InputError: ``text`` is not a string.
        ValueCheckError: ``text`` is longer than :data:`MAX_DESCRIPTION_CHARS`.

    >>> d = parse_description("a red car parked beside a light-blue house under a grey sky")
    >>> [(o.object, o.colors[0].name) for o in d.objects]
    [('car', 'red'), ('house', 'light blue'), ('sky', 'grey')]
    >>> d.level
    'complete'
    """
    if not isinstance(text, str):
        raise InputError(f"a description must be a string, got {type(text).__name__}")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueCheckError(
            f"a description is limited to {MAX_DESCRIPTION_CHARS} characters, got {len(text)}"
        )
    reader = _Reader(text, _read_items(text))
    reader.run()
    return reader.description()


def apply_tone(ab: np.ndarray, tones: Sequence[Tone | str]) -> np.ndarray:
    """Apply tone presets to a chroma field: ``ab' = ab * saturation + ab_shift`` per tone, in
    order.

    Args:
        ab: ``(H, W, 2)`` chroma (CIE ``a*``, ``b*``), any float dtype; not modified.
        tones: :class:`Tone` values or names in :data:`TONES`; empty returns a copy.

    Returns:
        A new ``(H, W, 2)`` float32 array.

    Raises:
        ShapeError: ``ab`` is not ``(H, W, 2)``.
        ValueCheckError: a name that is not in :data:`TONES`.
        InputError: a tone that is neither a :class:`Tone` nor a string.

    >>> out = apply_tone(np.zeros((1, 1, 2), np.float32), ["sepia"])
    >>> out[0, 0].tolist()
    [5.0, 18.0]
    """
    array = np.asarray(ab)
    if array.ndim != 3 or array.shape[2] != 2:
        raise ShapeError(f"ab must have shape (H, W, 2), got {array.shape}")
    out = array.astype(np.float32, copy=True)
    for tone in tones:
        preset = _tone_of(tone)
        out *= np.float32(preset.saturation)
        out += np.asarray(preset.ab_shift, np.float32)
    return out


def _tone_of(tone: Tone | str) -> Tone:
    if isinstance(tone, Tone):
        return tone
    if isinstance(tone, str):
        preset = TONES.get(tone.strip().lower())
        if preset is None:
            raise ValueCheckError(f"unknown tone {tone!r}; presets: {', '.join(sorted(TONES))}")
        return preset
    raise InputError(f"a tone must be a Tone or a preset name, got {type(tone).__name__}")


def _row(same: str, kinds: str = "") -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(_compact(w) for w in same.split()), frozenset(
        _compact(w) for w in kinds.split()
    )


# Synonym table: (words for the same thing, kinds of it). See the module docstring.
_SYNONYMS = (
    _row("car automobile auto", "taxi cab sedan suv"),
    _row("person people human", "man woman boy girl child kid baby lady guy"),
    _row("grass lawn turf"),
    _row("house home"),
    _row("building", "house home skyscraper"),
    _row("water", "sea ocean lake river pond"),
    _row("sea ocean"),
    _row("road street roadway", "highway"),
    _row("shirt top", "t-shirt tee blouse polo"),
    _row("hair hairstyle"),
    _row("bike bicycle cycle"),
    _row("motorbike motorcycle"),
    _row("plane airplane aeroplane aircraft jet"),
    _row("dog hound", "puppy pup"),
    _row("cat", "kitten kitty"),
    _row("boat", "ship sailboat yacht canoe"),
    _row("flower", "rose tulip daisy sunflower lily"),
    _row("sofa couch"),
    _row("jacket coat"),
    _row("pants trousers", "jeans"),
    _row("cup mug"),
    _row("phone cellphone smartphone mobile"),
    _row("tv television"),
    _row("hat", "cap"),
    _row("bag", "handbag backpack purse"),
)


def _same_thing(a: str, b: str) -> bool:
    if a == b:
        return True
    for same, kinds in _SYNONYMS:
        if a in same and (b in same or b in kinds):
            return True
        if b in same and a in kinds:
            return True
    return False


def object_matches(label: str, noun: str) -> bool:
    """Whether a region ``label`` names the object ``noun`` of a description.

    Case, spaces, hyphens and underscores do not matter; the last word is singularized
    (``"Cars"`` ~ ``"car"``); synonyms and kinds follow the table in the module docstring
    (``"automobile"`` ~ ``"car"``, ``"puppy"`` ~ ``"dog"``, but ``"man"`` !~ ``"woman"``). A
    one-word side also matches the head of a longer one (``"truck"`` ~ ``"fire truck"``).

    Raises:
        InputError: ``label`` or ``noun`` is not a string.

    >>> object_matches("Cars", "car"), object_matches("kitten", "cat"), object_matches("sky", "sea")
    (True, True, False)
    """
    if not isinstance(label, str) or not isinstance(noun, str):
        raise InputError(
            f"label and noun must be strings, got {type(label).__name__} and {type(noun).__name__}"
        )
    if not label.strip() or not noun.strip():
        return False
    a, b = (_object_key(fold_accents(t).replace("-", " ")) for t in (label, noun))
    if _same_thing(_compact(a), _compact(b)):
        return True
    a_words, b_words = a.split(" "), b.split(" ")
    if len(a_words) == 1 or len(b_words) == 1:
        return _same_thing(_compact(a_words[-1]), _compact(b_words[-1]))
    return False
