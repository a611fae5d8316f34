"""SAE training throughput on this CPU: sae-lens's trainer vs the activation stream alone.

    python benchmarks/sae_throughput.py [--model othello] [--hook blocks.2.hook_resid_post]
                                        [--tokens 500000] [--threads 2]

Side by side in one process: (1) the activation stream by itself (engine games -> model
forward -> shuffled batches), the upper bound; (2) ``train_sae`` for each architecture,
which pulls from the same stream. Prints activations (tokens) per second for each and the
trainer's share of the time.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from workbench.models import load_model
from workbench.saes.train import SAETrainConfig, activation_stream, train_sae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--hook", default="blocks.2.hook_resid_post")
    parser.add_argument("--tokens", type=int, default=500_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--architectures", default="topk,standard,batchtopk,jumprelu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)

    stream = activation_stream(model, args.hook, batch_size=args.batch_size, seed=1)
    start, seen = time.perf_counter(), 0
    while seen < args.tokens:
        seen += len(next(stream))
    stream_rate = seen / (time.perf_counter() - start)
    print(json.dumps({"what": "activation stream alone", "tokens_per_s": round(stream_rate)}))
    for arch in args.architectures.split(","):
        cfg = SAETrainConfig(hook=args.hook, architecture=arch, n_tokens=args.tokens)
        trained = train_sae(model, cfg)
        print(
            json.dumps(
                {
                    "what": f"train_sae {arch} (d_sae {trained.sae.cfg.d_sae})",
                    "tokens_per_s": round(trained.tokens_per_s),
                    "vs_stream_alone": round(trained.tokens_per_s / stream_rate, 3),
                    "seconds": round(trained.seconds, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
