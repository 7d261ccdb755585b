"""The ``polychrome`` command line.

Options of ``colorize`` are generated from :class:`polychrome.options.ColorizeOptions`, the one
schema every surface shares. Library errors become one-line messages with the error's exit code
(2: bad input, 3: missing extra or weights) here, at the edge, and nowhere else.

Nothing heavy (numpy, OpenCV, onnxruntime, torch) is imported at module level, so ``--version``
and ``engines`` answer instantly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand

from polychrome import __version__
from polychrome.errors import InputError, PolychromeError, ValueCheckError
from polychrome.formats import IMAGE_FORMATS, IMAGE_SUFFIXES, image_files
from polychrome.options import ColorizeOptions, option_specs
from polychrome.video.settings import VideoSettings

app = typer.Typer(
    name="polychrome",
    help="Colorize grayscale photos, comics, image sequences and video, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)

OUTPUT_FORMATS = ("png", "jpg", "tif", "webp")

# Per command: a one-line summary for `polychrome --help` (the docstring's first sentence was cut
# at about 60 characters, "..."), and examples that end its own --help (test_cli parses them).
_SUMMARIES = {
    "colorize": "Colorize images: hints, regions, descriptions, references.",
    "batch": "Colorize a folder in parallel (processes or Ray), resumable.",
    "serve": "Serve the HTTP API and the web page (extra [serve]).",
    "sequence": "Colorize a chapter's pages in order, references from a pool.",
    "video": "Colorize a video or a folder of frames.",
    "eval": "Evaluate engines against color originals: PSNR, SSIM, dE2000.",
    "train": "Train the cnn engine's network (extra [train]), resumable.",
    "pool": "Build reference pools for colorize --pool.",
    "pool build": "Embed a folder of color images into a pool file (.npz).",
}
EXAMPLES = {
    "engines": ["polychrome engines --json"],
    "colorize": [
        "polychrome colorize photo.png -o photo-color.png",
        "polychrome colorize photo.png --hints strokes.png -o photo-color.png",
        "polychrome colorize photo.png --region car.png='dark green' -o out.png",
        "polychrome colorize scans/ -o colored/ --format jpg --skip-existing",
    ],
    "batch": ["polychrome batch scans/ -o colored/ --workers 2"],
    "serve": ["polychrome serve --port 8000"],
    "sequence": ["polychrome sequence chapter-4/ --pool chapter-3.npz -o chapter-4-color/"],
    "video": [
        "polychrome video old-film.mp4 -o colored.mp4",
        "polychrome video frames/ -o colored.mp4 --fps 24",
    ],
    "eval": ["polychrome eval photos/ --points 10,100 --json report.json"],
    "train": ["polychrome train --data photos/ --out runs/mine"],
    "pool build": ["polychrome pool build chapter-3-color/ -o chapter-3.npz"],
}


_QUIET = "No progress bar or summary line (warnings and errors still show)."


def _shown(command: str) -> dict[str, str]:
    """``short_help`` and ``epilog`` of a command (``\\b``: Click keeps the lines as they are)."""
    shown = {"short_help": _SUMMARIES[command]} if command in _SUMMARIES else {}
    if command in EXAMPLES:
        shown["epilog"] = "\b\nExamples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[command])
    return shown


def _format_name(text: str) -> str:
    """``--format`` as a file ending of OUTPUT_FORMATS: any case, with or without the dot,
    ``jpeg`` and ``tiff`` too."""
    name = text.strip().lower().removeprefix(".")
    name = {"jpeg": "jpg", "tiff": "tif"}.get(name, name)
    if name not in OUTPUT_FORMATS:
        raise ValueCheckError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {text!r}")
    return name


def _err(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


def _err_about(path: Path, message: str) -> None:
    """Report a failure of one file, naming it unless the message already does."""
    _err(message if path.name in message else f"{path}: {message}")


def _refuse_dash(inputs: list[Path], outputs: dict[str, Path | None]) -> None:
    """``-`` (standard input or output to many tools) as an input or an output: polychrome reads
    and writes named files, so it is refused, not taken for a file or folder named ``-``."""
    if any(str(path) == "-" for path in inputs):
        raise InputError("input -: standard input is not supported; name a file or folder")
    for flag, path in outputs.items():
        if str(path) == "-":
            raise InputError(f"{flag} -: standard output is not supported; name a file or folder")


def _fail(exc: PolychromeError) -> typer.Exit:
    _err(str(exc))
    return typer.Exit(exc.exit_code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"polychrome {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Colorize grayscale photos, comics, image sequences and video, offline."""
    if not os.environ.get("POLYCHROME_DEBUG"):
        warnings.formatwarning = _format_warning


def _format_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A printed Python warning as one ``warning: ...`` line, like the CLI's own (not Python's
    ``file:line: UserWarning:`` and a line of source); POLYCHROME_DEBUG=1 keeps Python's. Only
    the format changes: which warnings show, and recording them (pytest), are left alone."""
    return f"warning: {message}\n"


# --------------------------------------------------------------------------- options from schema


def _schema_parameters() -> list[inspect.Parameter]:
    """One keyword-only CLI parameter per field of the options schema."""
    params = []
    for spec in option_specs():
        help_text = spec.help
        if spec.choices:
            help_text += f" [{'|'.join(spec.choices)}]"
        option = typer.Option(spec.flag, help=help_text, envvar=spec.env, show_default=True)
        params.append(
            inspect.Parameter(
                spec.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=spec.default,
                annotation=Annotated[spec.type, option],
            )
        )
    return params


def with_schema_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the schema's options to a command; the command receives them as ``options``."""
    names = [s.name for s in option_specs()]
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "options"]

    def wrapper(**kwargs: Any) -> Any:
        values = {n: kwargs.pop(n) for n in names}
        try:
            options = ColorizeOptions(**values)
        except PolychromeError as exc:
            raise _fail(exc) from None
        return func(options=options, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    new_sig = sig.replace(parameters=own + _schema_parameters())
    wrapper.__signature__ = new_sig  # type: ignore[attr-defined]
    return wrapper


def _parameters_of(
    source: Callable[..., Any], *, drop: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command its own named parameters followed by those of ``source`` (flags, help,
    defaults) but the ones in ``drop``; the command takes the shared ones as ``**kwargs``. So
    commands share flags without declaring them twice."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p
            for p in inspect.signature(func, eval_str=True).parameters.values()
            if p.kind != inspect.Parameter.VAR_KEYWORD
        ]
        taken = {p.name for p in own} | set(drop)
        shared = inspect.signature(source, eval_str=True).parameters.values()
        params = own + [p for p in shared if p.name not in taken]
        # Keyword-only parameters go last (stable sort: the order is otherwise kept).
        params.sort(key=lambda p: p.kind == inspect.Parameter.KEYWORD_ONLY)
        func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return func

    return decorate


# --------------------------------------------------------------------------- engines


@app.command("engines", **_shown("engines"))
def engines_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List engines, whether each can run here, and its options."""
    from polychrome.engines.base import describe_engines

    rows = describe_engines()
    if json_output:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        state = (
            (
                "installed; runs with your weights (see below)"
                if row["user_weights"]
                else "available"
            )
            if row["available"]
            else (
                f"unavailable: pip install 'polychrome[{row['extra']}]'"
                if row["extra"]
                else "unavailable: missing " + ", ".join(row["missing"])
            )
        )
        typer.echo(f"{row['name']:<10} {state}")
        typer.echo(f"{'':<10} {row['summary']}")
        if row["weights"]:
            typer.echo(f"{'':<10} weights: {row['weights']}")
        for opt in row["options"]:
            typer.echo(
                f"{'':<10} --engine-option {opt['name']}=...  "
                f"(default {opt['default']!r}{_limits(opt)}) {opt['help']}"
            )


def _limits(option: dict) -> str:
    """``; one of a, b`` / ``; 0 to 4`` / ``; >= 0``: the values an engine option accepts."""
    if "choices" in option:
        return f"; one of {', '.join(option['choices'])}"
    low, high = option.get("min"), option.get("max")
    if low is not None and high is not None:
        return f"; {low:g} to {high:g}"
    if low is not None:
        return f"; >= {low:g}"
    return f"; <= {high:g}" if high is not None else ""


# --------------------------------------------------------------------------- colorize


def _parse_pairs(
    values: list[str], what: str, *, shape: str = "KEY=VALUE", at_last: bool = False
) -> list[tuple[str, str]]:
    """``KEY=VALUE`` flags as pairs, split at the first ``=`` (``at_last``: at the last one, for
    ``MASK=COLOR``, whose file name may hold an ``=`` and whose color never does); ``shape`` is
    the form the error message shows (``X,Y=LABEL``)."""
    out = []
    for item in values:
        key, sep, value = item.rpartition("=") if at_last else item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueCheckError(f"{what} must look like {shape}, got {item!r}")
        out.append((key.strip(), value.strip()))
    return out


def _engine_options(pairs: list[str], engine: str) -> dict[str, str]:
    """The ``--engine-option KEY=VALUE`` flags as a dict, checked against ``engine``'s options
    (an unknown engine, or one whose extra is missing, is refused here too)."""
    from polychrome.engines.base import load_engine

    engine_options = dict(_parse_pairs(pairs, "--engine-option"))
    load_engine(engine).Options.from_mapping(engine_options)
    return engine_options


def _eval_engine_options(
    pairs: list[str], engines: list[str], protocol: str
) -> dict[str, dict[str, str]]:
    """``eval``'s ``--engine-option`` flags, per engine (:func:`_options_per_engine`)."""
    if pairs and protocol not in ("points", "auto"):
        raise ValueCheckError("--engine-option applies to the points and auto protocols")
    return _options_per_engine(pairs, engines, "evaluated engine")


def _options_per_engine(
    pairs: list[str], engines: list[str], what: str
) -> dict[str, dict[str, str]]:
    """``--engine-option`` flags for several engines: each option goes to the engines that
    have it (``none`` has none); one that no engine has is refused, as are bad values."""
    from polychrome.engines.base import load_engine

    options = dict(_parse_pairs(pairs, "--engine-option"))
    if not options:
        return {}
    out: dict[str, dict[str, str]] = {}
    used: set[str] = set()
    for name in engines:
        cls = load_engine(name).Options
        mine = {k: v for k, v in options.items() if k in cls.names()}
        cls.from_mapping(mine)  # bad values are refused before any work
        out[name] = mine
        used |= set(mine)
    unknown = sorted(set(options) - used)
    if unknown:
        raise ValueCheckError(
            f"no {what} ({', '.join(engines)}) has the option(s) {', '.join(unknown)}"
        )
    return out


def _parse_numbers(text: str, n: int, what: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != n or not all(v == v and abs(v) != float("inf") for v in values):
        shape = "X,Y" if n == 2 else "X0,Y0,X1,Y1"
        raise ValueCheckError(f"{what} must look like {shape}=LABEL, got {text!r}")
    return values


def _box_corners(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    """A box given by any two opposite corners (dragged from the bottom right, say) as
    ``x0, y0, x1, y1`` with ``x0 <= x1`` and ``y0 <= y1``."""
    x0, y0, x1, y1 = box
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _listed(names: list[str], most: int = 5) -> str:
    """``a, b, c, d, e and 3 more``: the first ``most`` names of a list a message gives."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _counted(n: int, what: str) -> str:
    """``1 image``, ``3 images``."""
    return f"{n} {what}" + ("" if n == 1 else "s")


# Image files of formats polychrome does not read: a folder's are named, not silently left out.
_OTHER_IMAGE_SUFFIXES = frozenset(
    {".gif", ".bmp", ".jp2", ".j2k", ".jpx", ".heic", ".heif", ".avif", ".psd", ".tga"}
    | {".pcx", ".ppm", ".pgm", ".pbm", ".dng", ".jxl"}
)


def _left_out_of(folder: Path, known: tuple[Path | None, ...]) -> str:
    """What :func:`image_files` leaves out of ``folder`` that a user may have meant to give:
    subfolders (but the ``known`` ones: output, hints) and images of formats polychrome does
    not read; or ''."""

    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    skip = {p.resolve() for p in known if p is not None}
    subfolders = [p.name for p in entries if p.is_dir() and p.resolve() not in skip]
    others = [p.name for p in entries if p.suffix.lower() in _OTHER_IMAGE_SUFFIXES]
    broken = [
        p.name
        for p in entries
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_symlink() and not p.exists()
    ]
    parts = []
    if subfolders:
        parts.append(
            f"{_counted(len(subfolders), 'subfolder')} (subfolders are not searched; give them "
            f"as inputs): {_listed(subfolders)}"
        )
    if others:
        parts.append(
            f"{_counted(len(others), 'image')} of a format polychrome does not read (convert to "
            f"PNG, JPEG, TIFF or WebP): {_listed(others)}"
        )
    if broken:
        parts.append(
            f"{_counted(len(broken), 'link')} to no file (its target was moved or deleted): "
            f"{_listed(broken)}"
        )
    return "; ".join(parts)


def _collect_inputs(
    inputs: list[Path], known: tuple[Path | None, ...] = ()
) -> tuple[list[Path], bool]:
    """Expand folders; returns (files, batch) where batch means the output is a folder. What a
    folder holds but is left out (subfolders but the ``known`` ones, GIF, BMP, ...) is named in
    a warning."""
    files: list[Path] = []
    notes: list[str] = []
    batch = len(inputs) > 1
    for item in inputs:
        if item.is_dir():
            batch = True
            files.extend(image_files(item))
            if note := _left_out_of(item, known):
                notes.append(f"{item}: left out {note}")
        elif item.exists():
            files.append(item)
        else:
            raise InputError(f"no such file or folder: {item}")
    if not files:
        found = "".join(f"; {note}" for note in notes)
        raise InputError("no input images found (" + ", ".join(IMAGE_SUFFIXES) + ")" + found)
    for note in notes:
        typer.echo(f"warning: {note}", err=True)
    return files, batch


def _without_earlier_results(files: list[Path]) -> list[Path]:
    """``files`` less the results of an earlier run into their own folder (``a.jpg`` beside the
    ``a.png`` it was made from: :func:`polychrome.pipeline.earlier_results`), which are named
    in a warning: read from there into another folder, they would be colorized again and
    collide with their inputs' outputs."""
    from polychrome.pipeline import earlier_results

    groups: dict[tuple[Path, str], list[Path]] = {}
    for f in files:
        groups.setdefault((f.parent, f.stem), []).append(f)
    earlier: set[Path] = set()
    for group in groups.values():
        found = len(group) > 1
        while found:  # results in two formats: the newer is told first, then the other
            rest = [f for f in group if f not in earlier]
            found = set()
            for suffix in {f.suffix for f in rest}:
                found |= earlier_results(rest, suffix[1:])
            earlier |= found
    if not earlier or len(earlier) == len(files):
        return files
    left = sorted(earlier)
    typer.echo(
        f"warning: left out {_counted(len(left), 'result')} of an earlier run beside "
        f"{'its input' if len(left) == 1 else 'their inputs'}: " + _listed([str(f) for f in left]),
        err=True,
    )
    return [f for f in files if f not in earlier]


def _find_hints(hints_dir: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = hints_dir / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _warn_unpaired(hints_dir: Path, files: list[Path], hint_files: list[Path | None]) -> None:
    """Say which inputs found no hint image in ``--hints-dir`` (they are colorized without
    hints) and which hint images match no input (a misspelled stem is otherwise silent)."""

    lacking = [f.name for f, h in zip(files, hint_files, strict=True) if h is None]
    if lacking:
        typer.echo(
            f"warning: no hint image in {hints_dir} for {len(lacking)} of {len(files)} "
            f"inputs (colorized without hints): {_listed(lacking)}",
            err=True,
        )
    used = {h.resolve() for h in hint_files if h is not None}
    stray = [
        p.name
        for p in image_files(hints_dir)
        if p.resolve() not in used and not any(_same_file(p, f) for f in files)
    ]
    if stray:
        typer.echo(
            f"warning: {len(stray)} hint images in {hints_dir} match no input by name: "
            f"{_listed(stray)}",
            err=True,
        )


def _check_reference(ref: Path) -> None:
    if ref.is_dir():
        raise InputError(f"--reference {ref} is a folder; give a color image")
    if not ref.is_file():
        raise InputError(f"--reference {ref}: no such file")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


class _ColorizePlan(NamedTuple):
    jobs: list[Any]
    engine_options: dict[str, str]
    batch: bool
    output: Path


def _plan_colorize(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files or folders of images.", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Output file (one input) or folder (several inputs or a folder)."
        ),
    ],
    hints: Annotated[
        Path | None,
        typer.Option(
            "--hints",
            help="RGBA hint image of the input's size: every pixel with alpha > 0 asks for "
            "its color.",
        ),
    ] = None,
    hints_dir: Annotated[
        Path | None,
        typer.Option("--hints-dir", help="Folder of hint images paired with inputs by file stem."),
    ] = None,
    region: Annotated[
        list[str],
        typer.Option(
            "--region",
            metavar="MASK=PHRASE",
            help="Fill the white (or opaque) pixels of MASK with the named "
            "color, e.g. car.png='dark green'. Repeatable; later regions lie on top.",
        ),
    ] = [],  # noqa: B006
    describe: Annotated[
        str,
        typer.Option(
            "--describe",
            "--text",
            help="The colors in words, e.g. 'a red car beside a light-blue house'. Objects bind "
            "to labelled regions by name; unmentioned things get automatic colors.",
        ),
    ] = "",
    label: Annotated[
        list[str],
        typer.Option(
            "--label",
            metavar="LABEL=MASK",
            help="A named region, e.g. car=car.png (the label may carry its own "
            "color: 'red car'=car.png). Repeatable.",
        ),
    ] = [],  # noqa: B006
    label_map: Annotated[
        Path | None,
        typer.Option("--label-map", help="One image of label numbers (or colors); see --legend."),
    ] = None,
    legend: Annotated[
        Path | None,
        typer.Option("--legend", help='JSON legend of --label-map, e.g. {"1": "car", "2": "sky"}.'),
    ] = None,
    click: Annotated[
        list[str],
        typer.Option(
            "--click",
            metavar="X,Y=LABEL",
            help="The region around pixel (X, Y), grown by segmentation. Repeatable.",
        ),
    ] = [],  # noqa: B006
    box: Annotated[
        list[str],
        typer.Option(
            "--box",
            metavar="X0,Y0,X1,Y1=LABEL",
            help="The object inside a box, in pixels. Repeatable.",
        ),
    ] = [],  # noqa: B006
    segmenter: Annotated[
        str,
        typer.Option(
            "--segmenter",
            help="Referring-segmentation model (CLIPSeg folder or hub id, extra [segment]) to "
            "find described objects that no region names.",
        ),
    ] = "",
    reference: Annotated[
        list[Path],
        typer.Option(
            "--reference",
            metavar="<path>",
            help="A color image of the same things (another page, frame or photo): matched "
            "places take its colors. Repeatable.",
        ),
    ] = [],  # noqa: B006
    pool: Annotated[
        Path | None,
        typer.Option(
            "--pool",
            help="A reference pool (pool.npz from `polychrome pool build`, or a folder of color "
            "images): the references most like each input are retrieved and matched.",
        ),
    ] = None,
    engine_option: Annotated[
        list[str],
        typer.Option(
            "--engine-option",
            metavar="KEY=VALUE",
            help="An option of the engine (see `polychrome engines`). Repeatable.",
        ),
    ] = [],  # noqa: B006
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing", help="Leave outputs that already exist alone (resume a batch)."
        ),
    ] = False,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Output format in folder mode: png (the default), jpg, tif or webp. A file "
            "given to -o has its extension's format.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET)] = False,
    *,
    options: ColorizeOptions,
) -> _ColorizePlan:
    """Check the flags of ``colorize`` and turn them into jobs; ``batch`` shares them."""
    try:
        _refuse_dash(inputs, {"-o": output})
        files, batch = _collect_inputs(inputs, (output, hints_dir))
        regions = _parse_pairs(region, "--region", shape="MASK=PHRASE", at_last=True)
        labels = _parse_pairs(label, "--label", shape="LABEL=MASK")
        clicks = [
            (*_parse_numbers(k, 2, "--click"), v)
            for k, v in _parse_pairs(click, "--click", shape="X,Y=LABEL")
        ]
        boxes = [
            (*_box_corners(_parse_numbers(k, 4, "--box")), v)
            for k, v in _parse_pairs(box, "--box", shape="X0,Y0,X1,Y1=LABEL")
        ]
        if (label_map is None) != (legend is None):
            raise ValueCheckError("--label-map and --legend go together")
        from polychrome.guidance.describe import MAX_DESCRIPTION_CHARS

        if len(describe) > MAX_DESCRIPTION_CHARS:
            raise ValueCheckError(
                f"--describe is limited to {MAX_DESCRIPTION_CHARS:,} characters, got "
                f"{len(describe):,}"
            )
        engine_options = _engine_options(engine_option, options.engine)
        if segmenter and not describe.strip():
            raise ValueCheckError(
                "--segmenter finds the objects a description names; give --describe too"
            )
        from polychrome.engines.base import engine_spec

        if options.samples > 1 and not engine_spec(options.engine).samples:
            raise ValueCheckError(
                "--samples gives different results only with an engine that samples (cnn, "
                f"diffusion); the {options.engine} engine would write identical copies"
            )
        format_given = output_format is not None  # None: not given, png
        output_format = _format_name(output_format or "png")
        if batch and output.is_dir():
            # -o is the input folder: an earlier run's results there are not inputs.
            from polychrome.pipeline import earlier_results

            here = [f for f in files if f.parent.resolve() == output.resolve()]
            left_out = earlier_results(here, output_format, options.samples) if here else set()
            files = [f for f in files if f not in left_out]
            if not files:
                raise InputError(f"no input images in {output}: all are earlier results")
        if hints is not None and batch:
            raise ValueCheckError(
                "--hints is for one input; use --hints-dir to pair hints with a folder"
            )
        if hints is not None and hints_dir is not None:
            raise ValueCheckError("--hints and --hints-dir go one at a time: give one of them")
        if hints_dir is not None and not hints_dir.is_dir():
            raise InputError(f"--hints-dir {hints_dir} is not a folder")
        for ref in reference:
            _check_reference(ref)
        pool_files: list[Path] = []
        if pool is not None:
            from polychrome.apps.jobs import open_pool

            # Read (or build) the pool now: a bad pool fails before any work; jobs reuse it.
            opened = open_pool(str(pool))
            _say_left_out(opened)
            pool_files = [*([pool] if pool.is_file() else []), *opened.paths]
        if batch:
            if (output.exists() and not output.is_dir()) or (
                not output.exists() and output.suffix.lower() in IMAGE_SUFFIXES
            ):
                raise ValueCheckError(
                    f"with a folder or several inputs, -o must be a folder; {output} names a file"
                )
            files = _without_earlier_results(files)
            targets = [output / f"{f.stem}.{output_format}" for f in files]
            first: dict[str, Path] = {}
            clashes = []  # all of them: a big folder is not fixed one rerun per clash
            for f, t in zip(files, targets, strict=True):
                other = first.setdefault(t.name, f)
                if other != f:
                    clashes.append((other, f, t.name))
            if len(clashes) == 1:
                (other, f, name), *_ = clashes
                raise ValueCheckError(
                    f"inputs {other} and {f} share a file stem; their outputs would collide "
                    f"({name}); rename one of them"
                )
            if clashes:
                pairs = [f"{other} and {f} ({name})" for other, f, name in clashes]
                raise ValueCheckError(
                    f"{len(clashes)} pairs of inputs share a file stem; their outputs would "
                    f"collide: {_listed(pairs, 10)}; rename one of each"
                )
        else:
            if output.is_dir():
                output = output / f"{files[0].stem}.{output_format}"
            elif (
                format_given
                and output.suffix.lower() in IMAGE_SUFFIXES
                and IMAGE_FORMATS[output.suffix.lower()] != IMAGE_FORMATS[f".{output_format}"]
            ):
                raise ValueCheckError(
                    f"--format {output_format} does not match -o {output}: with one input, -o "
                    f"names the file and its extension sets the format; name it .{output_format} "
                    "or leave --format out"
                )
            if output.suffix.lower() not in IMAGE_SUFFIXES:
                folder = "" if output.suffix else " (or, to write into a folder, create it first)"
                raise ValueCheckError(
                    f"-o {output}: unknown image extension; use one of {', '.join(IMAGE_SUFFIXES)}"
                    + folder
                )
            targets = [output]
        # --hints, or --hints-dir pairing by stem (for one input as for a folder).
        hint_files = [
            hints if hints is not None else (_find_hints(hints_dir, f.stem) if hints_dir else None)
            for f in files
        ]
        if hints_dir is not None:
            _warn_unpaired(hints_dir, files, hint_files)
        # Hint images and region masks are inputs too: never write a result over any of them.
        protected = [
            *files,
            *(h for h in hint_files if h),
            *(Path(m) for m, _ in regions),
            *(Path(m) for _, m in labels),
            *([label_map, legend] if label_map and legend else []),
            *reference,
            *pool_files,
        ]
        from polychrome.pipeline import sample_paths

        for t in (p for target in targets for p in sample_paths(target, options.samples)):
            if any(_same_file(t, src) for src in protected):
                raise ValueCheckError(f"refusing to overwrite the input {t} with its own result")
    except PolychromeError as exc:
        raise _fail(exc) from None

    from polychrome.apps.jobs import ColorizeJob

    jobs = [
        ColorizeJob(
            source=f,
            target=t,
            hints=h,
            regions=regions,
            labels=labels,
            label_map=(str(label_map), str(legend)) if label_map and legend else None,
            clicks=clicks,
            boxes=boxes,
            description=describe,
            segmenter=segmenter,
            references=tuple(str(r) for r in reference),
            pool=str(pool) if pool is not None else "",
        )
        for f, t, h in zip(files, targets, hint_files, strict=True)
    ]
    return _ColorizePlan(jobs, engine_options, batch, output)


@app.command("colorize", **_shown("colorize"))
@with_schema_options
@_parameters_of(_plan_colorize)
def colorize_command(*, options: ColorizeOptions, **flags: Any) -> None:
    """Colorize images with hints, color regions and an engine's automatic colors."""
    from polychrome.apps.jobs import run_jobs

    jobs, engine_options, batch, output = _plan_colorize(options=options, **flags)
    skip_existing, quiet = flags["skip_existing"], flags["quiet"]
    if options.engine == "diffusion":
        # Model folders, weights and input files are checked before the start line below: a
        # mistyped path gives its error alone, once, not after "colorizing ...".
        from polychrome.engines.diffusion import DiffusionOptions, check_paths

        try:
            diffusion = DiffusionOptions.from_mapping(engine_options)
            check_paths(diffusion)
            if diffusion.device in ("cuda", "mps") and importlib.util.find_spec("torch"):
                from polychrome.engines.diffusion.loading import resolve_device

                resolve_device(diffusion.device, diffusion.dtype)  # asked for, and here?
        except PolychromeError as exc:
            raise _fail(exc) from None
    steps_shown = options.engine == "diffusion" and not batch and not quiet
    if steps_shown:
        # One image shows no bar, and a diffusion run takes minutes on a CPU: say it started,
        # then show its steps.
        steps = engine_options.get("steps", "20")
        typer.echo(
            f"colorizing {jobs[0].source.name} with the diffusion engine ({steps} steps per "
            f"sample, {_counted(options.samples, 'sample')}; seconds on "
            "a GPU, minutes on a CPU)...",
            err=True,
        )
    try:
        with _diffusion_steps(options.samples, enabled=steps_shown):
            summary = run_jobs(
                jobs,
                options=options,
                engine_options=engine_options,
                skip_existing=skip_existing,
                progress=batch and not quiet,
            )
    except KeyboardInterrupt:
        if batch:  # Ctrl-C said "interrupted" alone: where the results are, how to go on
            _say_stopped(output, "rerun with --skip-existing to go on")
        raise
    _warn_notes(summary.notes)
    if summary.failures:
        for job, message in summary.failures:
            _err_about(job.source, message)
        if summary.stopped:
            left = len(jobs) - summary.done - summary.skipped - len(summary.failures)
            counts = f"{summary.done} written, {summary.skipped} skipped, {left} not tried"
            _err(_stop_line(summary.stopped, output, counts, "rerun with --skip-existing"))
        elif batch:
            _err(
                f"{len(summary.failures)} of {len(jobs)} images failed; "
                f"{summary.done} written, {summary.skipped} skipped"
            )
        raise typer.Exit(max(code for code in summary.codes))
    if batch and not quiet:
        typer.echo(f"{summary.done} written, {summary.skipped} skipped -> {output}")
    elif summary.skipped and not quiet:  # one input: say why nothing happened
        typer.echo(f"{jobs[0].target} exists, left as it is (--skip-existing)")


@contextlib.contextmanager
def _diffusion_steps(samples: int, *, enabled: bool) -> Iterator[None]:
    """The diffusion engine's denoising steps on stderr while the block runs: a bar on a
    terminal; otherwise a line when a sample or phase begins, for its last step and the decode,
    and at most one every 10 s in between (a CPU step takes seconds, a GPU step milliseconds)."""
    if not enabled:
        yield
        return
    import time

    from polychrome.engines.diffusion.progress import DiffusionStep, reporting

    def label(s: DiffusionStep) -> str:
        sample = f" sample {s.sample + 1}/{samples}" if s.sample is not None else ""
        phase = {"instances": " (instances)", "decode": " decoding"}.get(s.phase, "")
        return f"diffusion{sample}{phase}"

    if sys.stderr.isatty():
        with (
            _progress_bar("diffusion") as advance,
            reporting(lambda s: advance(s.step, s.steps, label=label(s))),
        ):
            yield
        return
    # Off a terminal, _progress_bar logs a line every 30 s, or a training loss every 100 steps; a
    # diffusion run is logged by phase and by time instead, so its lines are made here.
    said = {"at": 0.0, "label": ""}

    def log(s: DiffusionStep) -> None:
        now, name = time.monotonic(), label(s)
        if name != said["label"] or s.step in (1, s.steps) or now - said["at"] >= 10:
            done = "" if s.phase == "decode" else f": step {s.step}/{s.steps}"
            typer.echo(f"{name}{done}", err=True)
            said.update(at=now, label=name)

    with reporting(log):
        yield


def _say_stopped(output: Path, resume: str) -> None:
    """After Ctrl-C in a folder run: the results so far are kept, and how to go on."""
    typer.echo(f"stopped: the images done so far are in {output}; {resume}", err=True)


def _stop_line(reason: str, output: Path, counts: str, resume: str) -> str:
    """The line that ends a folder run stopped early (``reason``, see
    :func:`polychrome.apps.jobs.stop_reason`): why, what is done, and how to go on."""
    if reason == "full":
        return f"stopped: the disk holding {output} is full; {counts}: free some space and {resume}"
    return (
        f"stopped: the output folder {output} is not writable; {counts}: make it writable and "
        f"{resume}"
    )


def _warn_notes(notes: list[tuple[Any, str]]) -> None:
    """The parts of each job's guidance that colored nothing, one warning line each."""
    for job, note in notes:
        typer.echo(f"warning: {job.source.name}: {note}", err=True)


def _looks_like_ray_address(text: str) -> bool:
    return text in ("auto", "local") or "://" in text or bool(re.fullmatch(r"[\w.-]+:\d+", text))


class _BatchCommand(TyperCommand):
    """``batch``, whose ``--ray`` may come without a value: ``--ray`` not followed by something
    that looks like an address (auto, local, ray://..., HOST:PORT) means ``--ray local``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = list(args)
        end = args.index("--") if "--" in args else len(args)
        for i in reversed(range(end)):
            if args[i] == "--ray" and not (i + 1 < end and _looks_like_ray_address(args[i + 1])):
                args[i] = "--ray=local"
        return super().parse_args(ctx, args)


@app.command("batch", cls=_BatchCommand, **_shown("batch"))
@with_schema_options
@_parameters_of(_plan_colorize, drop=("inputs", "hints", "skip_existing"))
def batch_command(
    in_dir: Annotated[
        Path, typer.Argument(help="Folder of images to colorize.", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output folder. Its manifest (.polychrome-batch.jsonl) records finished "
            "images: rerun the same command to resume.",
        ),
    ],
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Run on Ray (extra [ray]) instead of local processes: alone (or 'local'), a "
            "Ray started here or the cluster RAY_ADDRESS names; 'auto', the cluster running on "
            "this machine; 'ray://HOST:10001', a remote cluster. IN_DIR and -o must be "
            "visible to every node at the same path.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes, one thread each (default: the usable cores); with --ray, "
            "the most images in flight at once (default: the cluster's CPUs).",
        ),
    ] = None,
    *,
    options: ColorizeOptions,
    **flags: Any,
) -> None:
    """Colorize a folder in parallel (local processes or Ray), resumable: a rerun after a crash
    or a kill verifies what is done and does the rest."""
    try:
        _refuse_dash([in_dir], {"-o": output})
    except PolychromeError as exc:
        raise _fail(exc) from None
    if not in_dir.is_dir():
        raise _fail(InputError(f"{in_dir} is not a folder; `batch` colorizes a folder"))
    from polychrome.apps.batch import batch_inputs, run_batch

    # Listed once, before anything is written. With -o IN_DIR, the batch's own outputs (those
    # its manifest records or its journal claims) lie beside the inputs and are not inputs.
    try:
        files, own = batch_inputs(in_dir, output)
        if own and not files:
            raise InputError(f"no input images in {in_dir}: all are outputs of this batch")
    except PolychromeError as exc:
        raise _fail(exc) from None
    # Without outputs left out, the planner lists the folder itself. With some, -o is that
    # folder, so one file left plans as a folder would: its target is IN_DIR/STEM.FORMAT.
    jobs, engine_options, _, _ = _plan_colorize(
        inputs=files if own else [in_dir],
        output=output,
        hints=None,
        skip_existing=False,
        options=options,
        **flags,
    )

    quiet = flags["quiet"]
    try:
        summary = run_batch(
            jobs,
            out_dir=output,
            options=options,
            engine_options=engine_options,
            workers=workers,
            ray_address=ray,
            progress=not quiet,
        )
    except PolychromeError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        _say_stopped(output, "rerun the same command to go on")
        raise
    _warn_notes(summary.notes)
    counts = f"{summary.done} written, {summary.skipped} already done"
    if summary.redone:
        counts += f" ({summary.redone} redone: their outputs were missing or changed)"
    if summary.failures:
        for job, message in summary.failures:
            _err_about(job.source, message)
        if summary.stopped:
            left = summary.total - summary.done - summary.skipped - len(summary.failures)
            resume = "rerun the same command to resume"
            _err(_stop_line(summary.stopped, output, f"{counts}, {left} not done", resume))
        else:
            listed = (
                f"; listed in {summary.failures_file} (rerun the same command to retry them)"
                if summary.failures_file
                else ""
            )
            _err(f"{len(summary.failures)} of {len(jobs)} images failed; {counts}{listed}")
        raise typer.Exit(max(summary.codes))
    if not quiet:
        typer.echo(f"{counts} in {summary.seconds:.1f} s -> {output}")


# --------------------------------------------------------------------------- pool

pool_app = typer.Typer(
    name="pool",
    help="Reference pools: color images that `colorize --pool` retrieves references from.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(pool_app, name="pool", short_help=_SUMMARIES["pool"])


@pool_app.command("build", **_shown("pool build"))
def pool_build_command(
    folder: Annotated[
        Path, typer.Argument(help="Folder of color reference images.", show_default=False)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The pool file to write (.npz).")],
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder",
            help="builtin: histograms and gradient layout, no weights; clip: CLIP image "
            "embeddings (extra [clip]).",
        ),
    ] = "builtin",
    clip_model: Annotated[
        str,
        typer.Option("--clip-model", help="CLIP weights for --embedder clip: a folder or hub id."),
    ] = "openai/clip-vit-base-patch32",
    device: Annotated[
        str, typer.Option("--device", help="Device for --embedder clip: cpu, cuda or mps.")
    ] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET)] = False,
) -> None:
    """Embed the color images of a folder into a pool file, for `colorize --pool`."""
    try:
        _refuse_dash([folder], {"-o": output})
        if embedder not in ("builtin", "clip"):
            raise ValueCheckError(f"--embedder must be builtin or clip, got {embedder!r}")
        if output.suffix.lower() != ".npz":
            raise ValueCheckError(f"-o {output}: a pool file ends with .npz")
        if output.is_dir():
            raise ValueCheckError(f"-o {output} is a folder; name the pool file (.npz)")
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        from polychrome.reference.pool import BuiltinEmbedder, ClipEmbedder, Pool

        model = (
            BuiltinEmbedder() if embedder == "builtin" else ClipEmbedder(clip_model, device=device)
        )
        with _progress_bar("embedding", enabled=not quiet) as advance:
            pool = Pool.build(folder, embedder=model, progress=advance)
        if any(_same_file(output, p) for p in pool.paths):
            raise ValueCheckError(f"refusing to overwrite the reference {output} with the pool")
        pool.save(output)
    except PolychromeError as exc:
        raise _fail(exc) from None
    _say_left_out(pool)  # warnings, also with --quiet (it hides the progress bar and summary)
    if not quiet:
        typer.echo(f"{_counted(len(pool), 'reference')} ({pool.embedder}) -> {output}")


def _say_left_out(pool: Any) -> None:
    """The files of a pool's folder that are not in it: gray, unreadable or duplicates."""
    if pool.skipped:
        names = _listed([p.name for p in pool.skipped])
        typer.echo(f"left out {_counted(len(pool.skipped), 'gray image')}: {names}", err=True)
    for path, reason in pool.unreadable:
        typer.echo(f"left out {path.name}: {reason}", err=True)
    if pool.duplicates:
        names = _listed([f"{p.name} (same as {same.name})" for p, same in pool.duplicates])
        typer.echo(f"left out {_counted(len(pool.duplicates), 'duplicate')}: {names}", err=True)


# --------------------------------------------------------------------------- serve


def _serve_help() -> str:
    from polychrome.apps.serve import settings_help

    lines = "\n".join(f"  {line}" for line in settings_help().splitlines())
    return (
        "Serve the HTTP API (POST /v1/colorize, GET /v1/engines, /v1/options, /healthz) and the "
        "web page at / (extra [serve]).\n\n"
        f"\b\nLimits, set by environment variables:\n{lines}"
    )


@app.command("serve", help=_serve_help(), **_shown("serve"))
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=0, max=65535)
    ] = 8000,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn's log level: warning, info, debug.")
    ] = "info",
    engine_option: Annotated[
        list[str],
        typer.Option(
            "--engine-option",
            metavar="KEY=VALUE",
            help="An option for every request of the engines that have that option, e.g. the "
            "diffusion engine's weights (base_model=DIR, controlnet=DIR) or another cnn model; "
            "clients cannot set options that name files. Repeatable.",
        ),
    ] = [],  # noqa: B006
) -> None:
    levels = ("critical", "error", "warning", "info", "debug", "trace")
    try:
        if log_level.lower() not in levels:
            raise ValueCheckError(
                f"--log-level must be one of {', '.join(levels)}, got {log_level!r}"
            )
        from polychrome.apps.serve import ServeSettings, create_app
        from polychrome.engines.base import ENGINES, require_modules

        require_modules(("uvicorn",), extra="serve", what="polychrome serve")
        usable = [name for name, spec in ENGINES.items() if spec.available]
        per_engine = _options_per_engine(engine_option, usable, "engine available here")
        app_ = create_app(ServeSettings.from_env(), per_engine)
        sock = _listen(host, port)
    except PolychromeError as exc:
        raise _fail(exc) from None
    import uvicorn

    bound = sock.getsockname()[1]  # the real port, also when --port 0 asked for any free one
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"polychrome serving on http://{shown}:{bound}/", err=True)
    from polychrome.apps.serve import exposure_warning

    if warning := exposure_warning(sock.getsockname()[0]):
        typer.echo(warning, err=True)
    import signal

    # uvicorn stops gracefully on SIGINT/SIGTERM itself, then re-raises the signal: let it end
    # the process as usual (killed by SIGTERM, which service managers read as a clean stop).
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server = uvicorn.Server(uvicorn.Config(app_, log_level=log_level.lower()))
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> Any:
    """A listening socket on ``host:port``, or a clear error (address in use, not an address
    of this machine) before anything says it is serving."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


# --------------------------------------------------------------------------- sequence and video


@app.command("sequence", **_shown("sequence"))
@with_schema_options
def sequence_command(
    pages: Annotated[Path, typer.Argument(help="Folder of gray pages, colorized in name order.")],
    pool: Annotated[
        Path,
        typer.Option(
            "--pool",
            help="Reference pool: pool.npz from `polychrome pool build`, or a folder of color "
            "images.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results.")],
    grow_pool: Annotated[
        bool,
        typer.Option(
            "--grow-pool",
            help="Each finished page joins the pool for the pages after it (keeps characters' "
            "colors when no reference shows them; a wrong page passes its colors on).",
        ),
    ] = False,
    engine_option: Annotated[
        list[str],
        typer.Option(
            "--engine-option",
            metavar="KEY=VALUE",
            help="An option of the engine (see `polychrome engines`). Repeatable.",
        ),
    ] = [],  # noqa: B006
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave finished pages alone (resume).")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", help="Output format: png, jpg, tif or webp.")
    ] = "png",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET)] = False,
    *,
    options: ColorizeOptions,
) -> None:
    """Colorize a chapter's pages in order with references retrieved from a pool."""
    finished = [0]  # pages done, for the message of an interruption
    try:
        _refuse_dash([pages, pool], {"-o": output})
        output_format = _format_name(output_format)
        engine_options = _engine_options(engine_option, options.engine)
        from polychrome.apps.jobs import open_pool
        from polychrome.reference.sequence import colorize_sequence, page_files

        files = page_files(pages, output=output, output_format=output_format)
        if output.exists() and not output.is_dir():
            raise ValueCheckError(f"-o {output} is a file; pages go to a folder")
        if pool.is_dir() and _same_file(output, pool):
            raise ValueCheckError(
                f"-o {output} is the --pool folder: the results would be taken for references "
                "by the next run; write them to another folder"
            )
        with _progress_bar("pool", enabled=not quiet) as advance:
            reference_pool = open_pool(str(pool)) if pool.is_file() else None
            if reference_pool is None:
                from polychrome.reference.pool import Pool

                reference_pool = Pool.open(pool, progress=advance)
        _say_left_out(reference_pool)
        with _progress_bar("pages", enabled=not quiet) as advance:

            def advance_pages(done: int, total: int, name: str) -> None:
                finished[0] = done
                advance(done, total)

            report = colorize_sequence(
                files,
                reference_pool,
                output,
                grow_pool=grow_pool,
                skip_existing=skip_existing,
                options=options,
                engine_options=engine_options,
                output_format=output_format,
                progress=advance_pages,
                notify=lambda page, note: typer.echo(f"warning: {page.name}: {note}", err=True),
            )
    except PolychromeError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        if finished[0]:
            typer.echo(
                f"stopped after {finished[0]} of {len(files)} pages; their results are in "
                f"{output}: run again with --skip-existing to go on from there",
                err=True,
            )
        raise
    for page, exc in report.failures:
        _err_about(page, str(exc))
    if not quiet or report.failures:
        typer.echo(
            f"{len(report.written)} written, {len(report.skipped)} skipped, "
            f"{len(report.failures)} failed -> {output} (pool of {report.pool_size})",
            err=bool(report.failures),
        )
    if report.failures:
        raise typer.Exit(max(exc.exit_code for _, exc in report.failures))


@app.command("video", **_shown("video"))
def video_command(
    source: Annotated[
        Path, typer.Argument(help="Video file (.mp4, .mkv, .mov, .avi, .webm) or frame folder.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Video file (.mp4, .mkv, .mov, .avi, .webm) or a folder."
        ),
    ],
    reference: Annotated[
        list[Path],
        typer.Option(
            "--reference",
            metavar="<path>",
            help="A color image of the same scene (e.g. one frame colored by hand): it colors "
            "the first frame of each shot and, aligned by optical flow, every frame. Repeatable.",
        ),
    ] = [],  # noqa: B006
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Engine that proposes colors at the first frame of each shot (without "
            f"references, also every {VideoSettings.engine_every} frames, carried along in "
            "between).",
            envvar="POLYCHROME_ENGINE",
        ),
    ] = "cnn",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.", min=0)] = 0,
    quality: Annotated[
        str,
        typer.Option(
            "--quality",
            help="fast: 25,000 working pixels, about 13-20 frames/s at 854x480 on 2 cores; "
            "high: 100,000 (about 3x slower, sharper colors).",
        ),
    ] = "fast",
    working_pixels: Annotated[
        int | None,
        typer.Option(
            "--working-pixels",
            help="Pixels of the working resolution (default: the --quality preset's, "
            f"{VideoSettings.working_pixels} for fast).",
            min=4096,
        ),
    ] = None,
    scene_cut: Annotated[
        float,
        typer.Option(
            "--scene-cut",
            help="Luminance-histogram distance (0..1) between frames that starts a new shot.",
            min=0.01,
            max=1.0,
        ),
    ] = VideoSettings.scene_cut,
    cut_tracked: Annotated[
        float,
        typer.Option(
            "--cut-tracked",
            help="A frame where less than this share of pixels can be followed from the "
            "previous one (optical flow) also starts a new shot (0: off).",
            min=0.0,
            max=0.99,
        ),
    ] = VideoSettings.cut_tracked,
    cut_correlation: Annotated[
        float,
        typer.Option(
            "--cut-correlation",
            help="A frame flagged by --scene-cut or --cut-tracked is no cut when it matches the "
            "previous one moved as a whole with this correlation (a moving stripe or fence "
            "pattern; 1: off).",
            min=0.0,
            max=1.0,
        ),
    ] = VideoSettings.cut_correlation,
    rematch_every: Annotated[
        int,
        typer.Option(
            "--rematch-every",
            help="Match the references again every N frames of a shot (0: first frame only).",
            min=0,
        ),
    ] = VideoSettings.rematch_every,
    fps: Annotated[
        float,
        typer.Option(
            "--fps",
            help="Frame rate of a frame folder (for a video output).",
            min=0.01,
            max=1000.0,
        ),
    ] = 25.0,
    crf: Annotated[
        int,
        typer.Option(
            "--crf", help="H.264 (VP9 in .webm) quality: 0 lossless ... 51 worst.", min=0, max=51
        ),
    ] = 18,
    engine_option: Annotated[
        list[str],
        typer.Option(
            "--engine-option",
            metavar="KEY=VALUE",
            help="An option of the engine (see `polychrome engines`). Repeatable.",
        ),
    ] = [],  # noqa: B006
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Go on from an earlier run into the same -o folder (stopped, failed or "
            "killed): its frames are kept, the colorizing starts after the last of them.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET)] = False,
) -> None:
    """Colorize a video or a folder of frames, colors carried from frame to frame."""
    from polychrome.video.temporal import VideoReport, colorize_video

    report = VideoReport()
    try:
        _refuse_dash([source, *reference], {"-o": output})
        from polychrome.video.frames import is_video_path

        if (
            re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,4}", output.suffix)
            and not is_video_path(output)
            and not output.is_dir()
        ):  # -o clip.gif made a folder named clip.gif
            raise ValueCheckError(
                f"-o {output}: write a video (.mp4, .mkv, .mov, .avi, .webm) or frames into a "
                "folder (one named like a file, with an extension, must exist already)"
            )
        if not math.isfinite(fps):
            raise ValueCheckError(f"--fps must be a number of frames per second, got {fps}")
        for ref in reference:
            _check_reference(ref)
            if _same_file(output, ref):
                raise ValueCheckError(f"refusing to overwrite the reference {ref}")
        if _same_file(output, source):
            raise ValueCheckError(f"refusing to overwrite the input {source} with its result")
        engine_options = _engine_options(engine_option, engine)
        changes = {
            "scene_cut": scene_cut,
            "cut_tracked": cut_tracked,
            "cut_correlation": cut_correlation,
            "rematch_every": rematch_every,
        }
        if working_pixels is not None:
            changes["working_pixels"] = working_pixels
        settings = VideoSettings.quality(quality, **changes)
        options = ColorizeOptions(engine=engine, seed=seed)
        with _progress_bar("frames", enabled=not quiet, unit="frames/s") as advance:
            colorize_video(
                source,
                output,
                references=reference,
                options=options,
                engine_options=engine_options,
                settings=settings,
                fps=fps,
                crf=crf,
                progress=advance,
                report=report,
                resume=resume,
            )
    except PolychromeError as exc:
        _err(str(exc))
        _say_kept(report, output)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _say_kept(report, output, when="so far")
        if report.kept == output and output.is_dir():  # a folder goes on; a video cannot
            typer.echo("run again with --resume to go on from there", err=True)
        raise
    if report.cropped is not None:
        typer.echo(
            f"note: H.264 needs even sizes, so the video is {report.cropped[0]}x"
            f"{report.cropped[1]} (the last row or column is left out); write a folder of "
            "frames to keep every pixel",
            err=True,
        )
    if report.alpha_dropped:
        typer.echo(
            f"note: {report.alpha_dropped} frames had transparency, which a video cannot hold; "
            "write a folder of frames to keep it",
            err=True,
        )
    if report.covers:
        typer.echo(f"note: the cover picture ({'; '.join(report.covers)}) is not copied", err=True)
    if report.audio_reencoded:
        typer.echo(
            f"note: WebM cannot hold the audio ({', '.join(report.audio_reencoded)}): re-encoded "
            "as Opus; write .mkv to copy it untouched",
            err=True,
        )
    if report.audio_dropped:
        typer.echo(
            f"warning: WebM cannot hold the audio ({', '.join(report.audio_dropped)}) and this "
            "FFmpeg has no Opus encoder: the video is written without it; write .mkv to keep it",
            err=True,
        )
    if report.others:
        typer.echo(
            f"note: {output} also holds {report.others} images this run did not write (an "
            "earlier run's frames?), left as they were",
            err=True,
        )
    if not quiet:
        cuts = ""
        if report.cuts:  # a feature film has thousands: the first ten, then how many in all
            shown = ", ".join(map(str, report.cuts[:10]))
            more = f", ... ({len(report.cuts)} in all)" if len(report.cuts) > 10 else ""
            cuts = f", scene cuts before frames {shown}{more}"
        frames = _counted(report.frames, "frame")
        if report.resumed:
            frames += f" (after {report.resumed} from an earlier run)"
        reencoded, dropped = len(report.audio_reencoded), len(report.audio_dropped)
        copied = report.audio_streams - reencoded - dropped
        sound = [f"{_counted(copied, 'audio stream')} copied"] if copied or not reencoded else []
        sound += [f"{_counted(reencoded, 'audio stream')} re-encoded"] if reencoded else []
        sound += [f"{_counted(dropped, 'audio stream')} left out"] if dropped else []
        audio = ", ".join(sound)
        typer.echo(f"{frames} at {report.fps:.1f} frames/s, {audio}{cuts} -> {output}")


def _say_kept(report: Any, output: Path, when: str = "before it") -> None:
    """After a failed or stopped video run: where its frames are (nothing when none was
    written)."""
    if report.kept is None:
        return
    where = f"the {report.frames} frames colorized {when} are in"
    if report.kept == output:
        typer.echo(f"{where} {output}", err=True)
    else:
        typer.echo(
            f"{where} {report.kept} ({output}, from an earlier run, is left as it was)", err=True
        )


# --------------------------------------------------------------------------- eval


def _check_report_paths(folder: Path, paths: dict[str, Path | None]) -> None:
    """Refuse report paths that would overwrite an original or be read as one next time (an
    image inside the evaluated folder), that name a folder, or that two options share; checked
    before the evaluation, not after it."""
    _refuse_dash([folder], paths)
    given = {option: path for option, path in paths.items() if path is not None}
    root = folder.resolve()
    seen: dict[Path, str] = {}
    for option, path in given.items():
        where = path.resolve()
        if root in where.parents and where.suffix.lower() in IMAGE_SUFFIXES:
            raise ValueCheckError(
                f"{option} {path} is an image inside the evaluated folder {folder}: it would "
                "overwrite an original or be read as one next time; write it elsewhere"
            )
        if path.is_dir():
            raise ValueCheckError(f"{option} {path} is a folder; give a file name")
        if where in seen:
            raise ValueCheckError(f"{seen[where]} and {option} both write {path}")
        seen[where] = option
        parent = next((p for p in where.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():  # found after the evaluation before
            raise ValueCheckError(f"{option} {path}: {parent} is a file, not a folder")
        if parent is not None and not os.access(parent, os.W_OK):
            raise ValueCheckError(f"{option} {path}: cannot write in {parent}")


@app.command("eval", **_shown("eval"))
def eval_command(
    folder: Annotated[Path, typer.Argument(help="Folder of color originals.")],
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="points: random ground-truth hint points; auto: no hints at all; regions: "
            "color phrases on ground-truth superpixels (color reached, leakage); reference: "
            "frame folders, first frame as the reference, video path vs per-frame (PSNR, "
            "flicker); pool: pages, each with the other pages as its pool.",
        ),
    ] = "points",
    points: Annotated[
        str, typer.Option("--points", help="Comma-separated hint counts (points protocol).")
    ] = "10,100,1000",
    engine: Annotated[
        list[str],
        typer.Option(
            "--engine",
            metavar="<str>",
            help="Engine(s) to evaluate; repeatable. Default: none and cnn for points, cnn for "
            "auto, regions and pool (those available).",
        ),
    ] = [],  # noqa: B006
    samples: Annotated[
        int, typer.Option("--samples", help="Samples per image (auto protocol).", min=1, max=16)
    ] = 1,
    regions: Annotated[
        int, typer.Option("--regions", help="Regions per image (regions protocol).", min=1, max=12)
    ] = 3,
    max_side: Annotated[
        int, typer.Option("--max-side", help="Resize originals to at most this side.", min=16)
    ] = 256,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Seed of the sampling: hint points (points), samples (auto).", min=0
        ),
    ] = 0,
    quality: Annotated[
        str,
        typer.Option(
            "--quality", help="Video settings preset of the reference protocol: fast or high."
        ),
    ] = "fast",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report (per image too).")
    ] = None,
    sheet: Annotated[
        Path | None,
        typer.Option("--sheet", help="Write a contact sheet (PNG): gray, results, original."),
    ] = None,
    sheet_images: Annotated[
        int, typer.Option("--sheet-images", help="Images on the contact sheet.", min=1)
    ] = 20,
    engine_option: Annotated[
        list[str],
        typer.Option(
            "--engine-option",
            metavar="KEY=VALUE",
            help="An option for the engines that have it (points and auto protocols); "
            "repeatable, e.g. --engine-option model=runs/x/model.onnx.",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Evaluate against color originals and print a table of metrics beside the gray baseline."""
    try:
        from polychrome.engines.base import ENGINES, engine_spec

        if protocol not in ("points", "auto", "regions", "reference", "pool"):
            raise ValueCheckError(
                f"unknown protocol {protocol!r}; available: points, auto, regions, reference, pool"
            )
        try:
            counts = [int(p) for p in points.split(",") if p.strip()]
        except ValueError:
            raise ValueCheckError(
                f"--points must be comma-separated integers, got {points!r}"
            ) from None
        if protocol == "points" and (not counts or min(counts) < 1):
            raise ValueCheckError("--points needs at least one positive count")
        counts = list(dict.fromkeys(counts))  # a count named twice was evaluated twice
        # Settings of another protocol were ignored without a word.
        for flag, given, owner in (
            ("--points", points != "10,100,1000", "points"),
            ("--samples", samples != 1, "auto"),
            ("--regions", regions != 3, "regions"),
            ("--quality", quality != "fast", "reference"),
        ):
            if given and protocol != owner:
                raise ValueCheckError(f"{flag} applies to the {owner} protocol, not {protocol}")
        video_settings = VideoSettings.quality(quality)
        if engine and protocol == "reference":  # it was ignored without a word
            raise ValueCheckError(
                "--engine does not apply to the reference protocol (the video path uses the "
                "default engine)"
            )
        if not engine:
            wanted = ("none", "cnn") if protocol == "points" else ("cnn",)
            if protocol == "regions" and not ENGINES["cnn"].available:
                wanted = ("none",)
            engine = [e for e in wanted if ENGINES[e].available]
            if not engine:
                raise ValueCheckError("no engine available for this protocol; pass --engine")
        engine = list(dict.fromkeys(engine))  # an engine named twice was evaluated twice
        for name in engine:
            engine_spec(name)
        if samples > 1 and not any(engine_spec(name).samples for name in engine):
            # The table showed no sample row and said nothing.
            raise ValueCheckError(
                f"--samples {samples} applies to engines that sample (cnn, diffusion); "
                f"{', '.join(engine)} would give identical copies"
            )
        per_engine = _eval_engine_options(engine_option, engine, protocol)
        _check_report_paths(folder, {"--json": json_path, "--sheet": sheet})
        if sheet is None and sheet_images != 20:  # it was ignored without a word
            raise ValueCheckError("--sheet-images applies with --sheet (the contact sheet)")
        if sheet is not None and sheet.suffix.lower() not in IMAGE_SUFFIXES:
            # Checked now: it failed after the whole evaluation.
            raise ValueCheckError(
                f"--sheet {sheet}: unknown image extension; use one of {', '.join(IMAGE_SUFFIXES)}"
            )
        from polychrome.eval import protocols
        from polychrome.eval.report import format_table

        common = {
            "engines": engine,
            "max_side": max_side,
            "seed": seed,
            "gallery": sheet_images if sheet is not None else 0,
        }
        with _progress_bar("evaluating") as advance:
            if protocol == "points":
                report = protocols.points_protocol(
                    folder, points=counts, progress=advance, engine_options=per_engine, **common
                )
            elif protocol == "regions":
                report = protocols.regions_protocol(
                    folder, regions=regions, progress=advance, **common
                )
            elif protocol == "reference":
                common.pop("engines")
                common["settings"] = video_settings
                report = protocols.reference_protocol(folder, progress=advance, **common)
            elif protocol == "pool":
                report = protocols.pool_protocol(folder, progress=advance, **common)
            else:
                report = protocols.auto_protocol(
                    folder, samples=samples, progress=advance, engine_options=per_engine, **common
                )
    except PolychromeError as exc:
        raise _fail(exc) from None
    typer.echo(format_table(report))
    if json_path is not None:
        from polychrome.io import atomic_write_text

        atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2, allow_nan=False))
    if sheet is not None:
        from polychrome.eval.report import gallery_sheet
        from polychrome.io import write_image

        write_image(sheet, gallery_sheet(report))
        typer.echo(f"contact sheet: {sheet}")


@app.command("train", **_shown("train"))
def train_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder of color training images, subfolders too (gray, unreadable and those "
            "under 64 x 64 pixels are left out, and counted).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoint, log, exports).")],
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps.", min=1)] = 8000,
    batch: Annotated[int, typer.Option("--batch", help="Crops per step.", min=1)] = 16,
    crop: Annotated[
        int, typer.Option("--crop", help="Crop side (multiple of 16, at most 320).", min=32)
    ] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 2e-3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of sampling and init.", min=0)] = 0,
    rebalance: Annotated[
        float,
        typer.Option(
            "--rebalance",
            help="Class rebalancing: mix of the color prior with uniform (1: no rebalancing).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.5,
    init: Annotated[
        Path | None,
        typer.Option("--init", help="Start from this checkpoint's weights (fine-tuning)."),
    ] = None,
    hints: Annotated[
        bool,
        typer.Option(
            "--hints/--no-hints",
            help="Train a network that also reads sparse true colors (user hints, Zhang et al. "
            "2017); --init may name a plain network's checkpoint.",
        ),
    ] = False,
    spread: Annotated[
        bool,
        typer.Option(
            "--spread/--no-spread",
            help="With --hints: also feed the hints spread densely at three scales (experimental; "
            "see docs/model-card.md).",
        ),
    ] = False,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Export model.onnx when done.")
    ] = True,
) -> None:
    """Train the `cnn` engine's network (extra [train]); rerun the same command to resume."""
    from polychrome.engines.base import require_modules

    try:
        require_modules(("torch", "onnx"), extra="train", what="training")
        from polychrome.train.export import export_onnx, write_card
        from polychrome.train.loop import TrainConfig, train

        config = TrainConfig(
            steps=steps,
            batch=batch,
            crop=crop,
            lr=lr,
            seed=seed,
            rebalance=rebalance,
            init=str(init) if init else "",
            hints=hints,
            spread=spread,
        )
        # The whole command, every setting spelled out, for the run's record and model card.
        import shlex

        settings = [
            *("--data", str(data), "--out", str(out), "--steps", str(steps)),
            *("--batch", str(batch), "--crop", str(crop), "--lr", repr(lr)),
            *("--seed", str(seed), "--rebalance", repr(rebalance)),
            *(("--init", str(init)) if init else ()),
            "--hints" if hints else "--no-hints",
            "--spread" if spread else "--no-spread",
        ]
        with _progress_bar("training", loss=True) as advance:
            checkpoint = train(
                data,
                out,
                config,
                progress=advance,
                say=lambda line: typer.echo(line, err=True),
                command=shlex.join(["polychrome", "train", *settings]),
            )
        if export:
            card = export_onnx(checkpoint, out / "model.onnx")
            write_card(card, out / "model.json")
            typer.echo(f"exported {out / 'model.onnx'} (sha256 {card['sha256'][:16]}...)")
    except PolychromeError as exc:
        raise _fail(exc) from None


def _duration(seconds: float) -> str:
    """``seconds`` in words: ``45 s``, ``7 min``, ``2 h 5 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60} min"


class _progress_bar:
    """A rich progress bar as a context manager yielding ``advance(done, total, value=None, *,
    label="")``: ``value`` is a training loss (``loss=True``) or a rate shown with its ``unit``;
    ``label`` replaces the bar's label.

    Off a terminal (a log file, nohup, systemd) there is no bar: training logs its loss every 100
    steps, anything else prints a plain ``progress: ...`` line at most every ``every`` seconds, the
    first one after ``every`` seconds (short jobs print nothing). ``enabled=False`` (``-q``) prints
    nothing. ``stream`` and ``clock`` default to stderr and ``time.monotonic`` (tests replace them).
    """

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        loss: bool = False,
        unit: str = "",
        every: float = 30.0,
        stream: Any = None,
        clock: Callable[[], float] | None = None,
    ):
        import time

        self.label = label
        self.loss = loss
        self.unit = unit
        self.every = every
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock or time.monotonic
        self.quiet = not enabled
        self.enabled = enabled and self.stream.isatty()

    def _lines(self) -> Callable[..., None]:
        """``advance`` off a terminal: a plain progress line at most every ``self.every`` s."""
        start = self.clock()
        said = {"at": start, "done": None}

        def advance(
            done: int, total: int | None, value: float | None = None, *, label: str = ""
        ) -> None:
            if said["done"] is None:  # the count this run started at (a resumed job: not 0)
                said["done"] = max(done - 1, 0)
            now = self.clock()
            if now - said["at"] < self.every:
                return
            said["at"] = now
            counted = f"{done}/{total} ({100 * done / total:.0f} %)" if total else f"{done}"
            if value is None:  # items per second since the start
                rate = (done - said["done"]) / max(now - start, 1e-9)
                shown = f"{rate:.1f}/s"
            else:  # the command's own rate, in its unit
                rate, shown = value, f"{value:.1f} {self.unit}"
            parts = [f"progress: {label or self.label} {counted}", shown]
            if total and rate > 0 and done < total:
                parts.append(f"about {_duration((total - done) / rate)} left")
            print(", ".join(parts), file=self.stream, flush=True)

        return advance

    def __enter__(self) -> Callable[..., None]:
        import time

        start = time.perf_counter()
        if not self.enabled:
            if not self.loss:
                if self.quiet:
                    return lambda done, total, *extra, **label: None
                return self._lines()

            first: list[int] = []  # the step this run started at (a resumed run: not 0)

            def log(done: int, total: int, loss: float = float("nan")) -> None:
                first[:] = first or [done - 1]
                if done % 100 == 0 or done == total:  # a log line when there is no terminal
                    rate = (time.perf_counter() - start) / max(done - first[0], 1)
                    typer.echo(
                        f"{self.label}: {done}/{total} loss {loss:.4f} ({rate:.2f} s/step)",
                        err=True,
                    )

            return log
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "{task.fields[extra]}",
            TimeRemainingColumn(),
            console=Console(stderr=True),  # the bar is shown when stderr is a terminal
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=None, extra="")

        def advance(
            done: int, total: int | None, value: float | None = None, *, label: str = ""
        ) -> None:
            if value is None:
                extra = ""
            else:
                extra = f"loss {value:.4f}" if self.loss else f"{value:.1f} {self.unit}"
            described = {"description": label} if label else {}
            self._progress.update(self._task, completed=done, total=total, extra=extra, **described)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()


def main() -> None:
    """Entry point: run the app; unexpected errors print one line (set POLYCHROME_DEBUG=1 for the
    traceback)."""
    import signal

    stopped: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopped.append(signum)
        raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C (frames, checkpoints, workers)

    with contextlib.suppress(ValueError):  # not the main thread (embedded): leave it alone
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as exc:
        if not stopped:
            if isinstance(exc, SystemExit):
                raise
            stopped.append(signal.SIGINT)
        terminated = stopped[0] == signal.SIGTERM
        _err("terminated" if terminated else "interrupted")
        sys.exit(143 if terminated else 130)
    except PolychromeError as exc:  # raised outside a command's own handling
        _err(str(exc))
        sys.exit(exc.exit_code)
    except MemoryError as exc:
        _err(f"out of memory{f' ({exc})' if str(exc) else ''}; try smaller inputs or settings")
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("POLYCHROME_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.filename is not None:
            # A path the user gave that the system refuses (a name too long, a loop of links).
            _err(f"{exc.filename}: {exc.strerror or exc}")
            sys.exit(2)
        _err(f"internal error: {type(exc).__name__}: {exc} (set POLYCHROME_DEBUG=1 for details)")
        sys.exit(1)
