"""The SAE activation stream with and without the on-disk cache (``workbench.saes.cache``).

    python benchmarks/sae_cache.py [--model othello] [--tokens 400000] [--threads 1]

Side by side in one process, for the deepest residual site and then the first one:
(1) the stream as it runs without a cache (a forward pass up to the site per chunk);
(2) the cached stream's first pass, which harvests every residual site per chunk and
writes them; (3) a second site read back from that cache. Prints activations per second,
the disk the cache took, and what training an SAE at every residual site costs in stream
time either way (n sites x (1), against (2) + (n - 1) x (3)).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from workbench.activations import resid_post_sites
from workbench.models import load_model
from workbench.saes.cache import ActivationCache
from workbench.saes.train import activation_stream


def rate(stream, tokens: int) -> float:
    start, seen = time.perf_counter(), 0
    while seen < tokens:
        seen += len(next(stream))
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--tokens", type=int, default=400_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    sites = resid_post_sites(model)
    deepest, first = sites[-1], sites[0]
    options = {"batch_size": 4096, "seed": 11}
    plain = rate(activation_stream(model, deepest, **options), args.tokens)
    with tempfile.TemporaryDirectory() as folder:
        cache = ActivationCache(folder, hooks=tuple(sites))
        filling = rate(activation_stream(model, deepest, cache=cache, **options), args.tokens)
        reading = rate(activation_stream(model, first, cache=cache, **options), args.tokens)
        disk = sum(p.stat().st_size for p in Path(folder).rglob("*.safetensors"))
    n = len(sites)
    rows = {
        f"stream, no cache ({deepest})": plain,
        "cached stream, first pass (harvests every residual site)": filling,
        f"cached stream, reading ({first})": reading,
    }
    for what, value in rows.items():
        print(json.dumps({"what": what, "activations_per_s": round(value)}))
    print(
        json.dumps(
            {
                "what": f"stream seconds per 1M activations at all {n} residual sites",
                "no_cache": round(n * 1e6 / plain),
                "cache": round(1e6 / filling + (n - 1) * 1e6 / reading),
                "cache_disk_mb_per_1M_activations": round(disk / args.tokens * 1e6 / 2**20),
            }
        )
    )


if __name__ == "__main__":
    main()
