"""``make demo``: the whole main job on the built-in sample, through the real CLIs.

generate the sample if needed → ``python train.py`` with a time budget (default 6 minutes of
training: it measures this machine's speed on its first batches and sizes the epochs to fit;
skipped when a finished run exists, resumed with its chosen epochs when an interrupted one does)
→ ``python recommend.py <a test photo> --sheet ...``. Ends with the wall time and the measured
training speed, so that the time can be compared across machines.

    python -m fashion.cli.demo [--minutes 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fashion.config import load_config

DEMO_TRAIN_MINUTES = 6.0


def _run(args: list[str]) -> None:
    print(f"\n$ python {' '.join(args)}", flush=True)
    completed = subprocess.run([sys.executable, *args])
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def _measured_speed(run_dir: Path) -> float | None:
    """The training speed the run measured for its budget (None for a run without one)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        return float(metrics["time_budget"]["images_per_second"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv: list[str] | None = None) -> None:
    """Train (or reuse) the sample model within the budget, then recommend for one sample photo."""
    parser = argparse.ArgumentParser(prog="python -m fashion.cli.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=DEMO_TRAIN_MINUTES,
                        help=f"minutes of training (default {DEMO_TRAIN_MINUTES:g}); the epochs are sized to fit")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = load_config()
    run_dir = Path(config.train.run_dir) / config.train.run_name
    if (run_dir / "metrics.json").is_file() and (run_dir / "best.pt").is_file():
        print(f"using the trained model in {run_dir} (delete it or run `python train.py --overwrite` to retrain)")
    elif (run_dir / "last.pt").is_file():
        _run(["train.py", "--resume"])
    else:
        _run(["train.py", "--set", f"train.time_budget_min={args.minutes:g}"])
    from fashion.data.load import load_training_data

    data = load_training_data(config)
    test = data.frame[data.frame["split"] == "test"]
    query = test["path"].iloc[0]
    sheet = run_dir / "demo_sheet.png"
    # The query photo is itself in the catalog (the test split); leave it out so the table shows
    # other photos: the same item's other views should come first.
    _run(["recommend.py", str(query), "--exclude-query", "--sheet", str(sheet)])
    speed = _measured_speed(run_dir)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min"
          + (f" (training measured {speed:.1f} images/s)" if speed else ""))


if __name__ == "__main__":
    main()
