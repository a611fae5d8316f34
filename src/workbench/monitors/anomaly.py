"""Unsupervised anomaly monitor: how far an activation lies from the clean ones.

``mahalanobis``, fitted on clean (negative) activations only:
1. Mean ``mu`` and empirical covariance ``S = X_c^T X_c / n`` of the centred rows.
2. Shrink towards a scaled identity, ``C = (1 - s) S + s (tr S / d) I``, with ``s`` from the
   Ledoit-Wolf formula (the same estimate as ``sklearn.covariance.ledoit_wolf``) or fixed by
   the config; this keeps ``C`` invertible when n is not much larger than d.
3. Score = the squared Mahalanobis distance ``(x - mu)^T C^-1 (x - mu)`` (for Gaussian clean
   data about d on average; larger = less like anything clean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from workbench.monitors.base import Monitor, check_labelled, register


@dataclass(frozen=True)
class MahalanobisConfig:
    shrinkage: float | None = None  # weight s on (tr S / d) I, in [0, 1]; None: Ledoit-Wolf


def ledoit_wolf_shrinkage(xc: Float[Tensor, "n d"]) -> float:
    """The Ledoit-Wolf (2004) shrinkage of centred rows ``xc`` towards (tr S / d) I."""
    n, d = xc.shape
    xc = xc.double()
    s = xc.T @ xc / n  # (d, d) empirical covariance
    mu = torch.trace(s) / d
    delta = ((s - mu * torch.eye(d, dtype=s.dtype)) ** 2).sum() / d  # distance to the target
    x2 = xc**2
    beta = ((x2.T @ x2).sum() / n - (s**2).sum()) / (d * n)  # variance of S's entries
    beta = torch.minimum(beta, delta)
    return 0.0 if float(delta) == 0.0 else float(beta / delta)


@register
@dataclass(kw_only=True, eq=False)
class MahalanobisMonitor(Monitor):
    """Squared Mahalanobis distance from the clean activations (fit with ``fit_mahalanobis``)."""

    kind: ClassVar = "mahalanobis"
    Config: ClassVar = MahalanobisConfig
    TENSORS: ClassVar = ("mean", "precision")
    INFO: ClassVar = ("shrinkage_used",)

    config: MahalanobisConfig
    mean: Float[Tensor, " d_model"]  # clean mean (float64)
    precision: Float[Tensor, "d_model d_model"]  # inverse of the shrunk covariance (float64)
    shrinkage_used: float  # the s actually applied (the Ledoit-Wolf estimate when config's None)

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        z = x.double() - self.mean.to(x.device)
        return ((z @ self.precision.to(x.device)) * z).sum(-1)


def fit_mahalanobis(
    x: Float[Tensor, "n d_model"],
    *,
    hook: str,
    config: MahalanobisConfig = MahalanobisConfig(),
    notes: str = "",
) -> MahalanobisMonitor:
    """Fit on clean activations only (rows where the model behaves)."""
    check_labelled(x, None, need_both=False)
    if config.shrinkage is not None and not 0.0 <= config.shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1] or None, got {config.shrinkage}.")
    n, d = x.shape
    mean = x.double().mean(0)
    xc = x.double() - mean
    s = xc.T @ xc / n
    shrink = ledoit_wolf_shrinkage(xc) if config.shrinkage is None else config.shrinkage
    scale = torch.trace(s) / d
    if float(scale) == 0.0:
        raise ValueError("All clean activations are identical: the covariance is zero.")
    cov = (1 - shrink) * s + shrink * scale * torch.eye(d, dtype=s.dtype)
    try:
        precision = torch.linalg.inv(cov)
    except RuntimeError as err:  # torch.linalg.LinAlgError subclasses RuntimeError
        raise ValueError(
            f"The covariance of {n} clean rows in d_model={d} is singular with shrinkage "
            f"{shrink}: raise config.shrinkage (or leave it None for Ledoit-Wolf)."
        ) from err
    precision = (precision + precision.T) / 2  # exactly symmetric
    return MahalanobisMonitor(
        hook=hook,
        d_model=d,
        n_fit={"pos": 0, "neg": n},
        notes=notes,
        config=config,
        mean=mean.cpu(),
        precision=precision.cpu(),
        shrinkage_used=shrink,
    )
