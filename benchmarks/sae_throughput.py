"""SAE training throughput: ``train_sae`` on its activation stream against sae-lens's trainer
fed from memory, side by side.

    python benchmarks/sae_throughput.py [--model othello] [--hook blocks.4.hook_resid_post]
                                        [--tokens 200000] [--architectures topk] [--repeats 3]
                                        [--quick]

Interleaved in one process, ``--repeats`` rounds (min and median kept), each on the same
number of activations:
- ``stream_alone``: ``activation_stream`` by itself (engine games -> forward -> shuffled
  batches), nothing trained;
- ``saelens_from_memory``: sae-lens's ``SAETrainer`` on the same SAE and trainer settings,
  its batches read from a tensor harvested beforehand (the baseline: training alone);
- ``train_sae``: the workbench's trainer pulling from the stream, the two taking turns
  (the default: what notebooks run);
- ``train_sae_prefetch``: the same with ``prefetch=2`` (a background thread makes the
  next batches while the trainer steps);
- ``train_sae_cached``: ``train_sae`` reading the same batches from a warm
  ``ActivationCache`` (``saes.cache``; filled beforehand, untimed, in a temporary folder),
  as a second SAE on one model does: the games are still played (they seed the shuffle),
  the forward pass is replaced by a read from disk.
Throughput is activations per second of each run's wall time; ``train_sae``'s ratio to
``saelens_from_memory`` is the issue-40 figure (target >= 0.8; the warm cache is another
mode and its ratio is reported beside it, not as that figure). A record goes to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from functools import partial

import torch
from _timing import interleaved, load_average, parse_args, ratio, write_record
from sae_lens import SAETrainer

from workbench.models import load_model
from workbench.saes.cache import ActivationCache
from workbench.saes.loading import hook_width
from workbench.saes.train import (
    NORM_BATCHES,
    SAETrainConfig,
    activation_stream,
    recorded_model_name,
    train_sae,
)
from workbench.saes.trainer import trainer_config, training_sae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--hook", default="blocks.4.hook_resid_post")
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--buffer-games", type=int, default=2048, help="games per shuffle")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--architectures", default="topk")
    parser.add_argument("--repeats", type=int, default=3)
    args = parse_args(parser, tokens=8192, batch_size=1024, buffer_games=64, repeats=1)
    torch.set_num_threads(args.threads)
    load_before = load_average()
    model = load_model(args.model)
    n_steps = args.tokens // args.batch_size
    n_batches = n_steps + NORM_BATCHES  # what one training run draws

    def stream():  # the batches a run draws, its last chunk harvested only as far as used
        return activation_stream(
            model, args.hook, batch_size=args.batch_size, buffer_games=args.buffer_games,
            seed=1, end=n_batches,
        )  # fmt: skip

    in_memory = torch.stack(list(stream()))  # (batch n d_in)
    folder = tempfile.TemporaryDirectory(prefix="sae-throughput-cache-")
    cache = ActivationCache(folder.name)
    for _ in activation_stream(  # fills whole chunks, for train_sae_cached (untimed)
        model, args.hook, batch_size=args.batch_size, buffer_games=args.buffer_games,
        seed=1, cache=cache, end=n_batches,
    ):  # fmt: skip
        pass
    record_rows = []
    for arch in args.architectures.split(","):
        cfg = SAETrainConfig(
            hook=args.hook, architecture=arch, n_tokens=args.tokens, seed=1,
            batch_size=args.batch_size, buffer_games=args.buffer_games,
        )  # fmt: skip

        def stream_alone():
            for _ in stream():
                pass

        def saelens_from_memory(cfg=cfg):
            sae = training_sae(cfg, hook_width(model, cfg.hook), recorded_model_name(cfg, model))
            SAETrainer(trainer_config(cfg, None, 0), sae, iter(in_memory)).fit()

        def workbench(cfg=cfg):
            return train_sae(model, cfg).sae.cfg.d_sae

        def workbench_prefetch(cfg=cfg):
            return train_sae(model, cfg, prefetch=2).sae.cfg.d_sae

        def workbench_cached(cfg=cfg):
            cached = partial(
                activation_stream, model, cfg.hook, batch_size=cfg.batch_size,
                buffer_games=cfg.buffer_games, seed=cfg.seed, cache=cache,
            )  # fmt: skip
            return train_sae(model, cfg, activations=cached).sae.cfg.d_sae

        timed = interleaved(
            {"stream_alone": stream_alone, "saelens_from_memory": saelens_from_memory,
             "train_sae": workbench, "train_sae_prefetch": workbench_prefetch,
             "train_sae_cached": workbench_cached},
            args.repeats,
        )  # fmt: skip
        seen = n_steps * args.batch_size
        row = {
            "architecture": arch,
            "d_sae": timed["train_sae"]["result"],
            "activations": seen,
            "seconds": {k: {s: v[s] for s in ("min", "median", "all")} for k, v in timed.items()},
            "activations_per_s_best": {k: round(seen / v["min"]) for k, v in timed.items()},
            "train_sae_vs_saelens_from_memory": ratio(
                timed["saelens_from_memory"], timed["train_sae"]
            ),
            "train_sae_prefetch_vs_saelens_from_memory": ratio(
                timed["saelens_from_memory"], timed["train_sae_prefetch"]
            ),
            "train_sae_cached_vs_saelens_from_memory": ratio(
                timed["saelens_from_memory"], timed["train_sae_cached"]
            ),
            "train_sae_vs_stream_alone": ratio(timed["stream_alone"], timed["train_sae"]),
            "target": 0.8,
        }
        record_rows.append(row)
        print(json.dumps(row))
    folder.cleanup()
    if args.quick:
        return
    path = write_record(
        f"sae_throughput-{args.model}",
        {"parameters": vars(args), "threads": torch.get_num_threads(), "runs": record_rows},
        load_before=load_before,
    )
    print(f"record: {path}")


if __name__ == "__main__":
    main()
