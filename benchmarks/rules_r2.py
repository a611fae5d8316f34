"""Do the shipped rules' R² figures reproduce on fresh games? And how long does a fit take?

    python benchmarks/rules_r2.py [--model othello-small] [--games 300] [--seed 11]
    python benchmarks/rules_r2.py --model othello-gpt-8l --layers 5 --fit

For every shipped layer (or ``--layers``), recompute each neuron's R² from its JSON tree
on ``--games`` fresh games (a seed neither the fit nor its held-out games used) and
report the share of neurons within 0.05 of the recorded figure, the largest difference,
and the count above 0.7 recorded against fresh. ``--fit`` also times ``fit_layer`` with
the shipped settings (one JSON line per layer; the machine's load average is printed
beside it, since this machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from workbench.models import load_model
from workbench.othello import play_games
from workbench.rules import evaluate, load_rules, neuron_activations, r2_score, shipped_layers
from workbench.rules.fit import RuleConfig, fit_layer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello-small")
    parser.add_argument("--layers", default=None, help="comma-separated (default: all shipped)")
    parser.add_argument("--games", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fit", action="store_true", help="also time a fit of each layer")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()

    model = load_model(args.model)
    layers = [int(x) for x in args.layers.split(",")] if args.layers else shipped_layers(args.model)
    games = play_games(n_games=args.games, rng=args.seed)
    for layer in layers:
        rules = load_rules(args.model, layer)
        features, acts = neuron_activations(model, games, layer)
        fresh = np.array(
            [r2_score(acts[:, r.neuron], evaluate(r.tree, features.X)) for r in rules.neurons]
        )
        diff = np.abs(fresh - rules.r2)
        row = {
            "model": rules.model,
            "layer": layer,
            "neurons": len(rules.neurons),
            "within_0.05": round(float((diff <= 0.05).mean()), 4),
            "max_abs_diff": round(float(diff.max()), 4),
            "above_0.7_recorded": int((rules.r2 > 0.7).sum()),
            "above_0.7_fresh": int((fresh > 0.7).sum()),
        }
        if args.fit:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            config = RuleConfig(**{**rules.record["config"], "jobs": args.jobs})
            fit_layer(model, layer, config=config, progress=False)
            row["fit_seconds"] = round(time.perf_counter() - start, 1)
            row["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
