"""Feature graphs on the shipped model: build time and agreement with real ablations.

    python benchmarks/feature_graph.py [--predictions 10] [--position 30] [--keep 8]
    python benchmarks/feature_graph.py --kind transcoder

For each prediction (the model's top move at ``--position`` of a random game): build the
graph, then ablate the 10 feature nodes with the largest predicted effect and compare with
the real change of the logit. ``--kind sae``: the graph from the shipped topk SAEs at every
residual stream; ``--kind transcoder``: circuit-tracer's graph from the shipped skip
transcoders with attention and LayerNorm frozen (also compares downstream features).
Prints per-prediction figures and the medians (targets: under 60 s per graph; sign
agreement >= 0.8 for the top features).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import workbench
from workbench.attribution.logit import logit_metric
from workbench.circuits.attribution_graph import build_attribution_graph, validate_attribution_graph
from workbench.circuits.graph import build_graph, validate
from workbench.circuits.transcoders import load_transcoders
from workbench.evaluation import next_move_probabilities
from workbench.othello import model_inputs, play_games


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--predictions", type=int, default=10)
    parser.add_argument("--position", type=int, default=30)
    parser.add_argument("--keep", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kind", choices=["sae", "transcoder"], default="sae")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = workbench.load_model(args.model)
    if args.kind == "sae":
        saes = {
            layer: workbench.load_sae(args.model, f"blocks.{layer}.hook_resid_post", "topk")
            for layer in range(model.cfg.n_layers)
        }
    else:
        transcoders = load_transcoders(args.model)
    games = play_games(n_games=args.predictions, rng=123)
    rows = []
    for g in range(args.predictions):
        tokens = torch.from_numpy(model_inputs(games))[g]
        probs = next_move_probabilities(model, games.moves[g])[args.position + 1]
        move = int(np.nanargmax(probs))
        if args.kind == "sae":
            graph = build_graph(model, saes, tokens, args.position, move, keep=args.keep)
            check = validate(graph, model, saes, tokens, args.position, move, top=10).to_dict()
        else:
            metric = logit_metric(args.position, move)
            graph = build_attribution_graph(
                model, transcoders, tokens, metric, args.position, keep=args.keep
            )
            both = validate_attribution_graph(graph, model, transcoders, tokens, metric, top=10)
            check = both.logit.to_dict() | {
                "feature_sign_agreement": both.features.sign_agreement,
                "feature_correlation": both.features.correlation,
            }
        row = {
            "game": g,
            "nodes": len(graph.nodes),
            "edges": len(graph.edges),
            "seconds": round(graph.seconds, 2),
            "logit": round(graph.logit, 3),
            "replacement_logit": round(graph.replacement_logit, 3),
            "error_share": round(graph.error_share, 3),
            "sign_agreement": check["sign_agreement"],
            "correlation": round(check["correlation"], 3),
            **{k: round(v, 3) for k, v in check.items() if k.startswith("feature_")},
        }
        rows.append(row)
        print(json.dumps(row))
    print(
        json.dumps(
            {
                key: float(np.median([r[key] for r in rows]))
                for key in rows[0]
                if key not in ("game", "logit", "replacement_logit")
            }
        )
    )


if __name__ == "__main__":
    main()
