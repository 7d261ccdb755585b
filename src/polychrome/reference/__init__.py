"""Reference colorization: colors taken from color images of the same things.

- :mod:`polychrome.reference.match`: a gray target matched against one or several color
  references gives confident, sparse chroma hints (:func:`match_reference`,
  :func:`match_references`).
- :mod:`polychrome.reference.pool`: a pool of color references, embedded once and searched per
  target (ColorFlow's Retrieval-Augmented Pipeline): :class:`Pool`, :class:`BuiltinEmbedder`,
  :class:`ClipEmbedder`.
"""

from polychrome.reference.match import (
    ReferenceHints,
    is_color,
    match_reference,
    match_references,
)
from polychrome.reference.pool import BuiltinEmbedder, ClipEmbedder, Pool, load_embedder

__all__ = [
    "BuiltinEmbedder",
    "ClipEmbedder",
    "Pool",
    "ReferenceHints",
    "is_color",
    "load_embedder",
    "match_reference",
    "match_references",
]
