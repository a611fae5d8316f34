"""Attribution patching (AtP) vs exact activation patching, side by side.

    python benchmarks/attribution_patching.py [--model othello] [--pairs 5] [--kind heads]

For each clean/corrupted minimal pair (games differing in their last move): the exact
sweep over every head (or residual layer) x position, one forward pass per patch, and the
AtP estimate from two passes. Prints the time of each, the speed ratio and the Spearman
rank correlation of the two heat maps (targets: >= 20x faster, Spearman >= 0.8 on heads).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from workbench.models import load_model
from workbench.othello import play_games
from workbench.patching import (
    activation_patching,
    attribution_patching,
    minimal_pair,
    rank_correlation,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--kind", choices=["heads", "resid"], default="heads")
    parser.add_argument("--position", type=int, default=30, help="where the metric is read")
    parser.add_argument("--differ-at", type=int, default=26, help="the move that differs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    games = play_games(n_games=args.pairs * 4, rng=11)
    rows = []
    for g in range(games.n_games):
        if len(rows) == args.pairs:
            break
        try:
            pair = minimal_pair(games.moves[g], args.position, differ_at=args.differ_at, seed=g)
        except ValueError:
            continue
        start = time.perf_counter()
        exact = activation_patching(model, pair, kind=args.kind)
        t_exact = time.perf_counter() - start
        start = time.perf_counter()
        approx = attribution_patching(model, pair, kind=args.kind)
        t_atp = time.perf_counter() - start
        big = exact.abs() >= exact.nan_to_num().abs().quantile(0.9)
        row = {
            "game": g,
            "exact_s": round(t_exact, 3),
            "atp_s": round(t_atp, 4),
            "speedup": round(t_exact / t_atp, 1),
            "spearman": round(rank_correlation(exact, approx), 3),
            # only the patches that matter: the largest 10% of exact effects
            "spearman_top10pct": round(rank_correlation(exact[big], approx[big]), 3),
            # only positions a patch can change (before the differing move both runs agree)
            "spearman_from_differ_at": round(
                rank_correlation(exact[:, pair.differ_at :], approx[:, pair.differ_at :]), 3
            ),
        }
        rows.append(row)
        print(json.dumps(row))
    summary = {
        "kind": args.kind,
        "model": args.model,
        "pairs": len(rows),
        "median_speedup": float(np.median([r["speedup"] for r in rows])),
        "median_spearman": float(np.median([r["spearman"] for r in rows])),
        "median_spearman_top10pct": float(np.median([r["spearman_top10pct"] for r in rows])),
        "median_spearman_from_differ_at": float(
            np.median([r["spearman_from_differ_at"] for r in rows])
        ),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
