"""Model options that take a local folder or a Hugging Face hub id (``owner/name``): the checks
made before anything loads, shared by the diffusion engine's models, ``--segmenter`` and
``--clip-model``.

A hub-id-shaped value that is no folder here is either a hub model (read from the local cache,
downloaded when the machine is online) or a mistyped folder (``modles/sd15`` for
``models/sd15``). :func:`check_hub_id` tells them apart without a download: a cached id is
fine, and so is one that can still be downloaded; otherwise the value is a typo when a folder
with a similar name exists (an :class:`~polychrome.errors.InputError`, exit 2, "did you mean"),
and missing weights when none does (:class:`~polychrome.errors.EngineUnavailableError`, exit 3,
saying where it looked).

Importing this module imports neither torch nor huggingface_hub.
"""

from __future__ import annotations

import difflib
import itertools
import os
from pathlib import Path

from polychrome.errors import EngineUnavailableError, InputError

__all__ = ["cache_dir", "check_hub_id", "is_cached", "shown_path", "similar_folder"]

_MAX_LISTED = 5000
"""Entries of one folder compared with a missing path's part (a huge folder is cut there)."""


def cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment as the hub client reads it
    (``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME``/hub, ``XDG_CACHE_HOME``/
    huggingface/hub, ``~/.cache/huggingface/hub``)."""
    home = os.environ.get(
        "HF_HOME",
        os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
        ),
    )
    hub = os.environ.get(
        "HF_HUB_CACHE", os.environ.get("HUGGINGFACE_HUB_CACHE", os.path.join(home, "hub"))
    )
    return Path(os.path.expandvars(os.path.expanduser(hub)))


def is_cached(repo_id: str) -> bool:
    """True when the cache holds a snapshot of the model ``repo_id`` (``owner/name``)."""
    snapshots = cache_dir() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    try:
        return any(p.is_dir() for p in snapshots.iterdir())
    except OSError:
        return False


def shown_path(value: str) -> str:
    """``value`` as a path a message shows: a relative one starts with ``./``."""
    if value.startswith(("/", ".", "~")) or os.path.isabs(value):
        return value
    return f"./{value}"


def similar_folder(value: str) -> str | None:
    """An existing folder whose path differs from ``value`` (which names none) by typos in its
    parts (``./models/sd15`` for ``modles/sd15``), shown as :func:`shown_path` does; None when
    there is none."""
    path = Path(value).expanduser()
    if path.is_absolute():
        found, parts = Path(path.anchor), path.parts[1:]
    else:
        found, parts = Path("."), path.parts
    changed = False
    for part in parts:
        if (found / part).is_dir() or part in (".", ".."):
            found = found / part
            continue
        try:
            names = [
                entry.name
                for entry in itertools.islice(os.scandir(found), _MAX_LISTED)
                if entry.is_dir()
            ]
        except OSError:
            return None
        close = difflib.get_close_matches(part, names, n=1, cutoff=0.75)
        if not close:
            return None
        found, changed = found / close[0], True
    if not changed or not found.is_dir():
        return None
    shown = found.as_posix()
    return shown if path.is_absolute() else shown_path(shown)


def check_hub_id(value: str, *, label: str, what: str) -> None:
    """Check ``value``, shaped like a hub id and no folder here, before anything loads: return
    when it is cached or can still be downloaded; raise otherwise.

    Args:
        value: the hub id as the user typed it.
        label: how the message names the option and value (``base_model=modles/sd15``).
        what: what the option wants (``a CLIPSeg model``), for the message.

    Raises:
        InputError: a folder with a similar name exists: a mistyped path (exit 2).
        EngineUnavailableError: neither the folder nor the cached model exists, and downloads
            are off or the hub cannot be reached (exit 3).
    """
    from polychrome.guidance.textseg import _cache_only, _offline

    if is_cached(value) or not _cache_only():
        return
    nowhere = (
        f"{label}: no folder {shown_path(value)} and no hub model {value} in the cache at "
        f"{cache_dir()}"
    )
    similar = similar_folder(value)
    if similar is not None:
        raise InputError(f"{nowhere}; did you mean {similar}?")
    why, online = (
        ("downloads are off", "unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE")
        if _offline()
        else ("the hub cannot be reached", "run once")
    )
    raise EngineUnavailableError(
        f"{nowhere}, and {why}: {what} is needed. Pass a local folder (make one on a machine "
        f"with a network: hf download {value} --local-dir DIR), or {online} with network "
        "access so that the hub id is downloaded into the cache"
    )
