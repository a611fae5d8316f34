"""Activation harvesting against a plain forward pass and TransformerLens's filtered cache.

    python benchmarks/harvest.py [--model othello] [--games 1000] [--repeats 3] [--quick]

Side by side in one process on the same games, interleaved, ``--repeats`` rounds (min and
median kept):
- ``forward``: ``model(batch)``, the whole model with its unembedding, nothing kept;
- ``tl_filtered_cache``: TL's ``run_with_cache(names_filter=sites, stop_at_layer=...)`` per
  batch, the batches concatenated (the same tensors ``harvest`` returns: the baseline);
- ``harvest_all_resid`` / ``harvest_one_mid_site``: ``workbench.activations.harvest``;
- ``harvest_all_resid_default_batching``: the same with ``harvest``'s default batching
  (games per pass sized so one pass's working memory is within a quarter of the result),
  against baselines run at ``--batch-size``;
- ``tl_unfiltered_cache``: ``run_with_cache`` with no filter (every hook, every block).
Ratios are given to ``forward`` and to ``tl_filtered_cache``. Then the peak resident memory
of one ``harvest`` of every residual site over the bytes of its result, at ``--batch-size``
and with the default batching, each in a fresh process
(``--memory-only``: measured in the timing process, the allocator reuses the memory the
rounds freed and the peak reads low; Linux: the peak is reset through
``/proc/self/clear_refs`` after a small warm-up harvest). Targets (issue 40): all residual
sites <= 1.1x the forward pass; peak <= 1.3x the result. A record goes to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch
from _timing import interleaved, load_average, parse_args, ratio, write_record

from workbench.activations import harvest, resid_sites
from workbench.memory import peak_resident_bytes, reset_peak, resident_bytes
from workbench.models import load_model
from workbench.othello import model_inputs, play_games


def peak_over_result(model, games, sites, batch_size: int | None) -> dict:
    """Peak resident memory during one harvest, over the result's bytes (Linux only)."""
    harvest(model, games[:8], sites, batch_size=batch_size, progress=False)  # warm-up
    if not reset_peak():
        return {"peak_over_result": None, "why": "/proc/self/clear_refs not writable"}
    before = resident_bytes()
    acts = harvest(model, games, sites, batch_size=batch_size, progress=False)
    peak = peak_resident_bytes() - before
    result = sum(a.numel() * a.element_size() for a in acts.acts.values())
    return {
        "result_mb": round(result / 2**20, 1),
        "peak_above_start_mb": round(peak / 2**20, 1),
        "peak_over_result": round(peak / result, 3),
    }


def fresh_process_memory(args: argparse.Namespace, batch_size: int) -> dict:
    """``peak_over_result`` in a new interpreter: nothing freed before it to reuse (a batch
    size of 0: ``harvest``'s default batching)."""
    command = [sys.executable, __file__, "--memory-only", "--model", args.model]
    command += ["--games", str(args.games), "--batch-size", str(batch_size)]
    command += ["--threads", str(args.threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--games", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--memory-only", action="store_true", help="only the peak memory (run by the benchmark)"
    )
    args = parse_args(parser, games=40, batch_size=20, repeats=1)
    torch.set_num_threads(args.threads)
    if args.memory_only:
        model = load_model(args.model)
        games = play_games(n_games=args.games, rng=0)
        batch_size = args.batch_size or None  # 0: the default batching
        print(json.dumps(peak_over_result(model, games, resid_sites(model), batch_size)))
        return
    load_before = load_average()
    model = load_model(args.model)
    games = play_games(n_games=args.games, rng=0)
    tokens = torch.from_numpy(model_inputs(games))
    all_resid = resid_sites(model)
    mid = [all_resid[len(all_resid) // 2]]
    n_layers = model.cfg.n_layers

    @torch.inference_mode()
    def forward():
        for batch in tokens.split(args.batch_size):
            model(batch)

    @torch.inference_mode()
    def tl_filtered_cache():
        parts = []
        for batch in tokens.split(args.batch_size):
            _, cache = model.run_with_cache(batch, names_filter=all_resid, stop_at_layer=n_layers)
            parts.append(cache)
        return {s: torch.cat([c[s] for c in parts]) for s in all_resid}

    @torch.inference_mode()
    def tl_unfiltered_cache():
        for batch in tokens.split(args.batch_size):
            model.run_with_cache(batch)

    def harvest_sites(sites, batch_size=args.batch_size):
        return lambda: harvest(model, games, sites, batch_size=batch_size, progress=False).acts

    methods = {
        "forward": forward,
        "tl_filtered_cache": tl_filtered_cache,
        "harvest_all_resid": harvest_sites(all_resid),
        "harvest_one_mid_site": harvest_sites(mid),
        "harvest_all_resid_default_batching": harvest_sites(all_resid, None),
        "tl_unfiltered_cache": tl_unfiltered_cache,
    }
    forward()  # warm-up
    timed = interleaved(methods, args.repeats)
    same = all(
        torch.equal(
            timed["harvest_all_resid"]["result"][s], timed["tl_filtered_cache"]["result"][s]
        )
        for s in all_resid
    )
    memory = fresh_process_memory(args, args.batch_size)
    memory_default = fresh_process_memory(args, 0)
    record = {
        "parameters": vars(args),
        "threads": torch.get_num_threads(),
        "seconds": {k: {s: v[s] for s in ("min", "median", "all")} for k, v in timed.items()},
        "ratio_to_forward": {k: ratio(v, timed["forward"]) for k, v in timed.items()},
        "ratio_to_tl_filtered_cache": {
            k: ratio(v, timed["tl_filtered_cache"]) for k, v in timed.items()
        },
        "harvest_equals_tl_filtered_cache": same,
        "memory_all_resid": memory,
        "memory_all_resid_default_batching": memory_default,
        "bytes_per_game_all_resid_fp32": sum(
            a.numel() * a.element_size() for a in timed["harvest_all_resid"]["result"].values()
        )
        // args.games,
        "sites": {"all_resid": all_resid, "one_mid_site": mid},
        "targets": {"all_resid_ratio_to_forward": 1.1, "peak_over_result": 1.3},
    }
    print(json.dumps({k: v for k, v in record.items() if k != "sites"}, indent=1))
    if not args.quick:
        print(f"record: {write_record(f'harvest-{args.model}', record, load_before=load_before)}")


if __name__ == "__main__":
    main()
