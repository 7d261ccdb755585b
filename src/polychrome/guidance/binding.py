"""Binding a description's objects to labelled regions (MT-Color semantics on the solver).

Every colored object of the description (``"a red car"``) is looked up among the labelled
regions by name (singular/plural and simple synonyms, see
:func:`~polychrome.guidance.describe.object_matches`). A region's own label may carry a color
too (``--label "red car"=car.png``): a per-mask text. Each colored region becomes an
:class:`~polychrome.guidance.hints.Instance` whose color holds only inside its mask, with no
bleeding across its boundary; where masks overlap, the later one owns the pixel (order: label
map legend order, then ``--label``, ``--click``, ``--box`` in the order given, then explicit
``--region`` masks on top). Objects with no region may be found by a text segmenter (optional,
:mod:`polychrome.guidance.textseg`). Everything unmentioned takes the engine's prior.

Nothing is dropped silently: :func:`bind` returns a report listing every phrase, what it bound
to, and what was ignored and why; it goes into the result's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from polychrome.guidance.describe import (
    _REASON_UNBOUND,
    REASON_SYMBOLS,
    Description,
    Ignored,
    object_matches,
    parse_description,
)
from polychrome.guidance.hints import Instance
from polychrome.guidance.regions import LabelledRegion

__all__ = ["Bound", "bind", "report_notes"]

TextFinder = Callable[[str], "np.ndarray | None"]
"""Finds the mask of an object named by text (a referring segmenter), or None."""


@dataclass
class Bound:
    """What :func:`bind` made: instances bottom to top, tones, and the report."""

    instances: list[Instance] = field(default_factory=list)
    tones: tuple = ()
    report: dict = field(default_factory=dict)


def _color_label(colors) -> str:
    return " and ".join(c.name for c in colors)


def bind(
    description: str | Description | None,
    regions: Sequence[LabelledRegion] = (),
    *,
    find: TextFinder | None = None,
) -> Bound:
    """Bind ``description`` to ``regions``; see the module docstring.

    Args:
        description: the user's text (or a parsed one); None or "" for none.
        regions: labelled regions, bottom to top.
        find: optional referring segmenter for objects no region is labelled with.

    Returns:
        A :class:`Bound` with the instances, the tones to apply to the prior and a JSON-able
        report ``{"text", "level", "phrases": [...], "regions": [...], "tones": [...],
        "ignored": [...]}``.
    """
    parsed = (
        description
        if isinstance(description, Description)
        else parse_description(description or "")
    )
    out = Bound(tones=tuple(parsed.tones))
    phrases: list[dict] = []
    ignored = _ignored_rows(parsed.ignored)
    colored: dict[int, tuple] = {}  # region index -> (colors, why)
    owner: dict[int, dict] = {}  # region index -> the phrase row that colors it
    # 1. Each region's own text ("red car") colors it.
    region_rows = []
    qualifiers: list[frozenset[str]] = []  # each label's other words ("left" in "left car")
    used: set[tuple[str, str]] = set()  # (where, word): a qualifier that picked a region
    for k, region in enumerate(regions):
        own = parse_description(region.label)
        qualifiers.append(frozenset(q for o in own.objects for q in o.qualifiers))
        ignored += _ignored_rows(own.ignored, where=f" (in the label {region.label!r})")
        own_colors = next((o.colors for o in own.objects if o.colors), ())
        if not own_colors and own.global_colors:
            own_colors = own.global_colors[:1]
        if own_colors:
            colored[k] = (own_colors, f"its label {region.label!r}")
        region_rows.append({"label": region.label, "source": region.source})
    # 2. The description's objects bind to regions by name, or are found by text.
    for obj in parsed.objects:
        row: dict = {
            "phrase": (f"{obj.phrase} {obj.words}" if obj.phrase else obj.words).strip(),
            "object": obj.object,
            "color": _color_label(obj.colors) if obj.colors else None,
        }
        matches = [
            k
            for k, r in enumerate(regions)
            if object_matches(r.label, obj.object) or _label_object_matches(r.label, obj.object)
        ]
        # "the left car" takes the region labelled "left car" when there is one, not every car.
        specific = [k for k in matches if qualifiers[k] & set(obj.qualifiers)]
        if specific:
            matches = specific
            for k in specific:
                for word in qualifiers[k] & set(obj.qualifiers):
                    used |= {("", word), (f" (in the label {regions[k].label!r})", word)}
        if matches:
            row["bound_to"] = [regions[k].source for k in matches]
            if obj.colors:
                for k in matches:
                    earlier = owner.get(k)
                    # The same color said again ("a red car, ... the car is red") overrides
                    # nothing.
                    if (
                        earlier is not None
                        and earlier is not row
                        and earlier["color"] != row["color"]
                    ):
                        earlier["status"] = "overridden"
                        earlier["reason"] = f"{row['phrase']!r}, later in the text, colors it"
                    owner[k] = row
                    colored[k] = (obj.colors, f"the description's {row['phrase']!r}")
                row["status"] = "bound"
            else:
                row["status"] = "automatic"
                row["reason"] = "no color given: the engine's prior colors it"
        elif obj.colors and find is not None:
            mask = find(obj.words)
            if mask is not None and mask.any():
                regions = [*regions, LabelledRegion(obj.object, mask, f"text {obj.words!r}")]
                region_rows.append({"label": obj.object, "source": f"text {obj.words!r}"})
                colored[len(regions) - 1] = (obj.colors, f"the description's {row['phrase']!r}")
                row["bound_to"] = [f"text {obj.words!r}"]
                row["status"] = "bound"
            else:
                row["status"] = "ignored"
                row["reason"] = f"the text segmenter found no {obj.words!r} in the image"
        elif obj.colors:
            row["status"] = "ignored"
            row["reason"] = (
                f"no region is labelled {obj.object!r}: add --label {obj.object}=MASK, "
                f"--click X,Y={obj.object} or --box X0,Y0,X1,Y1={obj.object}, "
                "or --segmenter MODEL to find it by text"
            )
        else:
            row["status"] = "automatic"
            row["reason"] = "no color given and no region: the engine's prior colors it"
        if obj.colors and len(obj.colors) > 1 and row["status"] == "bound":
            row["note"] = (
                f"one color per region: {obj.colors[0].name} is used; give the "
                f"{obj.colors[1].name} part its own region to color it"
            )
        phrases.append(row)
    for color in parsed.global_colors:
        ignored.append(
            {
                "words": color.name,
                "reason": 'a color with no object: say what it is for ("a '
                f'{color.name} car") or give a region',
            }
        )
    # Words that told regions apart were used, not ignored.
    ignored = [row for row in ignored if not _used(row, used)]
    # 3. Instances, bottom to top in region order.
    for k, region in enumerate(regions):
        if k in colored:
            colors, why = colored[k]
            out.instances.append(
                Instance(
                    mask=region.mask,
                    ab=np.asarray(colors[0].ab, np.float32),
                    label=f"{region.label}: {colors[0].name}",
                    source=region.source,
                )
            )
            region_rows[k]["color"] = colors[0].name
            region_rows[k]["from"] = why
        else:
            region_rows[k]["color"] = None
            region_rows[k]["from"] = "no color named: the engine's prior colors it"
    out.report = {
        "text": parsed.text,
        "level": parsed.level,
        "phrases": phrases,
        "regions": region_rows,
        "tones": [t.name for t in parsed.tones],
        "ignored": ignored,
    }
    return out


def _ignored_rows(items: Sequence[Ignored], *, where: str = "") -> list[dict]:
    """Report rows for a text's ignored words, in order; its emoji and other symbols in one row
    at the end (``"🚗 🎈"``), so they are said once."""
    symbols = [i.words for i in items if i.reason == REASON_SYMBOLS]
    rows = [_ignored(i.words, i.reason + where) for i in items if i.reason != REASON_SYMBOLS]
    if symbols:
        rows.append({"words": " ".join(symbols), "reason": REASON_SYMBOLS + where})
    return rows


def _used(row: dict, used: set[tuple[str, str]]) -> bool:
    """Whether an ignored row's words all picked a region ("left" of "the left car")."""
    reason = row["reason"]
    if not reason.startswith(_REASON_UNBOUND):
        return False
    where = reason[len(_REASON_UNBOUND) :]
    return all((where, w) in used for w in row["words"].lower().split())


def _ignored(words: str, reason: str) -> dict:
    """A report row for words that bind to nothing; a word that looks like a misspelled color
    ("gren") gets the likely names."""
    from polychrome.guidance.palette import _misspelling_score, _suggestions

    if " " not in words and _misspelling_score(words.lower()) >= 0.8:
        close = _suggestions(words.lower())
        if close:
            reason += f"; did you mean: {', '.join(close)}?"
    return {"words": words, "reason": reason}


def report_notes(report: dict) -> list[str]:
    """One line per part of the description (or of a region's label) that colors nothing:
    ignored words, phrases bound to no region, and regions no color was given to. Empty when
    everything was used."""
    notes = [f"ignored {item['words']!r}: {item['reason']}" for item in report.get("ignored", ())]
    notes += [
        f"{row['status']} {row['phrase']!r}: {row['reason']}"
        for row in report.get("phrases", ())
        if row.get("status") in ("ignored", "overridden")
    ]
    notes += [
        f"region {row['label']!r} ({row['source']}) got no color: name one in its label "
        f'("red {row["label"]}") or in the description; the engine colors it meanwhile'
        for row in report.get("regions", ())
        if row.get("color", "") is None
        # a label whose own words were ignored ("blu door") has been reported already
        and not any(f"in the label {row['label']!r}" in n for n in notes)
    ]
    return list(dict.fromkeys(notes))  # a phrase repeated in the text: said once


def _label_object_matches(label: str, noun: str) -> bool:
    """A label that is itself a phrase ("red car") matches by its object."""
    own = parse_description(label)
    return any(object_matches(o.object, noun) for o in own.objects)
