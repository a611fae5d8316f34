"""sae-lens's side of ``workbench.saes.train``: the architectures' classes, the trainer with
bars that end at their totals, its config, and checkpoints and the inference SAE.

Kept apart so that importing ``workbench.saes.train`` (its config, the activation stream)
does not import sae-lens and TransformerLens, seconds of a notebook's first cell;
``train_sae`` imports this module when training starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from sae_lens import SAE
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.constants import (
    ACTIVATION_SCALER_CFG_FILENAME,
    SAE_WEIGHTS_FILENAME,
    TRAINER_STATE_FILENAME,
)
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
from safetensors.torch import load_file
from torch import Tensor

from workbench.checkpoints import CheckpointFolder
from workbench.saes.config import (
    NORM_BATCHES,
    Progress,
    SAETrainConfig,
    input_scale,
    matryoshka_widths,
)

#: Each architecture's sae-lens training config and training SAE (``config.ARCHITECTURES``).
CLASSES: dict[str, tuple[type, type]] = {
    "topk": (TopKTrainingSAEConfig, TopKTrainingSAE),
    "batchtopk": (BatchTopKTrainingSAEConfig, BatchTopKTrainingSAE),
    "standard": (StandardTrainingSAEConfig, StandardTrainingSAE),
    # L1 on a gate path, magnitudes apart (Rajamanoharan et al. 2024; in Karvonen et al.'s set).
    "gated": (GatedTrainingSAEConfig, GatedTrainingSAE),
    "jumprelu": (JumpReLUTrainingSAEConfig, JumpReLUTrainingSAE),
    # BatchTopK with nested reconstruction losses (Bussmann et al. 2025), against absorption.
    "matryoshka": (MatryoshkaBatchTopKTrainingSAEConfig, MatryoshkaBatchTopKTrainingSAE),
}


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


def training_sae(cfg: SAETrainConfig, d_in: int, model_name: str):
    config_cls, sae_cls = CLASSES[cfg.architecture]
    knobs = _sparsity_knobs(cfg, d_in)
    metadata = SAEMetadata(
        model_name=model_name,
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


class SAELensTrainer(SAETrainer):
    """sae-lens's trainer with progress bars that end at their totals.

    sae-lens advances its bar by 100 steps at a time, every 100th step, so a run of 122
    steps stopped at 409,600 of 499,712 and ``pbar.close()`` drew it red (unfinished) in a
    notebook although training had finished. Here the bar follows the samples trained on
    after every step (tqdm redraws at most ten times a second), with sae-lens's losses in
    its description every ``update_interval`` steps and at the last step.

    sae-lens's scale estimate draws its batches under a bar with ``leave=False`` whose text
    stays in a saved notebook at "1/20"; here the scale is estimated first, by the same
    arithmetic (``input_scale``), under a bar that ends at its total, and sae-lens, finding
    it set, skips its own.
    """

    def fit(self):
        scaler = self.activation_scaler
        if (
            self.sae.cfg.normalize_activations == "expected_average_only_in"
            and scaler.scaling_factor is None
        ):
            scaler.scaling_factor = input_scale(
                self.data_provider, self.sae.cfg.d_in, self.cfg.n_batches_for_norm_estimate
            )
        return super().fit()

    def _update_pbar(self, step_output, pbar, update_interval: int = 100) -> None:
        last = self.n_training_samples >= self.cfg.total_training_samples
        if self.n_training_steps % update_interval == 0 or last:
            values = {k: v() if callable(v) else v for k, v in step_output.losses.items()}
            losses = " | ".join(
                f"{name}: {float(v.item() if isinstance(v, Tensor) else v):.5f}"
                for name, v in values.items()
            )
            pbar.set_description(f"{self.n_training_steps}| {losses}", refresh=False)
        pbar.update(self.n_training_samples - pbar.n)


def trainer_config(
    cfg: SAETrainConfig, store: CheckpointFolder | None, n_checkpoints: int
) -> SAETrainerConfig:
    n_steps = cfg.n_tokens // cfg.batch_size
    return SAETrainerConfig(
        total_training_samples=n_steps * cfg.batch_size,
        train_batch_size_samples=cfg.batch_size,
        lr=cfg.lr,
        lr_end=cfg.lr / 10,
        lr_warm_up_steps=min(100, n_steps // 10),
        lr_decay_steps=n_steps // 5,
        lr_scheduler_name="constant",
        dead_feature_window=max(50, n_steps // 10),
        feature_sampling_window=max(50, n_steps // 10),
        n_batches_for_norm_estimate=NORM_BATCHES,
        n_checkpoints=0 if store is None else n_checkpoints,
        checkpoint_path=None if store is None else str(store.folder),
        logger=LoggingConfig(log_to_wandb=False),
    )


def restore(trainer: SAETrainer, checkpoint: Path, done: Progress) -> None:
    """Put the trainer and its SAE back as they were at ``checkpoint``."""
    trainer.load_trainer_state(checkpoint)
    trainer.sae.load_weights_from_checkpoint(checkpoint)
    # sae-lens records its step count before the step that reached the checkpoint counts
    # itself: restore the count of steps done, as an uninterrupted run has it (the
    # sparsity windows and some architectures' schedules read it).
    trainer.n_training_steps = done.steps


def readable_checkpoint(checkpoint: Path, state: dict) -> None:
    """Read a checkpoint's files as ``restore`` will, raising if one is unreadable (then
    ``CheckpointFolder.latest`` resumes from the one before)."""
    Progress.from_dict(state)
    load_file(checkpoint / SAE_WEIGHTS_FILENAME)
    torch.load(checkpoint / TRAINER_STATE_FILENAME, map_location="cpu", weights_only=True)
    json.loads((checkpoint / ACTIVATION_SCALER_CFG_FILENAME).read_text())


def to_inference(training_sae) -> SAE:
    """The inference form sae-lens saves (e.g. BatchTopK becomes JumpReLU)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        training_sae.save_inference_model(tmp)
        return SAE.load_from_disk(tmp)
