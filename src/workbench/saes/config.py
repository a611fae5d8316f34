"""What an SAE training run is, shared by its two halves: the config, the architectures by
name, the progress state a checkpoint stores and the input-scale estimate.

``workbench.saes.train`` (the activation stream, ``train_sae``) and
``workbench.saes.trainer`` (sae-lens's side, imported when training starts) both build on
this module; ``train`` is the one to import from, and names these as its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from workbench.othello.tokens import N_CTX

Architecture = Literal["topk", "batchtopk", "standard", "gated", "jumprelu", "matryoshka"]
#: The architectures by name; ``saes.trainer.CLASSES`` has sae-lens's classes of each.
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)


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
    n_games: int | None = None  # None: fresh games for every buffer; n: the activations of
    # n games only (a multiple of buffer_games), harvested once and reshuffled on every pass
    seed: int = 0
    normalize: str = "expected_average_only_in"  # sae-lens scales inputs; folded in at the end
    model_name: str | None = None  # recorded in the SAE's metadata (an alias is resolved);
    # None: the registry name load_model recorded on the model (check_compatible reads it)
    context_size: int = N_CTX  # positions per sequence the activations come from (metadata)
    prepend_bos: bool = False  # whether those sequences start with BOS (metadata)
    dataset: str = "workbench synthetic random-legal-move games"  # metadata
    extra: dict = field(default_factory=dict)  # other sae-lens config fields, passed through

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"Unknown architecture {self.architecture!r}; choose from {sorted(ARCHITECTURES)}."
            )


#: Batches sae-lens's trainer draws before its first step to estimate the input scale.
NORM_BATCHES = 20


def matryoshka_widths(cfg: SAETrainConfig, d_in: int) -> list[int]:
    """Nested dictionary sizes, smallest first, ending at the full d_sae."""
    d_sae = cfg.expansion * d_in
    if not 1 <= cfg.matryoshka_levels <= d_sae.bit_length():
        raise ValueError(
            f"matryoshka_levels={cfg.matryoshka_levels} does not fit d_sae={d_sae}: "
            f"use 1..{d_sae.bit_length()} levels."
        )
    return sorted({d_sae // 2**i for i in range(cfg.matryoshka_levels)})


@dataclass(frozen=True)
class Progress:
    """How far a checkpointed run had got: the state stored with each checkpoint."""

    samples: int = 0  # activations trained on
    steps: int = 0  # optimiser steps taken
    seconds: float = 0.0  # training time, summed over every resume
    resumed_at: tuple[int, ...] = ()  # ``samples`` at each earlier resume

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        return cls(**{**data, "resumed_at": tuple(data.get("resumed_at", ()))})


def input_scale(batches: Iterator[Float[Tensor, "batch d_in"]], d_in: int, n_batches: int) -> float:
    """sqrt(d_in) over the mean norm of the next ``n_batches`` batches' activations: sae-lens's
    ``ActivationScaler.estimate_scaling_factor``, the same arithmetic, under a bar that stays."""
    total_norm, total_count = 0.0, 0
    with torch.no_grad():
        for _ in tqdm(range(n_batches), desc="Estimating the input scale"):
            norms = next(batches).norm(dim=-1)
            total_norm += norms.float().sum().item()  # float32 sums, as sae-lens
            total_count += norms.numel()
    return d_in**0.5 / (total_norm / total_count)
