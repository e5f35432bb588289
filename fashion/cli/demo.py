"""``make demo``: the whole main job on the built-in sample, through the real CLIs.

generate the sample if needed → ``python train.py`` (skipped when a finished run exists, resumed
when an interrupted one does) → ``python recommend.py <a test photo> --sheet ...``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fashion.config import load_config


def _run(args: list[str]) -> None:
    print(f"\n$ python {' '.join(args)}", flush=True)
    completed = subprocess.run([sys.executable, *args])
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def main() -> None:
    """Train (or reuse) the sample model, then recommend for one sample photo."""
    config = load_config()
    run_dir = Path(config.train.run_dir) / config.train.run_name
    if (run_dir / "metrics.json").is_file() and (run_dir / "best.pt").is_file():
        print(f"using the trained model in {run_dir} (delete it or run `python train.py --overwrite` to retrain)")
    elif (run_dir / "last.pt").is_file():
        _run(["train.py", "--resume"])
    else:
        _run(["train.py"])
    from fashion.data.load import load_training_data

    data = load_training_data(config)
    test = data.frame[data.frame["split"] == "test"]
    query = test["path"].iloc[0]
    sheet = run_dir / "demo_sheet.png"
    # The query photo is itself in the catalog (the test split); leave it out so the table shows
    # other photos: the same item's other views should come first.
    _run(["recommend.py", str(query), "--exclude-query", "--sheet", str(sheet)])


if __name__ == "__main__":
    main()
