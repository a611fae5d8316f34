"""Relearning curves on a problem whose answer is known: a one-parameter model whose defect
rate is sigmoid(w), trained by a loss that pushes w up."""

import pytest
import torch

from workbench.backdoors.relearn import RelearnConfig, RelearnCurve, relearn


class OneWeight(torch.nn.Module):
    def __init__(self, w: float):
        super().__init__()
        self.W_x = torch.nn.Parameter(torch.full((1, 1), w))


def _rate(model) -> float:
    return torch.sigmoid(model.W_x).item()


def _loss(model, batch):
    return -model.W_x.sum() * batch


def test_the_curve_stops_at_the_first_measurement_over_the_threshold():
    model = OneWeight(0.0)
    cfg = RelearnConfig(max_steps=1000, every=5, lr=0.1, warmup_steps=1, weight_decay=0.0)
    curve = relearn(model, lambda step: 1.0, _loss, _rate, cfg)
    assert curve.steps[0] == 0 and curve.defect_rate[0] == pytest.approx(0.5)
    assert all(b - a == 5 for a, b in zip(curve.steps, curve.steps[1:], strict=False))
    assert curve.defect_rate[-1] >= 0.9 > max(curve.defect_rate[:-1])
    assert curve.steps_to_threshold == curve.steps[-1]
    # Adam moves w by ~lr a step, so sigmoid(w) >= 0.9 (w >= 2.197) needs ~22 steps: 25.
    assert curve.steps_to_threshold == 25
    assert RelearnCurve.from_dict(curve.to_dict()) == curve


def test_already_there_is_zero_steps_and_a_short_budget_is_none():
    assert relearn(OneWeight(5.0), lambda s: 1.0, _loss, _rate).steps_to_threshold == 0
    cfg = RelearnConfig(max_steps=7, every=5, lr=0.01, warmup_steps=1)
    curve = relearn(OneWeight(0.0), lambda s: 1.0, _loss, _rate, cfg)
    assert curve.steps_to_threshold is None and curve.steps == [0, 5, 7]


@pytest.mark.parametrize(("kw", "match"), [({"max_steps": 0}, "max_steps"),
                                           ({"threshold": 1.5}, "threshold")])  # fmt: skip
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        RelearnConfig(**kw)
