"""What every benchmark here shares: methods timed interleaved in one process (so load from
other processes falls on all of them alike), min and median of the repeats, and a record
(date, hardware, commit, load average before and after) written to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def interleaved(methods: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, dict]:
    """Run every method once per round, ``repeats`` rounds; seconds per method:
    ``{"min", "median", "all"}``. The last return value of each is kept as ``"result"``."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {
        name: {
            "min": round(min(t), 4),
            "median": round(statistics.median(t), 4),
            "all": [round(x, 4) for x in t],
            "result": results[name],
        }
        for name, t in times.items()
    }


def parse_args(parser: argparse.ArgumentParser, **quick) -> argparse.Namespace:
    """The benchmark's arguments, with ``--quick``: a smoke run on the ``quick`` settings,
    to check that it runs end to end (not a measurement: its caller writes no record)."""
    settings = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in quick.items())
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run ({settings}); no record written"
    )
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    return args


def ratio(slow: dict, fast: dict) -> dict:
    """``slow / fast`` from the minima and from the medians."""
    return {
        "of_min": round(slow["min"] / fast["min"], 2),
        "of_median": round(slow["median"] / fast["median"], 2),
    }


def hardware() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def commit(where: Path = ROOT) -> str:
    """The checkout's short commit, ``+dirty`` with uncommitted changes to tracked files."""
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_record(name: str, record: dict, *, load_before: list[float]) -> Path:
    """``benchmarks/results/NAME-<date>.json`` with the context that makes it readable."""
    now = datetime.now()
    full = {
        "benchmark": name,
        "date": now.isoformat(timespec="seconds"),
        "hardware": hardware(),
        "commit": commit(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        **record,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{now:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(full, indent=1) + "\n")
    return path
