"""Scoring features against the board: the sparse count vs the dense one, side by side.

    python benchmarks/feature_scoring.py [--model othello] [--hook blocks.4.hook_resid_post]
                                         [--games 300] [--repeats 3]

``saes.board.score_features`` counts, for every feature, property and threshold, the
positions where the feature is on. An SAE's features are off at almost every position, so
it counts only the activations above the lowest threshold (one sparse product per
threshold level); dense features (MLP neurons) take one dense product per threshold. This
runs both counts on the same activations (the shipped SAEs at ``--hook`` and that layer's
neurons), interleaved, keeps the best time of each, and checks the figures are equal.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from workbench.activations import harvest, hook_layer
from workbench.models import load_model
from workbench.saes import board
from workbench.saes.evaluate import encode_positions, eval_games
from workbench.saes.loading import list_saes, load_sae


def timed(feature_acts, props, sparse_below: float) -> tuple[float, board.FeatureScores]:
    """One ``score_features`` call with the sparse count used below ``sparse_below``."""
    start = time.perf_counter()
    scores = board.score_features(feature_acts, props, sparse_below=sparse_below)
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--hook", default="blocks.4.hook_resid_post")
    parser.add_argument("--games", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = load_model(args.model)
    neurons = f"blocks.{hook_layer(args.hook)}.mlp.hook_post"
    acts = harvest(model, eval_games(args.games), [args.hook, neurons], progress=False)
    props = board.board_properties(acts.labels)
    sets = {
        f"SAE {e.architecture}": encode_positions(
            load_sae(args.model, args.hook, e.architecture), acts, args.hook
        )
        for e in list_saes(args.model)
        if e.hook == args.hook and not e.random_init
    }
    sets["MLP neurons"] = acts.flat(neurons)[0].float()
    for name, feature_acts in sets.items():
        dense_fraction = float((feature_acts > 0).float().mean())
        dense_s, auto_s = float("inf"), float("inf")
        for _ in range(args.repeats):  # interleaved, so load affects both alike
            seconds, dense = timed(feature_acts, props, 0.0)  # every count dense
            dense_s = min(dense_s, seconds)
            seconds, auto = timed(feature_acts, props, board.SPARSE_BELOW)  # the default
            auto_s = min(auto_s, seconds)
        same = all(
            torch.equal(getattr(dense, k), getattr(auto, k))
            for k in ("f1", "precision", "recall", "threshold")
        )
        row = {
            "features": name,
            "positions x features": list(feature_acts.shape),
            "fraction above 0": round(dense_fraction, 4),
            "dense_s": round(dense_s, 3),
            "default_s": round(auto_s, 3),
            "speed-up": round(dense_s / auto_s, 2),
            "same figures": same,
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
