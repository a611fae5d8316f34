"""Game generation speed: the vectorised bitboard engine vs the scalar reference, one core.

    python benchmarks/game_generation.py [--games 100000] [--reference-games 300]

Both run in this one process on one core (numpy's elementwise ops are single-threaded);
prints games/s for each and their ratio. Target: >= 50,000 games/s for the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from workbench.othello import reference
from workbench.othello.engine import play_games


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=100_000)
    parser.add_argument("--reference-games", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # pin to one core

    play_games(n_games=1000, rng=0)  # warm-up
    vec = best_of(lambda: play_games(n_games=args.games, rng=1), args.repeats)
    ref = best_of(
        lambda: [reference.play(seed=i) for i in range(args.reference_games)], args.repeats
    )
    greedy = best_of(lambda: play_games(n_games=2000, policy="greedy", rng=1), 1)
    result = {
        "engine_games_per_s": round(args.games / vec),
        "reference_games_per_s": round(args.reference_games / ref),
        "speedup": round((args.games / vec) / (args.reference_games / ref), 1),
        "greedy_engine_games_per_s": round(2000 / greedy),
        "target_games_per_s": 50_000,
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
