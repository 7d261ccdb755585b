"""The web page in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser), against the service running in uvicorn on loopback.

Skipped, with the reason, when Playwright or the system Chromium is missing (`make test` installs
both). A screenshot of the page after a colorization is saved as out/web-colorized.png.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from polychrome import sample_path
from polychrome.apps.serve import ServeSettings, create_app
from polychrome.io import read_image

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the [web-test] extra is not installed"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parents[1] / "out"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no system chromium (Debian: apt-get install chromium)"
)


@pytest.fixture(scope="module")
def server_url():
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServeSettings(max_jobs=1, timeout=120))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    # Playwright must use the system's Chromium: no browser download, ever.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(180_000)  # a colorization on 2 busy cores can take a while
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(server_url)
    # Engines and options come from the service.
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    yield page
    context.close()


def _drag(page, selector: str, points: list[tuple[float, float]]) -> None:
    """Press, move through ``points`` (fractions of the element's box) and release."""
    box = page.locator(selector).bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def _result_pixel(page, fx: float, fy: float) -> list[int]:
    """RGB of the shown result at a fraction of its size, read back through a canvas."""
    return page.evaluate(
        """([fx, fy]) => {
            const img = document.getElementById("after");
            const c = document.createElement("canvas");
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const x = Math.floor(fx * c.width), y = Math.floor(fy * c.height);
            const d = ctx.getImageData(x - 2, y - 2, 5, 5).data;
            const mean = [0, 0, 0];
            for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) mean[k] += d[i + k];
            return mean.map((v) => Math.round(v / 25));
        }""",
        [fx, fy],
    )


def test_page_colorizes_with_strokes_masks_and_description(page, tmp_path):
    gray = sample_path("coffee-gray.png")
    height, width = read_image(gray).shape
    options = page.locator("#engine option").all_text_contents()
    assert "none" in " ".join(options)
    assert page.locator("#samples option").count() == 16  # from the schema's 1..16
    assert page.locator("#advanced [data-option='method']").count() == 1  # schema-driven

    page.set_input_files("#image-input", str(gray))
    page.wait_for_selector("#stage:not([hidden])")
    assert page.locator("#colorize").is_enabled()

    # A brown stroke on the table at the top left, then a mask painted over the cup, "blue".
    page.fill("#stroke-color", "#9a5a2a")
    _drag(page, "#hint-layer", [(0.08, 0.10), (0.20, 0.12), (0.22, 0.22)])
    page.click("#add-mask")
    page.fill("#mask-list li:last-child input[type=text]", "blue")
    page.fill("#brush-size", "40")
    cup = [(0.35, 0.25), (0.6, 0.25), (0.6, 0.35), (0.35, 0.35), (0.35, 0.45), (0.6, 0.45)]
    _drag(page, "#hint-layer", cup)
    page.fill("#description", "warm tones")

    with page.expect_response("**/v1/colorize") as answer:
        page.click("#colorize")
    assert answer.value.status == 200
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.getElementById('after').complete")
    assert "Done" in page.text_content("#status")

    size = page.evaluate("[after.naturalWidth, after.naturalHeight]")
    assert size == [width, height]
    r, g, b = _result_pixel(page, 0.15, 0.11)  # under the stroke: brown
    assert r > g + 10 and g > b, (r, g, b)
    r, g, b = _result_pixel(page, 0.47, 0.35)  # inside the mask: blue
    assert b > r + 15, (r, g, b)

    # The before/after slider moves the cut.
    page.fill("#slider", "80")
    page.dispatch_event("#slider", "input")
    assert "20%" in page.get_attribute("#after", "style")

    # Download gives the PNG shown.
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "coffee-gray-color.png"
    result = read_image(saved)
    assert result.shape == (height, width) and not result.is_gray

    OUT.mkdir(exist_ok=True)
    page.fill("#slider", "75")
    page.dispatch_event("#slider", "input")
    page.screenshot(path=str(OUT / "web-colorized.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


def test_page_shows_refusals(page, tmp_path):
    # A mask without text is caught before sending.
    page.set_input_files("#image-input", str(sample_path("coffee-gray.png")))
    page.wait_for_selector("#stage:not([hidden])")
    page.click("#add-mask")
    page.click("#colorize")
    assert "has no text" in page.text_content("#status")
    assert "error" in page.get_attribute("#status", "class")

    # A file that is no image at all is caught on opening, and another file can be opened.
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"this is not an image")
    page.set_input_files("#image-input", str(junk))
    page.wait_for_function("document.getElementById('status').textContent.includes('notes.png')")
    assert "not a PNG, JPEG, TIFF or WebP image" in page.text_content("#status")
    assert "error" in page.get_attribute("#status", "class")
    assert page.locator("#colorize").is_disabled() and page.locator("#stage").is_hidden()

    # A broken PNG the browser cannot show still goes to the service, whose refusal is shown.
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    page.set_input_files("#image-input", str(broken))
    page.wait_for_function("!document.getElementById('colorize').disabled")
    with page.expect_response("**/v1/colorize") as answer:
        page.click("#colorize")
    assert answer.value.status == 422
    page.wait_for_function("document.getElementById('status').textContent.includes('broken.png')")
    assert "error" in page.get_attribute("#status", "class")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "good.png", (60, 40))))
    page.wait_for_selector("#stage:not([hidden])")
    assert page.locator("#colorize").is_enabled()


def test_result_of_many_samples_can_be_switched(page, tmp_path):
    import cv2

    from polychrome.io import write_image

    if page.locator("#engine option[value=cnn]:not([disabled])").count() == 0:
        pytest.skip("the cnn engine is not available")
    small = tmp_path / "small.png"
    gray = read_image(sample_path("coffee-gray.png")).pixels
    write_image(small, cv2.resize(gray, (240, 160), interpolation=cv2.INTER_AREA))
    page.set_input_files("#image-input", str(small))
    page.wait_for_selector("#stage:not([hidden])")
    page.select_option("#engine", "cnn")
    page.select_option("#samples", "2")
    page.click("#colorize")
    page.wait_for_selector("#sample-list button >> nth=1")
    first = page.get_attribute("#after", "src")
    page.click("#sample-list button >> nth=1")
    assert page.get_attribute("#after", "src") != first
    assert page.get_attribute("#download", "download").endswith("-2.png")


def _small_png(tmp_path, name: str, size: tuple[int, int]) -> Path:
    import cv2

    from polychrome.io import write_image

    path = tmp_path / name
    gray = read_image(sample_path("coffee-gray.png")).pixels
    write_image(path, cv2.resize(gray, size, interpolation=cv2.INTER_AREA))
    return path


def test_one_colorization_at_a_time_and_a_new_image_drops_the_old_answer(page, tmp_path):
    """A double click sends one request; opening another image while a colorization runs
    abandons it (its result never shows over the new image); the answer's notes are listed.
    The service's answers are held and given by the test, so nothing is colorized here."""
    import base64
    import contextlib
    import json

    import numpy as np

    from polychrome.io import encode_image

    held = []
    page.route("**/v1/colorize", lambda route: held.append(route))
    page.set_input_files("#image-input", str(_small_png(tmp_path, "first.png", (90, 60))))
    page.wait_for_selector("#stage:not([hidden])")
    _drag(page, "#hint-layer", [(0.2, 0.2), (0.6, 0.5)])  # the form then waits for toBlob
    page.dblclick("#colorize")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Colorizing')")
    page.wait_for_timeout(300)
    assert len(held) == 1 and page.locator("#colorize").is_disabled()

    page.set_input_files("#image-input", str(_small_png(tmp_path, "second.png", (60, 40))))
    page.wait_for_function("document.getElementById('status').textContent.includes('second.png')")
    assert page.locator("#colorize").is_enabled()

    def answer(route, width: int, height: int, notes: list[str]) -> None:
        png = encode_image(np.full((height, width, 3), (200, 40, 40), np.uint8))
        body = {
            "media_type": "image/png",
            "filename": "x-color.png",
            "images": [base64.b64encode(png).decode("ascii")],
            "metadata": {"engine": "none", "seed": 0},
            "notes": notes,
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    with contextlib.suppress(sync_api.Error):  # abandoned by the page; answered anyway
        answer(held[0], 90, 60, [])
    page.wait_for_timeout(300)
    assert page.locator("#result").is_hidden()
    assert "second.png" in page.text_content("#status")

    page.click("#colorize")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Colorizing')")
    page.wait_for_timeout(300)
    assert len(held) == 2
    answer(held[1], 60, 40, ["ignored 'zorblax': not a color or object we can bind"])
    page.wait_for_selector("#result:not([hidden])")
    assert page.evaluate("after.naturalWidth") == 60
    assert "zorblax" in page.text_content("#notes") and page.locator("#notes").is_visible()
    assert page.locator("#colorize").is_enabled()
    assert page.errors == []  # type: ignore[attr-defined]


def test_controls_are_named_and_an_image_over_the_pixel_limit_is_caught_on_opening(page, tmp_path):
    page.set_input_files("#image-input", str(_small_png(tmp_path, "small.png", (60, 40))))
    page.wait_for_selector("#stage:not([hidden])")
    page.click("#add-mask")
    # Each control has a name a screen reader can say (the remove button's text is just "×").
    assert page.get_by_label("Image to colorize", exact=True).count() == 1
    assert page.get_by_role("textbox", name="Description of the colors", exact=True).count() == 1
    assert page.get_by_role("textbox", name="Text of mask 1", exact=True).count() == 1
    assert page.get_by_role("button", name="Remove mask 1", exact=True).count() == 1

    # An image the service would refuse is caught before painting on it.
    page.evaluate("state.limits.max_pixels = 1000")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "big.png", (60, 50))))
    page.wait_for_function("document.getElementById('status').textContent.includes('big.png')")
    assert "limit of 1,000" in page.text_content("#status")
    assert "error" in page.get_attribute("#status", "class")
    assert page.locator("#colorize").is_disabled()


def test_an_image_the_browser_cannot_show_is_compared_with_its_result(page, tmp_path):
    """Chromium shows no TIFF: the 'before' was a broken image; the result in gray stands in."""
    from polychrome.io import write_image

    tiff = tmp_path / "scan.tiff"
    write_image(tiff, read_image(_small_png(tmp_path, "scan.png", (60, 40))).pixels)
    page.set_input_files("#image-input", str(tiff))
    page.wait_for_function("!document.getElementById('colorize').disabled")
    page.select_option("#engine", "none")
    page.click("#colorize")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.getElementById('before').complete")
    assert page.evaluate("[before.naturalWidth, after.naturalWidth]") == [60, 60]
    assert "grayscale" in page.evaluate("getComputedStyle(before).filter")


def test_samples_are_offered_only_with_an_engine_that_samples(page):
    page.select_option("#engine", "none")
    assert page.locator("#samples").is_disabled()
    assert page.input_value("#samples") == "1"
    if page.locator("#engine option[value=cnn]:not([disabled])").count():
        page.select_option("#engine", "cnn")
        assert page.locator("#samples").is_enabled()


def _focused(page) -> str:
    return page.evaluate("document.activeElement.id")


def _alpha(page, canvas: str, x: int, y: int) -> int:
    """Alpha of one pixel (image pixels) of the canvas that the CSS selector ``canvas`` finds."""
    return page.evaluate(
        "([css, x, y]) => document.querySelector(css).getContext('2d')"
        ".getImageData(x, y, 1, 1).data[3]",
        [canvas, x, y],
    )


def test_a_stroke_painted_with_the_keyboard_alone_colors_the_result(page):
    """No pointer: Tab to 'Paint with the keyboard', move the cursor with the arrow keys, paint
    a stroke with Enter, colorize with Enter. The stroke is sent and colors the result."""
    page.set_input_files("#image-input", str(sample_path("coffee-gray.png")))  # 600 x 400
    page.wait_for_selector("#stage:not([hidden])")
    page.select_option("#engine", "none")  # hints only: any color comes from the stroke
    page.fill("#stroke-color", "#2050d0")

    # The button follows the paint controls, and takes focus to the image.
    page.focus("#clear")
    page.keyboard.press("Tab")
    assert _focused(page) == "keyboard-paint"
    page.keyboard.press("Enter")
    assert _focused(page) == "hint-layer"
    assert page.locator("#key-cursor").is_visible()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    assert page.text_content("#paint-status") == "Cursor at x 300, y 200 (50% across, 50% down)."

    # A step is 1% of the longer side (6 px), 10% with Shift.
    for key in ["Shift+ArrowLeft", "Shift+ArrowLeft", "Shift+ArrowUp", "Shift+ArrowUp"]:
        page.keyboard.press(key)
    assert page.text_content("#paint-status") == "Cursor at x 180, y 80 (30% across, 20% down)."
    assert _alpha(page, "#hint-layer", 180, 80) == 0  # moving alone paints nothing
    page.keyboard.press("Enter")
    assert "Stroke with color #2050d0 started at x 180, y 80" in page.text_content("#paint-status")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.text_content("#paint-status").startswith("Stroke ended at x 240, y 80")
    for x in (180, 210, 240):
        assert _alpha(page, "#hint-layer", x, 80) == 255, x
    assert _alpha(page, "#hint-layer", 210, 120) == 0
    assert page.evaluate("document.documentElement.scrollTop") == 0  # the keys did not scroll

    # The painting tools follow the image in the tab order (as drawn on a phone); leaving the
    # image hides the cursor. Then Colorize, pressed with the keyboard.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "tool"
    assert page.locator("#key-cursor").is_hidden()
    page.focus("#colorize")
    page.evaluate(  # the form's fields, as sent (Playwright does not show a multipart body)
        """() => {
            const send = window.fetch;
            window.fetch = (url, init) => {
                if (init?.body instanceof FormData) window.sentFields = [...init.body.keys()];
                return send(url, init);
            };
        }"""
    )
    page.keyboard.press("Enter")
    page.wait_for_function("window.sentFields !== undefined")
    assert "hints" in page.evaluate("window.sentFields")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.getElementById('after').complete")
    r, g, b = _result_pixel(page, 210 / 600, 80 / 400)  # under the stroke: blue
    assert b > r + 40 and b > g + 20, (r, g, b)
    assert page.errors == []  # type: ignore[attr-defined]


def test_masks_and_the_eraser_work_with_the_keyboard_and_a_pointer_shows_no_cursor(page, tmp_path):
    page.set_input_files("#image-input", str(_small_png(tmp_path, "small.png", (200, 100))))
    page.wait_for_selector("#stage:not([hidden])")

    # The mask tool without a mask says what to do.
    page.check("input[name=tool][value=mask]")
    page.focus("#keyboard-paint")
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    assert "Add a mask first" in page.text_content("#paint-status")
    assert "error" in page.get_attribute("#paint-status", "class")

    # Add mask (it focuses the mask's text), name it, paint it with a stroke from the keyboard.
    page.focus("#add-mask")
    page.keyboard.press("Enter")
    page.keyboard.type("green")
    page.focus("#keyboard-paint")
    page.keyboard.press("Enter")  # the cursor is where it was: the middle, x 100, y 50
    page.keyboard.press("Enter")
    assert "Stroke with mask 1 started" in page.text_content("#paint-status")
    assert page.locator("#key-cursor.pen-down").is_visible()
    page.keyboard.press("Shift+ArrowDown")  # 10% of 200 px: 20 px
    page.keyboard.press("Escape")
    assert page.text_content("#paint-status").startswith("Stroke ended at x 100, y 70")
    mask = "#mask-layers canvas"
    assert _alpha(page, mask, 100, 50) == 255
    assert _alpha(page, mask, 100, 70) == 255
    page.keyboard.press("ArrowRight")  # the pen is up: nothing more is painted
    page.keyboard.press("Shift+ArrowRight")
    assert _alpha(page, mask, 123, 70) == 0

    # The eraser's dot clears the mask under the cursor.
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.check("input[name=tool][value=erase]")
    page.focus("#keyboard-paint")
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    assert page.text_content("#paint-status").startswith("Erased a dot at x 100, y 70")
    assert _alpha(page, mask, 100, 70) == 0
    assert _alpha(page, mask, 100, 50) == 255

    # A pointer paints as before, and its press shows no keyboard cursor.
    page.check("input[name=tool][value=stroke]")
    _drag(page, "#hint-layer", [(0.1, 0.1), (0.3, 0.1)])
    assert _alpha(page, "#hint-layer", 40, 10) == 255
    assert page.locator("#key-cursor").is_hidden()
    page.keyboard.press("ArrowDown")  # the keyboard goes on from where the pointer stopped
    # (60, 10) as shown, scaled up: the mouse's whole CSS pixels put it within a pixel of that
    x, y = re.match(r"Cursor at x (\d+), y (\d+)", page.text_content("#paint-status")).groups()
    assert abs(int(x) - 60) <= 1 and abs(int(y) - (10 + 2)) <= 1
    assert page.errors == []  # type: ignore[attr-defined]


def _pixel(page, canvas: str, x: int, y: int) -> list[int]:
    """RGBA of one pixel (image pixels) of the canvas that the CSS selector ``canvas`` finds."""
    return page.evaluate(
        "([css, x, y]) => [...document.querySelector(css).getContext('2d')"
        ".getImageData(x, y, 1, 1).data]",
        [canvas, x, y],
    )


def test_undo_takes_back_the_last_stroke_with_the_button_or_ctrl_z(page, tmp_path):
    page.set_input_files("#image-input", str(_small_png(tmp_path, "small.png", (200, 100))))
    page.wait_for_selector("#stage:not([hidden])")
    assert page.locator("#undo").is_disabled()
    hints = "#hint-layer"

    # A red stroke across, then (color and brush changed mid-way) a blue one down over it.
    page.fill("#stroke-color", "#ff0000")
    _drag(page, hints, [(0.1, 0.5), (0.9, 0.5)])
    page.fill("#stroke-color", "#0000ff")
    page.fill("#brush-size", "30")
    _drag(page, hints, [(0.5, 0.1), (0.5, 0.9)])
    assert _pixel(page, hints, 100, 50) == [0, 0, 255, 255]
    assert page.locator("#undo").is_enabled()

    # Undo gives back what was under the blue stroke: red where they crossed, nothing elsewhere.
    page.click("#undo")
    assert _pixel(page, hints, 100, 50) == [255, 0, 0, 255]
    assert _alpha(page, hints, 100, 15) == 0
    assert _alpha(page, hints, 30, 50) == 255
    # Ctrl+Z undoes the red one too; then there is nothing left to undo.
    page.keyboard.press("Control+z")
    assert _alpha(page, hints, 30, 50) == 0
    assert page.locator("#undo").is_disabled()

    # In a text field Ctrl+Z is the field's own: it leaves the strokes alone.
    _drag(page, hints, [(0.1, 0.2), (0.4, 0.2)])
    page.click("#description")
    page.keyboard.type("sky")
    page.keyboard.press("Control+z")
    assert _alpha(page, hints, 50, 20) == 255

    # A keyboard stroke (Enter, moves, Enter) is one step, and so is a mask's stroke, which
    # comes back in the mask's tint of now.
    page.focus("#keyboard-paint")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Enter")  # from where the pointer stopped (80, 20) to (180, 20)
    assert _alpha(page, hints, 140, 20) == 255
    page.click("#add-mask")
    page.keyboard.type("green")
    _drag(page, hints, [(0.1, 0.8), (0.3, 0.8)])
    _drag(page, hints, [(0.5, 0.8), (0.7, 0.8)])
    page.fill("#mask-list li:last-child input[type=text]", "blue")
    page.dispatch_event("#mask-list li:last-child input[type=text]", "input")
    page.click("#undo")
    mask = "#mask-layers canvas"
    assert _alpha(page, mask, 120, 80) == 0
    assert _pixel(page, mask, 40, 80) == [0, 0, 255, 255]
    page.click("#undo")
    assert _alpha(page, mask, 40, 80) == 0
    page.click("#undo")  # adding the mask
    assert _mask_texts(page) == []
    page.click("#undo")
    assert _alpha(page, hints, 140, 20) == 0
    assert _alpha(page, hints, 50, 20) == 255  # the pointer's stroke before them stays
    assert "Undid the last stroke" in page.text_content("#paint-status")

    # Another image starts with nothing to undo.
    page.set_input_files("#image-input", str(_small_png(tmp_path, "other.png", (60, 40))))
    page.wait_for_function("document.getElementById('status').textContent.includes('other.png')")
    assert page.locator("#undo").is_disabled()
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", [(40, 30), (400, 1200)], ids=["tiny", "tall"])
def test_an_image_is_shown_whole_at_a_usable_size_and_strokes_land_under_the_pointer(
    browser, server_url, tmp_path, size
):
    """A 40 x 30 scan fills the column (scaled up), a tall one fits the window; at
    devicePixelRatio 2 a press paints the image's pixel under the pointer, and the result is
    compared at the same size, in view."""
    width, height = size
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=2)
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "scan.png", size)))
    page.wait_for_selector("#stage:not([hidden])")

    box = page.locator("#hint-layer").bounding_box()
    assert max(box["width"], box["height"]) >= 600 and box["y"] + box["height"] <= 800
    assert box["width"] / box["height"] == pytest.approx(width / height, rel=0.01)

    x, y = int(0.3 * width), int(0.6 * height)  # a pixel, clicked at its center: a dot
    page.mouse.click(
        box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height
    )
    assert _alpha(page, "#hint-layer", x, y) == 255
    center = page.evaluate(
        """() => {  // of the painted pixels, in pixels of the image
            const c = document.getElementById("hint-layer");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let sx = 0, sy = 0, n = 0;
            for (let i = 3; i < d.length; i += 4) {
                if (d[i] <= 127) continue;
                const k = (i - 3) / 4;
                sx += k % c.width; sy += Math.floor(k / c.width); n++;
            }
            return [sx / n + 0.5, sy / n + 0.5];
        }"""
    )
    assert center == pytest.approx([x + 0.5, y + 0.5], abs=1.0)

    page.select_option("#engine", "none")
    page.click("#colorize")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function("document.getElementById('after').complete")
    compare = page.locator("#compare").bounding_box()
    assert compare["width"] == pytest.approx(box["width"] + 2, abs=1)
    assert compare["height"] == pytest.approx(box["height"] + 2, abs=1)
    assert compare["y"] >= 0 and compare["y"] + compare["height"] <= 800  # brought into view
    context.close()


def test_on_a_phone_the_image_comes_before_the_painting_tools(browser, server_url, tmp_path):
    """At 390 x 844 the column holds everything: the image follows the file chooser, in the first
    screen, instead of coming after every control; nothing is wider than the screen."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "photo.png", (300, 200))))
    page.wait_for_selector("#stage:not([hidden])")
    stage = page.locator("#stage").bounding_box()
    paint = page.locator("#controls fieldset").first.bounding_box()
    assert stage["y"] + stage["height"] <= min(paint["y"], 844)
    assert stage["x"] >= 0 and stage["x"] + stage["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_on_a_phone_tab_goes_from_the_file_to_the_image_then_the_tools(
    browser, server_url, tmp_path
):
    """The keyboard's order is the order drawn: on a phone the image is under the file chooser,
    so Tab from the file chooser reaches the image before the painting tools drawn below it."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "photo.png", (300, 200))))
    page.wait_for_selector("#stage:not([hidden])")
    page.focus("#image-input")
    page.keyboard.press("Tab")
    assert _focused(page) == "hint-layer"
    image = page.locator("#hint-layer").bounding_box()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "tool"
    tool = page.evaluate("document.activeElement.getBoundingClientRect().y")
    assert tool >= image["y"] + image["height"]  # drawn below the image, and reached after it
    context.close()


def _mask_texts(page) -> list[str]:
    return page.eval_on_selector_all("#mask-list input[type=text]", "els => els.map(e => e.value)")


def _red_stroke_then_two_masks(page, tmp_path) -> str:
    """Open a 200x100 image, paint a red stroke, add a mask "green" with a stroke on it, then a
    mask "blue" (selected, nothing painted on it); returns the hint layer's selector."""
    page.set_input_files("#image-input", str(_small_png(tmp_path, "small.png", (200, 100))))
    page.wait_for_selector("#stage:not([hidden])")
    hints = "#hint-layer"
    page.fill("#stroke-color", "#ff0000")
    _drag(page, hints, [(0.1, 0.2), (0.9, 0.2)])
    page.click("#add-mask")
    page.keyboard.type("green")
    _drag(page, hints, [(0.1, 0.5), (0.4, 0.5)])
    page.click("#add-mask")
    page.keyboard.type("blue")
    return hints


def test_clear_all_and_removing_a_mask_can_be_undone_and_redone(page, tmp_path):
    hints = _red_stroke_then_two_masks(page, tmp_path)
    _drag(page, hints, [(0.6, 0.8), (0.9, 0.8)])
    assert page.locator("#redo").is_disabled()

    def masks_alpha() -> list[int]:  # mask 1 at (50, 50), mask 2 at (150, 80), in layer order
        return page.evaluate(
            """() => [...document.querySelectorAll("#mask-layers canvas")].map((c, k) =>
                c.getContext("2d").getImageData(...(k ? [150, 80] : [50, 50]), 1, 1).data[3])"""
        )

    # Removing mask 1, then Undo: it comes back first in the list, painted as it was.
    page.click("#mask-list li:first-child button")
    assert _mask_texts(page) == ["blue"]
    page.click("#undo")
    assert _mask_texts(page) == ["green", "blue"]
    assert masks_alpha() == [255, 255]
    assert "Undid removing mask 1" in page.text_content("#paint-status")
    # Ctrl+Shift+Z removes it again, Ctrl+Z brings it back.
    page.focus("#undo")
    page.keyboard.press("Control+Shift+Z")
    assert _mask_texts(page) == ["blue"] and page.locator("#redo").is_disabled()
    page.keyboard.press("Control+z")
    assert _mask_texts(page) == ["green", "blue"]

    # Clear all takes strokes and masks; Undo brings both back, Redo clears again.
    page.click("#clear")
    assert _mask_texts(page) == [] and _alpha(page, hints, 100, 20) == 0
    page.click("#undo")
    assert _mask_texts(page) == ["green", "blue"]
    assert _pixel(page, hints, 100, 20) == [255, 0, 0, 255]
    assert masks_alpha() == [255, 255]
    page.click("#redo")
    assert _mask_texts(page) == [] and _alpha(page, hints, 100, 20) == 0
    page.click("#undo")

    # What came back is sent (the service's answer is the test's: nothing is colorized here).
    page.route(
        "**/v1/colorize",
        lambda route: route.fulfill(
            status=422, content_type="application/json", body='{"detail": "held", "status": 422}'
        ),
    )
    page.evaluate(
        """() => {
            const send = window.fetch;
            window.fetch = (url, init) => {
                if (init?.body instanceof FormData) window.sentFields = [...init.body.keys()];
                return send(url, init);
            };
        }"""
    )
    page.click("#colorize")
    page.wait_for_function("window.sentFields !== undefined")
    sent = page.evaluate("window.sentFields")
    assert sent.count("label_mask") == 2 and "hints" in sent

    # Undo of a stroke goes on past them; a new stroke after Undo leaves nothing to redo.
    page.click("#undo")
    assert masks_alpha() == [255, 0]
    page.focus("#add-mask")
    page.keyboard.press("Control+y")  # Ctrl+Y redoes too
    assert masks_alpha() == [255, 255]
    page.click("#undo")
    _drag(page, hints, [(0.1, 0.9), (0.2, 0.9)])
    assert page.locator("#redo").is_disabled()
    page.focus("#add-mask")
    page.keyboard.press("Control+y")  # nothing to redo: nothing happens
    assert masks_alpha() == [255, 0]


def test_adding_a_mask_can_be_undone_and_redone(page, tmp_path):
    # Undo took back strokes, Clear all and removals, but not Add mask: a mask added by mistake
    # had to be removed with its x, and Undo went on past it to the stroke before.
    hints, mask = _red_stroke_then_two_masks(page, tmp_path), "#mask-layers canvas"

    def active() -> list[str]:
        return page.eval_on_selector_all(
            "#mask-list li.active input[type=text]", "els => els.map(e => e.value)"
        )

    # Undo takes the last mask away, and the one selected before is selected again.
    page.click("#undo")
    assert _mask_texts(page) == ["green"] and active() == ["green"]
    assert page.locator("#mask-layers canvas").count() == 1
    assert "Undid adding mask 2" in page.text_content("#paint-status")
    # Redo brings it back, with its text, selected.
    page.click("#redo")
    assert _mask_texts(page) == ["green", "blue"] and active() == ["blue"]
    assert page.locator("#mask-layers canvas").count() == 2

    # Back past the green mask's stroke and the green mask itself; the red stroke stays.
    for _ in range(3):
        page.click("#undo")
    assert _mask_texts(page) == [] and page.locator("#mask-layers canvas").count() == 0
    assert _alpha(page, hints, 100, 20) == 255
    # Redo twice: the green mask, then its stroke on it.
    page.click("#redo")
    page.click("#redo")
    assert _mask_texts(page) == ["green"]
    assert _alpha(page, mask, 50, 50) == 255
    # A mask added now is a new step: nothing is left to redo.
    page.click("#add-mask")
    assert page.locator("#redo").is_disabled()
    assert _mask_texts(page) == ["green", ""]
    assert page.errors == []  # type: ignore[attr-defined]


def _chroma(page) -> float:
    """Mean of max(R, G, B) - min(R, G, B) over the shown result: 0 for a gray image."""
    return page.evaluate(
        """() => {
            const img = document.getElementById("after");
            const c = document.createElement("canvas");
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            let sum = 0;
            for (let i = 0; i < d.length; i += 4) {
                sum += Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]);
            }
            return sum / (d.length / 4);
        }"""
    )


def _colorize_and_wait(page) -> None:
    page.evaluate("document.getElementById('after').removeAttribute('src')")
    with page.expect_response("**/v1/colorize") as answer:
        page.click("#colorize")
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_function(
        "document.getElementById('after').complete && document.getElementById('after').src"
    )


def test_options_change_the_result_and_bad_values_are_refused_on_the_page(page, tmp_path):
    """A collapsed Options section: saturation, seed and the chosen engine's main options (cnn:
    vividness). Each changes the result; a value the service refuses is said on the page."""
    if page.locator("#engine option[value=cnn]:not([disabled])").count() == 0:
        pytest.skip("the cnn engine is not available")
    page.set_input_files("#image-input", str(_small_png(tmp_path, "small.png", (120, 80))))
    page.wait_for_selector("#stage:not([hidden])")
    page.select_option("#engine", "cnn")
    assert page.get_attribute("#options", "open") is None  # collapsed
    assert page.locator("#opt-saturation").is_hidden()
    page.click("#options > summary")
    for name in ("Saturation", "Seed", "Vividness"):  # named, for screen readers too
        assert page.get_by_label(name, exact=True).is_visible(), name
    # Each engine shows its own options only.
    page.select_option("#engine", "none")
    assert page.locator("#engine-opt-vividness").is_hidden()
    page.select_option("#engine", "cnn")
    assert page.locator("#engine-opt-vividness").is_visible()
    assert page.input_value("#engine-opt-vividness") == "1.75"  # the engine's default

    _colorize_and_wait(page)
    vivid = _chroma(page)
    assert vivid > 10, vivid
    page.fill("#opt-saturation", "0")
    _colorize_and_wait(page)
    assert _chroma(page) < 0.5  # no automatic chroma: gray
    page.fill("#opt-saturation", "1")
    page.fill("#engine-opt-vividness", "0.5")
    _colorize_and_wait(page)
    muted = _chroma(page)
    assert 0.5 < muted < vivid * 0.7, (muted, vivid)

    # Values the service refuses: its message, in the status line, as an error.
    page.fill("#engine-opt-vividness", "9")
    with page.expect_response("**/v1/colorize") as answer:
        page.click("#colorize")
    assert answer.value.status == 422
    page.wait_for_function("document.getElementById('status').textContent.includes('vividness')")
    status = page.text_content("#status")
    assert "engine_options of the cnn engine: vividness must be in [0, 4]" in status, status
    assert "error" in page.get_attribute("#status", "class")
    assert "Traceback" not in status
    page.fill("#engine-opt-vividness", "1.75")
    page.fill("#opt-saturation", "-1")
    page.wait_for_function("!document.getElementById('colorize').disabled")
    with page.expect_response("**/v1/colorize") as answer:
        page.click("#colorize")
    assert answer.value.status == 422
    page.wait_for_function("document.getElementById('status').textContent.includes('saturation')")
    assert "saturation must be >= 0" in page.text_content("#status")


def test_the_engine_choice_shows_only_where_there_is_a_choice(page):
    assert page.locator("#engine").is_visible()  # cnn and none here

    def one_engine(route):
        rows = route.fetch().json()
        for row in rows:
            row["available"] = row["name"] == "none"
        route.fulfill(json=rows)

    page.route("**/v1/engines", one_engine)
    page.reload()
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    assert page.locator("#engine").is_hidden()
    assert page.input_value("#engine") == "none"  # not the default, which cannot run here
