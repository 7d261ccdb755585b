"""Tests of the HTTP service (polychrome.apps.serve): each endpoint, each refusal, the limits, and
a hypothesis fuzz of the upload endpoint (benchmarks/fuzz_serve.py runs the same cases 10,000
times). Runs in-process with FastAPI's TestClient; one test starts `polychrome serve` for real.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("python_multipart", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import serve_fuzz  # tests/ is on sys.path
from polychrome.apps import serve
from polychrome.apps.cli import app as cli_app
from polychrome.apps.serve import ServeSettings, create_app
from polychrome.engines.base import ENGINES
from polychrome.errors import ValueCheckError
from polychrome.io import encode_image, read_image, write_image
from polychrome.ops.color import luminance_of
from polychrome.options import ColorizeOptions, option_specs

H, W = 40, 56
CNN = ENGINES["cnn"].available


def _gray() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return (60 + 120 * x / W + 30 * y / H).astype(np.uint8)


def _png(array: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    return encode_image(array, alpha=alpha)


def _hints(color=(220, 20, 20)) -> bytes:
    """RGBA: ``color`` in a square at the top left, transparent elsewhere."""
    rgb = np.zeros((H, W, 3), np.uint8)
    alpha = np.zeros((H, W), np.uint8)
    rgb[4:12, 4:12] = color
    alpha[4:12, 4:12] = 255
    return _png(rgb, alpha)


def _mask(rows=slice(H // 2, H)) -> bytes:
    mask = np.zeros((H, W), np.uint8)
    mask[rows] = 255
    return _png(mask)


def _decode(data: bytes) -> np.ndarray:
    return read_image(data).pixels


def _post(client, *, data=None, files=None, **kwargs):
    files = files if files is not None else [("image", ("gray.png", _png(_gray())))]
    return client.post("/v1/colorize", files=files, data=data or {"engine": "none"}, **kwargs)


def _refused(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["detail"]
    if error is not None:
        assert body["error"] == error, body
    return body


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for spec in option_specs():
        if spec.env:
            monkeypatch.delenv(spec.env, raising=False)
    for f in dataclasses.fields(ServeSettings):
        monkeypatch.delenv(f.metadata["env"], raising=False)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeSettings(max_jobs=2, max_waiting=8, timeout=60))) as c:
        yield c


# ------------------------------------------------------------------------------ read endpoints


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["running"] == 0 and body["waiting"] == 0 and body["max_jobs"] == 2
    assert client.head("/healthz").status_code == 200  # monitors that check with HEAD


def test_engines_lists_the_registry(client):
    rows = client.get("/v1/engines").json()
    assert [r["name"] for r in rows] == list(ENGINES)
    none = next(r for r in rows if r["name"] == "none")
    assert none["available"] is True and none["missing"] == []
    if CNN:
        cnn = next(r for r in rows if r["name"] == "cnn")
        assert {"temperature", "net_side"} <= {o["name"] for o in cnn["options"]}
        diversity = next(o for o in cnn["options"] if o["name"] == "diversity")
        assert "--samples" not in diversity["help"] and "samples" in diversity["help"]
        # The page builds controls from each option's type; it leaves out those naming files.
        kinds = {o["name"]: (o["type"], o["files"]) for o in cnn["options"]}
        assert kinds["vividness"] == ("float", False) and kinds["net_side"] == ("int", False)
        assert kinds["hints"] == ("bool", False) and kinds["model"] == ("str", True)


def test_an_engine_that_needs_the_users_weights_is_ready_only_when_the_service_has_them():
    def diffusion(app) -> dict:
        with TestClient(app) as c:
            return next(r for r in c.get("/v1/engines").json() if r["name"] == "diffusion")

    bare = diffusion(create_app(ServeSettings()))
    assert bare["available"] is False
    assert any("--engine-option base_model=" in m for m in bare["missing"])
    given = diffusion(create_app(ServeSettings(), {"diffusion": {"base_model": "/models/sd15"}}))
    assert not any("base_model" in m for m in given["missing"])


def test_options_come_from_the_one_schema(client):
    body = client.get("/v1/options").json()
    rows = {r["name"]: r for r in body["options"]}
    assert list(rows) == [s.name for s in option_specs()]
    defaults = ColorizeOptions()
    for spec in option_specs():
        row = rows[spec.name]
        assert row["help"] == serve._for_clients(spec.help)
        assert row["type"] == spec.type.__name__
        if spec.name != "max_pixels":
            assert row["default"] == getattr(defaults, spec.name)
            assert row["min"] == spec.min and row["max"] == spec.max
    assert rows["method"]["choices"] == ["auto", "fast", "exact"]
    # Help in the service's words: form fields, not CLI flags.
    assert "--working-pixels" in option_specs()[4].help
    assert "at most working_pixels pixels" in rows["method"]["help"]
    # The service's pixel limit caps the option.
    limit = client.app.state.settings.max_pixels
    assert rows["max_pixels"]["max"] == limit
    assert rows["max_pixels"]["default"] == min(defaults.max_pixels, limit)
    assert body["limits"]["max_jobs"] == 2


def test_options_defaults_follow_environment_variables(monkeypatch):
    monkeypatch.setenv("POLYCHROME_ENGINE", "none")
    with TestClient(create_app(ServeSettings())) as c:
        rows = {r["name"]: r for r in c.get("/v1/options").json()["options"]}
    assert rows["engine"]["default"] == "none"


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and 'id="colorize"' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "/v1/colorize" in script.text
    assert client.get("/static/style.css").status_code == 200
    missing = client.get("/static/nope.js")
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_docs_page_works_offline(client):
    """/docs describes every endpoint in one page that loads nothing from elsewhere (FastAPI's
    own page fetches Swagger from a CDN)."""
    import re

    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    for endpoint in ("POST /v1/colorize", "GET /v1/engines", "GET /v1/options", "GET /healthz"):
        assert endpoint in docs.text, endpoint
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", docs.text)


def test_openapi_describes_the_colorize_form_and_its_answers(client):
    """/openapi.json and /docs give every form field of POST /v1/colorize (the endpoint reads
    the form itself, so FastAPI saw no parameters) and the refusals."""
    post = client.get("/openapi.json").json()["paths"]["/v1/colorize"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    fields = form["properties"]
    assert form["required"] == ["image"]
    options = [s.name for s in option_specs()]
    assert list(fields) == [*serve.FILE_FIELDS, *serve.TEXT_FIELDS, *options]
    assert fields["image"]["format"] == "binary"
    assert fields["reference"]["type"] == "array"
    assert fields["reference"]["items"]["format"] == "binary"
    assert fields["format"]["enum"] == ["png", "json"]
    assert fields["method"]["enum"] == ["auto", "fast", "exact"]
    assert fields["samples"]["default"] == 1 and fields["samples"]["maximum"] == 16
    assert fields["max_pixels"]["maximum"] == client.app.state.settings.max_pixels
    assert not any("--" in f["description"] for f in fields.values())  # fields, not flags
    answers = post["responses"]
    assert {"200", "413", "422", "429", "503"} <= set(answers)
    assert {"image/png", "application/json"} <= set(answers["200"]["content"])
    assert all("Retry-After" in answers[status]["headers"] for status in ("429", "503"))
    error = answers["422"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error", "detail", "status"]

    docs = client.get("/docs").text
    for name in fields:
        assert f"<code>{name}</code>" in docs, name
    assert "429: " in docs


# ------------------------------------------------------------------------------ colorize


def test_png_result_keeps_luminance_and_follows_hints(client, tmp_path):
    response = _post(
        client,
        files=[
            ("image", ("photo.png", _png(_gray()))),
            ("hints", ("strokes.png", _hints())),
        ],
        data={"engine": "none", "seed": "3"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert 'filename="photo-color.png"' in response.headers["content-disposition"]
    rgb = _decode(response.content)
    assert rgb.shape == (H, W, 3)
    lum_in, lum_out = luminance_of(_gray()), luminance_of(rgb)
    assert np.abs(lum_in - lum_out).max() < 1.5
    r, g, b = (rgb[6:10, 6:10, k].astype(int).mean() for k in range(3))
    assert r > g + 30 and r > b + 30, (r, g, b)
    # The metadata travels inside the PNG.
    from polychrome.io import read_metadata

    path = tmp_path / "result.png"
    path.write_bytes(response.content)
    meta = read_metadata(path)
    assert meta["seed"] == 3 and meta["engine"] == "none"
    assert meta["input"]["path"] == "photo.png"
    assert meta["guidance"][0]["source"] == "strokes.png"


def test_label_masks_bind_to_the_description(client):
    response = _post(
        client,
        files=[
            ("image", ("gray.png", _png(_gray()))),
            ("label_mask", ("car.png", _mask())),
            ("label", (None, b"car")),
        ],
        data={"engine": "none", "description": "a green car", "format": "json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    rgb = _decode(base64.b64decode(body["images"][0]))
    bottom = rgb[H // 2 + 4 :, :].reshape(-1, 3).astype(int).mean(axis=0)
    assert bottom[1] > bottom[0] + 20 and bottom[1] > bottom[2] + 10, bottom
    phrases = body["metadata"]["description"]["phrases"]
    assert phrases[0]["object"] == "car" and phrases[0]["bound_to"] == ["car.png"]
    assert body["notes"] == []


def test_json_answer_lists_what_the_guidance_left_unused(client):
    """The CLI warns of a description word it could not use; the service's JSON carries the
    same notes, so the page can show them."""
    data = {"engine": "none", "description": "a zorblax sky", "format": "json"}
    response = _post(client, data=data)
    assert response.status_code == 200, response.text
    notes = response.json()["notes"]
    assert any("zorblax" in note and "ignored" in note for note in notes), notes


def test_region_mask_with_a_color_phrase(client):
    response = _post(
        client,
        files=[
            ("image", ("gray.png", _png(_gray()))),
            ("region_mask", ("top.png", _mask(slice(0, H // 2)))),
            ("region_color", (None, b"blue")),
        ],
    )
    assert response.status_code == 200, response.text
    rgb = _decode(response.content)
    top = rgb[: H // 2 - 4].reshape(-1, 3).astype(int).mean(axis=0)
    assert top[2] > top[0] + 20, top


def test_reference_image_gives_its_colors(client):
    import cv2

    from polychrome import sample_path

    def small(name: str) -> np.ndarray:
        pixels = read_image(sample_path(name)).pixels
        return cv2.resize(pixels, (150, 100), interpolation=cv2.INTER_AREA)

    gray, color = small("coffee-gray.png"), small("coffee.png")
    response = _post(
        client,
        files=[("image", ("gray.png", _png(gray))), ("reference", ("ref.png", _png(color)))],
        data={"engine": "none", "format": "json"},
    )
    assert response.status_code == 200, response.text
    meta = response.json()["metadata"]
    assert any("ref.png" in str(g.get("source", "")) for g in meta["guidance"])
    rgb = _decode(base64.b64decode(response.json()["images"][0])).astype(int)
    baseline = np.abs(np.dstack([gray] * 3).astype(int) - color).mean()
    assert np.abs(rgb - color).mean() < baseline / 3


@pytest.mark.skipif(not CNN, reason="the cnn engine is not available")
def test_json_samples_differ(client):
    response = _post(client, data={"engine": "cnn", "samples": "2", "seed": "1"})
    assert response.status_code == 200, response.text
    body = response.json()  # several samples: JSON by default
    assert body["media_type"] == "image/png" and len(body["images"]) == 2
    first, second = (_decode(base64.b64decode(b)) for b in body["images"])
    assert first.shape == second.shape == (H, W, 3)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 0.5
    assert body["metadata"]["options"]["samples"] == 2


@pytest.mark.parametrize("shape", [(4, 1), (1, 4), (1, 1)])
def test_images_of_a_few_pixels_colorize(client, shape):
    # (4, 1) once failed in the gamut mapping (OpenCV read the array as a scalar): found by fuzzing.
    gray = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape) * 50
    response = _post(client, files=[("image", ("tiny.png", _png(gray)))])
    assert response.status_code == 200, response.text
    assert _decode(response.content).shape == (*shape, 3)


# ------------------------------------------------------------------------------ refusals: 422


@pytest.mark.parametrize(
    ("data", "files", "error", "words"),
    [
        ({"engine": "none"}, [("hints", ("h.png", _hints()))], "InputError", "no image"),
        ({"engine": "none"}, [], "InputError", "multipart/form-data"),
        ({"engine": "nope"}, None, "UnknownEngineError", "nope"),
        ({"seed": "-1"}, None, "ValueCheckError", "seed"),
        ({"saturation": "nan"}, None, "ValueCheckError", "saturation"),
        ({"samples": "abc"}, None, "ValueCheckError", "samples"),
        ({"colour": "red"}, None, "ValueCheckError", "unknown form field 'colour'"),
        ({"samples": "2", "format": "png"}, None, "ValueCheckError", "format=json"),
        ({"format": "gif"}, None, "ValueCheckError", "format"),
        ({"engine_options": '{"model": "/etc/passwd"}'}, None, "ValueCheckError", "server"),
        ({"engine_options": '{"base_model": "x/y"}'}, None, "ValueCheckError", "base_model"),
        (
            {"engine": "diffusion", "engine_options": '{"base_model": "x/y"}'},
            None,
            "ValueCheckError",
            "files or models on the server",
        ),
        (
            {"engine": "diffusion", "engine_options": '{"references": "/etc/passwd"}'},
            None,
            "ValueCheckError",
            "files or models on the server",
        ),
        ({"engine_options": "{"}, None, "ValueCheckError", "JSON object"),
        ({"engine_options": "[1]"}, None, "ValueCheckError", "JSON object"),
        ({"engine_options": '{"zzz": 1}'}, None, "ValueCheckError", "zzz"),
        # An engine option's refusal names the field and the engine, in plain words.
        (
            {"engine_options": '{"vividness": 9}'},
            None,
            "ValueCheckError",
            "engine_options of the cnn engine: vividness must be in [0, 4], got 9",
        ),
        (
            {"engine_options": '{"vividness": "vivid"}'},
            None,
            "ValueCheckError",
            'vividness must be a number, got "vivid"',
        ),
        ({"engine_options": '{"net_side": 100.5}'}, None, "ValueCheckError", "whole number"),
        ({"engine_options": '{"net_side": "nan"}'}, None, "ValueCheckError", "a number"),
        ({"engine_options": '{"temperature": true}'}, None, "ValueCheckError", "got true"),
        ({"description": "x" * 2001}, None, "ValueCheckError", "2000"),
        (
            {"label": "car"},
            [("image", ("gray.png", _png(_gray())))],
            "ValueCheckError",
            "one text per mask",
        ),
        ({}, [("image", (None, b"not a file"))], "InputError", "file upload"),
        (
            {},
            [("image", ("a.png", _png(_gray()))), ("image", ("b.png", _png(_gray())))],
            "ValueCheckError",
            "once",
        ),
        ({}, [("image", ("junk.png", b"junk"))], "DecodeError", "junk.png"),
        ({}, [("image", ("empty.png", b""))], "DecodeError", "empty"),
        ({}, [("image", ("cut.png", _png(_gray())[:60]))], "DecodeError", "cut.png"),
    ],
)
def test_bad_input_is_422(client, data, files, error, words):
    body = _refused(_post(client, data=data, files=files), 422, error)
    assert words in body["detail"]


@pytest.mark.parametrize(
    ("data", "words"),
    [({"samples": "99"}, "samples must be"), ({"seed": "-1"}, "seed must be")],
)
def test_errors_name_form_fields_not_cli_flags(client, data, words):
    body = _refused(_post(client, data={"engine": "none", **data}), 422, "ValueCheckError")
    assert body["detail"].startswith(words) and "--" not in body["detail"], body


def test_guidance_errors_name_the_upload(client):
    base = ("image", ("gray.png", _png(_gray())))
    small = np.zeros((H // 2, W), np.uint8) + 255
    cases = [
        ([base, ("hints", ("h.png", _png(_gray())))], {}, "ValueCheckError", "no alpha"),
        ([base, ("hints", ("h.png", _png(_gray()[:10])))], {}, None, "h.png"),
        (
            [base, ("label_mask", ("half.png", _png(small))), ("label", (None, b"car"))],
            {},
            "ShapeError",
            "half.png",
        ),
        (
            [base, ("region_mask", ("dark.png", _mask(slice(0, 0))))],
            {"region_color": "red"},
            "EmptyMaskError",
            "dark.png",
        ),
        (
            [base, ("reference", ("grayref.png", _png(_gray())))],
            {},
            "ValueCheckError",
            "grayref.png",
        ),
    ]
    for files, data, error, words in cases:
        body = _refused(_post(client, data={"engine": "none", **data}, files=files), 422, error)
        assert words in body["detail"], body


def test_unknown_color_suggests_names(client):
    response = _post(
        client,
        files=[
            ("image", ("gray.png", _png(_gray()))),
            ("region_mask", ("m.png", _mask())),
            ("region_color", (None, b"redd")),
        ],
    )
    body = _refused(response, 422, "UnknownColorError")
    assert "red" in body["suggestions"]


def test_malformed_multipart_is_422(client):
    response = client.post(
        "/v1/colorize",
        content=b"--zz\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert response.status_code == 422
    assert response.json()["status"] == 422


@pytest.mark.parametrize("kind", ["image/png", "application/json", None])
def test_a_body_that_is_no_form_says_how_to_send_one(client, kind):
    """Raw image bytes or JSON were read as an empty form ('the form has no image')."""
    headers = {"content-type": kind} if kind else {}
    response = client.post("/v1/colorize", content=_png(_gray()), headers=headers)
    body = _refused(response, 422, "InputError")
    assert "multipart/form-data" in body["detail"] and "image=@" in body["detail"]
    if kind:
        assert kind in body["detail"]


def test_unknown_route_and_method(client):
    _refused(client.get("/v1/nothing"), 404)
    _refused(client.get("/v1/colorize"), 405)


# ------------------------------------------------------------------------------ refusals: 413


def test_request_over_the_upload_limit_is_413():
    with TestClient(create_app(ServeSettings(max_upload_bytes=2048))) as c:
        big = encode_image(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
        body = _refused(_post(c, files=[("image", ("big.png", big))]), 413, "RequestTooLarge")
        assert "2,048" in body["detail"]

        # Without Content-Length (a streamed body), the count stops it too.
        def chunks():
            yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\n'
            for _ in range(10):
                yield b"x" * 1024

        streamed = c.post(
            "/v1/colorize",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        _refused(streamed, 413, "RequestTooLarge")


def test_image_over_the_pixel_limit_is_413():
    with TestClient(create_app(ServeSettings(max_pixels=H * W - 1))) as c:
        body = _refused(_post(c), 413, "ImageTooLargeError")
        assert "this service's limit" in body["detail"] and "--max-pixels" not in body["detail"]
        # A client may lower the limit, never raise it.
        _refused(_post(c, data={"engine": "none", "max_pixels": "1000000000"}), 413)
    with TestClient(create_app(ServeSettings())) as c:
        _refused(_post(c, data={"engine": "none", "max_pixels": "100"}), 413)


def test_too_many_files_is_413():
    with TestClient(create_app(ServeSettings(max_files=2))) as c:
        files = [("image", ("gray.png", _png(_gray())))] + [
            ("reference", (f"r{k}.png", _png(_gray()))) for k in range(3)
        ]
        _refused(_post(c, files=files), 413)


# ------------------------------------------------------------------------------ 429, 503, 500


class _Blocked:
    """Stands in for the colorization: waits until released."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, call):
        self.started.set()
        self.release.wait(30)
        return [_png(_gray())], {}


def test_full_service_answers_429_then_recovers(monkeypatch):
    blocked = _Blocked()
    monkeypatch.setattr(serve, "_colorize", blocked)
    with TestClient(create_app(ServeSettings(max_jobs=1, max_waiting=0, timeout=30))) as c:
        first: list = []
        worker = threading.Thread(target=lambda: first.append(_post(c)))
        worker.start()
        assert blocked.started.wait(10)
        assert c.get("/healthz").json()["running"] == 1
        busy = _post(c)
        _refused(busy, 429, "TooManyRequests")
        assert busy.headers["retry-after"]
        blocked.release.set()
        worker.join(10)
        assert first[0].status_code == 200
        assert _post(c).status_code == 200  # the slot is free again


def test_timeout_is_503_and_the_slot_stays_taken_until_the_job_ends(monkeypatch):
    blocked = _Blocked()
    monkeypatch.setattr(serve, "_colorize", blocked)
    with TestClient(create_app(ServeSettings(max_jobs=1, max_waiting=0, timeout=0.3))) as c:
        started = time.perf_counter()
        _refused(_post(c), 503, "Timeout")
        assert time.perf_counter() - started < 5
        # The colorization still runs: no new one is admitted beside it.
        _refused(_post(c), 429)
        blocked.release.set()
        for _ in range(100):
            if c.get("/healthz").json()["running"] == 0:
                break
            time.sleep(0.05)
        blocked.release = threading.Event()
        blocked.release.set()
        assert _post(c).status_code == 200


def test_waiting_request_that_times_out_frees_its_place(monkeypatch):
    blocked = _Blocked()
    monkeypatch.setattr(serve, "_colorize", blocked)
    with TestClient(create_app(ServeSettings(max_jobs=1, max_waiting=1, timeout=0.5))) as c:
        worker = threading.Thread(target=lambda: _post(c))
        worker.start()
        assert blocked.started.wait(10)
        _refused(_post(c), 503, "Timeout")  # waited for the slot, never ran
        health = c.get("/healthz").json()
        assert health["running"] == 1 and health["waiting"] == 0
        blocked.release.set()
        worker.join(10)


def test_out_of_memory_is_503_and_a_bug_is_a_json_500(monkeypatch):
    def out_of_memory(call):
        raise MemoryError

    def bug(call):
        raise RuntimeError("boom")

    with TestClient(create_app(ServeSettings()), raise_server_exceptions=False) as c:
        monkeypatch.setattr(serve, "_colorize", out_of_memory)
        out_of_memory_answer = _post(c)
        _refused(out_of_memory_answer, 503, "MemoryError")
        assert out_of_memory_answer.headers["retry-after"]  # it passes: say when to try again
        monkeypatch.setattr(serve, "_colorize", bug)
        body = _refused(_post(c), 500, "InternalError")
        assert "boom" not in body["detail"]  # no internals leak


# ------------------------------------------------------------------------------ gone clients


def test_a_name_beyond_ascii_is_kept_in_the_download_name(client):
    response = _post(client, files=[("image", ("写真 1.png", _png(_gray())))])
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert 'filename="__ 1-color.png"' in disposition  # for clients that read only this
    assert "filename*=UTF-8''%E5%86%99%E7%9C%9F%201-color.png" in disposition


def _form_body() -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="g.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + _png(_gray()) + b"\r\n--b\r\n"
        b'Content-Disposition: form-data; name="engine"\r\n\r\nnone\r\n--b--\r\n'
    )


async def _asgi_post(app, messages: list[dict], then) -> list[dict]:
    """POST /v1/colorize straight to the ASGI ``app``: ``receive`` hands out ``messages``, then
    waits for ``then()``'s message (the client's disconnect). Returns what the app sent."""
    body = _form_body()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/colorize",
        "raw_path": b"/v1/colorize",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    queue = list(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        return queue.pop(0) if queue else await then()

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _status(sent: list[dict]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_a_client_gone_mid_upload_is_no_internal_error(caplog):
    import asyncio

    async def never() -> dict:
        raise AssertionError("read past the disconnect")

    half = _form_body()[:500]
    messages = [
        {"type": "http.request", "body": half, "more_body": True},
        {"type": "http.disconnect"},
    ]
    app = create_app(ServeSettings())
    with caplog.at_level("INFO", logger="polychrome.serve"):
        sent = asyncio.run(_asgi_post(app, messages, never))  # raised ClientDisconnect before
    assert _status(sent) != 500
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "went away" in caplog.text


def test_a_queued_request_whose_client_went_away_is_dropped(monkeypatch):
    import asyncio

    blocked = _Blocked()
    calls = []
    monkeypatch.setattr(serve, "_colorize", lambda call: calls.append(1) or blocked(call))
    app = create_app(ServeSettings(max_jobs=1, max_waiting=1, timeout=10))
    jobs = app.state.jobs
    whole = [{"type": "http.request", "body": _form_body(), "more_body": False}]

    async def scenario() -> tuple[list[dict], list[dict], int]:
        done, gone = asyncio.Event(), asyncio.Event()

        async def stays() -> dict:
            await done.wait()
            return {"type": "http.disconnect"}

        async def leaves() -> dict:
            await gone.wait()
            return {"type": "http.disconnect"}

        first = asyncio.ensure_future(_asgi_post(app, whole, stays))
        while not blocked.started.is_set():
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(_asgi_post(app, whole, leaves))
        while jobs.admitted < 2:
            await asyncio.sleep(0.01)
        gone.set()  # the second client closes its connection while it waits for the slot
        dropped = await second
        admitted = jobs.admitted  # its place in the queue is free again
        blocked.release.set()
        answered = await first
        done.set()
        return answered, dropped, admitted

    answered, dropped, admitted = asyncio.run(scenario())
    assert _status(answered) == 200
    assert _status(dropped) == 499  # was a 503 after the timeout, the job then run for nobody
    assert admitted == 1
    assert len(calls) == 1


# ------------------------------------------------------------------------------ settings, CLI


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("POLYCHROME_SERVE_MAX_JOBS", "3")
    monkeypatch.setenv("POLYCHROME_SERVE_TIMEOUT", "2.5")
    settings_ = ServeSettings.from_env(max_waiting=0)
    assert (settings_.max_jobs, settings_.timeout, settings_.max_waiting) == (3, 2.5, 0)
    assert settings_.max_pixels == ServeSettings().max_pixels
    monkeypatch.setenv("POLYCHROME_SERVE_MAX_JOBS", "many")
    with pytest.raises(ValueCheckError, match="POLYCHROME_SERVE_MAX_JOBS"):
        ServeSettings.from_env()
    for bad in ({"max_jobs": 0}, {"timeout": float("nan")}, {"max_files": 1.5}):
        with pytest.raises(ValueCheckError):
            ServeSettings(**bad)


def test_cli_serve_help_and_bad_settings():
    runner = CliRunner()
    result = runner.invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "POLYCHROME_SERVE_MAX_JOBS" in result.output and "--port" in result.output
    result = runner.invoke(cli_app, ["serve"], env={"POLYCHROME_SERVE_TIMEOUT": "soon"})
    assert result.exit_code == 2
    assert "POLYCHROME_SERVE_TIMEOUT" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli_app, ["serve", "--log-level", "bogus"])
    assert result.exit_code == 2 and "--log-level must be one of" in result.output
    with socket.socket() as busy:  # a port in use: said before anything claims to serve
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(cli_app, ["serve", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "serving on" not in result.output


def test_serving_beyond_loopback_warns_that_there_is_no_authentication(monkeypatch):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append(sockets))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "warning: listening on 0.0.0.0" in result.output
    assert "no authentication" in result.output
    result = runner.invoke(cli_app, ["serve", "--port", "0"])
    assert result.exit_code == 0 and "warning" not in result.output
    for sockets in served:
        sockets[0].close()
    assert serve.exposure_warning("::1") is None
    assert "no authentication" in serve.exposure_warning("::")


def test_server_engine_options_apply_to_every_request_and_clients_go_on_top():
    """``serve --engine-option``: the server's options (its weights, a setting) reach every
    request of the engines that have them; a request's own options win, except file ones."""
    from polychrome.ops.color import rgb_to_lab

    def chroma(response) -> float:
        assert response.status_code == 200, response.text
        ab = rgb_to_lab(_decode(response.content) / 255.0)[..., 1:]
        return float(np.hypot(ab[..., 0], ab[..., 1]).mean())

    app = create_app(ServeSettings(max_jobs=1), {"cnn": {"vividness": "0"}})
    with TestClient(app) as c:
        assert chroma(_post(c, data={"engine": "cnn"})) < 0.5  # the server's vividness 0
        mine = {"engine": "cnn", "engine_options": '{"vividness": 1.75}'}
        assert chroma(_post(c, data=mine)) > 1.0
    result = CliRunner().invoke(cli_app, ["serve", "--engine-option", "nope=1"])
    assert result.exit_code == 2 and "nope" in result.output
    result = CliRunner().invoke(cli_app, ["serve", "--engine-option", "vividness=99"])
    assert result.exit_code == 2 and "vividness" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_polychrome_serve_answers_on_loopback(tmp_path):
    import httpx

    script = Path(sys.executable).parent / "polychrome"
    if not script.is_file():
        pytest.skip("the polychrome console script is not installed")
    port = _free_port()
    command = [str(script), "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "POLYCHROME_SERVE_MAX_JOBS": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                health = httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.05)
        assert health.json()["max_jobs"] == 1
        image = tmp_path / "gray.png"
        write_image(image, _gray())
        with image.open("rb") as f:
            response = httpx.post(
                f"{url}/v1/colorize",
                files={"image": ("gray.png", f)},
                data={"engine": "none"},
                timeout=60,
            )
        assert response.status_code == 200 and _decode(response.content).shape == (H, W, 3)
    finally:
        server.terminate()
        server.wait(10)


def test_page_files_are_package_data():
    root = Path(__file__).resolve().parents[1]
    package_data = (root / "pyproject.toml").read_text()
    assert '"apps/web/*"' in package_data
    for name in ("index.html", "app.js", "style.css"):
        assert (serve.WEB_DIR / name).is_file()


# ------------------------------------------------------------------------------ fuzz


@settings(
    max_examples=int(os.environ.get("POLYCHROME_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(case=serve_fuzz.cases())
def test_fuzz_upload_never_500(fuzz_client, case):
    serve_fuzz.check(serve_fuzz.post(fuzz_client, case))


@pytest.fixture(scope="module")
def fuzz_client():
    with TestClient(
        create_app(ServeSettings(max_jobs=2, max_waiting=8, timeout=60)),
        raise_server_exceptions=True,
    ) as c:
        yield c


def test_encode_image_matches_write_image(tmp_path):
    rgb = np.dstack([_gray(), _gray() // 2, _gray() // 3])
    alpha = np.full((H, W), 200, np.uint8)
    for suffix in ("png", "tif", "webp"):
        path = tmp_path / f"x.{suffix}"
        write_image(path, rgb, alpha=alpha, metadata={"k": 1})
        fmt = {"tif": "TIFF"}.get(suffix, suffix)
        encoded = encode_image(rgb, alpha=alpha, metadata={"k": 1}, format=fmt)
        assert encoded == path.read_bytes()
    with pytest.raises(ValueCheckError, match="unknown image format"):
        encode_image(rgb, format="gif")
