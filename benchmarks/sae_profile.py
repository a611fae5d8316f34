"""Where SAE training time goes: sae-lens's trainer from memory, a plain topk loop, and
``train_sae`` on its activation stream, profiled on the same SAE and batches.

    python benchmarks/sae_profile.py [--model othello] [--hook blocks.4.hook_resid_post]
                                     [--tokens 200000] [--threads 2] [--quick]

The settings of ``sae_throughput.py`` (topk, k 32, d_sae 8 x d_in, batch 4,096). Each run
once, under ``torch.profiler`` (CPU) and a timer around named phases:
1. ``matmuls_alone``: the five matmuls of a topk step (encode, decode, and the backward
   pass's three: grads of W_dec, of the activations, of W_enc), nothing else: the floor.
2. ``plain_loop``: a topk SAE trained here in a few lines (encode -> topk -> decode ->
   MSE, Adam), on the same batches from memory: what a step costs without bookkeeping.
3. ``saelens_from_memory``: sae-lens's ``SAETrainer``, batches from memory. Its phases are
   the trainer's and the SAE's own methods, wrapped while it runs (``Phases.wrap``): the
   encoder (matmul, decoder-norm rescale), the TopK activation, the decoder, the aux loss,
   the backward pass, grad clipping, Adam, and the rest of ``_train_step`` (the
   dead-feature bookkeeping: firing counts over the dense activations, and zero_grad).
4. ``train_sae``: the workbench's trainer on its stream, with the stream's phases: the
   engine's games, the model's forward pass (``harvest``), the shuffle and batching.
Times are exclusive (a phase's time less its named sub-phases'); ``other`` is the wall time
no phase covers. The operator table (``torch.profiler``, self CPU time) splits the same runs
by kind: matmul, topk, the rest. Prints a compact table; a record goes to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from functools import partial, wraps

import torch
from _timing import load_average, parse_args, write_record
from sae_lens import SAETrainer
from sae_lens.saes.topk_sae import TopK, TopKTrainingSAE
from sae_lens.training.activation_scaler import ActivationScaler
from torch.profiler import ProfilerActivity, profile

import workbench.saes.train as train_module
from workbench.models import load_model
from workbench.saes.loading import hook_width
from workbench.saes.train import (
    NORM_BATCHES,
    SAETrainConfig,
    activation_stream,
    recorded_model_name,
    train_sae,
)
from workbench.saes.trainer import trainer_config, training_sae

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::_addmm_activation"}


class Phases:
    """Exclusive wall time per named phase: a phase's time less the phases inside it."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._inner: list[float] = []  # time of named phases inside the open one

    @contextmanager
    def phase(self, name: str):
        self._inner.append(0.0)
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            inner = self._inner.pop()
            self.seconds[name] += spent - inner
            self.calls[name] += 1
            if self._inner:
                self._inner[-1] += spent

    def wrap(self, owner, attribute: str, name: str, stack: ExitStack) -> None:
        """Time ``owner.attribute`` (a class's or an object's) as ``name`` until ``stack``
        closes."""
        original = vars(owner).get(attribute)  # None: inherited, restored by deleting
        function = getattr(owner, attribute)

        @wraps(function)
        def timed(*args, **kwargs):
            with self.phase(name):
                return function(*args, **kwargs)

        setattr(owner, attribute, timed)
        if original is not None:
            stack.callback(setattr, owner, attribute, original)
        else:
            stack.callback(delattr, owner, attribute)

    def iterator(self, items, name: str):
        """``items``, the time spent making each counted as ``name``."""
        items = iter(items)
        while True:
            with self.phase(name):
                item = next(items, None)
            if item is None:
                return
            yield item


def profiled(run, phases: Phases, activations: int) -> dict:
    """Run ``run()`` once under torch.profiler and ``phases``; the record's row."""
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    wall = time.perf_counter() - start
    ops: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        kind = (
            "matmul"
            if event.key in MATMUL_OPS
            else "topk"
            if event.key == "aten::topk"
            else "other_ops"
        )
        ops[kind] += event.self_cpu_time_total / 1e6
    named = dict(sorted(phases.seconds.items(), key=lambda kv: -kv[1]))
    named["other"] = wall - sum(named.values())
    op_total = sum(ops.values())
    return {
        "wall_s": round(wall, 2),
        "activations_per_s": round(activations / wall),
        "phases_s": {k: round(v, 3) for k, v in named.items()},
        "phases_fraction": {k: round(v / wall, 3) for k, v in named.items()},
        "ops_fraction": {k: round(v / op_total, 3) for k, v in ops.items()},
        "top_ops_s": {
            e.key: round(e.self_cpu_time_total / 1e6, 2)
            for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
        },
    }


def plain_topk_loop(batches, d_in: int, d_sae: int, k: int, lr: float, scale: float):
    """A topk SAE trained in a few lines, each piece a phase of ``phases``."""
    torch.manual_seed(0)
    W_enc = torch.nn.Parameter(torch.randn(d_in, d_sae) / d_in**0.5)  # (d_in d_sae)
    W_dec = torch.nn.Parameter(W_enc.detach().T.clone() * 0.1)  # (d_sae d_in)
    b_enc = torch.nn.Parameter(torch.zeros(d_sae))
    b_dec = torch.nn.Parameter(torch.zeros(d_in))
    optimizer = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=lr)

    def run(phases: Phases):
        for batch in batches:
            x = batch * scale  # (batch d_in)
            with phases.phase("encode"):
                pre = (x - b_dec) @ W_enc + b_enc  # (batch d_sae)
            with phases.phase("topk"):
                values, indices = pre.topk(k, dim=-1, sorted=False)
                acts = torch.zeros_like(pre).scatter(-1, indices, values.relu())
            with phases.phase("decode"):
                out = acts @ W_dec + b_dec  # (batch d_in)
            with phases.phase("mse"):
                loss = (out - x).pow(2).sum(-1).mean()
            with phases.phase("backward"):
                loss.backward()
            with phases.phase("adam"):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

    return run


def matmuls_alone(batches, d_in: int, d_sae: int):
    """The five matmuls of a topk step on dense operands of a step's shapes."""
    W_enc, W_dec = torch.randn(d_in, d_sae), torch.randn(d_sae, d_in)

    def run(phases: Phases):
        with phases.phase("matmul"):
            for x in batches:
                acts = x @ W_enc  # encode (batch d_sae)
                out = acts @ W_dec  # decode (batch d_in)
                acts.T @ out  # grad W_dec
                out @ W_dec.T  # grad of the activations
                x.T @ acts  # grad W_enc

    return run


@contextmanager
def saelens_phases(phases: Phases):
    """sae-lens's per-step pieces timed as phases while the block runs."""
    with ExitStack() as stack:
        for owner, attribute, name in [
            (SAETrainer, "_train_step", "saelens_bookkeeping_and_zero_grad"),
            (SAETrainer, "maybe_reset_sparsity", "saelens_sparsity_window"),
            (SAETrainer, "_checkpoint_if_needed", "saelens_checkpoint_check"),
            (SAETrainer, "_update_pbar", "progress_bar"),
            (ActivationScaler, "scale", "saelens_input_scaling"),
            (TopKTrainingSAE, "training_forward_pass", "saelens_mse_and_hooks"),
            (TopKTrainingSAE, "encode_with_hidden_pre", "encode_matmul_and_norm_rescale"),
            (TopK, "forward", "topk_activation"),
            (TopKTrainingSAE, "decode", "decode"),
            (TopKTrainingSAE, "calculate_aux_loss", "saelens_aux_loss"),
            (torch.Tensor, "backward", "backward"),
            (torch.nn.utils, "clip_grad_norm_", "saelens_clip_grad_norm"),
            (torch.optim.Adam, "step", "adam"),
        ]:
            phases.wrap(owner, attribute, name, stack)
        for subclass in SAETrainer.__subclasses__():  # train_sae's, with its own bars
            if "_update_pbar" in vars(subclass):
                phases.wrap(subclass, "_update_pbar", "progress_bar", stack)
        yield


@contextmanager
def stream_phases(phases: Phases):
    """The activation stream's pieces (engine games, forward pass) timed as phases."""
    with ExitStack() as stack:
        phases.wrap(train_module, "play_games", "stream_engine_games", stack)
        phases.wrap(train_module, "harvest", "stream_forward_pass", stack)
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="othello")
    parser.add_argument("--hook", default="blocks.4.hook_resid_post")
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--buffer-games", type=int, default=2048, help="games per shuffle")
    parser.add_argument("--threads", type=int, default=2)
    args = parse_args(parser, tokens=8192, batch_size=1024, buffer_games=64)
    torch.set_num_threads(args.threads)
    load_before = load_average()
    model = load_model(args.model)
    n_steps = args.tokens // args.batch_size
    n_batches = n_steps + NORM_BATCHES
    cfg = SAETrainConfig(
        hook=args.hook, architecture="topk", n_tokens=args.tokens, seed=1,
        batch_size=args.batch_size, buffer_games=args.buffer_games,
    )  # fmt: skip
    d_in = hook_width(model, cfg.hook)
    d_sae = cfg.expansion * d_in
    stream = partial(  # the batches a run draws (sae_throughput.py's, the same seed)
        activation_stream, model, cfg.hook, batch_size=cfg.batch_size,
        buffer_games=cfg.buffer_games, seed=cfg.seed,
    )  # fmt: skip
    in_memory = torch.stack(list(stream(end=n_batches)))  # (batch n d_in)
    steps = in_memory[NORM_BATCHES:]  # the batches trained on, after the scale estimate's
    scale = d_in**0.5 / in_memory[:NORM_BATCHES].norm(dim=-1).mean().item()
    seen = n_steps * args.batch_size
    rows = {}

    phases = Phases()
    floor = matmuls_alone(steps, d_in, d_sae)
    rows["matmuls_alone"] = profiled(lambda: floor(phases), phases, seen)
    phases = Phases()
    loop = plain_topk_loop(steps, d_in, d_sae, cfg.k, cfg.lr, scale)
    rows["plain_loop"] = profiled(lambda: loop(phases), phases, seen)

    phases = Phases()

    def saelens_from_memory():
        sae = training_sae(cfg, d_in, recorded_model_name(cfg, model))
        trainer = SAETrainer(
            trainer_config(cfg, None, 0), sae, phases.iterator(in_memory, "batches_from_memory")
        )
        with saelens_phases(phases):
            trainer.fit()

    rows["saelens_from_memory"] = profiled(saelens_from_memory, phases, seen)

    phases = Phases()

    def timed_stream(**kwargs):  # the time to make each batch, less the named phases'
        return phases.iterator(stream(**kwargs), "stream_shuffle_and_batching")

    def stream_alone():
        for _ in timed_stream(end=n_batches):
            pass

    with stream_phases(phases):
        rows["stream_alone"] = profiled(stream_alone, phases, seen)

    phases = Phases()

    def workbench():
        with saelens_phases(phases):
            train_sae(model, cfg, activations=timed_stream)

    with stream_phases(phases):
        rows["train_sae"] = profiled(workbench, phases, seen)

    names = list(rows)
    print(f"{'':<36}" + "".join(f"{n:>21}" for n in names))
    print(f"{'activations/s':<36}" + "".join(f"{rows[n]['activations_per_s']:>21,}" for n in names))
    all_phases = list(dict.fromkeys(p for n in names for p in rows[n]["phases_fraction"]))
    for p in all_phases:
        cells = [rows[n]["phases_fraction"].get(p) for n in names]
        print(f"{p:<36}" + "".join(f"{'' if c is None else f'{c:.1%}':>21}" for c in cells))
    for kind in ("matmul", "topk", "other_ops"):
        cells = [rows[n]["ops_fraction"].get(kind, 0.0) for n in names]
        print(f"{'ops: ' + kind:<36}" + "".join(f"{c:>21.1%}" for c in cells))
    if args.quick:
        return
    path = write_record(
        f"sae_profile-{args.model}",
        {
            "parameters": vars(args),
            "threads": torch.get_num_threads(),
            "d_sae": d_sae,
            "activations": seen,
            "runs": rows,
        },
        load_before=load_before,
    )
    print(f"record: {path}")


if __name__ == "__main__":
    main()
