import math

import pytest
import torch

from workbench.monitors import (
    MonitorInputError,
    ProbeMonitorConfig,
    auroc,
    fit_contrast,
    fit_probe_monitor,
)

HOOK = "blocks.1.hook_resid_post"
DELTA = 1.5


def phi(z: float) -> float:
    """The standard normal CDF."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.fixture
def data(planted):
    train = planted(3000, 3000, 16, DELTA, seed=0)
    test = planted(20000, 20000, 16, DELTA, seed=1)
    return train, test


def test_probe_reaches_the_closed_form_auroc(data):
    (x, y, u), (xt, yt, _) = data
    monitor = fit_probe_monitor(x, y, hook=HOOK)
    assert monitor.n_fit == {"pos": 3000, "neg": 3000} and monitor.d_model == 16
    ideal = phi(DELTA / math.sqrt(2))
    assert auroc(xt @ u, yt) == pytest.approx(ideal, abs=0.006)  # the test set is typical
    assert auroc(monitor.score(xt), yt) == pytest.approx(ideal, abs=0.01)
    assert float(monitor.direction @ u) > 0.98


def test_mean_diff_reaches_the_closed_form_auroc(data):
    (x, y, u), (xt, yt, _) = data
    monitor = fit_contrast(x[y], x[~y], hook=HOOK, notes="planted toy")
    assert monitor.n_fit == {"pos": 3000, "neg": 3000} and monitor.notes == "planted toy"
    assert auroc(monitor.score(xt), yt) == pytest.approx(phi(DELTA / math.sqrt(2)), abs=0.01)
    assert float(monitor.direction @ u) > 0.98
    assert float(monitor.direction.norm()) == pytest.approx(1.0)


def test_mean_diff_is_centred_at_the_midpoint():
    pos = torch.tensor([[2.0, 0.0], [4.0, 2.0]])  # mean (3, 1)
    neg = torch.tensor([[-1.0, 1.0], [-1.0, 1.0]])  # mean (-1, 1)
    monitor = fit_contrast(pos, neg, hook=HOOK)
    assert torch.allclose(monitor.direction, torch.tensor([1.0, 0.0]))
    assert monitor.separation == pytest.approx(4.0)
    scores = monitor.score(torch.tensor([[3.0, 1.0], [-1.0, 1.0], [1.0, 5.0]]))
    assert torch.allclose(scores, torch.tensor([2.0, -2.0, 0.0]))
    with pytest.raises(ValueError, match="coincide"):
        fit_contrast(pos, pos.clone(), hook=HOOK)
    with pytest.raises(MonitorInputError, match="width 3"):
        fit_contrast(pos, torch.zeros(2, 3), hook=HOOK)


def test_probe_is_deterministic_and_scores_any_leading_shape(planted):
    x, y, _ = planted(100, 80, 6, 1.0, seed=0)
    config = ProbeMonitorConfig(seed=3)
    a, b = (
        fit_probe_monitor(x, y, hook=HOOK, config=config),
        fit_probe_monitor(x, y, hook=HOOK, config=config),
    )
    assert torch.equal(a.w, b.w) and torch.equal(a.b, b.b)
    grid = x[:24].reshape(2, 3, 4, 6)
    assert a.score(grid).shape == (2, 3, 4)
    assert torch.allclose(a.score(grid).flatten(), a.score(x[:24]))
    assert a.score(x[0]).shape == ()


def test_probe_standardises_with_the_training_statistics(planted):
    x, y, u = planted(500, 500, 4, 2.0, seed=0)
    scaled = x * torch.tensor([1.0, 100.0, 0.01, 1.0]) + 7.0  # units should not matter
    monitor = fit_probe_monitor(scaled, y, hook=HOOK)
    assert torch.allclose(monitor.mean, scaled.mean(0), atol=1e-3)
    assert auroc(monitor.score(scaled), y) == pytest.approx(auroc(x @ u, y), abs=0.01)


def test_probe_refuses_one_class_and_bad_shapes(planted):
    x, y, _ = planted(10, 10, 4, 1.0, seed=0)
    with pytest.raises(MonitorInputError, match="both classes.*n_pos=0"):
        fit_probe_monitor(x, torch.zeros(20, dtype=torch.bool), hook=HOOK)
    with pytest.raises(MonitorInputError, match=r"shape \(20,\)"):
        fit_probe_monitor(x, y[:5], hook=HOOK)
    with pytest.raises(MonitorInputError, match=r"\(n, d_model\)"):
        fit_probe_monitor(x[None], y, hook=HOOK)
