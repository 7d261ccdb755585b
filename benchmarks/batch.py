"""`polychrome batch`: 1 worker against 2, and a SIGKILL halfway followed by a rerun.

Generates ``--images`` gray images of 640x480 (random crops of scikit-image's bundled photos,
rescaled, with a little noise; no research data), then runs the real command in subprocesses:

1. ``--workers 1`` and ``--workers 2`` into two folders: wall time of each (the command from
   start to exit, pool start-up included), the speed-up, and whether both wrote the same pixels;
   the workers' CPU seconds (recorded per image in the manifest) over wall time say how many
   cores the run really had: on a machine shared with other work, fewer than it asked for.
2. ``--workers 2`` into a third folder, SIGKILLed (the command and its workers, as an OOM killer
   or a lost node would) once the manifest lists half the images; then the same command again.
   Counted after the rerun: outputs present, missing, duplicated in the manifest, truncated or
   different from what the manifest records, stray temporary files, and images done twice.

Usage: python benchmarks/batch.py [--images 200] [--engine cnn] [--keep DIR] [--no-kill]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polychrome.apps.batch import MANIFEST_NAME as MANIFEST
from polychrome.apps.batch import usable_cores

SIZE = (480, 640)  # height, width


def make_inputs(folder: Path, count: int, seed: int = 0) -> None:
    """``count`` gray 640x480 PNGs: crops of bundled photos at random scales, plus noise."""
    import cv2
    import numpy as np
    from skimage import data

    from polychrome.io import write_image

    sources = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field"):
        try:
            image = getattr(data, name)()
        except Exception:  # not bundled with this scikit-image: use the others
            continue
        if image.ndim == 3:
            image = (image[..., :3] @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        sources.append(image)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = SIZE
    for k in range(count):
        image = sources[k % len(sources)]
        scale = max(h / image.shape[0], w / image.shape[1]) * rng.uniform(1.0, 1.8)
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        y = rng.integers(0, big.shape[0] - h + 1)
        x = rng.integers(0, big.shape[1] - w + 1)
        crop = big[y : y + h, x : x + w].astype(np.float32)
        crop += rng.normal(0, 3, crop.shape)
        write_image(folder / f"img{k:04d}.png", np.clip(crop, 0, 255).astype(np.uint8))


def command(inputs: Path, out: Path, workers: int, engine: str) -> list[str]:
    script = Path(sys.executable).parent / "polychrome"
    flags = ["--workers", str(workers), "--engine", engine, "--quiet"]
    return [str(script), "batch", str(inputs), "-o", str(out), *flags]


def timed_run(cmd: list[str]) -> float:
    """Wall time of a command that must succeed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines() if line]


def same_pixels(a: Path, b: Path, names: list[str]) -> bool:
    import numpy as np

    from polychrome.io import read_image

    return all(np.array_equal(read_image(a / n).pixels, read_image(b / n).pixels) for n in names)


def check(out: Path, names: list[str]) -> dict[str, int]:
    """Counts of what a finished batch folder holds, against what it should."""
    from polychrome.errors import PolychromeError
    from polychrome.io import read_image

    lines = records(out)
    latest = {r["target"]: r for r in lines}
    files = {p.name for p in out.iterdir() if p.name != MANIFEST}
    truncated = mismatched = 0
    for name in names:
        path = out / name
        if not path.exists():
            continue
        try:
            read_image(path)
        except PolychromeError:
            truncated += 1
        data = path.read_bytes()
        recorded = latest.get(name, {}).get("outputs", [{}])[0]
        if (
            recorded.get("size") != len(data)
            or recorded.get("sha256") != hashlib.sha256(data).hexdigest()
        ):
            mismatched += 1
    return {
        "expected": len(names),
        "present": len(files & set(names)),
        "missing": len(set(names) - files),
        "other files (temporaries)": len(files - set(names)),
        "manifest records": len(lines),
        "images recorded twice": len(lines) - len(latest),
        "truncated (does not decode)": truncated,
        "differs from its manifest record": mismatched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--engine", default="cnn")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    parser.add_argument("--no-kill", action="store_true", help="Only the 1 vs 2 workers part.")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="polychrome-batch-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        inputs = root / "in"
        if not inputs.is_dir() or len(list(inputs.glob("*.png"))) != args.images:
            shutil.rmtree(inputs, ignore_errors=True)
            make_inputs(inputs, args.images)
        names = sorted(p.name for p in inputs.glob("*.png"))
        cores = usable_cores()
        print(f"{len(names)} images 640x480, engine {args.engine}, {cores} usable cores")
        print(f"load average at start: {os.getloadavg()[0]:.2f}")

        # 1. one worker against two
        seconds = {}
        for workers in (1, 2):
            out = root / f"out-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[workers] = timed_run(command(inputs, out, workers, args.engine))
            done = records(out)
            per = [r["seconds"] for r in done]
            cpu = sum(r["cpu_seconds"] for r in done)  # the workers' own CPU time
            print(
                f"--workers {workers}: {seconds[workers]:.1f} s wall, "
                f"{len(names) / seconds[workers]:.2f} img/s, {cpu:.1f} s CPU "
                f"({cpu / seconds[workers]:.2f} cores busy on average; "
                f"per image in its worker: mean {sum(per) / len(per):.2f} s)"
            )
        print(f"speed-up of 2 workers over 1: {seconds[1] / seconds[2]:.2f}x (target >= 1.7x)")
        identical = same_pixels(root / "out-1", root / "out-2", names)
        print(f"1 and 2 workers wrote the same pixels: {identical}")

        if args.no_kill:
            return
        # 2. SIGKILL halfway, rerun
        out = root / "out-kill"
        shutil.rmtree(out, ignore_errors=True)
        cmd = command(inputs, out, 2, args.engine)
        process = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
        manifest = out / MANIFEST
        while process.poll() is None:
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= len(names) // 2:
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        before = manifest.read_bytes()
        finished = before.count(b"\n")
        on_disk = len(set(names) & {p.name for p in out.iterdir()})
        temporaries = sum(1 for p in out.iterdir() if p.name.endswith(".tmp"))
        print(
            f"killed (SIGKILL to the command and its workers, exit {process.returncode}): "
            f"{finished} images in the manifest, {on_disk} outputs on disk, "
            f"{temporaries} temporary files left"
        )
        rerun = timed_run(cmd)
        counts = check(out, names)
        redone = len(records(out)) - finished
        print(f"rerun: {rerun:.1f} s, did {redone} images (expected {len(names) - finished})")
        for key, value in counts.items():
            print(f"  {key}: {value}")
        identical = same_pixels(root / "out-2", out, names)
        print(f"  same pixels as the uninterrupted run: {identical}")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
