"""Typed errors. Every error polychrome raises on purpose derives from :class:`PolychromeError`.

Each class carries the process exit code the CLI uses for it: ``2`` for bad input or usage (the
user can fix the call), ``3`` for a missing optional dependency or weights (the user can fix the
environment), ``1`` for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DecodeError",
    "EmptyMaskError",
    "EngineUnavailableError",
    "ImageTooLargeError",
    "InputError",
    "OutputNotWritableError",
    "PolychromeError",
    "ShapeError",
    "UnknownColorError",
    "UnknownEngineError",
    "ValueCheckError",
]


class PolychromeError(Exception):
    """Base class of every error polychrome raises on purpose."""

    exit_code: int = 1


class InputError(PolychromeError, ValueError):
    """The input given by the user is unusable (a file, an argument, a value)."""

    exit_code = 2


class OutputNotWritableError(InputError):
    """A result could not be written because its folder refuses writes (no permission, a
    read-only file system): every later result there would fail the same way."""

    def __init__(self, message: str, *, folder: str = ""):
        super().__init__(message)
        self.folder = folder


class DecodeError(InputError):
    """A file could not be decoded as an image (empty, truncated, malformed, unknown format)."""


class ImageTooLargeError(InputError):
    """An image has more pixels than the configured limit (checked before decoding)."""


class ShapeError(InputError):
    """An array or image has the wrong shape, e.g. a mask whose size differs from the input's."""


class ValueCheckError(InputError):
    """A value is out of its allowed range or otherwise invalid."""


class EmptyMaskError(ValueCheckError):
    """A mask selects no pixel, so the guidance attached to it cannot apply anywhere."""


class UnknownColorError(InputError):
    """A color phrase names a color that is not in the vocabulary."""

    def __init__(self, message: str, *, word: str = "", suggestions: Sequence[str] = ()):
        super().__init__(message)
        self.word = word
        self.suggestions = list(suggestions)


class UnknownEngineError(InputError):
    """An engine name that is not in the registry."""


class EngineUnavailableError(PolychromeError):
    """An engine exists but cannot run here: a missing extra or missing weights."""

    exit_code = 3
