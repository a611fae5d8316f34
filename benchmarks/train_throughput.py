"""Training throughput (tokens/s) on this CPU for the settings that matter.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_throughput.py [--preset small] [--steps 4]

Side by side in one process: fp32 vs bf16 autocast, batch sizes, 1 vs 2 torch threads,
eager vs torch.compile. Each setting: 2 warm-up steps, then the mean of ``--steps`` steps.
OMP_WAIT_POLICY is read by OpenMP at start-up, so compare it by running this twice.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from workbench.training import PRESETS
from workbench.training.data import make_batch
from workbench.training.train import loss_fn


def measure(preset: str, batch: int, threads: int, precision: str, compiled: bool, steps: int):
    torch.set_num_threads(threads)
    model = PRESETS[preset].build(seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compiled else model
    data = make_batch(batch, seed=0, step=0)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = forward(data.tokens)
        loss = loss_fn(logits, data)
        opt.zero_grad()
        loss.backward()
        opt.step()

    start = time.perf_counter()
    step()
    step()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - start) / steps
    return {
        "preset": preset,
        "batch_games": batch,
        "threads": threads,
        "precision": precision,
        "compile": compiled,
        "tokens_per_s": round(batch * 59 / per_step),
        "warmup_s": round(warmup, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    settings = [
        (64, 2, "fp32", False),
        (128, 2, "fp32", False),
        (256, 2, "fp32", False),
        (128, 1, "fp32", False),
        (128, 2, "bf16", False),
    ]
    if not args.no_compile:
        settings.append((128, 2, "fp32", True))
    print(json.dumps({"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}))
    for batch, threads, precision, compiled in settings:
        print(
            json.dumps(measure(args.preset, batch, threads, precision, compiled, args.steps)),
            flush=True,
        )


if __name__ == "__main__":
    main()
