"""End-to-end speed and peak memory of `colorize` with 1000 hint points, at 1 MP and 12 MP.

For each size, the fast path (working-resolution solve + luminance-guided upsampling) runs beside
the exact path (sparse direct solve at full resolution), each in a fresh process so that peak
memory is its own. "end to end" is reading the input PNG and hint image, colorizing, and writing
the output PNG; "command" adds the interpreter's start-up and imports. The exact path runs under a
time limit and a memory cap so that a size it cannot handle is reported, not suffered.

Inputs are the bundled CC0 sample photo, resized.

With ``--engines none,cnn`` the fast path also runs with the ``cnn`` engine's automatic colors,
with the hints fused with them and alone ("auto", no hints); the network's own inference time at
256 and 512 pixels is printed too.

Usage: python benchmarks/speed.py [--sizes 1,12] [--engines none,cnn] [--exact-timeout 300]
       [--exact-memory-gb 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {1: (1155, 866), 12: (4000, 3000)}
POINTS = 1000


def make_inputs(folder: Path, mp: int) -> tuple[Path, Path, Path]:
    import cv2
    import numpy as np

    from polychrome import sample_path
    from polychrome.io import read_image, write_image

    w, h = SIZES[mp]
    original = cv2.resize(read_image(sample_path("coffee.png")).pixels, (w, h), cv2.INTER_CUBIC)
    gray = cv2.resize(read_image(sample_path("coffee-gray.png")).pixels, (w, h), cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    flat = rng.choice(w * h, POINTS, replace=False)
    ys, xs = flat // w, flat % w
    hints = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    hints[ys, xs] = original[ys, xs]
    alpha[ys, xs] = 255
    paths = (folder / f"gray-{mp}mp.png", folder / f"hints-{mp}mp.png", folder / f"gt-{mp}mp.png")
    write_image(paths[0], gray)
    write_image(paths[1], hints, alpha=alpha)
    write_image(paths[2], original)
    return paths


def run_one(gray: str, hints: str, out: str, method: str, engine: str = "none") -> None:
    """Child process: time read -> colorize -> write, print JSON."""
    start = time.perf_counter()
    import polychrome.pipeline  # noqa: F401  (imports are start-up, counted in "command")
    from polychrome.apps.jobs import ColorizeJob, run_job
    from polychrome.options import ColorizeOptions

    imported = time.perf_counter()
    engine, _, mode = engine.partition(":")  # "cnn:auto": automatic colors, no hints
    meta = run_job(
        ColorizeJob(
            source=Path(gray), target=Path(out), hints=None if mode == "auto" else Path(hints)
        ),
        options=ColorizeOptions(method=method, engine=engine),
    )
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "end_to_end_s": done - imported,
                "import_s": imported - start,
                "peak_rss_mb": peak,
                "timings": meta["timings"],
                "path": meta["path"],
            }
        )
    )


def measure(
    paths, out: Path, method: str, timeout: float, memory_gb: float, engine: str = "none"
) -> dict:
    gray, hints, _ = paths

    def limit() -> None:  # runs in the child
        cap = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    cmd = [sys.executable, __file__, "--one", str(gray), str(hints), str(out), method, engine]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=limit, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        if "MemoryError" in proc.stderr or "memory" in tail.lower():
            return {"error": f"out of memory under a {memory_gb:g} GB cap"}
        return {"error": tail[:80]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["command_s"] = wall
    return result


def psnr(a: Path, b: Path) -> float:
    import numpy as np

    from polychrome.io import read_image
    from polychrome.ops.metrics import psnr as _psnr

    return float(_psnr(read_image(a).pixels, read_image(b).pixels, data_range=255) or np.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,12", help="megapixel sizes among 1,12")
    parser.add_argument("--exact-timeout", type=float, default=300.0)
    parser.add_argument("--exact-memory-gb", type=float, default=16.0)
    parser.add_argument("--engines", default="none", help="engines for the fast path: none,cnn")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(*args.one)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for mp in (int(s) for s in args.sizes.split(",")):
            paths = make_inputs(folder, mp)
            engines = args.engines.split(",")
            runs = [("fast", e) for e in engines]
            runs += [("fast", f"{e}:auto") for e in engines if e != "none"]
            runs.append(("exact", "none"))
            for method, engine in runs:
                out = folder / f"out-{mp}mp-{method}-{engine}.png"
                timeout = args.exact_timeout if method == "exact" else 600.0
                r = measure(paths, out, method, timeout, args.exact_memory_gb, engine)
                r["psnr_vs_original"] = psnr(out, paths[2]) if "error" not in r else None
                label = method if engine == "none" else f"{method}+{engine.replace(':', ' ')}"
                rows.append((mp, label, r))
                print(f"  {mp} MP {label}: {r.get('error') or 'ok'}", file=sys.stderr)
    print(f"\n1000 hint points; {time.strftime('%Y-%m-%d')}; python {sys.version.split()[0]}")
    head = (
        f"{'size':>6} {'path':>10} {'end-to-end s':>13} {'command s':>10} "
        f"{'peak RSS MB':>12} {'PSNR dB':>8}"
    )
    print(head)
    print("-" * len(head))
    for mp, method, r in rows:
        if "error" in r:
            print(f"{mp:>4}MP {method:>10} {r['error']}")
            continue
        print(
            f"{mp:>4}MP {method:>10} {r['end_to_end_s']:>13.2f} {r['command_s']:>10.2f} "
            f"{r['peak_rss_mb']:>12.0f} {r['psnr_vs_original']:>8.2f}"
        )
    for mp in sorted({mp for mp, _, _ in rows}):
        fast = next(r for m, meth, r in rows if m == mp and meth == "fast")
        exact = next(r for m, meth, r in rows if m == mp and meth == "exact")
        if "error" not in fast and "error" not in exact:
            print(
                f"{mp} MP: fast path is {exact['end_to_end_s'] / fast['end_to_end_s']:.1f}x faster "
                f"than the exact solve, with {exact['peak_rss_mb'] / fast['peak_rss_mb']:.1f}x "
                "less peak memory"
            )
    print("\nstep timings of the fast path (s):")
    for mp, method, r in rows:
        if method.startswith("fast") and "timings" in r:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
            print(f"  {mp} MP {method}: {steps}")
    if "cnn" in args.engines.split(","):
        network_timings()


def network_timings() -> None:
    """The cnn engine's network alone (ONNX Runtime, best of 5) and its whole proposal."""
    import numpy as np

    from polychrome.engines.base import load_engine
    from polychrome.engines.cnn import WEIGHTS, CnnOptions, _session, reads_hints

    print(f"\ncnn network ({WEIGHTS.stat().st_size / 1e6:.1f} MB ONNX), best of 5:")
    session = _session(str(WEIGHTS))
    engine = load_engine("cnn")
    for side in (256, 512):
        lum = np.random.default_rng(0).uniform(0, 100, (1, 1, side, side)).astype(np.float32)
        feed = {"luminance": lum}
        if reads_hints(str(WEIGHTS)):  # a hint network: none given
            feed["hints"] = np.zeros((1, 3, side, side), np.float32)
        session.run(None, feed)
        net = min(_timed(session.run, None, feed) for _ in range(5))
        kwargs = {"options": CnnOptions(net_side=side), "seed": 0}
        prop = min(_timed(engine.propose, lum[0, 0], **kwargs) for _ in range(5))
        print(f"  {side} x {side}: network {net:.3f} s, whole proposal {prop:.3f} s")


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
