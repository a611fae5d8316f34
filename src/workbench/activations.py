"""Harvest activations at chosen hook sites, aligned with exact board labels.

1. Hook names are checked against ``model.hook_dict``: an unknown one fails with the list
   of valid names (a typo never silently records nothing).
2. Games run in batches; temporary hooks copy only the requested sites, and the forward
   pass stops after the last block that any of them needs (no full cache, no unembed).
   ``harvest`` copies each batch straight into one preallocated tensor per site.
3. Position ``p`` has read moves ``0..p``, so it is labelled with the state after move
   ``p``: the board (mine/theirs/empty for the player to move next, and black/white/empty),
   the stones move ``p`` flipped, the legal next moves, the player to move, the move number.
4. Results stay in memory, or go to disk as safetensors shards of ``shard_games`` games
   (fp16 optional), so memory stays bounded for large runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from workbench.files import atomic_write, write_json
from workbench.models.config import require_othello_model
from workbench.othello.engine import GameRecord
from workbench.othello.tokens import N_CTX, model_inputs

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


class HookNameError(KeyError):
    """A hook name that the model does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


def validate_hooks(model: HookedTransformer, names: list[str] | str) -> list[str]:
    """Return ``names`` as a list, or fail loudly naming the valid hook sites."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in model.hook_dict]
    if unknown:
        per_block = sorted({n.split(".", 2)[2] for n in model.hook_dict if n.startswith("blocks.")})
        other = sorted(n for n in model.hook_dict if not n.startswith("blocks."))
        raise HookNameError(
            f"Unknown hook name(s) {unknown}. Valid names for this model: blocks.L.SITE for "
            f"L in 0..{model.cfg.n_layers - 1} and SITE one of {per_block}, or one of {other}."
        )
    return names


def _requested_hooks(model: HookedTransformer, hooks: list[str] | str) -> list[str]:
    """``validate_hooks``, and at least one: a harvest of nothing is a mistake."""
    names = validate_hooks(model, hooks)
    if not names:
        raise HookNameError(
            "No hook names given: name at least one site to harvest, e.g. "
            f"{resid_post_sites(model)[:2]} (every residual site: resid_sites(model))."
        )
    return names


def resid_post_sites(model: HookedTransformer) -> list[str]:
    """The residual stream after each block, in layer order (where SAEs are trained)."""
    return [f"blocks.{layer}.hook_resid_post" for layer in range(model.cfg.n_layers)]


def resid_sites(model: HookedTransformer) -> list[str]:
    """Every residual-stream site, in order: before block 0, then after each block."""
    return ["blocks.0.hook_resid_pre", *resid_post_sites(model)]


def hook_layer(name: str) -> int:
    """The block a per-block hook site belongs to (``blocks.3.hook_resid_post`` -> 3).

    The one place a layer is read out of a hook name; a site outside the blocks
    (``hook_embed``, ``ln_final.hook_scale``) or a malformed name fails loudly.
    """
    parts = name.split(".")
    if len(parts) < 3 or parts[0] != "blocks" or not parts[1].isdigit():
        raise HookNameError(
            f"{name!r} is not a per-block hook site: expected 'blocks.<layer>.<hook>', "
            "e.g. 'blocks.2.hook_resid_post'."
        )
    return int(parts[1])


def blocks_needed(model: HookedTransformer, name: str) -> int:
    """How many blocks must run for hook ``name`` to fire (n_layers + 1: the whole model)."""
    validate_hooks(model, name)
    if name.startswith("blocks."):
        return hook_layer(name) + 1
    if name in ("hook_embed", "hook_pos_embed", "hook_tokens"):
        return 0
    return model.cfg.n_layers + 1  # ln_final, unembed


@dataclass(frozen=True)
class Labels:
    """Exact labels for every (game, position) of a batch of games."""

    relative: Int[Tensor, "game pos 64"]  # EMPTY / MINE / THEIRS for the player to move
    absolute: Int[Tensor, "game pos 64"]  # EMPTY / BLACK / WHITE
    flipped: Bool[Tensor, "game pos 64"]  # flipped by the move at this position
    legal: Bool[Tensor, "game pos 64"]  # legal next moves
    player: Int[Tensor, "game pos"]  # BLACK / WHITE to move next
    move_number: Int[Tensor, "game pos"]  # moves read so far (1..59)
    valid: Bool[Tensor, "game pos"]  # the position holds a real move (not padding)

    @classmethod
    def from_games(cls, games: GameRecord) -> Labels:
        states = slice(1, N_CTX + 1)  # position p -> state p + 1
        n_games = games.n_games
        return cls(
            relative=torch.from_numpy(games.boards("relative")[:, states].astype(np.int64)),
            absolute=torch.from_numpy(games.boards("absolute")[:, states].astype(np.int64)),
            flipped=torch.from_numpy(games.flipped_mask()[:, states]),
            legal=torch.from_numpy(games.legal_mask()[:, states]),
            player=torch.from_numpy(games.player[:, states].astype(np.int64)),
            move_number=torch.arange(1, N_CTX + 1).expand(n_games, N_CTX).clone(),
            valid=torch.from_numpy(games.moves[:, :N_CTX] >= 0),
        )

    def property(self, name: str) -> Int[Tensor, "game pos 64"]:
        """A per-square property as class indices: relative, absolute, flipped or legal."""
        if name not in PROPERTIES:
            raise ValueError(f"Unknown property {name!r}; valid: {sorted(PROPERTIES)}.")
        return getattr(self, name).long()


#: Board properties with their class names, as probes and SAE scoring use them.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "relative": ("empty", "mine", "theirs"),
    "absolute": ("empty", "black", "white"),
    "flipped": ("not flipped", "flipped"),
    "legal": ("not legal", "legal"),
}


class Activations:
    """Activations of some hook sites for a set of games, with their labels.

    Labels are computed from ``games`` on first use (or given, when read from disk), so
    harvesting itself pays only for the forward passes.
    """

    def __init__(
        self,
        acts: dict[str, Float[Tensor, "game pos d"]],
        labels: Labels | None = None,
        games: GameRecord | None = None,
    ):
        if labels is None and games is None:
            raise ValueError("Activations need either labels or the games to compute them.")
        self.acts, self._labels, self.games = acts, labels, games

    @property
    def labels(self) -> Labels:
        if self._labels is None:
            self._labels = Labels.from_games(self.games)
        return self._labels

    def flat(self, name: str) -> tuple[Float[Tensor, "n d"], Bool[Tensor, "game pos"]]:
        """Activations at the valid positions only, and the mask that selected them."""
        return self.acts[name][self.labels.valid], self.labels.valid


def _batches(tokens: Tensor, batch_size: int, desc: str, progress: bool) -> Iterator[Tensor]:
    starts = range(0, len(tokens), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not progress):
        yield tokens[start : start + batch_size]


def _prepared(
    model: HookedTransformer, games: GameRecord, hooks: list[str] | str
) -> tuple[list[str], Int[Tensor, "game pos"], Callable[[Tensor], None]]:
    """The checked hook names, the games' tokens, and a forward pass that runs only the
    blocks those hooks need."""
    require_othello_model(model)
    names = _requested_hooks(model, hooks)
    needed = max(blocks_needed(model, n) for n in names)

    def forward(tokens: Tensor) -> None:
        if needed > model.cfg.n_layers:  # a hook after the last block: run it all
            model(tokens, return_type=None)
        else:  # skip the later blocks
            model(tokens, stop_at_layer=needed)

    return names, torch.from_numpy(model_inputs(games)).to(model.cfg.device), forward


@torch.inference_mode()
def harvest_batches(
    model: HookedTransformer,
    games: GameRecord,
    hooks: list[str] | str,
    *,
    batch_size: int = 256,
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> Iterator[dict[str, Float[Tensor, "batch pos d"]]]:
    """Yield the requested sites' activations, one batch of games at a time."""
    names, tokens, forward = _prepared(model, games, hooks)
    store: dict[str, Tensor] = {}

    def save(activation: Tensor, hook) -> None:
        store[hook.name] = activation.to("cpu", dtype)

    fwd_hooks = [(name, save) for name in names]
    for batch in _batches(tokens, batch_size, "harvest", progress):
        with model.hooks(fwd_hooks=fwd_hooks):  # removed even if the forward pass fails
            forward(batch)
        yield dict(store)
        store.clear()


#: ``harvest``'s default batching: one forward pass's working memory at most this share of
#: the result (issue 40: peak memory <= 1.3x the result).
FORWARD_MEMORY_SHARE = 0.25
#: Games in that default's first forward pass (which measures the result's width) and the
#: fewest per pass after it; the most per pass is the fixed batch it replaced.
MIN_GAMES, MAX_GAMES = 8, 256


def forward_bytes_per_game(model: HookedTransformer) -> int:
    """Working memory of one game's forward pass, an upper estimate: per position, the MLP's
    hidden layer before and after its nonlinearity, a few residual-width tensors, and the
    attention scores and pattern, in float32, times 1.5. Measured on ``othello`` (six
    layers, d_model 256; peak of one harvest in a fresh process, less the result): 1.2 MB a
    game at 32 and 128 games a pass, 1.6 MB at 256; this gives 1.6 MB."""
    c = model.cfg
    per_position = 2 * c.d_mlp + 6 * c.d_model + 2 * c.n_heads * c.n_ctx
    return int(1.5 * 4 * per_position * c.n_ctx)


def memory_bounded_games(model: HookedTransformer, result_bytes: int) -> int:
    """Games per forward pass so that one pass's working memory stays within
    ``FORWARD_MEMORY_SHARE`` of a ``result_bytes`` result, clamped to
    ``MIN_GAMES``..``MAX_GAMES``."""
    games = int(FORWARD_MEMORY_SHARE * result_bytes) // forward_bytes_per_game(model)
    return max(MIN_GAMES, min(MAX_GAMES, games))


@torch.inference_mode()
def harvest(
    model: HookedTransformer,
    games: GameRecord,
    hooks: list[str] | str,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> Activations:
    """Activations of ``hooks`` for all ``games``, in memory, with labels.

    Each site's output is allocated once, at its full size, when the first batch reaches
    it; the hooks copy every batch straight into its rows, so the peak memory is the
    result plus one batch's forward pass (no per-batch copies, no concatenation). With no
    ``batch_size``, the first pass runs ``MIN_GAMES`` games, which sizes the result, and
    the rest run ``memory_bounded_games`` games a pass: one pass's working memory within a
    quarter of the result.
    """
    names, tokens, forward = _prepared(model, games, hooks)
    out: dict[str, Tensor] = {}
    rows = slice(0, 0)

    def write(activation: Tensor, hook) -> None:
        if hook.name not in out:
            shape = (len(tokens), *activation.shape[1:])
            out[hook.name] = torch.empty(shape, dtype=dtype, device="cpu")
        out[hook.name][rows].copy_(activation)

    size = batch_size or MIN_GAMES
    bar = tqdm(total=len(tokens), desc="harvest", unit="game", disable=not progress)
    with bar, model.hooks(fwd_hooks=[(name, write) for name in names]):  # removed on any error
        while rows.stop < len(tokens):
            rows = slice(rows.stop, rows.stop + size)
            forward(tokens[rows])
            bar.update(len(tokens[rows]))
            if batch_size is None and rows.start == 0:
                result = sum(t.numel() * t.element_size() for t in out.values())
                size = memory_bounded_games(model, result)
    return Activations({name: out[name] for name in names if name in out}, games=games)


def harvest_to_disk(
    model: HookedTransformer,
    games: GameRecord,
    hooks: list[str] | str,
    folder: str | Path,
    *,
    shard_games: int = 1024,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float16,
    progress: bool = True,
) -> Path:
    """Write activations and labels as safetensors shards of ``shard_games`` games each.

    Memory holds one shard at a time, each harvested as ``harvest`` batches it (no
    ``batch_size``: its memory-bounded default). ``load_shards`` reads them back.
    """
    folder = Path(folder)
    names = _requested_hooks(model, hooks)
    n_shards = 0
    for n_shards, start in enumerate(range(0, games.n_games, shard_games), start=1):
        chunk = games[start : start + shard_games]
        acts = harvest(model, chunk, names, batch_size=batch_size, dtype=dtype, progress=progress)
        tensors = {f"act.{k}": v.contiguous() for k, v in acts.acts.items()}
        tensors.update({f"label.{k}": v.contiguous() for k, v in vars(acts.labels).items()})
        path = folder / f"shard-{n_shards - 1:05d}.safetensors"
        atomic_write(path, lambda p, t=tensors: save_file(t, str(p)))
    write_json(
        folder / "index.json", {"hooks": names, "n_shards": n_shards, "n_games": games.n_games}
    )
    return folder


def load_shards(folder: str | Path) -> Activations:
    """Read back everything ``harvest_to_disk`` wrote."""
    folder = Path(folder)
    index = json.loads((folder / "index.json").read_text())
    shards = [
        load_file(str(folder / f"shard-{i:05d}.safetensors")) for i in range(index["n_shards"])
    ]
    acts = {h: torch.cat([s[f"act.{h}"] for s in shards]) for h in index["hooks"]}
    labels = Labels(
        **{f: torch.cat([s[f"label.{f}"] for s in shards]) for f in Labels.__dataclass_fields__}
    )
    return Activations(acts, labels=labels)


def chunked_batches(
    chunk: Callable[[int, int], Float[Tensor, "n d"]],
    *,
    per_chunk: int,
    batch_size: int,
    start: int = 0,
    end: int | None = None,
) -> Iterator[Float[Tensor, "batch d"]]:
    """Batches from numbered chunks of shuffled activations, the first ``per_chunk`` of each,
    from batch ``start`` up to (not including) batch ``end``; endless without ``end``.

    ``chunk(c, n)`` makes chunk ``c``, of which the first ``n`` batches are taken: ``n`` is
    ``per_chunk`` except in the chunk that holds batch ``end - 1``, where a stream may make
    only the activations those ``n`` batches need. The chunks before ``start`` are never
    made, so a resumed run sees the batches an uninterrupted one would have."""
    first, skip = divmod(start, per_chunk)
    for c in itertools.count(first):
        n = per_chunk if end is None else min(per_chunk, end - c * per_chunk)
        if n <= skip:  # ``end`` reached
            return
        acts = chunk(c, n)
        for i in range(skip, n):
            yield acts[i * batch_size : (i + 1) * batch_size]
        skip = 0
