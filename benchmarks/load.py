"""Load test of `polychrome serve`: N concurrent clients on loopback for a bounded time.

Starts the service in a subprocess (``polychrome serve`` on a free port), sends one warm-up request,
then runs ``--clients`` threads that each post the same grayscale image (the bundled sample resized
to ``--megapixels``) to ``POST /v1/colorize`` back to back until ``--duration`` seconds have passed
(requests already sent are waited for). Prints requests per second, p50/p95 latency, answers by
status, and the server's resident memory (Linux /proc): before the warm-up, at the start of the
load (after the warm-up), at the end, the process's peak (VmHWM), and sampled every 0.25 s during
the load.

Targets (issue 7): 20 clients for 60 s of 1 MP requests, no 5xx, memory flat within 20%. "Flat" is
judged on the samples: the highest RSS in the last quarter of the load against the highest in the
first quarter (a leak grows; a steady service stays level). The end against the start is printed
beside it.

Usage: python benchmarks/load.py [--clients 20] [--duration 60] [--megapixels 1.0]
       [--engine ENGINE] [--max-jobs N] [--timeout S] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# benchmarks/click.py would shadow the `click` package that httpx imports: leave this folder out
# of the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB (Linux /proc)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def _image(megapixels: float) -> bytes:
    import cv2

    from polychrome import sample_path
    from polychrome.io import encode_image, read_image

    gray = read_image(sample_path("coffee-gray.png")).pixels
    h, w = gray.shape
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    size = (round(w * scale), round(h * scale))
    return encode_image(cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC))


def _start_server(port: int, env: dict[str, str]) -> subprocess.Popen:
    script = Path(sys.executable).parent / "polychrome"
    command = [str(script)] if script.is_file() else [sys.executable, "-c", _MAIN]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


_MAIN = "import sys; from polychrome.apps.cli import main; sys.argv[0] = 'polychrome'; main()"


def _wait_ready(url: str, server: subprocess.Popen, limit: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer /healthz in time")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def run(args: argparse.Namespace) -> dict:
    import httpx

    image = _image(args.megapixels)
    data = {"engine": args.engine} if args.engine else {}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "POLYCHROME_SERVE_TIMEOUT": str(args.timeout)}
    if args.max_jobs:
        env["POLYCHROME_SERVE_MAX_JOBS"] = str(args.max_jobs)
    server = _start_server(port, env)
    try:
        _wait_ready(url, server)
        memory = {"before_warmup_kb": _memory_kb(server.pid)["VmRSS"]}
        files = {"image": ("load.png", image, "image/png")}
        warm = httpx.post(f"{url}/v1/colorize", files=files, data=data, timeout=args.timeout + 30)
        if warm.status_code != 200:
            raise SystemExit(f"warm-up request failed: {warm.status_code} {warm.text[:300]}")
        memory["start_kb"] = _memory_kb(server.pid)["VmRSS"]

        results: list[tuple[int, float]] = []
        lock = threading.Lock()
        samples: list[tuple[float, int]] = []  # (seconds into the load, RSS kB)
        stop = threading.Event()
        deadline = time.monotonic() + args.duration

        def client() -> None:
            with httpx.Client(timeout=args.timeout + 30) as http:
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    try:
                        response = http.post(f"{url}/v1/colorize", files=files, data=data)
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status = f"transport error: {type(exc).__name__}"
                    with lock:
                        results.append((status, time.perf_counter() - began))

        def sampler() -> None:
            while not stop.wait(0.25):
                try:
                    samples.append((time.perf_counter() - began, _memory_kb(server.pid)["VmRSS"]))
                except OSError:
                    return

        began = time.perf_counter()
        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        stop.set()
        watcher.join()
        final = _memory_kb(server.pid)
        memory["end_kb"] = final["VmRSS"]
        memory["peak_kb"] = final["VmHWM"]
        memory["peak_during_load_sampled_kb"] = max((m for _, m in samples), default=0)
        quarter = elapsed / 4
        memory["first_quarter_max_kb"] = max((m for t, m in samples if t <= quarter), default=0)
        memory["last_quarter_max_kb"] = max(
            (m for t, m in samples if t >= elapsed - quarter), default=0
        )
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()

    by_status = collections.Counter(str(s) for s, _ in results)
    ok = [t for s, t in results if s == 200]
    every = [t for _, t in results]
    server_errors = sum(n for s, n in by_status.items() if s.startswith("5"))
    growth = memory["end_kb"] / memory["start_kb"] - 1
    trend = memory["last_quarter_max_kb"] / max(memory["first_quarter_max_kb"], 1) - 1
    return {
        "clients": args.clients,
        "duration_s": args.duration,
        "elapsed_s": round(elapsed, 1),
        "image_bytes": len(image),
        "megapixels": args.megapixels,
        "engine": args.engine or "(schema default)",
        "requests": len(results),
        "ok": len(ok),
        "requests_per_s": round(len(results) / elapsed, 3),
        "ok_per_s": round(len(ok) / elapsed, 3),
        "latency_ok_s": {"p50": _percentile(ok, 50), "p95": _percentile(ok, 95)},
        "latency_all_s": {"p50": _percentile(every, 50), "p95": _percentile(every, 95)},
        "by_status": dict(sorted(by_status.items())),
        "memory": memory,
        "memory_end_vs_start": round(growth, 4),
        "memory_last_vs_first_quarter": round(trend, 4),
        "targets": {
            "no_5xx": server_errors == 0 and not any("transport" in s for s in by_status),
            "memory_flat_20pct": abs(trend) <= 0.2,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--engine", default="", help="engine to ask for (default: the schema's)")
    parser.add_argument("--max-jobs", type=int, default=0, help="the server's max jobs")
    parser.add_argument("--timeout", type=float, default=120.0, help="the server's timeout")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = run(args)
    mb = {k: round(v / 1024, 1) for k, v in report["memory"].items()}
    print(
        f"{report['clients']} clients, {report['elapsed_s']} s, {report['megapixels']} MP "
        f"({report['image_bytes']:,} bytes), engine {report['engine']}"
    )
    print(
        f"requests: {report['requests']} ({report['requests_per_s']}/s), "
        f"ok: {report['ok']} ({report['ok_per_s']}/s)"
    )
    lat, every = report["latency_ok_s"], report["latency_all_s"]
    print(
        f"latency of ok answers: p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s; "
        f"all answers: p50 {every['p50']:.2f} s, p95 {every['p95']:.2f} s"
    )
    print(f"answers by status: {report['by_status']}")
    print(
        f"server RSS (MB): before warm-up {mb['before_warmup_kb']}, start {mb['start_kb']}, "
        f"end {mb['end_kb']}, peak during load {mb['peak_during_load_sampled_kb']}, "
        f"peak of the process {mb['peak_kb']}"
    )
    print(
        f"RSS max in the first quarter {mb['first_quarter_max_kb']} MB, in the last quarter "
        f"{mb['last_quarter_max_kb']} MB ({report['memory_last_vs_first_quarter']:+.1%}); "
        f"end vs start {report['memory_end_vs_start']:+.1%}"
    )
    print(f"targets: {report['targets']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
