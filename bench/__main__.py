"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench colour search`` (some).

``--quick`` runs smaller sizes for a fast sanity check (results are still recorded).
"""

from __future__ import annotations

import importlib
import sys

from bench.common import BENCH_DIR, write_result


USAGE = "usage: python -m bench [--quick] [NAME ...]"


def main(argv: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    if "-h" in argv or "--help" in argv:
        print(f"{USAGE}\n{__doc__.strip()}\navailable: {', '.join(available)}")
        return 0
    options = [a for a in argv if a.startswith("-")]
    if set(options) - {"--quick"}:  # a misspelt --quik must not start every benchmark at full size
        print(f"unknown option(s): {', '.join(sorted(set(options) - {'--quick'}))}; {USAGE}", file=sys.stderr)
        return 2
    quick = "--quick" in options
    names = [a for a in argv if not a.startswith("-")]
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in names or available:
        module = importlib.import_module(f"bench.bench_{name}")
        section = module.main(quick=quick)
        print(section)
        write_result(name, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
