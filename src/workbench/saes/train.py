"""Train sparse autoencoders on an OthelloGPT with sae-lens's own trainer.

1. Stream activations: fresh random games from the engine (seeded by ``seed`` and the
   chunk number, so a run is reproducible), run through the model with a hook at the one
   site (``activations.harvest``: no full cache), shuffled across ``buffer_games`` games.
2. Build the sae-lens training SAE for the chosen architecture, with sae-lens metadata
   (model, hook, context 59, no BOS) so the saved SAE describes where it belongs.
3. Fit with ``sae_lens.SAETrainer`` (it owns the loss, the optimiser, the schedules and the
   dead-feature bookkeeping); return the inference SAE, which ``save_sae`` writes in
   sae-lens's format.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float
from sae_lens import SAE
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
from sae_lens.saes.gated_sae import GatedTrainingSAE, GatedTrainingSAEConfig
from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
from sae_lens.saes.matryoshka_batchtopk_sae import (
    MatryoshkaBatchTopKTrainingSAE,
    MatryoshkaBatchTopKTrainingSAEConfig,
)
from sae_lens.saes.sae import SAEMetadata
from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.training.sae_trainer import SAETrainer
from torch import Tensor
from transformer_lens import HookedTransformer

from workbench.activations import harvest, validate_hooks
from workbench.othello.engine import play_games
from workbench.othello.tokens import N_CTX
from workbench.saes.cache import ActivationCache
from workbench.saes.loading import hook_width

Architecture = Literal["topk", "batchtopk", "standard", "gated", "jumprelu", "matryoshka"]
ARCHITECTURES: dict[str, tuple[type, type]] = {
    "topk": (TopKTrainingSAEConfig, TopKTrainingSAE),
    "batchtopk": (BatchTopKTrainingSAEConfig, BatchTopKTrainingSAE),
    "standard": (StandardTrainingSAEConfig, StandardTrainingSAE),
    # L1 on a gate path, magnitudes apart (Rajamanoharan et al. 2024; in Karvonen et al.'s set).
    "gated": (GatedTrainingSAEConfig, GatedTrainingSAE),
    "jumprelu": (JumpReLUTrainingSAEConfig, JumpReLUTrainingSAE),
    # BatchTopK with nested reconstruction losses (Bussmann et al. 2025), against absorption.
    "matryoshka": (MatryoshkaBatchTopKTrainingSAEConfig, MatryoshkaBatchTopKTrainingSAE),
}


@dataclass
class SAETrainConfig:
    """What to train and for how long. Sparsity knobs apply to their architectures only."""

    hook: str  # e.g. "blocks.2.hook_resid_post" or "blocks.2.hook_mlp_out"
    architecture: Architecture = "topk"
    expansion: int = 8  # d_sae = expansion * d_in
    k: int = 32  # topk / batchtopk / matryoshka: active features per position (batch average
    # for the batch variants)
    matryoshka_levels: int = 4  # matryoshka: nested prefixes of d_sae / 2**i features, i < levels
    l1_coefficient: float = 5.0  # standard / gated: weight of the L1 penalty
    l0_coefficient: float = 2.0  # jumprelu: weight of the L0 penalty
    lr: float = 4e-4  # Adam
    n_tokens: int = 3_000_000  # activations seen in training (one per game position)
    batch_size: int = 4096  # activations per step
    buffer_games: int = 2048  # games mixed before shuffling (about 120k activations)
    seed: int = 0
    normalize: str = "expected_average_only_in"  # sae-lens scales inputs; folded in at the end
    model_name: str = "othello"  # recorded in the SAE's metadata
    context_size: int = N_CTX  # positions per sequence the activations come from (metadata)
    prepend_bos: bool = False  # whether those sequences start with BOS (metadata)
    dataset: str = "workbench synthetic random-legal-move games"  # metadata
    extra: dict = field(default_factory=dict)  # other sae-lens config fields, passed through

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"Unknown architecture {self.architecture!r}; choose from {sorted(ARCHITECTURES)}."
            )


def activation_stream(
    model: HookedTransformer,
    hook: str,
    *,
    batch_size: int,
    buffer_games: int = 2048,
    seed: int = 0,
    cache: ActivationCache | None = None,
) -> Iterator[Float[Tensor, "batch d_in"]]:
    """Endless shuffled batches of ``hook`` activations on fresh random games.

    ``cache``: read the model's activations from it where an earlier run harvested them
    (the same batches either way; ``saes.cache``).
    """
    validate_hooks(model, [hook])
    where = None if cache is None else cache.stream_dir(model, seed=seed, buffer_games=buffer_games)
    for chunk in range(10**9):
        rng = np.random.default_rng([seed, chunk])
        games = play_games(n_games=buffer_games, rng=rng)
        if where is None:
            acts = harvest(model, games, [hook], progress=False).acts[hook]
        else:
            acts = cache.chunk(model, games, hook, where / f"chunk-{chunk:06d}")
        flat = acts.reshape(-1, acts.shape[-1])[
            torch.from_numpy(rng.permutation(len(acts) * N_CTX))
        ]
        for start in range(0, len(flat) - batch_size + 1, batch_size):
            yield flat[start : start + batch_size]


def matryoshka_widths(cfg: SAETrainConfig, d_in: int) -> list[int]:
    """Nested dictionary sizes, smallest first, ending at the full d_sae."""
    d_sae = cfg.expansion * d_in
    if not 1 <= cfg.matryoshka_levels <= d_sae.bit_length():
        raise ValueError(
            f"matryoshka_levels={cfg.matryoshka_levels} does not fit d_sae={d_sae}: "
            f"use 1..{d_sae.bit_length()} levels."
        )
    return sorted({d_sae // 2**i for i in range(cfg.matryoshka_levels)})


def _sparsity_knobs(cfg: SAETrainConfig, d_in: int) -> dict:
    """The sae-lens settings of the chosen architecture only (the others' knobs are unused)."""
    match cfg.architecture:
        case "topk":
            return {"k": cfg.k}
        case "batchtopk":
            return {"k": float(cfg.k)}
        case "standard" | "gated":
            return {"l1_coefficient": cfg.l1_coefficient}
        case "jumprelu":
            return {"l0_coefficient": cfg.l0_coefficient}
        case "matryoshka":
            return {"k": float(cfg.k), "matryoshka_widths": matryoshka_widths(cfg, d_in)}
    raise AssertionError(f"no sparsity settings for {cfg.architecture!r}")  # see __post_init__


def _training_sae(cfg: SAETrainConfig, d_in: int):
    config_cls, sae_cls = ARCHITECTURES[cfg.architecture]
    knobs = _sparsity_knobs(cfg, d_in)
    metadata = SAEMetadata(
        model_name=cfg.model_name,
        hook_name=cfg.hook,
        context_size=cfg.context_size,
        prepend_bos=cfg.prepend_bos,
        dataset_path=cfg.dataset,
    )
    sae_cfg = config_cls(
        d_in=d_in,
        d_sae=cfg.expansion * d_in,
        metadata=metadata,
        normalize_activations=cfg.normalize,
        **knobs,
        **cfg.extra,
    )
    torch.manual_seed(cfg.seed)
    return sae_cls(sae_cfg)


@dataclass
class TrainedSAE:
    """A trained inference SAE and how its training went."""

    sae: SAE
    config: SAETrainConfig
    seconds: float
    tokens_per_s: float
    final_l0: float | None
    dead_features: int | None

    def summary(self) -> dict:
        return {
            "config": asdict(self.config),
            "seconds": round(self.seconds, 1),
            "tokens_per_s": round(self.tokens_per_s),
            "final_l0": self.final_l0,
            "dead_features": self.dead_features,
        }


def train_sae(
    model: HookedTransformer,
    cfg: SAETrainConfig,
    *,
    activations: Iterator[Float[Tensor, "batch d_in"]] | None = None,
) -> TrainedSAE:
    """Train one SAE on ``cfg.hook`` of ``model`` with sae-lens's trainer (see module doc).

    ``activations``: batches of ``cfg.batch_size`` activations to train on; default: the
    OthelloGPT stream of fresh random games (``activation_stream``). Language models pass
    ``workbench.text.saes.text_activation_stream``.
    """
    d_in = hook_width(model, cfg.hook)
    sae = _training_sae(cfg, d_in)
    n_steps = cfg.n_tokens // cfg.batch_size
    trainer_cfg = SAETrainerConfig(
        total_training_samples=n_steps * cfg.batch_size,
        train_batch_size_samples=cfg.batch_size,
        lr=cfg.lr,
        lr_end=cfg.lr / 10,
        lr_warm_up_steps=min(100, n_steps // 10),
        lr_decay_steps=n_steps // 5,
        lr_scheduler_name="constant",
        dead_feature_window=max(50, n_steps // 10),
        feature_sampling_window=max(50, n_steps // 10),
        n_batches_for_norm_estimate=20,
        logger=LoggingConfig(log_to_wandb=False),
    )
    stream = activations or activation_stream(
        model, cfg.hook, batch_size=cfg.batch_size, buffer_games=cfg.buffer_games, seed=cfg.seed
    )
    start = time.perf_counter()
    trained = SAETrainer(trainer_cfg, sae, stream).fit()
    seconds = time.perf_counter() - start
    inference = _to_inference(trained)
    meta = trained.cfg.metadata
    return TrainedSAE(
        sae=inference,
        config=cfg,
        seconds=seconds,
        tokens_per_s=trainer_cfg.total_training_samples / seconds,
        final_l0=meta.l0,
        dead_features=meta.num_dead_features,
    )


def _to_inference(training_sae) -> SAE:
    """The inference form sae-lens saves (e.g. BatchTopK becomes JumpReLU)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        training_sae.save_inference_model(tmp)
        return SAE.load_from_disk(tmp)
