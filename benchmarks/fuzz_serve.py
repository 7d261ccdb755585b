"""Fuzz ``POST /v1/colorize`` with malformed images, masks and form fields: 10,000 cases.

The cases are the hypothesis strategies of tests/serve_fuzz.py (the test suite runs a few hundred
of them); here they run generate-only (no shrinking) against the app in-process (FastAPI's
TestClient), and every answer is recorded instead of stopping at the first surprise. Prints the
answers by status and by error type, the slowest case, and every case that was answered with a
status other than 200, 413 or 422 (a 500 is a bug; 429 or 503 would mean a hang or overload).

Usage: python benchmarks/fuzz_serve.py [--cases 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/click.py would shadow the `click` package that httpx imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from hypothesis import HealthCheck, Phase, given, seed, settings

    import serve_fuzz
    from polychrome.apps.serve import ServeSettings, create_app

    statuses: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    surprises: list[str] = []
    slowest = (0.0, "")
    app = create_app(ServeSettings(max_jobs=2, max_waiting=8, timeout=60))
    started = time.perf_counter()

    with TestClient(app, raise_server_exceptions=False) as client:

        @seed(args.seed)
        @settings(
            max_examples=args.cases,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=serve_fuzz.cases())
        def one(case) -> None:
            nonlocal slowest
            began = time.perf_counter()
            response = serve_fuzz.post(client, case)
            took = time.perf_counter() - began
            statuses[response.status_code] += 1
            summary = [(name, filename, len(data)) for name, (filename, data) in case.parts]
            if took > slowest[0]:
                slowest = (took, f"{response.status_code} {summary}")
            if response.status_code != 200:
                try:
                    errors[response.json().get("error", "?")] += 1
                except ValueError:
                    errors["(not JSON)"] += 1
            try:
                serve_fuzz.check(response)
            except AssertionError as exc:
                surprises.append(f"{exc} for {summary or case.content_type}")
            done = sum(statuses.values())
            if done % 1000 == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  {done} cases, {rate:.1f}/s, {dict(statuses)}", file=sys.stderr)

        one()

    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    print(f"{total} cases in {elapsed:.0f} s ({total / elapsed:.1f}/s)")
    print("answers by status:", dict(sorted(statuses.items())))
    print("refusals by error:", dict(errors.most_common()))
    print(f"slowest case: {slowest[0]:.2f} s ({slowest[1][:300]})")
    print(f"unexpected answers (500, 429, 503, malformed): {len(surprises)}")
    for line in surprises[:20]:
        print("  ", line[:500])
    sys.exit(1 if surprises else 0)


if __name__ == "__main__":
    main()
