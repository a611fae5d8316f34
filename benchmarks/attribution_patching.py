"""Attribution patching (AtP) against the batched exact sweep, and the exact sweeps against
one another, side by side.

    python benchmarks/attribution_patching.py [--model othello] [--pairs 2] [--kind heads]
                                              [--repeats 3] [--no-loop] [--quick]

For each clean/corrupted minimal pair, interleaved in one process, ``--repeats`` rounds
(min and median kept):
- ``loop``: one batch-1 forward pass per cell (the sweep before 2026-12-06);
- ``per_site``: the positions of one site in one batch from the tokens (465fe67);
- ``batched_dense``: ``patch_sweep(skip_unchanged=False)``: up to 256 cells of one block
  per pass, started at that block;
- ``batched``: ``activation_patching`` as shipped (also skips the cells whose patch writes
  what is already there);
- ``atp``: ``attribution_patching``, two passes.
Every exact sweep is checked against ``loop`` (max |difference|); AtP's speed-up is given
against ``batched`` (the honest baseline) and, for the record, against ``loop``. AtP's
agreement: Spearman rank correlation with the exact sweep. A record goes to
``benchmarks/results/attribution_patching-<date>.json``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from _timing import interleaved, load_average, parse_args, ratio, write_record

from workbench.attribution.batched_patching import patch_sweep
from workbench.attribution.patching import (
    activation_patching,
    attribution_patching,
    minimal_pair,
    rank_correlation,
)
from workbench.models import load_model
from workbench.othello import play_games


def _cells(model, kind):
    for layer in range(model.cfg.n_layers):
        if kind == "resid":
            yield f"blocks.{layer}.hook_resid_pre", None
        else:
            for head in range(model.cfg.n_heads):
                yield f"blocks.{layer}.attn.hook_z", head


@torch.no_grad()
def reference_sweep(model, pair, kind, *, per_site: bool) -> torch.Tensor:
    """One forward pass per cell (``per_site=False``) or per site, positions batched."""
    metric = pair.metric()
    names = sorted({name for name, _ in _cells(model, kind)})
    clean_logits, cache = model.run_with_cache(pair.clean, names_filter=names)
    clean, corrupted = float(metric(clean_logits)), float(metric(model(pair.corrupted)))
    n_pos = pair.clean.shape[1]
    rows = []
    for name, head in _cells(model, kind):
        groups = [list(range(n_pos))] if per_site else [[p] for p in range(n_pos)]
        row = []
        for ps in groups:
            p, i = torch.tensor(ps), torch.arange(len(ps))

            def patch(act, hook, p=p, i=i, head=head, name=name):
                if head is None:
                    act[i, p] = cache[name][0, p]
                else:
                    act[i, p, head] = cache[name][0, p, head]
                return act

            with model.hooks(fwd_hooks=[(name, patch)]):
                logits = model(pair.corrupted.expand(len(ps), -1))
            row += [float(metric(logits[j : j + 1])) for j in range(len(ps))]
        rows.append(row)
    return (torch.tensor(rows, dtype=torch.float64) - corrupted) / (clean - corrupted)


def _methods(model, pair, kind, *, loop: bool) -> dict:
    methods = {
        "per_site": lambda: reference_sweep(model, pair, kind, per_site=True),
        "batched_dense": lambda: patch_sweep(
            model,
            pair.clean,
            pair.corrupted,
            pair.metric(),
            kind=kind,
            skip_unchanged=False,
            progress=False,
        ),  # fmt: skip
        "batched": lambda: activation_patching(model, pair, kind=kind, progress=False),
        "atp": lambda: attribution_patching(model, pair, kind=kind),
    }
    if loop:
        return {"loop": lambda: reference_sweep(model, pair, kind, per_site=False)} | methods
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--kind", choices=["heads", "resid"], default="heads")
    parser.add_argument("--position", type=int, default=30, help="where the metric is read")
    parser.add_argument("--differ-at", type=int, default=26, help="the move that differs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-loop", action="store_true", help="skip the slow one-cell loop")
    args = parse_args(parser, pairs=1, repeats=1, no_loop=True)
    torch.set_num_threads(args.threads)
    load_before = load_average()
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
        methods = _methods(model, pair, args.kind, loop=not args.no_loop)
        timed = interleaved(methods, args.repeats)
        reference = timed["loop" if "loop" in timed else "per_site"]["result"]
        exact, approx = timed["batched"]["result"], timed["atp"]["result"]
        row = {
            "game": g,
            "cells": int(exact.numel()),
            "seconds": {k: {s: v[s] for s in ("min", "median")} for k, v in timed.items()},
            "max_abs_difference_from_" + ("loop" if "loop" in timed else "per_site"): {
                k: float((v["result"].double() - reference.double()).abs().max())
                for k, v in timed.items()
                if k != "atp"
            },
            "batched_speedup_over": {
                k: ratio(timed[k], timed["batched"])
                for k in ("loop", "per_site", "batched_dense")
                if k in timed
            },  # fmt: skip
            "atp_speedup_over_batched": ratio(timed["batched"], timed["atp"]),
            "atp_speedup_over_loop": ratio(timed["loop"], timed["atp"])
            if "loop" in timed
            else None,
            "spearman": round(rank_correlation(exact, approx), 3),
            "spearman_from_differ_at": round(
                rank_correlation(exact[:, pair.differ_at :], approx[:, pair.differ_at :]), 3
            ),
        }
        rows.append(row)
        print(json.dumps(row))
    summary = {
        "kind": args.kind,
        "model": args.model,
        "threads": args.threads,
        "repeats": args.repeats,
        "pairs": len(rows),
        "median_atp_speedup_over_batched": float(
            np.median([r["atp_speedup_over_batched"]["of_median"] for r in rows])
        ),
        "median_batched_speedup_over": {
            k: float(np.median([r["batched_speedup_over"][k]["of_median"] for r in rows]))
            for k in rows[0]["batched_speedup_over"]
        },
        "median_spearman": float(np.median([r["spearman"] for r in rows])),
    }
    print(json.dumps(summary))
    if args.quick:
        return
    path = write_record(
        f"attribution_patching-{args.model}-{args.kind}",
        {"parameters": vars(args), "pairs": rows, "summary": summary},
        load_before=load_before,
    )
    print(f"record: {path}")


if __name__ == "__main__":
    main()
