"""The HTTP service and its web page: ``polychrome serve`` (extra ``[serve]``).

Endpoints:

- ``GET /``: the web page (static files in ``apps/web/``).
- ``POST /v1/colorize``: multipart form; returns a PNG, or JSON with base64 PNG samples.
- ``GET /v1/engines``: the engines, whether each can run here, and their options.
- ``GET /v1/options``: the options schema (:func:`polychrome.options.option_specs`), the form
  fields and the service's limits; the page builds its controls from it.
- ``GET /healthz``: liveness, with the jobs running and waiting.

Form fields of ``/v1/colorize`` (every field is optional except ``image``):

- ``image``: the grayscale image (PNG, JPEG, TIFF or WebP).
- ``hints``: an RGBA hint image of the same size (strokes of color on transparency).
- ``region_mask`` + ``region_color``: masks filled with a named color, paired in order.
- ``label_mask`` + ``label``: named masks ("car", or "red car" with its own color) that the
  ``description`` binds to.
- ``description``: the colors in words.
- ``reference``: color reference images (repeatable).
- ``engine_options``: a JSON object of the engine's options.
- ``format``: ``png`` (one sample) or ``json``; by default ``png`` for one sample, ``json`` for
  several.
- every field of :class:`~polychrome.options.ColorizeOptions` by name (``engine``, ``seed``,
  ``samples``, ...): the schema the CLI's flags come from, so defaults live in one place.

Limits (:class:`ServeSettings`, each also an environment variable): request size, pixels per image,
files per request, colorizations running at once, requests waiting for one, and a timeout per
request. Refusals are JSON ``{"error", "detail", "status"}``: 413 (too large), 422 (bad input),
429 (too many requests; ``Retry-After``), 503 (timed out or out of memory). Bad input never
yields a 500.

Colorizations run in a pool of worker threads (numpy, OpenCV and onnxruntime release the GIL), as
many as ``max_jobs``; a semaphore admits at most ``max_jobs + max_waiting`` requests at once. A
request past its timeout is answered 503 at once; a colorization already running cannot be
stopped, so it keeps its slot until it ends and the service does not overcommit.

FastAPI is imported by :func:`create_app` only, so this module (and the settings) load without
the extra.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations (``Request``,
# imported in create_app) at definition time. asyncio and the web stack are imported when the app
# is built, so that the CLI, which shows the settings in its help, starts fast.
import base64
import dataclasses
import json
import logging
import math
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polychrome import __version__
from polychrome.errors import (
    ImageTooLargeError,
    InputError,
    PolychromeError,
    UnknownColorError,
    ValueCheckError,
)

__all__ = ["WEB_DIR", "ServeSettings", "create_app", "exposure_warning", "settings_help"]

WEB_DIR = Path(__file__).resolve().parent / "web"
"""The page's static files."""

FILE_FIELDS = ("image", "hints", "region_mask", "label_mask", "reference")
TEXT_FIELDS = ("region_color", "label", "description", "engine_options", "format")
FORMATS = ("png", "json")
FIELD_HELP = {
    "image": "The grayscale image (PNG, JPEG, TIFF or WebP). Required.",
    "hints": "An RGBA image of the same size: strokes of color on transparency.",
    "region_mask": "A mask filled with the color of the region_color at the same position.",
    "label_mask": "A named mask: the label at the same position names it ('car') or colors "
    "it ('red car'); the description binds to it.",
    "reference": "A color image whose colors are given to matching content.",
    "region_color": "The color of the region_mask at the same position ('dark green').",
    "label": "The text of the label_mask at the same position.",
    "description": "The colors in words ('a red car under a grey sky').",
    "engine_options": "A JSON object of the engine's options (GET /v1/engines lists them); "
    "those that name files on the server are refused.",
    "format": "png (one sample) or json (base64 PNGs, the metadata and notes); by default png "
    "for one sample, json for several.",
}
"""What each form field of ``POST /v1/colorize`` is, besides the options (in /openapi.json)."""
REPEATED = ("region_mask", "label_mask", "reference", "region_color", "label")
_log = logging.getLogger("polychrome.serve")


def _default_jobs() -> int:
    from polychrome.apps.batch import usable_cores

    return max(1, min(4, usable_cores()))


def _kind(f: dataclasses.Field) -> type:
    """A setting's type: ``int`` or ``float``."""
    return int if f.type in (int, "int") else float


def _setting(default: Any, help: str, env: str, *, minimum: float) -> Any:
    meta = {"help": help, "env": env, "min": minimum}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ServeSettings:
    """The service's limits. Each has an environment variable (read by :meth:`from_env`)."""

    max_upload_bytes: int = _setting(
        64 * 2**20,
        "Largest request body (all files and fields together), in bytes.",
        "POLYCHROME_SERVE_MAX_UPLOAD_BYTES",
        minimum=1024,
    )
    max_pixels: int = _setting(
        16_000_000,
        "Most pixels of one image (input, mask, hint or reference), checked before decoding.",
        "POLYCHROME_SERVE_MAX_PIXELS",
        minimum=1,
    )
    max_files: int = _setting(
        32, "Most files in one request.", "POLYCHROME_SERVE_MAX_FILES", minimum=1
    )
    max_jobs: int = _setting(
        _default_jobs,
        "Colorizations running at once; by default the CPU cores, at most 4.",
        "POLYCHROME_SERVE_MAX_JOBS",
        minimum=1,
    )
    max_waiting: int = _setting(
        32,
        "Requests that may wait for a running slot; more are refused with 429.",
        "POLYCHROME_SERVE_MAX_WAITING",
        minimum=0,
    )
    timeout: float = _setting(
        120.0,
        "Seconds a request may wait and run before it is answered 503.",
        "POLYCHROME_SERVE_TIMEOUT",
        minimum=0.001,
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueCheckError(f"{f.name} must be a number, got {value!r}")
            if _kind(f) is int and not isinstance(value, int):
                raise ValueCheckError(f"{f.name} must be an integer, got {value!r}")
            if not value >= f.metadata["min"] or value == float("inf"):
                raise ValueCheckError(
                    f"{f.name} must be a finite number >= {f.metadata['min']:g}, got {value!r}"
                )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> "ServeSettings":
        """Settings from environment variables (``environ``, default ``os.environ``), then
        ``overrides``; the rest keep their defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
            if not raw:
                continue
            kind = _kind(f)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueCheckError(
                    f"{f.metadata['env']} must be {'an integer' if kind is int else 'a number'}, "
                    f"got {raw!r}"
                ) from None
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def settings_help() -> str:
    """Two lines per setting: its environment variable with its default here, and what it
    limits."""
    lines = []
    for f in dataclasses.fields(ServeSettings):
        default = f.default_factory() if callable(f.default_factory) else f.default
        lines += [f"{f.metadata['env']}={default}", f"    {f.metadata['help']}"]
    return "\n".join(lines)


def exposure_warning(address: str) -> str | None:
    """The warning for a service listening on ``address`` (an IP address, as the socket has
    it), or None on loopback: the service has no authentication."""
    import ipaddress

    try:
        if ipaddress.ip_address(address.split("%")[0]).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"warning: listening on {address}, which other machines can reach; the service has no "
        "authentication, so anyone who reaches it can use it. Keep it on 127.0.0.1 or behind "
        "a proxy that adds authentication"
    )


# ------------------------------------------------------------------------------ errors


class _Refusal(Exception):
    """A request refused with an HTTP status (a JSON error body)."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def _status_of(exc: BaseException) -> int:
    """The HTTP status of an error raised while handling a request."""
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, PolychromeError) and exc.exit_code in (2, 3):
        return 422  # bad input (2), or an engine this service cannot run (3)
    if isinstance(exc, MemoryError):
        return 503
    return 500


def _refusal_of(exc: BaseException) -> _Refusal:
    """The refusal answering a library error or a :class:`MemoryError` (see :func:`_status_of`);
    an unknown color's suggestions go with it."""
    detail = "out of memory" if isinstance(exc, MemoryError) else _for_clients(str(exc))
    extra = {"suggestions": exc.suggestions} if isinstance(exc, UnknownColorError) else None
    # Out of memory passes when the other colorizations end: say when to try again, as a
    # timeout does.
    headers = {"Retry-After": "30"} if isinstance(exc, MemoryError) else None
    return _Refusal(_status_of(exc), type(exc).__name__, detail, headers=headers, extra=extra)


def _for_clients(message: str) -> str:
    """A library message or help text in the service's words: options are form fields
    (``samples``, not the CLI's ``--samples``), and the pixel limit is the server's, which a
    client cannot raise."""
    import re

    from polychrome.io import RAISE_THE_LIMIT
    from polychrome.options import option_specs

    fields = {spec.flag: spec.name for spec in option_specs()}
    message = message.replace(RAISE_THE_LIMIT, " (this service's limit)")
    return re.sub(r"--[a-z][a-z-]*", lambda m: fields.get(m.group(0), m.group(0)), message)


# ------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Call:
    """One parsed, checked colorize request; the result's file name is ``job.target``."""

    job: Any  # ColorizeJob
    options: Any  # ColorizeOptions
    engine_options: dict[str, Any]
    format: str


def _clean_name(name: str | None, fallback: str) -> str:
    """A file name fit for messages and metadata: printable, short, without folders."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:80]
    return name or fallback


def _parse_engine_options(text: str) -> dict[str, Any]:
    def refuse_constant(word: str) -> Any:
        raise ValueError(f"{word} is not a number here")

    try:
        value = json.loads(text, parse_constant=refuse_constant) if text.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise ValueCheckError(f"engine_options must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ValueCheckError(f"engine_options must be a JSON object, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise ValueCheckError(
                f"engine option {key!r} must be a string, number or boolean, got "
                f"{type(item).__name__}"
            )
        if isinstance(item, int | float) and not abs(item) < 1e15:
            raise ValueCheckError(f"engine option {key!r} is out of range: {item!r}")
    return value


def _check_numbers(engine: str, options_class: type, values: Mapping[str, Any]) -> None:
    """Refuse a number option given as something else (``"x"``, ``true``), and a whole-number
    option given a fraction (``steps=2.5``, which the engine would cut to 2), in plain words."""
    fields = {f.name: f for f in dataclasses.fields(options_class)}
    for key, value in values.items():
        if key not in fields:
            continue  # the engine's own check names the unknown option and the known ones
        kind = type(fields[key].default)
        if kind not in (int, float):
            continue
        where = f"engine_options of the {engine} engine: {key}"
        try:
            number = float("nan") if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not math.isfinite(number):
            raise ValueCheckError(f"{where} must be a number, got {json.dumps(value)}")
        if kind is int and not number.is_integer():
            raise ValueCheckError(f"{where} must be a whole number, got {json.dumps(value)}")


async def _parse_form(
    form: Any, settings: ServeSettings, server_options: Mapping[str, Mapping[str, str]]
) -> _Call:
    """Check the form's fields and read its files; raises :class:`InputError` (422).
    ``server_options``: per engine, the options the server was started with (weights...);
    the request's own engine options go on top of them."""
    from polychrome.apps.jobs import ColorizeJob
    from polychrome.engines.base import load_engine
    from polychrome.guidance.describe import MAX_DESCRIPTION_CHARS
    from polychrome.io import NamedBytes
    from polychrome.options import ColorizeOptions, option_specs

    option_names = {spec.name for spec in option_specs()}
    files: dict[str, list[NamedBytes]] = {name: [] for name in FILE_FIELDS}
    texts: dict[str, list[str]] = {name: [] for name in TEXT_FIELDS}
    options: dict[str, str] = {}
    for key, value in form.multi_items():
        is_file = not isinstance(value, str)
        if key in FILE_FIELDS:
            if not is_file:
                raise InputError(f"{key} must be a file upload, not a text field")
            count = len(files[key]) + 1
            fallback = key if key in ("image", "hints") else f"{key}-{count}"
            name = _clean_name(value.filename, fallback)
            files[key].append(NamedBytes(await value.read(), name))
            continue
        if is_file:
            raise InputError(f"{key} must be a text field, not a file upload")
        if len(value) > MAX_DESCRIPTION_CHARS:
            raise ValueCheckError(f"{key} is limited to {MAX_DESCRIPTION_CHARS} characters")
        if key in TEXT_FIELDS:
            texts[key].append(value)
        elif key in option_names:
            if key in options:
                raise ValueCheckError(f"option {key} is given twice")
            options[key] = value
        else:
            known = ", ".join([*FILE_FIELDS, *TEXT_FIELDS, *sorted(option_names)])
            raise ValueCheckError(f"unknown form field {key!r}; known: {known}")

    for key in ("image", "hints"):
        if len(files[key]) > 1:
            raise ValueCheckError(f"{key} is given {len(files[key])} times; give it once")
    for key in ("description", "engine_options", "format"):
        if len(texts[key]) > 1:
            raise ValueCheckError(f"{key} is given {len(texts[key])} times; give it once")
    if not files["image"]:
        raise InputError("the form has no image: send the grayscale image as the field 'image'")
    for mask_field, text_field in (("region_mask", "region_color"), ("label_mask", "label")):
        masks, words = files[mask_field], texts[text_field]
        if len(masks) != len(words):
            raise ValueCheckError(
                f"{len(masks)} {mask_field} file(s) but {len(words)} {text_field} field(s): "
                "give one text per mask, in the same order"
            )
        for word in words:
            if not word.strip():
                raise ValueCheckError(f"{text_field} must not be empty")

    # Options: the one schema, then the service's own pixel limit on top.
    chosen = ColorizeOptions.from_mapping(options)
    if chosen.max_pixels > settings.max_pixels:
        chosen = dataclasses.replace(chosen, max_pixels=settings.max_pixels)
    engine_options = _parse_engine_options(
        texts["engine_options"][0] if texts["engine_options"] else ""
    )
    engine_class = load_engine(chosen.engine).Options
    for f in dataclasses.fields(engine_class):
        if f.metadata.get("files") and f.name in engine_options:
            raise ValueCheckError(
                f"engine option {f.name!r} names files or models on the server; the service "
                "does not accept it from clients (the engine uses what the server has)"
            )
    _check_numbers(chosen.engine, engine_class, engine_options)
    engine_options = {**server_options.get(chosen.engine, {}), **engine_options}
    try:
        engine_class.from_mapping(engine_options)
    except ValueCheckError as exc:  # say which field and engine: "vividness" alone is vague
        raise ValueCheckError(f"engine_options of the {chosen.engine} engine: {exc}") from None

    fmt = (texts["format"][0] if texts["format"] else "").strip().lower()
    fmt = fmt or ("png" if chosen.samples == 1 else "json")
    if fmt not in FORMATS:
        raise ValueCheckError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "png" and chosen.samples > 1:
        raise ValueCheckError("a PNG holds one result; ask for format=json to get several samples")

    image = files["image"][0]
    stem = Path(image.name).stem or "image"
    job = ColorizeJob(
        source=image,
        target=Path(f"{stem}-color.png"),  # not written: the response carries the result
        hints=files["hints"][0] if files["hints"] else None,
        regions=list(zip(files["region_mask"], texts["region_color"], strict=True)),
        labels=list(zip(texts["label"], files["label_mask"], strict=True)),
        description=texts["description"][0] if texts["description"] else "",
        references=files["reference"],
    )
    return _Call(job, chosen, engine_options, fmt)


def _option_facts(engine: str) -> dict[str, dict[str, Any]]:
    """Per option of an engine: its type (``int``, ``float``, ``bool``, ``str``) and whether it
    names files on the server (``files``: refused from clients), for the page's controls."""
    import importlib

    from polychrome.engines.base import engine_spec

    module_name, _, cls_name = engine_spec(engine).target.partition(":")
    options_class = getattr(importlib.import_module(module_name), cls_name).Options
    return {
        f.name: {"type": type(f.default).__name__, "files": bool(f.metadata.get("files"))}
        for f in dataclasses.fields(options_class)
    }


def _colorize_openapi(settings: ServeSettings) -> dict[str, Any]:
    """The OpenAPI description of ``POST /v1/colorize``: its multipart form (the fields above
    and every option of the one schema, the pixel limit capped by the service's) and its
    answers."""
    from polychrome.options import ColorizeOptions, option_specs

    effective = ColorizeOptions.from_mapping({})  # defaults, and environment variables
    binary = {"type": "string", "format": "binary"}
    fields: dict[str, Any] = {}
    for name in (*FILE_FIELDS, *TEXT_FIELDS):
        one = binary if name in FILE_FIELDS else {"type": "string"}
        if name == "format":
            one = {"type": "string", "enum": list(FORMATS)}
        row = {"type": "array", "items": one} if name in REPEATED else dict(one)
        fields[name] = {**row, "description": FIELD_HELP[name]}
    kinds = {int: "integer", float: "number", str: "string", bool: "boolean"}
    for spec in option_specs():
        row = {
            "type": kinds[spec.type],
            "default": getattr(effective, spec.name),
            "description": _for_clients(spec.help),
        }
        if spec.name == "max_pixels":
            row["default"] = min(row["default"], settings.max_pixels)
            row["maximum"] = settings.max_pixels
        if spec.choices:
            row["enum"] = list(spec.choices)
        if spec.min is not None:
            row["minimum"] = spec.min
        if spec.max is not None and "maximum" not in row:
            row["maximum"] = spec.max
        fields[spec.name] = row
    error = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "status": {"type": "integer"},
            "suggestions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["error", "detail", "status"],
    }
    result = {
        "type": "object",
        "properties": {
            "media_type": {"type": "string"},
            "filename": {"type": "string"},
            "images": {"type": "array", "items": {"type": "string", "format": "byte"}},
            "metadata": {"type": "object"},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    }
    refusals = {
        "413": "The request or an image is over a limit.",
        "422": "Bad input: the detail names the field or the uploaded file.",
        "429": "Every slot and place in the queue is taken; see Retry-After.",
        "503": "Timed out, or out of memory; see Retry-After.",
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "The result: a PNG (format png) or JSON (format json).",
            "content": {
                "image/png": {"schema": binary},
                "application/json": {"schema": result},
            },
        }
    }
    retry_after = {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer"},
    }
    for status, text in refusals.items():
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": error}},
        }
        if status in ("429", "503"):
            responses[status]["headers"] = {"Retry-After": retry_after}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": fields, "required": ["image"]}
                }
            },
        },
        "responses": responses,
    }


def _colorize(call: _Call) -> tuple[list[bytes], dict[str, Any]]:
    """Worker thread: colorize and encode PNGs (with the metadata embedded)."""
    from polychrome.apps.jobs import colorize_job
    from polychrome.io import encode_image

    result = colorize_job(call.job, options=call.options, engine_options=call.engine_options)
    several = len(result.images) > 1
    encoded = [
        encode_image(
            image,
            alpha=result.alpha,
            metadata={**result.metadata, "sample": k} if several else result.metadata,
            exif=result.exif,
            dpi=result.dpi,
        )
        for k, image in enumerate(result.images)
    ]
    return encoded, result.metadata


# ------------------------------------------------------------------------------ jobs


class _Jobs:
    """Runs colorizations in worker threads with admission control.

    A semaphore of ``max_jobs + max_waiting`` permits admits requests; a permit is given back
    when the colorization ends (or is cancelled before it starts), not when the request times
    out, so a runaway colorization still counts against the limit.
    """

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self._permits = threading.BoundedSemaphore(settings.max_jobs + settings.max_waiting)
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(settings.max_jobs, thread_name_prefix="polychrome-job")
        self._lock = threading.Lock()
        self.running = 0
        self.admitted = 0

    def _track(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with self._lock:
                self.running += 1
            try:
                return fn()
            finally:
                with self._lock:
                    self.running -= 1

        return run

    def _release(self, _: Any = None) -> None:
        with self._lock:
            self.admitted -= 1
        self._permits.release()

    async def run(
        self, fn: Callable[[], Any], gone: Callable[[], Awaitable[Any]] | None = None
    ) -> Any:
        """Run ``fn`` in a worker; raises :class:`_Refusal` 429 when full, 503 on timeout.
        ``gone``: returns when the client goes away; a job that has not started is then dropped
        (and its place in the queue freed), and the answer, which nobody reads, is a 499."""
        import asyncio

        if not self._permits.acquire(blocking=False):
            raise _Refusal(
                429,
                "TooManyRequests",
                f"the service is busy ({self.settings.max_jobs} colorizations running, "
                f"{self.settings.max_waiting} waiting); try again shortly",
                headers={"Retry-After": "5"},
            )
        with self._lock:
            self.admitted += 1
        try:
            future = self._pool.submit(self._track(fn))
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        job = asyncio.wrap_future(future)
        watch = asyncio.ensure_future(gone()) if gone is not None else None
        try:
            done, _ = await asyncio.wait(
                [job, *([watch] if watch else [])],
                timeout=self.settings.timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if watch is not None:
                watch.cancel()
        if job in done:
            return job.result()
        job.cancel()
        future.cancel()  # frees the slot now if it has not started
        if watch is not None and watch in done:
            _log.info("the client went away before its colorization ended; dropped")
            raise _Refusal(499, "ClientDisconnect", "the client closed the connection")
        raise _Refusal(
            503,
            "Timeout",
            f"the colorization took longer than {self.settings.timeout:g} s; try a smaller "
            "image, fewer samples, or later",
            headers={"Retry-After": "30"},
        )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------ the app


def create_app(
    settings: ServeSettings | None = None,
    engine_options: Mapping[str, Mapping[str, str]] | None = None,
):
    """Build the FastAPI app of the service and the page.

    Args:
        settings: the limits; by default :meth:`ServeSettings.from_env`.
        engine_options: per engine name, options every request of that engine gets (the
            server's weights, e.g. the diffusion engine's ``base_model`` and ``controlnet``;
            ``polychrome serve --engine-option``); a request's own options go on top, except
            those that name files, which clients cannot set.

    Raises:
        EngineUnavailableError: FastAPI or python-multipart is not installed (extra ``[serve]``).
    """
    from polychrome.engines.base import require_modules

    require_modules(("fastapi", "python_multipart"), extra="serve", what="polychrome serve")
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    settings = settings or ServeSettings.from_env()
    server_options = {k: dict(v) for k, v in (engine_options or {}).items()}
    jobs = _Jobs(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(
        title="polychrome",
        version=__version__,
        summary="Colorize grayscale images with hints, regions, descriptions and references.",
        docs_url=None,  # FastAPI's page loads Swagger from a CDN: blank on an offline machine
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.jobs = jobs

    def refuse(status: int, error: str, detail: str, headers=None, **extra: Any) -> JSONResponse:
        body = {"error": error, "detail": detail, "status": status, **extra}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(_Refusal)
    async def on_refusal(request: Request, exc: _Refusal) -> JSONResponse:
        return refuse(exc.status, exc.error, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return refuse(exc.status_code, "HTTPError", str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("internal error on %s %s", request.method, request.url.path)
        return refuse(500, "InternalError", f"internal error: {type(exc).__name__}")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """The service is up: jobs running and waiting, and the limits."""
        return {
            "status": "ok",
            "version": __version__,
            "running": jobs.running,
            "waiting": max(0, jobs.admitted - jobs.running),
            "max_jobs": settings.max_jobs,
            "max_waiting": settings.max_waiting,
        }

    @app.head("/healthz", include_in_schema=False)
    async def healthz_head() -> Response:
        """The same check for monitors that ask with HEAD: 200, no body."""
        return Response()

    @app.get("/v1/engines")
    async def engines() -> JSONResponse:
        """The engines, whether each can run here, and their options (defaults, ranges)."""
        from polychrome.engines.base import describe_engines

        rows = describe_engines()
        for row in rows:
            facts = _option_facts(row["name"])
            for option in row["options"]:
                option["help"] = _for_clients(option["help"])
                option.update(facts.get(option["name"], {}))
            # Requests cannot name model files: an engine that runs only with the user's
            # weights is ready here only if the service was started with them.
            if row["user_weights"] and "base_model" not in server_options.get(row["name"], {}):
                row["available"] = False
                row["missing"] = [
                    *row["missing"],
                    "weights: start the service with --engine-option base_model=... controlnet=...",
                ]
        return JSONResponse(json.loads(json.dumps(rows, default=str)))

    @app.get("/v1/options")
    async def options() -> dict[str, Any]:
        """The options a colorize request can set by name, with their defaults and ranges."""
        from polychrome.options import ColorizeOptions, option_specs

        effective = ColorizeOptions.from_mapping({})  # defaults, and environment variables
        rows = []
        for spec in option_specs():
            default = getattr(effective, spec.name)
            maximum = spec.max
            if spec.name == "max_pixels":
                default = min(default, settings.max_pixels)
                maximum = settings.max_pixels
            rows.append(
                {
                    "name": spec.name,
                    "type": spec.type.__name__,
                    "default": default,
                    "help": _for_clients(spec.help),
                    "choices": list(spec.choices) if spec.choices else None,
                    "min": spec.min,
                    "max": maximum,
                }
            )
        return {
            "options": rows,
            "files": list(FILE_FIELDS),
            "texts": list(TEXT_FIELDS),
            "formats": list(FORMATS),
            "limits": settings.to_dict(),
        }

    @app.post("/v1/colorize", openapi_extra=_colorize_openapi(settings))
    async def colorize(request: Request) -> Response:
        """Colorize one image (a multipart form).

        Fields: image (required); hints (an RGBA image of the same size); region_mask with
        region_color, in pairs; label_mask with label, in pairs; description; reference
        (repeatable); engine_options (a JSON object); format (png, or json with base64 PNGs,
        the metadata and notes: the parts of the guidance that colored nothing); and any option
        of GET /v1/options by its name (engine, seed, samples, saturation, method, ...).

        Answers: the PNG (format png), or JSON; a refused request gets a JSON error with its
        status: 413 too large, 422 bad input, 429 busy (Retry-After), 503 timeout or out of
        memory.
        """
        limited = _limit_body(request, settings.max_upload_bytes)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "multipart/form-data":
            raise _Refusal(
                422,
                "InputError",
                "send a multipart/form-data form with the image as the field 'image' (curl -F "
                f"image=@photo.png), not {_ascii(kind)[:60] if kind else 'a body without a type'}",
            )
        try:
            async with limited.form(
                max_files=settings.max_files,
                max_fields=settings.max_files * 2 + 64,
                max_part_size=256 * 1024,
            ) as form:
                call = await _parse_form(form, settings, server_options)
        except PolychromeError as exc:
            raise _refusal_of(exc) from None
        except ClientDisconnect:  # gone mid-upload: not the service's error, nobody to answer
            _log.info("the client went away during its upload")
            raise _Refusal(499, "ClientDisconnect", "the client closed the connection") from None
        except HTTPException as exc:  # the multipart parser refused the body
            detail = str(exc.detail)
            too_many = "Too many" in detail or "exceeded maximum size" in detail
            raise _Refusal(413 if too_many else 422, "MalformedForm", detail) from None
        try:
            encoded, metadata = await jobs.run(lambda: _colorize(call), gone=_gone(request))
        except (PolychromeError, MemoryError) as exc:
            if _status_of(exc) == 500:
                raise
            raise _refusal_of(exc) from None
        filename = call.job.target.name
        if call.format == "png":
            return Response(
                encoded[0],
                media_type="image/png",
                headers={"Content-Disposition": _disposition(filename)},
            )
        from polychrome.apps.jobs import guidance_notes

        return JSONResponse(
            {
                "media_type": "image/png",
                "filename": filename,
                "images": [base64.b64encode(data).decode("ascii") for data in encoded],
                "metadata": metadata,
                # What the guidance left unused (the CLI prints these as warnings): a typo in
                # the description, a label no phrase names, a reference that matched nothing.
                "notes": [_for_clients(note) for note in guidance_notes(metadata)],
            }
        )

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


def _docs_page(spec: dict[str, Any]) -> str:
    """The API as one self-contained HTML page (nothing loaded from elsewhere): each endpoint
    with its description, from the OpenAPI document."""
    from html import escape

    parts = [
        "<!doctype html><meta charset=utf-8><title>polychrome API</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;"
        "padding:0 1em}code,pre{background:#f2f2f2;padding:0 .2em}"
        "pre{padding:.5em;white-space:pre-wrap}</style>",
        f"<h1>{escape(spec['info']['title'])} {escape(spec['info']['version'])}</h1>",
        f"<p>{escape(spec['info'].get('summary', ''))}</p>",
        "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a>. The form fields of "
        "<code>POST /v1/colorize</code> that set options are listed, with defaults and "
        "ranges, by <a href=/v1/options>/v1/options</a>; the engines and their options by "
        "<a href=/v1/engines>/v1/engines</a>.</p>",
    ]
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<h2><code>{escape(method.upper())} {escape(path)}</code></h2>")
            text = op.get("description") or op.get("summary") or ""
            if text:
                parts.append(f"<pre>{escape(text)}</pre>")
            body = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if body:
                parts.append("<p>Form fields (multipart/form-data):</p><ul>")
                parts += [
                    _docs_field(name, field_)
                    for name, field_ in body["schema"]["properties"].items()
                ]
                parts.append("</ul>")
            answers = op.get("responses", {})
            if len(answers) > 1:
                parts.append("<p>Answers:</p><ul>")
                parts += [
                    f"<li>{escape(status)}: {escape(r.get('description', ''))}</li>"
                    for status, r in answers.items()
                ]
                parts.append("</ul>")
    return "\n".join(parts)


def _docs_field(name: str, field_: dict[str, Any]) -> str:
    """One form field of the OpenAPI document as an HTML list item: its kind, default, choices
    and description."""
    from html import escape

    item = field_.get("items", field_)
    kind = "file" if item.get("format") == "binary" else item.get("type", "")
    facts = [f"repeatable {kind}" if field_.get("type") == "array" else kind]
    if "default" in field_:
        facts.append(f"default {field_['default']}")
    if "enum" in field_:
        facts.append("one of " + ", ".join(map(str, field_["enum"])))
    return (
        f"<li><code>{escape(name)}</code> ({escape('; '.join(facts))}): "
        f"{escape(field_.get('description', ''))}</li>"
    )


def _gone(request: Any) -> Callable[[], Awaitable[None]]:
    """A wait that ends when the client of ``request``, whose body has been read, disconnects
    (the next ASGI message then says so); it never ends otherwise."""
    import asyncio

    async def wait() -> None:
        if (await request.receive())["type"] != "http.disconnect":
            await asyncio.Event().wait()

    return wait


def _disposition(filename: str) -> str:
    """An inline Content-Disposition naming ``filename``: plain ASCII for every client, and the
    name itself in UTF-8 (RFC 6266 ``filename*``), which browsers and ``curl -OJ`` prefer."""
    from urllib.parse import quote

    return f"inline; filename=\"{_ascii(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _ascii(text: str) -> str:
    """``text`` fit for a quoted header value."""
    out = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in text)
    return out or "image"


def _limit_body(request: Any, limit: int) -> Any:
    """A copy of ``request`` whose body reading raises :class:`_Refusal` 413 past ``limit``
    bytes (checked from Content-Length first, then while the body streams in)."""
    from starlette.requests import Request

    too_large = _Refusal(
        413,
        "RequestTooLarge",
        f"the request is larger than the limit of {limit:,} bytes",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    seen = 0
    receive = request.receive

    async def counting() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large
        return message

    return Request(request.scope, receive=counting)
