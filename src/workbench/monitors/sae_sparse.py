"""A supervised sparse classifier over SAE features (``sae-sparse``).

1. For every feature, the standardised mean difference between positive and negative rows,
   ``(mean_pos - mean_neg) / sqrt((var_pos + var_neg) / 2)`` (+-inf for a feature constant
   within each class but different between them, 0 if the same).
2. Keep the ``n_features`` with the largest absolute difference; fit the ``probe`` kind's
   logistic regression on their standardised activations. ``features()`` lists them with
   their weights, for feature cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.monitors.base import check_labelled, register
from workbench.monitors.linear import ProbeMonitorConfig, fit_logistic, standardiser
from workbench.monitors.sae import CHUNK, SAEMonitor, sae_hook, sae_identity

if TYPE_CHECKING:
    from sae_lens import SAE


@dataclass(frozen=True)
class SAESparseConfig:
    n_features: int = 16  # features kept, by |standardised mean difference| between classes
    weight_decay: float = 1e-3  # the logistic regression on them, as ProbeMonitorConfig
    max_iter: int = 200  # L-BFGS iterations
    seed: int = 0  # its random start


@register
@dataclass(kw_only=True, eq=False)
class SAESparseMonitor(SAEMonitor):
    kind: ClassVar = "sae-sparse"
    Config: ClassVar = SAESparseConfig
    TENSORS: ClassVar = ("feature_ids", "separation", "mean", "std", "w", "b")

    config: SAESparseConfig
    feature_ids: Int[Tensor, " m"]  # the SAE features it reads
    separation: Float[Tensor, " m"]  # their standardised mean difference (pos - neg)
    mean: Float[Tensor, " m"]  # their training mean and std, to standardise
    std: Float[Tensor, " m"]
    w: Float[Tensor, " m"]  # logistic weights on the standardised features
    b: Float[Tensor, ""]

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        acts = self.encode(x)[:, self.feature_ids.to(x.device)]
        z = (acts - self.mean.to(x.device)) / self.std.to(x.device)
        return z @ self.w.to(x.device) + self.b.to(x.device)

    def features(self) -> tuple[Int[Tensor, " m"], Float[Tensor, " m"]]:
        """The features it uses and their weights (per standard deviation of the feature's
        activation), largest |weight| first."""
        order = torch.argsort(self.w.abs(), descending=True, stable=True)
        return self.feature_ids[order], self.w[order]


def fit_sae_sparse(
    x: Float[Tensor, "n d_model"],
    y: Bool[Tensor, " n"],
    sae: SAE,
    *,
    hook: str | None = None,
    config: SAESparseConfig = SAESparseConfig(),
    source: str | None = None,
    notes: str = "",
) -> SAESparseMonitor:
    """Pick the features that separate ``y`` best, then a logistic regression on them."""
    hook = sae_hook(sae, hook)
    check_labelled(x, y, need_both=True)
    if not 1 <= config.n_features <= sae.cfg.d_sae:
        raise ValueError(
            f"n_features must be in 1..{sae.cfg.d_sae} (d_sae), got {config.n_features}."
        )
    y = y.bool()
    m = SAESparseMonitor(
        hook=hook,
        d_model=sae.cfg.d_in,
        n_fit={"pos": int(y.sum()), "neg": int((~y).sum())},
        notes=notes,
        config=config,
        sae=sae,
        sae_info=sae_identity(sae, source),
        feature_ids=torch.zeros(0, dtype=torch.long),
        separation=torch.zeros(0),
        mean=torch.zeros(0),
        std=torch.zeros(0),
        w=torch.zeros(0),
        b=torch.zeros(()),
    )
    m._check_width(x)
    stats = torch.zeros(2, 3, sae.cfg.d_sae, dtype=torch.float64)  # (neg/pos, count/sum/sumsq)
    for xc, yc in zip(x.split(CHUNK), y.split(CHUNK), strict=True):
        a, yc = m.encode(xc).double().cpu(), yc.cpu()
        for c in (0, 1):
            rows = a[yc == bool(c)]
            stats[c, 0] += len(rows)
            stats[c, 1] += rows.sum(0)
            stats[c, 2] += rows.pow(2).sum(0)
    mean = stats[:, 1] / stats[:, 0]
    var = (stats[:, 2] / stats[:, 0] - mean**2).clamp_min(0)
    pooled = ((var[0] + var[1]) / 2).sqrt()
    diff = mean[1] - mean[0]
    sep = torch.where(pooled > 0, diff / pooled.clamp_min(1e-12), diff.sign() * torch.inf)
    sep = torch.where(diff == 0, 0.0, sep)  # constant and equal in both classes: no signal
    ids = torch.argsort(sep.abs(), descending=True, stable=True)[: config.n_features]
    acts = torch.cat([m.encode(c)[:, ids.to(x.device)].cpu() for c in x.split(CHUNK)])
    mu, sd = standardiser(acts)
    probe = ProbeMonitorConfig(
        weight_decay=config.weight_decay, max_iter=config.max_iter, seed=config.seed
    )
    w, b = fit_logistic((acts - mu) / sd, y.cpu(), probe)
    m.feature_ids, m.separation, m.mean, m.std, m.w, m.b = ids, sep[ids].float(), mu, sd, w, b
    return m
