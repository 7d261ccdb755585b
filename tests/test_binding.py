"""Descriptions bound to labelled regions, end to end through colorize and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from polychrome.apps.cli import app
from polychrome.guidance.binding import bind
from polychrome.guidance.hints import Guidance
from polychrome.guidance.palette import parse_color
from polychrome.guidance.regions import LabelledRegion
from polychrome.ops.color import rgb_to_lab
from polychrome.pipeline import colorize


def _masks(shape=(40, 60)):
    car = np.zeros(shape, bool)
    car[5:20, 5:25] = True
    house = np.zeros(shape, bool)
    house[10:35, 30:55] = True
    return car, house


def test_objects_bind_to_regions_by_name():
    car, house = _masks()
    regions = [LabelledRegion("cars", car, "car.png"), LabelledRegion("house", house, "h.png")]
    bound = bind("a red car parked beside a light-blue house under a grey sky", regions)
    by_label = {i.source: i for i in bound.instances}
    assert np.allclose(by_label["car.png"].ab, parse_color("red").ab)
    assert np.allclose(by_label["h.png"].ab, parse_color("light blue").ab)
    rows = {r["object"]: r for r in bound.report["phrases"]}
    assert rows["car"]["status"] == "bound" and rows["car"]["bound_to"] == ["car.png"]
    # The sky has a color but no region: reported, with how to give it one.
    assert rows["sky"]["status"] == "ignored"
    assert "--label sky=MASK" in rows["sky"]["reason"]
    assert bound.report["level"] == "complete"


def test_a_region_label_carries_its_own_color():
    car, house = _masks()
    bound = bind("", [LabelledRegion("dark green car", car, "car.png")])
    assert len(bound.instances) == 1
    assert np.allclose(bound.instances[0].ab, parse_color("dark green").ab)
    # A plain label without a color takes the prior, and says so.
    bound = bind("", [LabelledRegion("house", house, "h.png")])
    assert not bound.instances
    assert bound.report["regions"][0]["color"] is None


def test_description_overrides_order_and_tones():
    car, house = _masks()
    regions = [LabelledRegion("car", car, "a.png"), LabelledRegion("house", house, "b.png")]
    bound = bind("a blue car and a house at sunset", regions)
    assert [i.source for i in bound.instances] == ["a.png"]
    assert [t.name for t in bound.tones] == ["sunset"]
    rows = {r["object"]: r for r in bound.report["phrases"]}
    assert rows["house"]["status"] == "automatic"


def test_text_finder_is_used_for_unlabelled_objects():
    car, _ = _masks()
    asked = []

    def find(words):
        asked.append(words)
        return car if "car" in words else None

    bound = bind("a yellow car and a purple dragon", [], find=find)
    assert asked and len(bound.instances) == 1
    rows = {r["object"]: r for r in bound.report["phrases"]}
    assert rows["car"]["status"] == "bound"
    assert rows["dragon"]["status"] == "ignored"


def test_bound_colors_hold_inside_and_do_not_leak():
    rng = np.random.default_rng(0)
    gray = np.clip(rng.normal(0.5, 0.05, (40, 60)), 0, 1).astype(np.float32)
    car, house = _masks()
    regions = [LabelledRegion("car", car, "car.png"), LabelledRegion("house", house, "h.png")]
    bound = bind("a red car beside a blue house", regions)
    guidance = Guidance(instances=tuple(bound.instances), report=bound.report)
    with_regions = colorize(gray, guidance=guidance, engine="none")
    without = colorize(gray, engine="none")
    lab = rgb_to_lab(with_regions.image / 255.0)
    assert np.degrees(np.arctan2(lab[car][:, 2], lab[car][:, 1])).mean() == pytest.approx(
        np.degrees(np.arctan2(*parse_color("red").ab[::-1])), abs=8
    )
    assert lab[house][:, 2].mean() < -20  # blue
    outside = ~(car | house)
    assert np.array_equal(with_regions.image[outside], without.image[outside])
    assert with_regions.metadata["description"]["phrases"][0]["object"] == "car"


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_labels_clicks_boxes_and_legend(tmp_path):
    gray = np.full((60, 80), 90, np.uint8)
    gray[10:30, 10:30] = 170  # a bright square to click on
    gray[35:55, 45:75] = 40  # a dark one to box
    Image.fromarray(gray).save(tmp_path / "in.png")
    labels = np.zeros((60, 80), np.uint8)
    labels[:8] = 1
    Image.fromarray(labels).save(tmp_path / "labels.png")
    (tmp_path / "legend.json").write_text(json.dumps({"1": "sky"}))
    result = _run(
        "colorize",
        str(tmp_path / "in.png"),
        "-o",
        str(tmp_path / "out.png"),
        "--engine",
        "none",
        "--label-map",
        str(tmp_path / "labels.png"),
        "--legend",
        str(tmp_path / "legend.json"),
        "--click",
        "20,20=ball",
        "--box",
        "40,30,79,59=box",
        "--describe",
        "a red ball, a blue sky and a yellow box",
    )
    assert result.exit_code == 0, result.output
    from polychrome.io import read_image, read_metadata

    out = read_image(tmp_path / "out.png").pixels.astype(int)
    assert out[20, 20, 0] > out[20, 20, 2] + 40  # red ball
    assert out[3, 40, 2] > out[3, 40, 0]  # blue sky
    assert out[45, 60, 0] > out[45, 60, 2]  # yellow (dark: olive) box
    meta = read_metadata(tmp_path / "out.png")
    statuses = {r["object"]: r["status"] for r in meta["description"]["phrases"]}
    assert statuses == {"ball": "bound", "sky": "bound", "box": "bound"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--click", "5=ball"], "X,Y=LABEL"),
        (["--box", "1,2,3=car"], "X0,Y0,X1,Y1=LABEL"),
        (["--click", "500,5=ball"], "outside"),
        (["--label-map", "labels.png"], "go together"),
        (["--label", "car"], "LABEL=MASK"),
    ],
)
def test_cli_region_errors(tmp_path, args, message):
    Image.fromarray(np.full((20, 30), 100, np.uint8)).save(tmp_path / "in.png")
    args = [a if a != "labels.png" else str(tmp_path / a) for a in args]
    result = _run("colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out.png").exists()


def test_a_phrase_overridden_by_a_later_one_says_so():
    from polychrome.guidance.binding import bind, report_notes
    from polychrome.guidance.regions import LabelledRegion

    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    bound = bind("a red cup and a blue cup", [LabelledRegion("cup", mask, "cup.png")])
    rows = {r["phrase"]: r for r in bound.report["phrases"]}
    assert rows["red cup"]["status"] == "overridden" and rows["blue cup"]["status"] == "bound"
    assert bound.instances[0].label == "cup: blue"
    assert report_notes(bound.report) == [
        "overridden 'red cup': 'blue cup', later in the text, colors it"
    ]


def test_a_region_given_no_color_says_so():
    from polychrome.guidance.binding import bind, report_notes
    from polychrome.guidance.regions import LabelledRegion

    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    regions = [LabelledRegion("car", mask, "car.png"), LabelledRegion("red cup", mask, "c.png")]
    bound = bind("", regions)
    assert [i.label for i in bound.instances] == ["red cup: red"]
    assert report_notes(bound.report) == [
        "region 'car' (car.png) got no color: name one in its label (\"red car\") or in the "
        "description; the engine colors it meanwhile"
    ]


def test_the_left_and_the_right_car_bind_to_their_own_regions():
    from polychrome.guidance.binding import bind, report_notes
    from polychrome.guidance.regions import LabelledRegion

    left, right = _masks()
    regions = [
        LabelledRegion("left car", left, "click 10,10"),
        LabelledRegion("Right car", right, "click 40,20"),
    ]
    bound = bind("the left car red and the right car is blue", regions)
    by_source = {i.source: i.label for i in bound.instances}
    assert by_source == {"click 10,10": "left car: red", "click 40,20": "Right car: blue"}
    rows = {r["phrase"]: r for r in bound.report["phrases"]}
    assert rows["red car"]["bound_to"] == ["click 10,10"]
    assert rows["blue car"]["bound_to"] == ["click 40,20"]
    # "left" and "right" told the regions apart: used, not reported as ignored.
    assert report_notes(bound.report) == []
    # A phrase without a qualifier still colors every car; an unused qualifier is reported.
    bound = bind("the old car is green", regions)
    assert [i.label for i in bound.instances] == ["left car: green", "Right car: green"]
    assert any("'old'" in n for n in report_notes(bound.report))


def test_a_color_with_two_letters_swapped_gets_did_you_mean():
    from polychrome.guidance.binding import bind, report_notes

    notes = report_notes(bind("a rde car", []).report)
    assert notes[0].startswith(
        "ignored 'rde': not a color or object we can bind; did you mean: red"
    )


def test_a_color_said_twice_overrides_nothing():
    from polychrome.guidance.binding import bind, report_notes
    from polychrome.guidance.regions import LabelledRegion

    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    bound = bind("a red car, and the car is red", [LabelledRegion("car", mask, "car.png")])
    assert [r["status"] for r in bound.report["phrases"]] == ["bound", "bound"]
    assert report_notes(bound.report) == []
