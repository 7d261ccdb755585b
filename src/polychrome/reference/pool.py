"""Reference pools and retrieval: ColorFlow's Retrieval-Augmented Pipeline (RAP) on the CPU.

A pool is a set of color references (the colored pages of a chapter, stills of a film) embedded
once and saved. For each gray target, retrieval picks the references that show the same things,
and :func:`~polychrome.reference.match.match_references` turns them into hints.

Retrieval, as in ColorFlow (Zhuang et al., 2024, section 3.1):

1. The target is cut into four overlapping patches, each 3/4 of its height and width (top-left,
   top-right, bottom-left, bottom-right); every reference into the same four plus the whole
   image (five patches, embedded when the pool is built).
2. Every patch is embedded as a unit vector; similarity is the cosine (a dot product).
3. For each target patch, a reference scores the best similarity of its five patches; the top
   ``k`` references of each target patch are kept, duplicates merged (a reference keeps its best
   score), best first.

ColorFlow stitches the retrieved patches into one image for its diffusion model; here the
retrieved references go to the matcher whole, which finds correspondences anywhere in them.

Both sides are embedded from their luminance alone (references as gray images), so a gray
target is compared with references in the same, color-blind, terms.

Embedders:

- :class:`BuiltinEmbedder` (no weights): a patch is resized to 64 x 64 and described by a
  16-bin luminance histogram (square-rooted), HOG-like histograms of gradient orientation (9
  unsigned bins, magnitude-weighted) on a 4 x 4 grid of cells, each cell normalised, and an
  8 x 8 thumbnail of L* with its mean removed and its contrast normalised. Each part is
  L2-normalised and weighted (0.5, 1, 1), and the whole L2-normalised. It finds the same scene,
  page or shot again (another crop, another frame); it does not know what a character is.
- :class:`ClipEmbedder` (extra ``[clip]``): CLIP's image embedding (transformers'
  ``CLIPModel.get_image_features``), as ColorFlow uses; weights from a local folder or a hub id
  (read from the cache, downloaded only with network access and no ``HF_HUB_OFFLINE``).

A pool file (``.npz``) holds the references' paths (relative to the pool file when they lie
beside or under it, so a folder can move as a whole), their ``(n, 5, D)`` embeddings, the
embedder's name and each reference's size, modification time and sha256; it is written
atomically (a temporary file, then a rename). A reference whose content changed after the pool
was built (another sha256) is embedded again when the pool is loaded, with a warning naming it;
one that is gone is an error. Files with the same content as an earlier one are left out of a
new pool (they would take retrieval slots and give the same matches twice).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import cv2
import numpy as np

from polychrome.engines.base import require_modules
from polychrome.errors import EngineUnavailableError, InputError, ShapeError, ValueCheckError
from polychrome.formats import IMAGE_SUFFIXES, image_files
from polychrome.io import DEFAULT_MAX_PIXELS, atomic_write_bytes, file_sha256, read_image
from polychrome.ops.color import lab_to_rgb, luminance_of
from polychrome.ops.filters import resize, working_shape
from polychrome.reference.match import _windows, is_color

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "PATCHES",
    "BuiltinEmbedder",
    "ClipEmbedder",
    "Embedder",
    "Pool",
    "load_embedder",
    "rap_patches",
]

PATCHES = ("top-left", "top-right", "bottom-left", "bottom-right", "whole")
"""The patches of a reference, in the order of a pool's embeddings (a target has the first
four)."""

DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
"""The CLIP weights :class:`ClipEmbedder` is documented with (hub id)."""

_FORMAT = "polychrome-pool-1"
_EMBED_PIXELS = 262_144  # references are reduced to at most this many pixels before embedding

Progress = Callable[[int, int], None]

Stamp = tuple[int, int, str]
"""A reference file's size in bytes, modification time (ns) and sha256, as the pool saw it."""


def rap_patches(luminance: np.ndarray, *, whole: bool) -> list[np.ndarray]:
    """The four overlapping patches of RAP, each 3/4 of the height and width: top-left,
    top-right, bottom-left, bottom-right; then the whole image if ``whole``. Views, not copies.

    >>> [p.shape for p in rap_patches(np.zeros((8, 12)), whole=True)]
    [(6, 9), (6, 9), (6, 9), (6, 9), (8, 12)]
    """
    h, w = luminance.shape[:2]
    ph, pw = max(1, (3 * h + 3) // 4), max(1, (3 * w + 3) // 4)
    out = [
        luminance[:ph, :pw],
        luminance[:ph, w - pw :],
        luminance[h - ph :, :pw],
        luminance[h - ph :, w - pw :],
    ]
    return [*out, luminance] if whole else out


class Embedder(Protocol):
    """Turns luminance patches into unit vectors whose dot product says how alike they look."""

    name: str
    """Recorded in pool files: a pool is searched with the embedder that built it."""

    def embed(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, D)`` float32 unit vectors for ``n`` patches of L* ``(h, w)`` in ``[0, 100]``."""
        ...


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


class BuiltinEmbedder:
    """Luminance histogram, HOG-like orientation histograms and a tiny thumbnail (see the module
    docstring); no weights, a few milliseconds a patch."""

    name: ClassVar[str] = "builtin-v1"
    _SIDE = 64
    _GRID = 4
    _ORIENTATIONS = 9
    _WEIGHTS = (0.5, 1.0, 1.0)  # histogram, HOG, thumbnail

    def embed(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self._one(_check_patch(p)) for p in patches]).astype(np.float32)

    def _one(self, lum: np.ndarray) -> np.ndarray:
        side = self._SIDE
        shrink = lum.shape[0] >= side and lum.shape[1] >= side
        im = resize(lum, (side, side), mode="area" if shrink else "linear")
        # 1. Luminance histogram (Hellinger: square roots of frequencies).
        hist = np.sqrt(np.histogram(im, bins=16, range=(0.0, 100.0))[0] / im.size)
        # 2. Gradient orientation histograms on a grid of cells (HOG-like).
        g = cv2.GaussianBlur(im, (0, 0), 1.0)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.hypot(gx, gy)
        angle = np.mod(np.arctan2(gy, gx), np.pi)
        bins = np.minimum((angle / np.pi * self._ORIENTATIONS).astype(int), self._ORIENTATIONS - 1)
        cell = side // self._GRID
        rows, cols = np.mgrid[0:side, 0:side] // cell
        index = (rows * self._GRID + cols) * self._ORIENTATIONS + bins
        hog = np.bincount(
            index.ravel(), mag.ravel(), minlength=self._GRID**2 * self._ORIENTATIONS
        ).reshape(self._GRID**2, self._ORIENTATIONS)
        norms = np.linalg.norm(hog, axis=1, keepdims=True)
        hog = hog / np.sqrt(norms**2 + (0.2 * norms.mean()) ** 2 + 1e-6)  # flat cells stay small
        # 3. Thumbnail of L*, mean removed, contrast normalised.
        thumb = resize(im, (8, 8), mode="area").ravel()
        thumb = (thumb - thumb.mean()) / (thumb.std() + 1.0)
        parts = (hist, hog.ravel(), thumb)
        return _unit(
            np.concatenate([w * _unit(p) for w, p in zip(self._WEIGHTS, parts, strict=True)])
        )


def _check_patch(patch: np.ndarray) -> np.ndarray:
    patch = np.asarray(patch)
    if patch.ndim != 2 or min(patch.shape) < 2:
        raise ShapeError(f"a patch must be (h, w) L* with h, w >= 2, got shape {patch.shape}")
    return patch.astype(np.float32, copy=False)


class ClipEmbedder:
    """CLIP image embeddings (transformers' ``CLIPModel``), as ColorFlow retrieves with.

    Args:
        model: a local folder with a CLIP model and its image processor saved with
            ``save_pretrained`` (read with ``local_files_only=True``), or a hub id such as
            :data:`DEFAULT_CLIP_MODEL` (read from the cache; downloaded only with network
            access and no ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``).
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Raises:
        EngineUnavailableError: torch or transformers missing (``pip install
            'polychrome[clip]'``), weights not found here, or the device not available.
    """

    _BATCH = 16

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_CLIP_MODEL, *, device: str = "cpu"):
        require_modules(("torch", "transformers"), extra="clip", what="CLIP retrieval")
        from polychrome.guidance.textseg import _cache_only, _check_device, _looks_like_path
        from polychrome.hub import check_hub_id, similar_folder

        _check_device(device)
        source = os.fspath(model)
        if not source.strip():
            raise ValueCheckError("the CLIP model must be a folder or a hub id, got ''")
        path = Path(source).expanduser()
        if path.exists():
            if not path.is_dir():
                raise InputError(
                    f"CLIP model {source!r} is a file; pass the folder that holds config.json, "
                    "model.safetensors and preprocessor_config.json"
                )
            location, local_only, source = str(path.resolve()), True, str(path.resolve())
        elif _looks_like_path(source):
            similar = similar_folder(source)
            raise InputError(
                f"CLIP weights folder {source!r} does not exist; pass a local folder (make one "
                f"with: hf download {DEFAULT_CLIP_MODEL} --local-dir DIR) or a hub id"
                + (f"; did you mean {similar}?" if similar else "")
            )
        else:
            # A typo of a folder (exit 2), or a hub id neither cached nor downloadable (exit 3),
            # is told before transformers tries.
            check_hub_id(source, label=f"CLIP model {source}", what="a CLIP model")
            location, local_only = source, _cache_only()
        from transformers import CLIPModel
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        try:
            net = CLIPModel.from_pretrained(location, local_files_only=local_only)
            processor = CLIPImageProcessorPil.from_pretrained(location, local_files_only=local_only)
        except (OSError, ValueError) as exc:
            # The user's folder is a mistake in the call (exit 2); a hub id not had is missing
            # weights (exit 3).
            raise (InputError if local_only and path.is_dir() else EngineUnavailableError)(
                f"could not load a CLIP model from {source!r}: a folder must hold a CLIPModel "
                "and its image processor saved with save_pretrained; a hub id must be in the "
                "local Hugging Face cache (downloads happen only with network access and "
                f"without HF_HUB_OFFLINE): {exc}"
            ) from exc
        self._model = net.eval().to(device)
        self._processor = processor
        self.device = device
        self.source = source
        self.name = f"clip:{source}"

    def __repr__(self) -> str:
        return f"ClipEmbedder({self.source!r}, device={self.device!r})"

    def embed(self, patches: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        images = [_gray_rgb(_check_patch(p)) for p in patches]
        out = []
        for start in range(0, len(images), self._BATCH):
            batch = images[start : start + self._BATCH]
            pixels = self._processor(images=batch, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                feats = self._model.get_image_features(pixel_values=pixels.to(self.device))
            if not isinstance(feats, torch.Tensor):  # transformers 5: an output object
                feats = feats.pooler_output
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            out.append(feats.cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def _gray_rgb(luminance: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` uint8 gray sRGB of L*."""
    lab = np.zeros((*luminance.shape, 3), np.float32)
    lab[..., 0] = np.clip(luminance, 0, 100)
    return np.rint(lab_to_rgb(lab) * 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def load_embedder(name: str, *, device: str = "cpu") -> Embedder:
    """The embedder a pool file names (``"builtin-v1"``, ``"clip:MODEL"``); loaded once."""
    if name == BuiltinEmbedder.name:
        return BuiltinEmbedder()
    if name.startswith("clip:"):
        return ClipEmbedder(name.removeprefix("clip:"), device=device)
    raise InputError(
        f"unknown embedder {name!r}; this polychrome knows {BuiltinEmbedder.name!r} and "
        "'clip:MODEL'"
    )


@dataclass(frozen=True)
class Pool:
    """Color references and their patch embeddings.

    Attributes:
        paths: the references' files.
        embeddings: ``(n, 5, D)`` float32 unit vectors, patches in the order of :data:`PATCHES`.
        embedder: the name of the embedder that made them (see :func:`load_embedder`).
        skipped: gray images left out when the pool was built (not saved).
        unreadable: images left out when the pool was built because they could not be read,
            each with the reason (not saved).
        stamps: per reference, its file's :data:`Stamp` when embedded (saved; empty when not
            known, e.g. a pool file from before stamps were kept).
        duplicates: files left out when the pool was built because an earlier file has the
            same content, each with that file (not saved).
        changed: references whose content changed after the pool file was written, embedded
            again when it was loaded (not saved).
    """

    paths: tuple[Path, ...]
    embeddings: np.ndarray
    embedder: str
    skipped: tuple[Path, ...] = ()
    unreadable: tuple[tuple[Path, str], ...] = ()
    stamps: tuple[Stamp, ...] = ()
    duplicates: tuple[tuple[Path, Path], ...] = ()
    changed: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        e = self.embeddings
        if e.ndim != 3 or e.shape[:2] != (len(self.paths), len(PATCHES)):
            raise ShapeError(
                f"a pool of {len(self.paths)} references needs embeddings of shape "
                f"({len(self.paths)}, {len(PATCHES)}, D), got {e.shape}"
            )
        if self.stamps and len(self.stamps) != len(self.paths):
            raise ShapeError(
                f"a pool of {len(self.paths)} references needs one stamp each or none, got "
                f"{len(self.stamps)}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def build(
        cls,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        embedder: Embedder | None = None,
        progress: Progress | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Pool:
        """Embed every color image of a folder (not its subfolders), or of a list of files.

        Gray images are left out (listed in :attr:`skipped`), and so are files that cannot be
        read (:attr:`unreadable`, with the reason): one damaged scan does not cost the pool;
        and files with the same content as an earlier one (:attr:`duplicates`). A pool with no
        color image at all is an error. ``progress(done, total)`` is called after each image.

        Raises:
            InputError: no folder or file there, no image in the folder, or no readable color
                image.
        """
        embedder = embedder or BuiltinEmbedder()
        files = _source_files(source)
        paths, rows, skipped, unreadable, stamps = [], [], [], [], []
        duplicates: list[tuple[Path, Path]] = []
        seen: dict[str, Path] = {}
        for done, path in enumerate(files, 1):
            try:
                stamp = _stamp(path)
                if stamp[2] in seen:
                    duplicates.append((path, seen[stamp[2]]))
                    continue
                seen[stamp[2]] = path
                row = _embed_file(path, embedder, max_pixels)
            except InputError as exc:
                unreadable.append((path, str(exc)))
            else:
                if row is None:
                    skipped.append(path)
                else:
                    rows.append(row)
                    paths.append(path)
                    stamps.append(stamp)
            finally:
                if progress is not None:
                    progress(done, len(files))
        if not paths:
            where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the files"
            if unreadable:
                first, reason = unreadable[0]
                raise InputError(
                    f"{where}: no readable color image ({len(unreadable)} of {len(files)} "
                    f"cannot be read; {first.name}: {reason})"
                )
            raise InputError(
                f"{where}: all {len(files)} images are gray; a reference pool is made of color "
                "images, whose colors are given to gray targets"
            )
        return cls(
            tuple(paths),
            np.stack(rows),
            embedder.name,
            tuple(skipped),
            tuple(unreadable),
            tuple(stamps),
            tuple(duplicates),
        )

    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        progress: Progress | None = None,
    ) -> Pool:
        """A pool file (``.npz``, :meth:`load`) or a folder of references (:meth:`build`)."""
        if Path(source).is_dir():
            return cls.build(source, embedder=embedder, progress=progress)
        return cls.load(source)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the pool to ``path`` (``.npz``) atomically; returns the path."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ValueCheckError(f"a pool file ends with .npz, got {path.name!r}")
        if path.is_dir():
            raise ValueCheckError(f"{path} is a folder; name the pool file, e.g. {path}/pool.npz")
        base = path.parent.resolve()
        stored = []
        for p in self.paths:
            full = Path(p).resolve()
            stored.append(
                full.relative_to(base).as_posix() if full.is_relative_to(base) else str(full)
            )
        stamps = (
            {
                "sizes": np.array([s[0] for s in self.stamps], np.int64),
                "mtimes": np.array([s[1] for s in self.stamps], np.int64),
                "sha256": np.array([s[2] for s in self.stamps], dtype=str),
            }
            if self.stamps
            else {}
        )
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(_FORMAT),
            paths=np.array(stored, dtype=str),
            embeddings=self.embeddings.astype(np.float32),
            embedder=np.array(self.embedder),
            **stamps,
        )
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Pool:
        """Read a pool file written by :meth:`save`.

        A reference whose content changed since (another size or sha256) is embedded again, for
        this pool object only (listed in :attr:`changed`, and a warning names it): build the
        pool again to save that.

        Raises:
            InputError: no such file, not a polychrome pool file, a reference gone, or a
                changed reference that is no longer a readable color image.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"pool {path}: no such file or folder")
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path} is not a polychrome pool file (.npz made by `pool build`)")
        try:
            with np.load(path, allow_pickle=False) as data:
                fields: dict[str, Any] = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{path} is not a polychrome pool file (.npz): {exc}") from None
        if str(fields.get("format", "")) != _FORMAT or not {
            "paths",
            "embeddings",
            "embedder",
        } <= set(fields):
            raise InputError(
                f"{path} is not a polychrome pool file (made by `polychrome pool build`)"
            )
        base = path.parent
        paths = tuple(base / p if not Path(p).is_absolute() else Path(p) for p in fields["paths"])
        gone = [p for p in paths if not p.is_file()]
        if gone:
            more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
            raise InputError(
                f"pool {path}: its reference {gone[0]}{more} is gone (moved or deleted; a pool "
                "keeps the references' paths, relative to the pool file when they lie beside "
                "or under it); build the pool again with `polychrome pool build`"
            )
        embeddings = fields["embeddings"].astype(np.float32)
        stamps: tuple[Stamp, ...] = ()
        if {"sizes", "mtimes", "sha256"} <= set(fields):
            stamps = tuple(
                (int(size), int(mtime), str(digest))
                for size, mtime, digest in zip(
                    fields["sizes"], fields["mtimes"], fields["sha256"], strict=False
                )
            )
        try:
            pool = cls(paths, embeddings, str(fields["embedder"]), stamps=stamps)
        except ShapeError as exc:
            raise InputError(f"{path} is a damaged pool file: {exc}") from None
        return pool._refreshed(path)

    def _refreshed(self, pool_file: Path) -> Pool:
        """This pool with the references whose content changed since their stamps embedded
        again (module docstring)."""
        changed = []
        stamps = list(self.stamps)
        for i, (ref, old) in enumerate(zip(self.paths, self.stamps, strict=False)):
            st = ref.stat()
            if (st.st_size, st.st_mtime_ns) == old[:2]:
                continue  # untouched: not read again
            now = (st.st_size, st.st_mtime_ns, file_sha256(ref))
            stamps[i] = now
            if now[2] != old[2]:
                changed.append(i)
        if not changed:
            return self
        embeddings = self.embeddings.copy()
        embedder = load_embedder(self.embedder)
        for i in changed:
            ref = self.paths[i]
            try:
                row = _embed_file(ref, embedder, DEFAULT_MAX_PIXELS)
            except InputError as exc:
                raise InputError(
                    f"pool {pool_file}: its reference {ref} changed since the pool was built and "
                    f"can no longer be read ({exc}); build the pool again with "
                    "`polychrome pool build`"
                ) from None
            if row is None:
                raise InputError(
                    f"pool {pool_file}: its reference {ref} changed since the pool was built and "
                    "is now gray; build the pool again with `polychrome pool build`"
                )
            embeddings[i] = row
        names = [self.paths[i].name for i in changed]
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        warnings.warn(
            f"pool {pool_file}: {len(changed)} reference{'s' * (len(changed) > 1)} changed since "
            f"the pool was built ({listed}); embedded again for this run. Build the pool again "
            "with `polychrome pool build` to save that",
            stacklevel=3,
        )
        return dataclasses.replace(
            self,
            embeddings=embeddings,
            stamps=tuple(stamps),
            changed=tuple(self.paths[i] for i in changed),
        )

    def retrieve(
        self, target_luminance: np.ndarray, k: int = 3, *, embedder: Embedder | None = None
    ) -> list[tuple[Path, float]]:
        """The references that look most like the target (RAP, module docstring).

        Args:
            target_luminance: ``(H, W)`` float L* in ``[0, 100]``.
            k: references kept per target patch (so at most ``4 k`` in all).
            embedder: the pool's embedder, if already loaded (default: :func:`load_embedder`).

        A long strip (a webtoon page, cut as :func:`~polychrome.reference.match.match_references`
        cuts it) is searched window by window, each as a target of its own, and the best
        ``4 k`` references over all windows are kept: the strip squeezed whole into
        ``_EMBED_PIXELS`` found the wrong pages.

        Returns:
            ``(path, score)`` pairs, best first; the score is a cosine similarity.
        """
        if k < 1:
            raise ValueCheckError(f"k must be at least 1, got {k}")
        lum = np.asarray(target_luminance)
        if lum.ndim != 2:
            raise ShapeError(f"target luminance must be (H, W), got {lum.shape}")
        if min(lum.shape) < 4:  # worded as match_references words its own minimum
            raise ShapeError(
                f"target is {lum.shape[1]}x{lum.shape[0]}; retrieving references needs at least "
                "4 pixels a side"
            )
        embedder = embedder or load_embedder(self.embedder)
        if embedder.name != self.embedder:
            raise ValueCheckError(
                f"this pool was built with the embedder {self.embedder!r}; it cannot be searched "
                f"with {embedder.name!r}"
            )
        best: dict[int, float] = {}
        for (y0, y1, x0, x1), _ in _windows(lum.shape):
            part = lum[y0:y1, x0:x1].astype(np.float32)
            part = resize(part, working_shape(part.shape, _EMBED_PIXELS), mode="area")
            queries = embedder.embed(rap_patches(part, whole=False))  # (4, D)
            if queries.shape[1] != self.embeddings.shape[2]:
                raise ValueCheckError(
                    f"the embedder gives {queries.shape[1]} dimensions, the pool holds "
                    f"{self.embeddings.shape[2]}"
                )
            per_ref = np.einsum("qd,nfd->qnf", queries, self.embeddings).max(axis=2)  # (4, n)
            for sims in per_ref:
                for j in np.argsort(-sims, kind="stable")[:k]:
                    best[int(j)] = max(best.get(int(j), -1.0), float(sims[j]))
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[: 4 * k]
        return [(self.paths[j], score) for j, score in ranked]


def _stamp(path: Path) -> Stamp:
    try:
        st = path.stat()
        return st.st_size, st.st_mtime_ns, file_sha256(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _embed_file(path: Path, embedder: Embedder, max_pixels: int) -> np.ndarray | None:
    """The ``(5, D)`` patch embeddings of the color image at ``path``; None when it is gray."""
    image = read_image(path, max_pixels=max_pixels)
    if image.is_gray or not is_color(image.pixels):
        return None
    lum = luminance_of(image.pixels)
    lum = resize(lum, working_shape(lum.shape, _EMBED_PIXELS), mode="area")
    return embedder.embed(rap_patches(lum, whole=True))


def _source_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if folder.is_dir():
            files = image_files(folder)
            if not files:
                nested = [d.name for d in sorted(folder.iterdir()) if d.is_dir() and image_files(d)]
                where = (
                    f"; its subfolders ({', '.join(nested[:3])}{', ...' * (len(nested) > 3)}) "
                    "are not read: build from one of them, or gather the images in one folder"
                    if nested
                    else ""
                )
                raise InputError(
                    f"{folder} holds no image ({', '.join(IMAGE_SUFFIXES)}) to make a pool of"
                    f"{where}"
                )
            return files
        if not folder.exists():
            raise InputError(f"{folder}: no such file or folder")
        return [folder]
    files = [Path(p) for p in source]
    if not files:
        raise InputError("no reference image given to make a pool of")
    return files
