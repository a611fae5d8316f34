"""Per-layer transcoders: a sparse, wider stand-in for each MLP (MLP input -> MLP output).

sae-lens has no transcoder trainer, so this module trains them, and saves them as
sae-lens ``Transcoder``s (architecture ``"transcoder"``: ReLU features, ``W_dec`` into the
MLP's output space) so that ``SAE.load_from_disk`` loads them.

1. Stream pairs (``blocks.L.ln2.hook_normalized``, ``blocks.L.hook_mlp_out``) from fresh
   random games, shuffled across ``buffer_games`` games; the run's last chunk harvests
   only the games its batches need.
2. Minimise ``||y - y_hat||^2 / E||y - E y||^2 + l1 * sum_i f_i ||W_dec[i]||`` with Adam,
   ``y_hat = W_dec f + b_dec (+ W_skip x``, a linear skip path, by default: a skip
   transcoder, Paulo et al. 2025, which leaves the features to what is not linear)
   (scale-free: the reconstruction term is a fraction of the output's variance); the
   learning rate decays linearly over the last fifth.
3. Report the held-out fraction of variance explained and L0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float
from sae_lens.saes.sae import SAEMetadata
from sae_lens.saes.transcoder import (
    SkipTranscoder,
    SkipTranscoderConfig,
    Transcoder,
    TranscoderConfig,
)
from torch import Tensor
from tqdm.auto import tqdm

from workbench import paths
from workbench.activations import chunked_batches, harvest, hook_layer
from workbench.models.registry import canonical_name
from workbench.othello.engine import play_games
from workbench.othello.tokens import N_CTX

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


def transcoder_hooks(layer: int) -> tuple[str, str]:
    """(input, output) hooks of layer ``layer``'s MLP."""
    return f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"


@dataclass
class TranscoderTrainConfig:
    layer: int
    expansion: int = 8  # d_sae = expansion * d_model
    l1_coefficient: float = 3e-3  # weight of the decoder-norm-weighted L1 penalty
    lr: float = 1e-3
    n_tokens: int = 2_000_000  # (input, output) pairs seen
    batch_size: int = 4096
    buffer_games: int = 2048
    seed: int = 0
    model_name: str = "othello"
    skip: bool = True  # learn a linear skip path x @ W_skip too (sae-lens SkipTranscoder)


def pair_stream(
    model: HookedTransformer,
    layer: int,
    *,
    batch_size: int,
    buffer_games: int,
    seed: int,
    end: int | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Shuffled (MLP input, MLP output) batches from fresh random games, endless without
    ``end`` (the batch to stop before). The chunk that holds the last batch plays its
    ``buffer_games`` games but harvests only as many as its batches need (less than one
    game's positions over) and shuffles those: the chunks before it are the endless
    stream's (as ``saes.train.activation_stream``)."""
    hook_in, hook_out = transcoder_hooks(layer)
    d_model = model.cfg.d_model
    per_chunk = buffer_games * N_CTX // batch_size
    if per_chunk == 0:
        raise ValueError(
            f"buffer_games={buffer_games} x {N_CTX} positions cannot fill one batch of "
            f"{batch_size}: use buffer_games >= {-(-batch_size // N_CTX)}."
        )

    def chunk(c: int, n_batches: int) -> Float[Tensor, "n in_and_out"]:
        rng = np.random.default_rng([seed, c, 7])
        games = play_games(n_games=buffer_games, rng=rng)  # all: the rng goes on to shuffle
        used = buffer_games if n_batches == per_chunk else -(-n_batches * batch_size // N_CTX)
        acts = harvest(model, games[:used], [hook_in, hook_out], progress=False).acts
        order = torch.from_numpy(rng.permutation(used * N_CTX))
        pairs = torch.cat([acts[hook_in], acts[hook_out]], dim=-1)  # (game pos 2*d_model)
        return pairs.reshape(-1, 2 * d_model)[order]

    for batch in chunked_batches(chunk, per_chunk=per_chunk, batch_size=batch_size, end=end):
        yield batch[:, :d_model].contiguous(), batch[:, d_model:].contiguous()


def new_transcoder(model: HookedTransformer, cfg: TranscoderTrainConfig) -> Transcoder:
    hook_in, hook_out = transcoder_hooks(cfg.layer)
    d = model.cfg.d_model
    config_cls, tc_cls = (
        (SkipTranscoderConfig, SkipTranscoder) if cfg.skip else (TranscoderConfig, Transcoder)
    )
    tc_cfg = config_cls(
        d_in=d,
        d_sae=cfg.expansion * d,
        d_out=d,
        apply_b_dec_to_input=False,
        metadata=SAEMetadata(
            model_name=cfg.model_name,
            hook_name=hook_in,
            hook_name_out=hook_out,
            context_size=N_CTX,
            prepend_bos=False,
        ),
    )
    torch.manual_seed(cfg.seed)
    return tc_cls(tc_cfg)


@dataclass
class TrainedTranscoder:
    transcoder: Transcoder
    config: TranscoderTrainConfig
    seconds: float
    explained_variance: float  # on held-out pairs
    l0: float

    def summary(self) -> dict:
        return {
            "config": asdict(self.config),
            "seconds": round(self.seconds, 1),
            "explained_variance": self.explained_variance,
            "l0": self.l0,
        }


def reconstruct(tc: Transcoder, x: Tensor, features: Tensor) -> Tensor:
    """The transcoder's output from its input and features (with the skip path, if any)."""
    out = tc.decode(features)
    if isinstance(tc, SkipTranscoder):
        out = out + x @ tc.W_skip.T
    return out


def transcoder_fit(tc: Transcoder, x: Tensor, y: Tensor) -> tuple[float, float]:
    """(fraction of the output's variance explained, mean active features) on (x, y)."""
    with torch.no_grad():
        f = tc.encode(x.float())
        y_hat = reconstruct(tc, x.float(), f)
    ev = 1 - ((y - y_hat) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
    return float(ev), float((f > 0).float().sum(-1).mean())


def train_transcoder(model: HookedTransformer, cfg: TranscoderTrainConfig) -> TrainedTranscoder:
    tc = new_transcoder(model, cfg)
    n_steps = cfg.n_tokens // cfg.batch_size
    stream = pair_stream(
        model, cfg.layer, batch_size=cfg.batch_size, buffer_games=cfg.buffer_games,
        seed=cfg.seed, end=n_steps,
    )  # fmt: skip
    held_x, held_y = next(
        pair_stream(model, cfg.layer, batch_size=8192, buffer_games=256, seed=cfg.seed + 10**6)
    )
    first_x, first_y = next(stream)
    var = float(((first_y - first_y.mean(0)) ** 2).sum(-1).mean())
    with torch.no_grad():
        tc.b_dec.copy_(first_y.mean(0))
        tc.W_dec.copy_(tc.W_dec / tc.W_dec.norm(dim=1, keepdim=True) * 0.1)
        tc.W_enc.copy_(tc.W_dec.T.clone() * (tc.cfg.d_out / tc.cfg.d_in) ** 0.5)
    optimiser = torch.optim.Adam(tc.parameters(), lr=cfg.lr)
    decay_from = int(0.8 * n_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: 1.0 if s < decay_from else max(0.0, (n_steps - s) / (n_steps - decay_from)),
    )
    start = time.perf_counter()
    batch = (first_x, first_y)
    for step in tqdm(range(n_steps), desc=f"transcoder L{cfg.layer}", leave=False):
        x, y = batch if step == 0 else next(stream)
        f = tc.encode(x)
        y_hat = reconstruct(tc, x, f)
        mse = ((y - y_hat) ** 2).sum(-1).mean() / var
        l1 = (f * tc.W_dec.norm(dim=1)).sum(-1).mean() / var**0.5
        loss = mse + cfg.l1_coefficient * l1
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    seconds = time.perf_counter() - start
    tc.eval()
    ev, l0 = transcoder_fit(tc, held_x, held_y)
    return TrainedTranscoder(tc, cfg, seconds, ev, l0)


def transcoders_root(data_dir: str | Path | None = None) -> Path:
    """``data/transcoders`` of the data folder (``workbench.paths.data_dir``)."""
    return paths.data_dir(data_dir) / "transcoders"


def __getattr__(name: str) -> Path:
    # TRANSCODERS_DIR stays importable, resolved when read (workbench.paths).
    if name == "TRANSCODERS_DIR":
        return transcoders_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def transcoder_dir(model_name: str, layer: int, *, data_dir: str | Path | None = None) -> Path:
    return transcoders_root(data_dir) / canonical_name(model_name) / f"blocks.{layer}.mlp"


def load_transcoders(
    model_name: str = "othello", *, data_dir: str | Path | None = None
) -> dict[int, Transcoder]:
    """The shipped transcoders of ``model_name``, one per layer, by layer."""
    from workbench.saes.loading import load_sae_folder

    root = transcoders_root(data_dir)
    folders = sorted((root / canonical_name(model_name)).glob("blocks.*.mlp"))
    if not folders:
        have = sorted(p.name for p in root.glob("*")) if root.exists() else []
        raise FileNotFoundError(
            f"No shipped transcoders for {model_name!r} in {root} (have: {have}); "
            f"train them with `workbench transcoders {model_name}`."
        )
    transcoders = [load_sae_folder(f) for f in folders]
    return {hook_layer(tc.cfg.metadata.hook_name): tc for tc in transcoders}
