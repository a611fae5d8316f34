"""Activation patching, path patching and attribution patching on clean/corrupted games.

1. ``minimal_pair``: a clean game prefix and a corrupted one that differ in one move
   (another legal move from the same state; every later move kept), so only a few squares
   differ; the metric
   is the logit difference between a move legal after the clean prefix and one legal
   after the corrupted prefix but not the clean one.
2. ``activation_patching``: run the corrupted input with one activation (a residual site at
   one position, one head's output at one position, or one MLP neuron of a chosen layer at
   one position) taken from the clean run;
   report ``(patched - corrupted) / (clean - corrupted)`` of the metric: 1 = the patch
   restores the clean behaviour, 0 = no effect. The values of one forward pass per patch,
   run many patches per pass (``batched_patching``).
3. ``attribution_patching`` (Nanda's AtP): the same quantity to first order,
   ``(clean_act - corrupted_act) . d metric / d act`` at the corrupted run, for every site
   at once from one clean forward and one corrupted forward + backward pass.
4. ``path_patching``: the effect of sender heads through chosen receivers only: patch the
   senders from clean with every other head and MLP frozen at corrupted, record the
   receivers' inputs, then run corrupted with just those inputs replaced (many sender
   sets per pass: ``batched_patching.path_patching_sweep``).
All hooks are temporary (``model.hooks``): an exception never leaves one behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.attribution.batched_patching import patch_sweep, path_patching_sweep
from workbench.attribution.logit import Metric, logit_metric
from workbench.othello.engine import replay
from workbench.othello.squares import SQUARE_NAMES
from workbench.othello.tokens import encode

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


@dataclass
class MinimalPair:
    clean: Int[Tensor, "1 pos"]
    corrupted: Int[Tensor, "1 pos"]
    position: int  # the last position, where the metric is read
    differ_at: int  # the position whose move differs
    move: int  # legal after the clean prefix, not after the corrupted one
    versus: int  # legal after the corrupted prefix, not after the clean one
    changed: list[int]  # squares whose state differs between the two boards

    def metric(self) -> Metric:
        """Logit of ``move`` minus logit of ``versus`` at the last position."""
        return logit_metric(self.position, self.move, self.versus)

    def describe(self) -> str:
        return (
            f"move {self.differ_at} differs (metric read at position {self.position}); "
            "squares that differ: "
            f"{', '.join(SQUARE_NAMES[s] for s in self.changed)}; metric: logit "
            f"{SQUARE_NAMES[self.move]} - logit {SQUARE_NAMES[self.versus]}"
        )


@dataclass
class TokenPair:
    """Any clean/corrupted pair of token sequences with a logit-difference metric: what the
    patching functions need (``MinimalPair`` is the Othello one; language models build
    these, e.g. ``text.induction.induction_pair``)."""

    clean: Int[Tensor, "1 pos"]
    corrupted: Int[Tensor, "1 pos"]
    position: int  # where the metric is read
    answer: int  # token the clean run should predict there
    wrong: int  # the token it is compared with

    def metric(self) -> Metric:
        """Logit of ``answer`` minus logit of ``wrong`` at ``position`` (token ids)."""

        def metric(logits):
            return (
                logits[:, self.position, self.answer] - logits[:, self.position, self.wrong]
            ).sum()

        return metric


def minimal_pair(
    moves, position: int, *, differ_at: int | None = None, seed: int = 0
) -> MinimalPair:
    """Clean = ``moves[:position + 1]``; corrupted replaces move ``differ_at`` (default:
    the last one) by another legal move, keeps every later move (they must stay legal),
    and is chosen so that some move is legal after one game and not after the other."""
    moves = [int(m) for m in moves]
    if not 0 <= position < len(moves):
        raise ValueError(f"position must be in 0..{len(moves) - 1}, got {position}.")
    differ_at = position if differ_at is None else differ_at
    if not 0 <= differ_at <= position:
        raise ValueError(f"differ_at must be in 0..{position}, got {differ_at}.")
    clean_moves = moves[: position + 1]
    clean = replay([clean_moves])
    clean_next = clean.legal_mask()[0, position + 1]
    legal_there = np.flatnonzero(clean.legal_mask()[0, differ_at])
    rng = np.random.default_rng(seed)
    for alt in rng.permutation([m for m in legal_there if m != moves[differ_at]]):
        corrupted_moves = clean_moves[:differ_at] + [int(alt)] + clean_moves[differ_at + 1 :]
        try:
            corrupted = replay([corrupted_moves])
        except ValueError:  # a later move became illegal
            continue
        if (corrupted.player[0] != clean.player[0]).any():
            continue  # a pass moved: the two games are not aligned move for move
        corrupted_next = corrupted.legal_mask()[0, position + 1]
        only_clean = np.flatnonzero(clean_next & ~corrupted_next)
        only_corrupted = np.flatnonzero(corrupted_next & ~clean_next)
        if len(only_clean) and len(only_corrupted):
            changed = np.flatnonzero(
                clean.boards()[0, position + 1] != corrupted.boards()[0, position + 1]
            )
            return MinimalPair(
                clean=torch.from_numpy(encode(np.array([clean_moves]))),
                corrupted=torch.from_numpy(encode(np.array([corrupted_moves]))),
                position=position,
                differ_at=differ_at,
                move=int(only_clean[0]),
                versus=int(only_corrupted[0]),
                changed=[int(s) for s in changed],
            )
    raise ValueError(
        f"No alternative to move {differ_at} keeps the later moves legal and changes the "
        "legal moves both ways; try another position, differ_at or game."
    )


def _restored(value: float, clean: float, corrupted: float) -> float:
    return (value - corrupted) / (clean - corrupted) if clean != corrupted else float("nan")


def activation_patching(
    model: HookedTransformer,
    pair: MinimalPair | TokenPair,
    *,
    kind: str = "resid",
    layer: int | None = None,
    positions: list[int] | None = None,
    batch_size: int = 256,
    progress: bool = True,
) -> Float[Tensor, "site pos"]:
    """Exact patching sweep: ``kind`` ``"resid"`` (layer x position, at
    ``blocks.L.hook_resid_pre``), ``"heads"`` (head x position, at ``attn.hook_z``) or
    ``"neurons"`` (the MLP neurons of ``layer`` x position, at ``blocks.L.mlp.hook_post``).

    The values of one patched run per cell, computed with up to ``batch_size`` cells of
    one block per forward pass, started at that block (``batched_patching.patch_sweep``);
    a progress bar counts the cells.
    """
    return patch_sweep(
        model, pair.clean, pair.corrupted, pair.metric(), kind=kind, layer=layer,
        positions=positions, batch_size=batch_size, progress=progress,
    )  # fmt: skip


def attribution_patching(
    model: HookedTransformer,
    pair: MinimalPair | TokenPair,
    *,
    kind: str = "resid",
    positions: list[int] | None = None,
) -> Float[Tensor, "site pos"]:
    """First-order (AtP) estimate of ``activation_patching``, same shape, two passes."""
    metric = pair.metric()
    positions = list(range(pair.clean.shape[1])) if positions is None else positions
    hooks = _sites(model, kind)
    with torch.no_grad():
        clean_value, clean_cache = model.run_with_cache(pair.clean, names_filter=hooks)
    clean = float(metric(clean_value))
    acts: dict[str, Tensor] = {}

    def keep(act, hook):
        acts[hook.name] = act
        return act

    with torch.enable_grad(), model.hooks(fwd_hooks=[(h, keep) for h in hooks]):
        value = metric(model(pair.corrupted))
        grads = dict(zip(hooks, torch.autograd.grad(value, [acts[h] for h in hooks]), strict=True))
    corrupted = float(value.detach())
    rows = []
    for hook, head in _units(model, kind):
        delta = (clean_cache[hook] - acts[hook].detach()) * grads[hook]
        per_pos = delta[0].sum(-1) if head is None else delta[0, :, head].sum(-1)
        rows.append([_restored(corrupted + float(per_pos[p]), clean, corrupted) for p in positions])
    return torch.tensor(rows)


def _sites(model: HookedTransformer, kind: str) -> list[str]:
    if kind == "resid":
        return [f"blocks.{i}.hook_resid_pre" for i in range(model.cfg.n_layers)]
    if kind == "heads":
        return [f"blocks.{i}.attn.hook_z" for i in range(model.cfg.n_layers)]
    raise ValueError(f"kind must be 'resid' or 'heads', got {kind!r}.")


def _units(model: HookedTransformer, kind: str) -> list[tuple[str, int | None]]:
    if kind == "resid":
        return [(h, None) for h in _sites(model, kind)]
    return [(h, head) for h in _sites(model, kind) for head in range(model.cfg.n_heads)]


def unit_labels(model: HookedTransformer, kind: str, layer: int | None = None) -> list[str]:
    """Row labels of a sweep: ``L3`` (resid before layer 3), ``L3.H1`` or ``L3.N17``
    (``kind="neurons"`` of ``layer``)."""
    if kind == "neurons":
        return [f"L{layer}.N{n}" for n in range(model.cfg.d_mlp)]
    if kind == "resid":
        return [f"L{i}" for i in range(model.cfg.n_layers)]
    return [f"L{i}.H{h}" for i in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]


def path_patching(
    model: HookedTransformer,
    pair: MinimalPair | TokenPair,
    senders: list[tuple[int, int]],
    receivers: list[str],
) -> float:
    """Restored fraction of the metric when ``senders`` (layer, head) act through
    ``receivers`` (hook names such as ``blocks.3.hook_resid_pre`` or
    ``blocks.3.hook_resid_mid``, or ``ln_final.hook_normalized``'s input
    ``blocks.{n-1}.hook_resid_post``) only. Many sender sets in one batch:
    ``batched_patching.path_patching_sweep``."""
    return float(path_patching_sweep(model, pair, [senders], receivers)[0])


def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two sweeps (cells that are NaN in either are dropped)."""
    ok = ~(a.isnan() | b.isnan())
    ra = a[ok].flatten().argsort().argsort().double()
    rb = b[ok].flatten().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def find_minimal_pair(games, position: int, *, differ_at: int | None = None, seed: int = 0):
    """The first game of ``games`` (a ``GameRecord``) that has a minimal pair; (index, pair)."""
    for g in range(games.n_games):
        try:
            return g, minimal_pair(games.moves[g], position, differ_at=differ_at, seed=seed)
        except ValueError:
            continue
    raise ValueError(
        f"None of the {games.n_games} games has a minimal pair at position {position} "
        f"differing at {differ_at}: pass more games or move differ_at closer to position."
    )
