"""Batches of images on a local process pool or on Ray, resumable after a crash or a kill.

Every result is written atomically (a temporary file renamed into place), so an output file is
either absent or complete. When an image is finished, one line is appended to the manifest
``OUT_DIR/.polychrome-batch.jsonl`` and the file is flushed and fsync'd; the line records what
was asked (a key over the input, the guidance and the options) and each output's size and
sha256. A rerun reads the manifest, verifies the outputs it lists (present, same size, same
hash), skips those and does the rest: nothing finished is redone, nothing half-written is kept.
An image that fails is reported at the end and gets no line, so the next run tries it again;
the images still failing after a run are listed in ``OUT_DIR/.polychrome-batch.failures.json``
(:data:`FAILURES_NAME`), each with its error and exit code, and the file is removed once none is.

The output folder may be the input folder (with another output format, so that no input is
written over). The batch's own outputs then lie beside its inputs: :func:`batch_inputs` leaves
out every file the manifest records as an output and every name the journal
``OUT_DIR/.polychrome-batch.journal`` claims (the outputs a run set out to write, written there
before any work starts: a run killed between writing an output and recording it leaves that file
unrecorded but claimed). A run that ends normally drops from the journal what is recorded or was
never written, and removes it when nothing is left.

Two backends run the jobs:

- a local :class:`~concurrent.futures.ProcessPoolExecutor` (``forkserver``, or ``spawn`` where
  there is no fork), fed chunks of jobs; each worker process is limited to one OpenCV,
  ONNX Runtime and OpenMP thread, so ``workers`` processes use ``workers`` cores;
- Ray Data (``ray.data.from_items(...).map_batches(...)``, extra ``[ray]``), on a local Ray or
  an existing cluster. Workers read inputs and write outputs by path: on a cluster, ``IN_DIR``
  and ``OUT_DIR`` must be on a file system every node sees at the same path.

Only the process that runs :func:`run_batch` writes the manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polychrome.apps.jobs import (
    ColorizeJob,
    describe_failure,
    guidance_notes,
    run_job,
    stop_reason,
)
from polychrome.errors import InputError, PolychromeError, ValueCheckError
from polychrome.options import ColorizeOptions

__all__ = [
    "FAILURES_NAME",
    "JOURNAL_NAME",
    "MANIFEST_NAME",
    "BatchSummary",
    "Manifest",
    "batch_inputs",
    "job_key",
    "limit_threads",
    "own_outputs",
    "run_batch",
    "usable_cores",
]

MANIFEST_NAME = ".polychrome-batch.jsonl"
"""The manifest's file name, in the output folder."""

JOURNAL_NAME = ".polychrome-batch.journal"
"""The journal's file name, in the output folder: the names of the outputs runs set out to write
and the manifest does not record yet, one JSON string a line."""

FAILURES_NAME = ".polychrome-batch.failures.json"
"""The file, in the output folder, that lists the images still failing after the latest run:
``{"failures": [{"source", "target", "error", "code", "kind"}, ...]}``, one entry per image,
``kind`` naming the exit code's class (:data:`FAILURE_KINDS`). Written atomically at the end of
a run that left failures, removed at the end of one that left none."""

FAILURE_KINDS = {
    2: "input",  # the file, its guidance or an option: fix it and rerun
    3: "environment",  # a missing extra or weights: install them and rerun
    1: "other",  # out of memory, a worker that died, a bug: rerun, or report it
}
"""The class of each exit code a failed image gets."""

_THREAD_VARIABLES = (
    "POLYCHROME_THREADS",  # read by the cnn engine for its ONNX Runtime session
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


@dataclass
class BatchSummary:
    """What a batch did. ``redone`` counts images the manifest listed whose outputs were missing
    or changed on disk (they are done again and counted in ``done`` too)."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    redone: int = 0
    failures: list[tuple[ColorizeJob, str]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[tuple[ColorizeJob, str]] = field(default_factory=list)
    """Parts of a description or label that colored nothing, per image."""
    failures_file: Path | None = None
    """The :data:`FAILURES_NAME` file this run wrote, or ``None`` (no failure left, or it
    could not be written)."""
    stopped: str = ""
    """Why the batch stopped early (:func:`polychrome.apps.jobs.stop_reason`: ``"full"``, the
    output disk is full; ``"not writable"``, the output folder refuses writes); the images not
    finished by then are neither done nor failed (a rerun does them). Empty when it did not."""


# --------------------------------------------------------------------------- manifest


class Manifest:
    """The append-only record of finished images in an output folder.

    One JSON object per line: ``target`` (the output's name in the folder), ``key`` (see
    :func:`job_key`), ``outputs`` (``name``, ``size``, ``sha256`` of each file written: one, or
    one per sample), ``source``, and the wall and CPU time its worker spent (``seconds``,
    ``cpu_seconds``). A later line for the same target replaces an
    earlier one. A line cut short by a kill is dropped when the manifest is opened.

    Beside it, the journal (:data:`JOURNAL_NAME`) claims the outputs a run is about to write
    (:meth:`claim`) until they are recorded (:meth:`settle`), so that with the input folder as
    output folder, :func:`batch_inputs` never takes one for an input.

    Opening takes an exclusive lock on the file (where the OS has ``fcntl``), so two batches
    cannot write into the same folder at once.
    """

    def __init__(
        self,
        path: Path,
        records: dict[str, dict[str, Any]],
        handle: Any,
        *,
        recorded: set[str] | None = None,
        claimed: set[str] | None = None,
    ):
        self.path = path
        self.records = records
        self.recorded = recorded if recorded is not None else _output_names(records.values())
        """The names of the outputs recorded in any line (earlier formats and options too)."""
        self.claimed = claimed or set()
        """The names the journal claims."""
        self._handle = handle

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Manifest:
        """Open (creating it and ``folder`` if needed) the manifest of ``folder``.

        Raises:
            InputError: the folder or the manifest cannot be written, or another batch holds it.
        """
        folder = Path(folder)
        path = folder / MANIFEST_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115 - held open (and locked) until close()
        except OSError as exc:
            raise InputError(f"cannot write the manifest {path}: {exc.strerror or exc}") from exc
        try:
            _lock(handle, path)
            handle.seek(0)
            data = handle.read()
            complete = data.rfind(b"\n") + 1
            if complete < len(data):  # a record cut short by a kill: drop it
                handle.truncate(complete)
                data = data[:complete]
            records, every = {}, []
            for line in data.splitlines():
                record = _parse_record(line)
                if record is not None:
                    records[record["target"]] = record
                    every.append(record)
            claimed = _read_journal(folder / JOURNAL_NAME)
        except BaseException:
            handle.close()
            raise
        return cls(path, records, handle, recorded=_output_names(every), claimed=claimed)

    def verified(self, target: str, key: str) -> bool | None:
        """Whether the outputs recorded for ``target`` under ``key`` are on disk as written:
        ``True`` (present, same size, same sha256), ``False`` (recorded but missing or changed),
        ``None`` (no record, or one made with other inputs or options)."""
        record = self.records.get(target)
        if record is None or record["key"] != key:
            return None
        for output in record["outputs"]:
            path = self.path.parent / output["name"]
            try:
                if path.stat().st_size != output["size"] or _sha256(path) != output["sha256"]:
                    return False
            except OSError:
                return False
        return True

    def append(self, record: dict[str, Any]) -> None:
        """Add one record and make it durable (flush and fsync) before returning."""
        line = json.dumps(record, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"
        try:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise InputError(
                f"cannot write the manifest {self.path}: {exc.strerror or exc}"
            ) from exc
        self.records[record["target"]] = record
        self.recorded.update(_output_names([record]))

    @property
    def journal(self) -> Path:
        return self.path.with_name(JOURNAL_NAME)

    def claim(self, names: set[str]) -> None:
        """Add ``names`` (outputs about to be written) to the journal, durably (flush and fsync)
        before returning."""
        new = sorted(set(names) - self.claimed)
        if not new:
            return
        lines = "".join(json.dumps(name, ensure_ascii=True) + "\n" for name in new)
        try:
            with open(self.journal, "ab") as handle:
                handle.write(lines.encode("ascii"))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise InputError(
                f"cannot write the journal {self.journal}: {exc.strerror or exc}"
            ) from exc
        self.claimed.update(new)

    def settle(self) -> None:
        """After a run that ended normally: stop claiming the names that are recorded or were
        never written (a job that failed first); remove the journal when no name is left.

        Not after an interrupted run, whose workers may still be writing."""
        folder = self.path.parent
        left = {n for n in self.claimed - self.recorded if (folder / n).exists()}
        if left == self.claimed and (left or not self.journal.exists()):
            return
        try:
            if left:
                temporary = self.journal.with_name(JOURNAL_NAME + ".tmp")
                text = "".join(json.dumps(n, ensure_ascii=True) + "\n" for n in sorted(left))
                with open(temporary, "wb") as handle:
                    handle.write(text.encode("ascii"))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.journal)
            else:
                self.journal.unlink(missing_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot write the journal {self.journal}: {exc.strerror or exc}"
            ) from exc
        self.claimed = left

    def close(self) -> None:
        self._handle.close()


def own_outputs(folder: str | os.PathLike[str]) -> set[str]:
    """The names of the files the batch writing into ``folder`` made or set out to make: every
    output in any line of its manifest and every name its journal claims. Read without the
    lock; empty where no batch wrote.

    Raises:
        InputError: the manifest or the journal exists and cannot be read.
    """
    folder = Path(folder)
    records = [_parse_record(line) for line in _complete_lines(folder / MANIFEST_NAME)]
    return _output_names(r for r in records if r is not None) | _read_journal(folder / JOURNAL_NAME)


def batch_inputs(
    in_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> tuple[list[Path], list[Path]]:
    """The images of ``in_dir`` (:func:`polychrome.formats.image_files`) that a batch into
    ``out_dir`` colorizes, and those it leaves out as its own outputs.

    Where ``out_dir`` is ``in_dir``, the outputs of earlier runs (:func:`own_outputs`) lie
    beside the inputs; they are left out, so that a rerun resumes instead of colorizing its own
    results or refusing them as inputs whose stems collide. Any other image is an input, even
    one named like an output (the caller must refuse to write over it). The folder is listed
    now, once: call this before anything is written into it.

    Raises:
        InputError: ``in_dir`` cannot be listed, or the manifest or journal cannot be read.
    """
    from polychrome.formats import image_files

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    try:
        files = image_files(in_dir)
    except OSError as exc:
        raise InputError(f"cannot list {in_dir}: {exc.strerror or exc}") from exc
    try:
        same = os.path.samefile(in_dir, out_dir)
    except OSError:  # no output folder yet
        same = False
    if not same:
        return files, []
    own = own_outputs(out_dir)
    return [p for p in files if p.name not in own], [p for p in files if p.name in own]


def _output_names(records: Any) -> set[str]:
    return {output["name"] for record in records for output in record["outputs"]}


def _complete_lines(path: Path) -> list[bytes]:
    """The lines of ``path`` up to its last newline (a line cut short by a kill is left out);
    none when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return data[: data.rfind(b"\n") + 1].splitlines()


def _read_journal(path: Path) -> set[str]:
    names = set()
    for line in _complete_lines(path):
        try:
            name = json.loads(line)
        except ValueError:
            continue
        if isinstance(name, str):
            names.add(name)
    return names


def _lock(handle: Any, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # no advisory locks here (Windows): one batch per folder is on the user
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InputError(
            f"another batch is writing into {path.parent} (its manifest {path.name} is locked)"
        ) from None


def _parse_record(line: bytes) -> dict[str, Any] | None:
    """A manifest line as a record, or None for a line that is not one."""
    try:
        record = json.loads(line)
        outputs = record["outputs"]
        ok = (
            isinstance(record["target"], str)
            and isinstance(record["key"], str)
            and isinstance(outputs, list)
            and bool(outputs)
            and all(
                isinstance(o["name"], str)
                and isinstance(o["size"], int)
                and isinstance(o["sha256"], str)
                for o in outputs
            )
        )
    except (ValueError, TypeError, KeyError):
        return None
    return record if ok else None


def _sha256(path: Path) -> str:
    from polychrome.io import file_sha256

    return file_sha256(path)


def job_key(
    job: ColorizeJob, *, options: ColorizeOptions, engine_options: dict[str, Any] | None = None
) -> str:
    """A hex digest of everything that decides a job's result: the input file (path, size,
    modification time), its guidance, the options and the engine options. A manifest record
    counts only for a rerun with the same key; change any of these and the image is redone."""
    try:
        stat = job.source.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
    except OSError:
        stamp = None  # the job reports the missing file when it runs
    guidance = {k: v for k, v in _job_to_dict(job).items() if k not in ("source", "target") and v}
    payload = {
        "source": os.path.abspath(job.source),
        "stamp": stamp,
        "guidance": guidance,
        "options": options.to_dict(),
        "engine_options": dict(sorted((engine_options or {}).items())),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- running


def run_batch(
    jobs: Sequence[ColorizeJob],
    *,
    out_dir: str | os.PathLike[str],
    options: ColorizeOptions,
    engine_options: dict[str, Any] | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    chunk: int = 0,
    progress: bool = False,
) -> BatchSummary:
    """Run ``jobs`` (their targets inside ``out_dir``) with the manifest of ``out_dir``.

    Args:
        jobs: one job per input; targets must be distinct files inside ``out_dir``.
        out_dir: the output folder; holds the manifest.
        options, engine_options: as for :func:`polychrome.apps.jobs.run_job`.
        workers: local worker processes (default: the usable cores); with Ray, the most tasks
            at once (default: as many as the cluster runs).
        ray_address: ``None`` for the local process pool; otherwise Ray: ``"local"`` starts Ray
            here (or joins the cluster that ``RAY_ADDRESS`` names), ``"auto"`` joins the cluster
            running on this machine, ``"ray://host:10001"`` a remote one. An already
            initialized Ray is used as it is.
        chunk: jobs per task (0: chosen from the number of jobs and workers).
        progress: show a progress bar on stderr (when it is a terminal).

    Returns:
        A :class:`BatchSummary`; failed images are listed there and left out of the manifest.

    Raises:
        InputError: the manifest cannot be written or is held by another batch.
        EngineUnavailableError: Ray is asked for and not installed.
    """
    from polychrome.apps.jobs import _Bar
    from polychrome.pipeline import sample_paths

    start = time.perf_counter()
    out_dir = Path(out_dir)
    if workers is not None and workers < 1:
        raise ValueCheckError(f"workers must be >= 1, got {workers}")
    if chunk < 0:
        raise ValueCheckError(f"chunk must be >= 0, got {chunk}")
    folder = out_dir.resolve()
    for job in jobs:
        if job.target.parent.resolve() != folder:
            raise ValueCheckError(f"{job.target} is not inside the output folder {out_dir}")
    summary = BatchSummary(total=len(jobs))
    manifest = Manifest.open(out_dir)
    try:
        pending, keys = [], {}
        for job in jobs:
            key = job_key(job, options=options, engine_options=engine_options)
            state = manifest.verified(job.target.name, key)
            if state:
                summary.skipped += 1
                continue
            summary.redone += state is False
            keys[str(job.target)] = (job, key)
            pending.append(job)
        outputs = {p.name for job in pending for p in sample_paths(job.target, options.samples)}
        manifest.claim(outputs)  # before any is written
        _remove_stale_temporaries(out_dir, outputs)
        bar = _Bar(len(pending)) if progress and pending and sys.stderr.isatty() else None

        def finished(result: dict[str, Any]) -> None:
            job, key = keys[result["target"]]
            if "error" in result:
                summary.failures.append((job, result["error"]))
                summary.codes.append(result["code"])
            else:
                summary.notes += [(job, note) for note in result.get("notes", ())]
                outputs = [
                    {**o, "name": os.path.relpath(o["name"], out_dir)} for o in result["outputs"]
                ]
                manifest.append(
                    {
                        "target": job.target.name,
                        "key": key,
                        "source": str(job.source),
                        "outputs": outputs,
                        "seconds": round(result["seconds"], 3),
                        "cpu_seconds": round(result["cpu_seconds"], 3),
                    }
                )
                summary.done += 1
            if bar:
                bar.describe(job.source.name)
                bar.advance()

        reported: set[str] = set()
        try:
            if pending:
                size = chunk or _auto_chunk(len(pending), workers or usable_cores())
                chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
                if ray_address is None:
                    run = _run_local(chunks, options, engine_options, workers or usable_cores())
                else:
                    run = _run_ray(chunks, options, engine_options, ray_address, workers)
                for result in run:
                    reported.add(result["target"])
                    finished(result)
                    if result.get("stop"):  # every later write would fail too
                        summary.stopped = result["stop"]
                        run.close()  # stops the workers
                        break
            if not summary.stopped:
                manifest.settle()
        finally:
            if bar:
                bar.stop()
            # Interrupted too: the failures seen so far are worth keeping.
            summary.failures_file = _record_failures(out_dir, summary, keys, reported)
    finally:
        manifest.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _record_failures(
    out_dir: Path,
    summary: BatchSummary,
    pending: dict[str, tuple[ColorizeJob, str]],
    reported: set[str],
) -> Path | None:
    """Write :data:`FAILURES_NAME`: this run's failures, and those an earlier run recorded for
    images this run set out to do but did not reach (stopped early or interrupted). Removed when
    none is left. Returns the file, or ``None`` when there is none or it cannot be written (the
    failures are reported on stderr all the same)."""
    from polychrome.io import atomic_write_text

    path = out_dir / FAILURES_NAME
    entries = [
        {
            "source": str(job.source),
            "target": job.target.name,
            "error": message,
            "code": code,
            "kind": FAILURE_KINDS.get(code, "other"),
        }
        for (job, message), code in zip(summary.failures, summary.codes, strict=True)
    ]
    not_reached = {
        job.target.name for target, (job, _) in pending.items() if target not in reported
    }
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        earlier = json.loads(path.read_text(encoding="utf-8"))["failures"]
        entries += [e for e in earlier if isinstance(e, dict) and e.get("target") in not_reached]
    try:
        if not entries:
            path.unlink(missing_ok=True)
            return None
        text = json.dumps({"failures": entries}, indent=1, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
    except (OSError, PolychromeError):
        return None
    return path


def _remove_stale_temporaries(folder: Path, names: set[str]) -> None:
    """Delete the temporary files a killed run left in ``folder`` beside the outputs ``names``:
    ``.NAME.*.tmp`` (see ``io._write_atomic``). The folder is listed once, not once per name."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(".") and entry.endswith(".tmp")):
            continue
        middle = entry[1:-4]  # NAME.*
        if any(middle[:i] in names for i, c in enumerate(middle) if c == "."):
            with contextlib.suppress(OSError):
                os.unlink(folder / entry)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _auto_chunk(jobs: int, workers: int) -> int:
    """Jobs per task: a few to save round trips, small enough that the last tasks balance and
    that a kill loses little."""
    return max(1, min(4, jobs // (workers * 8)))


def limit_threads(threads: int = 1) -> None:
    """Limit this process to ``threads`` threads in OpenCV, ONNX Runtime (the cnn engine reads
    ``POLYCHROME_THREADS`` when it creates its session) and OpenMP/BLAS libraries loaded later.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _run_chunk(
    jobs: Sequence[ColorizeJob], options: ColorizeOptions, engine_options: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Run jobs in a worker; returns one result per job (outputs, or the error and its code)."""
    return [_run_one(job, options, engine_options) for job in jobs]


def _run_one(
    job: ColorizeJob, options: ColorizeOptions, engine_options: dict[str, Any] | None
) -> dict[str, Any]:
    from polychrome.pipeline import sample_paths

    start, cpu = time.perf_counter(), time.process_time()
    try:
        metadata = run_job(job, options=options, engine_options=engine_options)
        outputs = [_durable_output(path) for path in sample_paths(job.target, options.samples)]
    except Exception as exc:  # reported per image; the batch goes on
        message, code = describe_failure(exc)
        result = {"target": str(job.target), "error": message, "code": code}
        stop = stop_reason(exc)
        return {**result, "stop": stop} if stop else result
    return {
        "target": str(job.target),
        "outputs": outputs,
        "notes": guidance_notes(metadata),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }


def _durable_output(path: Path) -> dict[str, Any]:
    """fsync a written output (and its folder) and describe it for the manifest."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # folders cannot be opened on every OS
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return {"name": str(path), "size": path.stat().st_size, "sha256": _sha256(path)}


# --------------------------------------------------------------------------- local pool


def _run_local(
    chunks: list[list[ColorizeJob]],
    options: ColorizeOptions,
    engine_options: dict[str, Any] | None,
    workers: int,
) -> Iterator[dict[str, Any]]:
    """Results as chunks finish on a pool of ``workers`` single-threaded processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    finished = False
    try:
        running = {pool.submit(_run_chunk, c, options, engine_options): c for c in chunks}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = running.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    message = "a worker process died (out of memory?); rerun to retry"
                    results = [
                        {"target": str(j.target), "error": message, "code": 1} for j in chunk
                    ]
                yield from results
        finished = True
    finally:
        if not finished:  # interrupted (Ctrl-C, SIGTERM) or failed: stop the workers now
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(batch_pid: int) -> None:
    """A local worker: one thread, and a watch on the batch process: when that is gone (killed
    outright, SIGKILL), the worker ends within a second instead of finishing its images and
    waiting for work forever."""
    limit_threads(1)
    import threading

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not _running(batch_pid):
                os._exit(1)

    threading.Thread(target=watch, name="watch-batch", daemon=True).start()


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended. A process killed outright stays a
    zombie until its parent reaps it, which may wait: ``$(polychrome batch ...)`` in a shell, or
    ``Popen.communicate()``, first read its output to the end, which the workers hold open."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's (reused pid): assume alive
        return True
    try:  # Linux: the state follows the name, which is in parentheses
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


# --------------------------------------------------------------------------- Ray


def _run_ray(
    chunks: list[list[ColorizeJob]],
    options: ColorizeOptions,
    engine_options: dict[str, Any] | None,
    address: str,
    workers: int | None,
) -> Iterator[dict[str, Any]]:
    """Results as Ray Data finishes blocks: one block per chunk, one task per block."""
    from polychrome.engines.base import require_modules

    require_modules(("ray",), extra="ray", what="batch --ray")
    import ray

    started = False
    if not ray.is_initialized():
        # Ray's own notices on the driver (token authentication, usage stats) are not ours to
        # print; its errors still are, and workers' output stays in Ray's log files.
        settings: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if address == "local":  # may start a Ray here: without its dashboard
            settings["include_dashboard"] = False
        try:
            ray.init(address=None if address == "local" else address, **settings)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InputError(f"cannot start or reach Ray at {address!r}: {exc}") from exc
        started = True
    reported: set[str] = set()
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours is on the driver
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # ... and it says so each run, as a warning: the bars are off on purpose.
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        items = [{"job": json.dumps(_job_to_dict(j))} for c in chunks for j in c]
        dataset = ray.data.from_items(items, override_num_blocks=len(chunks))
        dataset = dataset.map_batches(
            _ray_colorize,
            batch_size=max(len(c) for c in chunks),
            batch_format="numpy",
            fn_kwargs={"options": options.to_dict(), "engine_options": engine_options or {}},
            num_cpus=1,
            compute=ray.data.TaskPoolStrategy(size=workers),
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for text in batch["result"]:
                result = json.loads(text)
                reported.add(result["target"])
                yield result
    except PolychromeError:
        raise
    except Exception as exc:  # a task or the cluster failed: what was done stays done
        message = f"Ray failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        for job in (j for c in chunks for j in c if str(j.target) not in reported):
            yield {"target": str(job.target), "error": message, "code": 1}
    finally:
        if started:
            ray.shutdown()


def _ray_colorize(
    batch: dict[str, Any], *, options: dict[str, Any], engine_options: dict[str, Any]
) -> dict[str, Any]:
    """The ``map_batches`` function: colorize a batch of jobs, return their results as JSON."""
    import numpy as np

    limit_threads(1)
    settings = ColorizeOptions(**options)
    jobs = [_job_from_dict(json.loads(text)) for text in batch["job"]]
    results = _run_chunk(jobs, settings, engine_options or None)
    return {"result": np.array([json.dumps(r) for r in results], dtype=object)}


def _job_to_dict(job: ColorizeJob) -> dict[str, Any]:
    """A JSON-ready form of a job (paths as strings, tuples as lists)."""
    out = {}
    for f in dataclasses.fields(job):
        value = getattr(job, f.name)
        out[f.name] = json.loads(json.dumps(value, default=str))
    return out


def _job_from_dict(data: dict[str, Any]) -> ColorizeJob:
    """The job :func:`_job_to_dict` described."""

    def frozen(value: Any) -> Any:
        return tuple(frozen(v) for v in value) if isinstance(value, list) else value

    values = {name: frozen(value) for name, value in data.items()}
    for name in ("source", "target", "hints"):
        if values.get(name):
            values[name] = Path(values[name])
    return ColorizeJob(**values)
