"""Exact patching sweeps with many interventions per forward pass.

The numbers are the ones one patched forward pass per cell gives (checked against that
loop cell by cell in ``tests/attribution/test_batched_patching.py``); only the scheduling changes:

1. One clean and one corrupted run cache the patched sites and the residual stream before
   every block; their logits give the clean and corrupted metric.
2. A cell whose clean activation equals the corrupted one bit for bit (every position
   before the first differing token, in a causal model) is a patch that writes what is
   already there: its restored fraction is exactly 0 and no pass is run for it.
3. The other cells of one block (heads x positions, positions of the residual stream, or
   one layer's MLP neurons x positions) are stacked into batches of at most ``batch_size``
   rows, row ``i`` patched at its own cell only, so memory is bounded by ``batch_size``
   copies of one game's activations.
4. Each batch starts at its block from the cached corrupted residual stream
   (``start_at_layer``): the blocks before it are the same for every row and run once.
5. ``path_patching_sweep`` batches sender sets the same way: one frozen pass records every
   set's receiver inputs, one more pass (from the first receiver's block) reads the metric.
All hooks are temporary (``model.hooks``): an exception never leaves one behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import hook_layer, validate_hooks

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

Kind = Literal["resid", "heads", "neurons"]
KINDS = ("resid", "heads", "neurons")
Metric = Callable[[Tensor], Tensor]


def restored_fraction(
    values: Float[Tensor, "..."], clean: float, corrupted: float
) -> Float[Tensor, "..."]:
    """``(value - corrupted) / (clean - corrupted)``; NaN where clean equals corrupted."""
    if clean == corrupted:
        return torch.full_like(values, float("nan"))
    return (values - corrupted) / (clean - corrupted)


def _site(kind: Kind, layer: int) -> str:
    return {
        "resid": f"blocks.{layer}.hook_resid_pre",  # (batch pos d_model)
        "heads": f"blocks.{layer}.attn.hook_z",  # (batch pos n_heads d_head)
        "neurons": f"blocks.{layer}.mlp.hook_post",  # (batch pos d_mlp)
    }[kind]


def _can_start_inside(model: HookedTransformer) -> bool:
    # a shortformer adds the positional embedding inside every attention layer from the
    # tokens' embedding pass, which ``start_at_layer`` skips
    return model.cfg.positional_embedding_type != "shortformer"


def _row_values(metric: Metric, logits: Float[Tensor, "batch pos d_vocab"]) -> list[float]:
    return [float(metric(logits[i : i + 1])) for i in range(len(logits))]


@torch.no_grad()
def patch_sweep(
    model: HookedTransformer,
    clean_tokens: Int[Tensor, "1 pos"],
    corrupted_tokens: Int[Tensor, "1 pos"],
    metric: Metric,
    *,
    kind: Kind = "resid",
    layer: int | None = None,
    positions: Sequence[int] | None = None,
    batch_size: int = 256,
    skip_unchanged: bool = True,
    progress: bool = True,
) -> Float[Tensor, "unit pos"]:
    """Restored fraction of ``metric`` for every unit (residual layer, layer x head in
    layer-major order, or ``"neurons"``: the MLP neurons of ``layer`` at ``mlp.hook_post``)
    x position, each cell one activation copied from the clean run into the corrupted one.
    ``skip_unchanged=False`` runs the no-op cells too (step 2)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if (kind == "neurons") != (layer is not None):
        raise ValueError("Give layer for kind='neurons' (one layer's neurons), and only then.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    clean_tokens = torch.as_tensor(clean_tokens)
    corrupted_tokens = torch.as_tensor(corrupted_tokens)
    positions = list(range(clean_tokens.shape[1])) if positions is None else list(positions)
    pos = torch.tensor(positions, dtype=torch.long)
    layers = range(n_layers) if layer is None else [layer]
    sites = validate_hooks(model, [_site(kind, i) for i in layers])
    starts = [f"blocks.{i}.hook_resid_pre" for i in range(n_layers)]
    clean_logits, clean_cache = model.run_with_cache(clean_tokens, names_filter=sites)
    corrupted_logits, corrupted_cache = model.run_with_cache(
        corrupted_tokens, names_filter=sorted(set(sites + [starts[i] for i in layers]))
    )
    clean, corrupted = float(metric(clean_logits)), float(metric(corrupted_logits))
    units = {"resid": 1, "heads": n_heads, "neurons": model.cfg.d_mlp}[kind]  # per layer
    values = torch.full((len(layers), units, len(positions)), corrupted, dtype=torch.float64)
    inside = _can_start_inside(model)
    bar = tqdm(total=values.numel(), desc=f"patching {kind}", unit="cell", disable=not progress)
    for row, (block, site) in enumerate(zip(layers, sites, strict=True)):
        clean_act, corrupted_act = clean_cache[site][0], corrupted_cache[site][0]
        if kind == "resid":  # (pos d_model) -> (1 pos d_model): one unit
            clean_act, corrupted_act = clean_act[None], corrupted_act[None]
        elif kind == "heads":  # (pos n_heads d_head) -> (n_heads pos d_head)
            clean_act, corrupted_act = clean_act.transpose(0, 1), corrupted_act.transpose(0, 1)
        else:  # (pos d_mlp) -> (d_mlp pos 1)
            clean_act, corrupted_act = clean_act.T[..., None], corrupted_act.T[..., None]
        differs = (clean_act[:, pos] != corrupted_act[:, pos]).flatten(2).any(-1)  # (unit pos)
        if not skip_unchanged:
            differs = torch.ones_like(differs)
        cells = differs.nonzero()  # (cell 2): unit index, index into positions
        bar.update(int(values[row].numel() - len(cells)))
        for chunk in cells.split(batch_size):
            unit, p = chunk[:, 0], pos[chunk[:, 1]]
            rows = torch.arange(len(chunk))

            def patch(act, hook, unit=unit, p=p, rows=rows, site=site):
                if kind == "resid":
                    act[rows, p] = clean_cache[site][0, p]
                else:  # a head's (d_head) vector, or a neuron's value
                    act[rows, p, unit] = clean_cache[site][0, p, unit]
                return act

            with model.hooks(fwd_hooks=[(site, patch)]):
                if inside:
                    start = corrupted_cache[starts[block]].expand(len(chunk), -1, -1).clone()
                    logits = model(start, start_at_layer=block)
                else:
                    logits = model(corrupted_tokens.expand(len(chunk), -1))
            values[row, chunk[:, 0], chunk[:, 1]] = torch.tensor(
                _row_values(metric, logits), dtype=torch.float64
            )
            bar.update(len(chunk))
    bar.close()
    return restored_fraction(
        values.reshape(len(layers) * units, len(positions)), clean, corrupted
    ).float()


@torch.no_grad()
def path_patching_sweep(
    model: HookedTransformer,
    pair,
    sender_sets: Sequence[Sequence[tuple[int, int]]],
    receivers: list[str],
    *,
    batch_size: int = 64,
) -> Float[Tensor, " sender_set"]:
    """``path_patching`` for many sender sets at once: restored fraction of the metric when
    each set's (layer, head) senders act through ``receivers`` only, one value per set
    (float64, as ``path_patching`` returns it)."""
    validate_hooks(model, receivers)
    metric = pair.metric()
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    z_hooks = [_site("heads", layer) for layer in range(n_layers)]
    mlp_hooks = [f"blocks.{layer}.hook_mlp_out" for layer in range(n_layers)]
    starts = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    clean_logits, clean_cache = model.run_with_cache(pair.clean, names_filter=z_hooks)
    corrupted_logits, corr_cache = model.run_with_cache(
        pair.corrupted, names_filter=z_hooks + mlp_hooks + starts
    )
    clean, corrupted = float(metric(clean_logits)), float(metric(corrupted_logits))
    masks = torch.zeros(len(sender_sets), n_layers, n_heads, dtype=torch.bool)
    for row, senders in enumerate(sender_sets):
        for layer, head in senders:
            masks[row, layer, head] = True
    per_block = all(r.startswith("blocks.") for r in receivers)
    first = min(hook_layer(r) for r in receivers) if per_block and _can_start_inside(model) else 0
    tokens = torch.as_tensor(pair.corrupted)
    values: list[float] = []
    received: dict[str, Tensor] = {}  # one batch's receiver inputs, recorded in stage 1

    def record(act, hook):
        received[hook.name] = act.clone()
        return act

    for mask in masks.split(batch_size):
        n = len(mask)

        def freeze(act, hook, mask=mask, n=n):
            corr = corr_cache[hook.name].expand(n, *act.shape[1:])
            if hook.name.endswith("hook_mlp_out"):
                return corr.clone()
            chosen = mask[:, hook_layer(hook.name)][:, None, :, None]  # (batch 1 n_heads 1)
            return torch.where(chosen, clean_cache[hook.name], corr)

        stage1 = [(h, freeze) for h in z_hooks + mlp_hooks] + [(r, record) for r in receivers]
        with model.hooks(fwd_hooks=stage1):
            model(tokens.expand(n, -1), return_type=None)
        stage2 = [(r, lambda act, hook: received[hook.name]) for r in receivers]
        with model.hooks(fwd_hooks=stage2):
            if first > 0:
                logits = model(
                    corr_cache[starts[first]].expand(n, -1, -1).clone(), start_at_layer=first
                )
            else:
                logits = model(tokens.expand(n, -1))
        values += _row_values(metric, logits)
    return restored_fraction(torch.tensor(values, dtype=torch.float64), clean, corrupted)
