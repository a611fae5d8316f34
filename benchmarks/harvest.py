"""Activation harvesting vs a plain forward pass vs ``run_with_cache`` (no filter).

    python benchmarks/harvest.py [--model othello] [--games 1000] [--repeats 3]

All methods run side by side in one process on the same games, interleaved, and the best
time of each is kept (so machine load affects them alike). Target: harvesting the
requested sites within 1.1x the plain forward pass. Also reports the bytes stored per game.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from workbench.activations import harvest, resid_sites
from workbench.models import load_model
from workbench.othello import model_inputs, play_games


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--games", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = load_model(args.model)
    games = play_games(n_games=args.games, rng=0)
    tokens = torch.from_numpy(model_inputs(games))
    all_resid = resid_sites(model)
    mid = [all_resid[len(all_resid) // 2]]

    @torch.inference_mode()
    def forward():
        for batch in tokens.split(args.batch_size):
            model(batch)

    @torch.inference_mode()
    def full_cache():
        for batch in tokens.split(args.batch_size):
            model.run_with_cache(batch)

    stored = {}

    def harvest_sites(sites):
        def run():
            acts = harvest(model, games, sites, batch_size=args.batch_size, progress=False)
            stored[tuple(sites)] = sum(a.numel() * a.element_size() for a in acts.acts.values())

        return run

    methods = {
        "forward": forward,
        "harvest_all_resid": harvest_sites(all_resid),
        "harvest_one_mid_site": harvest_sites(mid),
        "run_with_cache_unfiltered": full_cache,
    }
    best = {name: float("inf") for name in methods}
    forward()  # warm-up
    for _ in range(args.repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    result = {
        "model": args.model,
        "games": args.games,
        "threads": torch.get_num_threads(),
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "ratio_to_forward": {k: round(v / best["forward"], 3) for k, v in best.items()},
        "bytes_per_game": {
            "all_resid_fp32": stored[tuple(all_resid)] // args.games,
            "one_mid_site_fp32": stored[tuple(mid)] // args.games,
        },
        "sites": {"all_resid": all_resid, "one_mid_site": mid},
        "target_ratio": 1.1,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
